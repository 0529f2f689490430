"""The one wall clock: every command, the HTTP service and the pipeline are handed a clock
(a seam tests replace); this is the real one."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_today() -> date:
    return utc_now().date()
