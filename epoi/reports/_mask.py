"""Masking of personal data in reports: enough left to recognise a record, not to use it.

``D1234567`` → ``D12****7``, ``1980-01-15`` → ``1980-**-**``, ``GARCIA`` → ``G*****``,
``123456789`` → ``*****6789``.  Reports are masked unless an auditor asks for unmasked output
with an explicit flag, and that use is written to the access log (``epoi.store._access``).
"""

from __future__ import annotations

from datetime import date

STAR = "*"


def mask_licence(value: str | None) -> str:
    """Keep the first three and the last character; short numbers are starred whole."""
    if not value:
        return ""
    if len(value) < 6:
        return STAR * len(value)
    return value[:3] + STAR * (len(value) - 4) + value[-1]


def mask_date_of_birth(value: date | str | None) -> str:
    """Keep the year only."""
    if not value:
        return ""
    text = value.isoformat() if isinstance(value, date) else str(value)
    return f"{text[:4]}-**-**"


def mask_name(value: str | None) -> str:
    """Keep the initial."""
    if not value:
        return ""
    return value[0] + STAR * (len(value) - 1)


def mask_policy_number(value: str | None) -> str:
    """Keep the last four characters: enough for the owner to recognise the policy."""
    return mask_fein(value)


def mask_fein(value: str | None) -> str:
    """Keep the last four digits, as on a printed statement."""
    if not value:
        return ""
    if len(value) <= 4:
        return STAR * len(value)
    return STAR * (len(value) - 4) + value[-4:]
