"""Value normalisation: pure functions from an element as sent to the schema's form."""

from __future__ import annotations

from datetime import date

from ..schemas import vin as vin_rules

__all__ = ["parse_ccyymmdd", "text", "vin", "year", "zip_code"]



def text(value: str | None) -> str | None:
    """Upper case, trimmed, inner runs of blanks collapsed; None when nothing is left."""
    if not value:
        return None
    cleaned = " ".join(value.split()).upper()
    return cleaned or None


def parse_ccyymmdd(value: str | None) -> date | None:
    """A CCYYMMDD date, or None when absent or not a real calendar date."""
    value = (value or "").strip()
    # eight ASCII digits, as the pattern [0-9]{8}; ISO 8601's basic form is then CCYYMMDD,
    # parsed in C (the business edits and the report read several dates per policy)
    if len(value) != 8 or not (value.isascii() and value.isdigit()):
        return None
    try:
        return date.fromisoformat(value)
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
    # four ASCII digits, as the pattern [0-9]{4}, without the regular expression
    return int(value) if len(value) == 4 and value.isascii() and value.isdigit() else None
