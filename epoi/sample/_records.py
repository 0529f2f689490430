"""The synthetic world one sample run describes: carriers, insureds, vehicles, policies.

Plain slotted dataclasses; the generator fills them, the writers render them.  A ``Vehicle``
is the physical car (its true VIN); a ``ReportedVehicle`` is one mention of it in one policy
transaction, which may carry an injected fault (a mistyped VIN)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True, slots=True)
class Carrier:
    name: str
    naic: str  # 5 digits
    fein: str  # 9 digits
    sender_id: str  # ISA06, at most 15 characters
    policy_prefix: str
    line_end: str  # what follows the segment terminator: "\n", "\r\n" or ""
    asks_ta1: bool


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    line2: str
    city: str
    state: str
    zip: str


@dataclass(frozen=True, slots=True)
class Person:
    last: str
    first: str
    middle: str
    suffix: str
    dl: str  # "" when not reported
    dob: date | None


@dataclass(frozen=True, slots=True)
class Organisation:
    name: str
    fein: str


@dataclass(frozen=True, slots=True)
class Vehicle:
    vin: str  # the true VIN, valid check digit and year code
    year: int
    make: str
    plate: str  # "" when the vehicle is not registered


@dataclass(slots=True)
class ReportedVehicle:
    vehicle: Vehicle
    reported_vin: str
    change: str = ""  # "" | "VAD" | "VDL"
    change_date: date | None = None
    faults: list[str] = field(default_factory=list)


@dataclass(slots=True)
class Policy:
    number: str
    transaction: str  # NBS RWL CHG XLC REI
    policy_type: str  # PV CV CF
    effective: date
    expiration: date | None
    cancellation: date | None
    insureds: list[Person | Organisation]
    address: Address
    vehicles: list[ReportedVehicle]
    fleet: list[Vehicle] = field(default_factory=list)  # CF: registered fleet, never reported
    faults: list[str] = field(default_factory=list)  # policy-level faults, e.g. "missing_date_036"
    omitted_dates: frozenset[str] = frozenset()  # DTM qualifiers dropped by a fault
