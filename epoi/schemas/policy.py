"""The state schema: one normalised policy report (companion guide §2), the business-edit
findings on it (§4) and the record the transforms hand on.

Every field of the report is optional except the lineage: a rejected record is stored and
reported too (guide §3), so the model must hold whatever the carrier sent, however wrong.
Values are normalised (upper case, trimmed, dates as ``date``, ZIP as ``NNNNN`` or
``NNNNN-NNNN``, VINs without blanks or dashes); codes are kept as sent so that a report with
an unknown transaction type still round-trips (the business edits flag it, E102).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date
from functools import cached_property
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field

from .verdict import Issue

SCHEMA_VERSION = 1

TRANSACTION_TYPES = ("NBS", "RWL", "CHG", "XLC", "REI")
POLICY_TYPES = ("PV", "CV", "CF")
VEHICLE_SPECIFIC_POLICY_TYPES = ("PV", "CV")
VEHICLE_TRANSACTIONS = ("VAD", "VDL")

Severity = Literal["error", "warning"]
Level = Literal["insurer", "policy", "vehicle"]
Status = Literal["accepted", "warned", "rejected"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Address(_Frozen):
    lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    zip: str | None = None  # "95814" or "95814-1234"; None when absent or not a ZIP


class Insured(_Frozen):
    """A named insured or co-insured: an individual (NM102 = 1) or an organisation (2)."""

    kind: Literal["individual", "organisation"]
    last_name: str | None = None  # individuals
    first_name: str | None = None
    middle_name: str | None = None
    organisation_name: str | None = None  # organisations
    fein: str | None = None  # organisations, 9 digits as sent
    licence_number: str | None = None  # REF*0B
    licence_state: str | None = None
    date_of_birth: date | None = None  # DMG*D8; None when absent or not a real date
    address: Address | None = None

    @property
    def name(self) -> str | None:
        return self.organisation_name if self.kind == "organisation" else self.last_name


class Vehicle(_Frozen):
    vin: str | None = None
    model_year: int | None = None
    make: str | None = None
    transaction: str | None = None  # VAD | VDL when the vehicle was added or deleted
    transaction_date: date | None = None


class RecordKey(_Frozen):
    """The natural key stages are idempotent on.  The business key (carrier, policy, type,
    effective date) says what was reported; the set identity and the policy's position in
    the set say which report it is, so that a redelivered message maps to the same row and
    two identical policies in one set stay two rows."""

    carrier_naic: str | None
    policy_number: str | None
    transaction_type: str | None
    effective_date: date | None
    sender_id: str  # ISA06
    interchange: str  # ISA13
    group: str  # GS06
    transaction_set: str  # ST02
    policy_position: int  # position of the policy's HL segment in its set (ST = 1)

    def as_string(self) -> str:
        """The key as one string: the stored reports' and match results' natural key."""
        return self.joined

    @cached_property
    def joined(self) -> str:
        """``as_string``, worked out once per key: a worker asks a record's key for its
        E110/E111 facts, its rows and its match (4 % of a unit's first pass when each
        asked anew).  Not a field: pydantic leaves a cached property out of equality,
        hashing and every dump; ``model_copy`` drops it (its ``update`` may change a part)."""
        parts = (
            self.sender_id,
            self.interchange,
            self.group,
            self.transaction_set,
            str(self.policy_position),
            self.carrier_naic or "",
            self.policy_number or "",
            self.transaction_type or "",
            self.effective_date.isoformat() if self.effective_date else "",
        )
        # Interned: the stages hold a report's key in several rows, which cross from a
        # worker process pickled (pickle writes one string object once).
        return sys.intern("|".join(parts))

    def model_copy(self, *, update: Mapping[str, Any] | None = None,
                   deep: bool = False) -> Self:
        copied = super().model_copy(update=update, deep=deep)
        copied.__dict__.pop("joined", None)
        return copied


class PolicyReport(_Frozen):
    schema_version: int = SCHEMA_VERSION

    carrier_naic: str | None = None
    insurer_name: str | None = None
    jurisdiction: str | None = None
    policy_number: str | None = None
    transaction_type: str | None = None  # NBS RWL CHG XLC REI
    policy_type: str | None = None  # PV CV CF
    effective_date: date | None = None
    expiration_date: date | None = None
    cancellation_date: date | None = None
    insureds: tuple[Insured, ...] = ()
    vehicles: tuple[Vehicle, ...] = ()

    # Lineage: where the report came from.
    file: str
    sender_id: str
    interchange: str
    group: str
    transaction_set: str
    submission_ref: str  # BIG02
    report_date: date | None = None  # BIG01
    test: bool = False  # ISA15 = T: validated and acknowledged, never production data
    key: RecordKey


class BusinessError(_Frozen):
    """One business-edit finding (guide §4).  The message never holds a data value."""

    code: str  # E001 ... E301
    severity: Severity
    level: Level
    message: str
    segment_position: int | None = None  # within the transaction set, ST = 1
    segment_id: str | None = None
    element: str | None = None  # e.g. "VEH02"
    vehicle_index: int | None = None  # 0-based index into PolicyReport.vehicles

    def as_issue(self, policy_number: str | None = None) -> Issue:
        """The same finding in the shape of ``epoi validate --json``."""
        return Issue(
            code=self.code,
            severity=self.severity,
            message=self.message,
            policy_number=policy_number,
            segment_position=self.segment_position,
            segment_id=self.segment_id,
            element=self.element,
        )


class NormalizedRecord(_Frozen):
    report: PolicyReport
    errors: tuple[BusinessError, ...] = Field(default=())
    status: Status = "accepted"

    @staticmethod
    def status_for(errors: tuple[BusinessError, ...] | list[BusinessError]) -> Status:
        if any(e.severity == "error" for e in errors):
            return "rejected"
        return "warned" if errors else "accepted"
