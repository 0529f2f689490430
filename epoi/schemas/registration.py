"""The state's registration records (companion guide §5, file format in cli.md).

A ``Registration`` is one row of the registration file after normalisation: upper case,
trimmed, VIN and plate without blanks or dashes, dates as ``date``, empty optional values as
``None``.  It is a ``NamedTuple`` rather than a pydantic model on purpose: a state loads
millions of them, and the reader validates every field itself before building one, so
pydantic would only add cost on the hot path (about 10x per row, measured).
"""

from __future__ import annotations

import enum
from datetime import date
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict


class RegistrationStatus(enum.StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    SUSPENDED = "SUSPENDED"
    CANCELLED = "CANCELLED"


class Registration(NamedTuple):
    plate: str
    vin: str
    make: str
    model_year: int
    expires: date  # registration expiration: the renewal due date
    status: str = RegistrationStatus.ACTIVE.value
    owner_last: str | None = None  # individuals
    owner_first: str | None = None
    owner_org: str | None = None  # organisations
    owner_dl: str | None = None
    owner_dl_state: str | None = None
    owner_dob: date | None = None
    owner_fein: str | None = None
    street: str | None = None
    city: str | None = None
    state: str | None = None
    zip: str | None = None

    def is_valid_on(self, day: date) -> bool:
        """Still a valid registration on ``day``: ACTIVE and not past its expiration
        (it is valid through the expiration day itself)."""
        return self.status == RegistrationStatus.ACTIVE and day <= self.expires


class RowError(BaseModel):
    """A registration row that was skipped or, when ``skipped`` is False, an optional
    field of a row that was loaded without it (left empty).  ``message`` names the column
    and the rule, never the value (it may be personal data)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    file: str
    line: int  # 1-based physical line of the row's end in the file (the header is line 1)
    code: str  # REG-FIELDS, REG-PLATE, REG-VIN, REG-MAKE, REG-YEAR, REG-EXPIRES, ...
    column: str | None = None
    message: str
    skipped: bool = True  # False: the row was loaded, this field left empty

    def __str__(self) -> str:
        outcome = "row skipped" if self.skipped else "field left empty, row loaded"
        return f"[{self.code}] {self.file}:{self.line}: {self.message} ({outcome})"


def normalize_plate(plate: str) -> str:
    """Upper case, blanks and dashes removed: ``7abc 123`` and ``7ABC-123`` are one plate."""
    return "".join(plate.split()).replace("-", "").upper()
