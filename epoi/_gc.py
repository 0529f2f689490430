"""The collector's settings for a batch process (``epoi run``, ``worker``, ``validate`` and
their worker processes).

A batch makes millions of short-lived objects (segments, records, rows) and very few
reference cycles; with CPython's defaults the young generation is collected every 700
allocations and every collection walks the modules and tables start-up made.  Measured on
the 20 k sample: a sixth of ``epoi run``'s CPU went to collections.  Start-up's objects are
moved out of the collector's sight (``gc.freeze``) and the young generation is collected
every 100 000 allocations; cycles are still collected, less often.
"""

from __future__ import annotations

import gc

__all__ = ["tune_for_batch"]

YOUNG_THRESHOLD = 100_000


def tune_for_batch() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 50, 100)
