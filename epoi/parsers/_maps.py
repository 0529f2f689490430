"""Where the pyx12 map of the 811 profile lives, and how to load it.

The folder ``maps/`` is a complete pyx12 ``map_path``: ``maps.xml`` (index), the
envelope map ``x12.control.00401.xml``, the transaction map ``811.4010.xml`` and the
``dataele.xml`` / ``codes.xml`` that pyx12 reads from the same folder.  Both
validation engines compile from these files, so the map is the one source of truth
for the profile's layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyx12 is imported lazily: loading it costs ~0.1 s
    import pyx12.map_if

__all__ = ["CONTROL_MAP_FILE", "MAP_PATH", "TRANSACTION_MAP_FILE", "load_811_map"]

MAP_PATH: Path = Path(__file__).resolve().parent / "maps"
TRANSACTION_MAP_FILE = "811.4010.xml"
CONTROL_MAP_FILE = "x12.control.00401.xml"


def load_811_map() -> pyx12.map_if.map_if:
    """The 811 transaction map as pyx12 loads it (envelope loops included)."""
    import pyx12.map_if
    import pyx12.params

    return pyx12.map_if.load_map_file(TRANSACTION_MAP_FILE, pyx12.params.params(), str(MAP_PATH))
