"""Value normalisation: pure functions from an element as sent to the schema's form."""

from __future__ import annotations

import re
from datetime import date

from ..schemas import vin as vin_rules

__all__ = ["parse_ccyymmdd", "text", "vin", "year", "zip_code"]

_CCYYMMDD = re.compile(r"[0-9]{8}")
_YEAR = re.compile(r"[0-9]{4}")


def text(value: str | None) -> str | None:
    """Upper case, trimmed, inner runs of blanks collapsed; None when nothing is left."""
    if value is None:
        return None
    cleaned = " ".join(value.split()).upper()
    return cleaned or None


# CCYYMMDD as sent -> its date: a file repeats a few hundred dates (effective and report
# dates, transaction dates) across thousands of policies.  A memo of a pure function (a
# ``date`` is immutable), bounded; cleared when full.
_DATES: dict[str, date | None] = {}
_DATES_MAX = 4096


def parse_ccyymmdd(value: str | None) -> date | None:
    """A CCYYMMDD date, or None when absent or not a real calendar date."""
    value = (value or "").strip()
    try:
        return _DATES[value]
    except KeyError:
        pass
    parsed = _parse_ccyymmdd(value)
    if len(_DATES) >= _DATES_MAX:
        _DATES.clear()
    _DATES[value] = parsed
    return parsed


def _parse_ccyymmdd(value: str) -> date | None:
    if not _CCYYMMDD.fullmatch(value):
        return None
    try:
        return date(int(value[:4]), int(value[4:6]), int(value[6:]))
    except ValueError:
        return None


def zip_code(value: str | None) -> str | None:
    """``NNNNN`` or ``NNNNN-NNNN`` from 5 or 9 digits (blanks and a dash allowed as sent);
    None when it is not a US ZIP code."""
    digits = "".join((value or "").split()).replace("-", "")
    if not digits.isdigit() or not digits.isascii():
        return None
    if len(digits) == 5:
        return digits
    if len(digits) == 9:
        return f"{digits[:5]}-{digits[5:]}"
    return None


def vin(value: str | None) -> str | None:
    """Upper case, blanks and dashes removed (guide §5, step 1); None when empty."""
    return vin_rules.normalize(value or "") or None


def year(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if _YEAR.fullmatch(value) else None
