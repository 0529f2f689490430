"""What a stage just committed, kept in memory for the next stage of the same process
(``_Handoff``): a normalize unit's stored records for its match unit.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from ..schemas.policy import NormalizedRecord


class _Handoff:
    """The records (with their report ids) a normalize unit stored, taken by the match unit
    of the same chunk in the same process, so that nothing is read back from the store to
    be passed on.  Bounded: the oldest entries go first, and a match unit that finds nothing
    here reads its records from the store, as after a crash or on another worker.  Filled
    only after the unit's commit, so a rolled-back attempt leaves nothing behind."""

    MAX_UNITS = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._match: OrderedDict[str, tuple[list[tuple[int, NormalizedRecord]], Any]] = (
            OrderedDict())

    def put(self, match_unit: str, records: list[tuple[int, NormalizedRecord]],
            prepared: Any = None) -> None:
        """``prepared``: the match hook's cascade of these records, worked out ahead."""
        with self._lock:
            self._match[match_unit] = (records, prepared)
            while len(self._match) > self.MAX_UNITS:
                self._match.popitem(last=False)

    def take(self, match_unit: str) -> tuple[list[tuple[int, NormalizedRecord]] | None, Any]:
        """The records (None: not in hand) and what was prepared for them."""
        with self._lock:
            return self._match.pop(match_unit, (None, None))
