"""The run's bookkeeping: the two CSV files (registrations, ground truth), written row by row,
and the counts that end up in ``SampleSummary``."""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, TextIO

from ._records import Address, Carrier, Organisation, Person, Policy, Vehicle

# cli.md, "The registration file".
REGISTRATION_COLUMNS = (
    "plate", "vin", "make", "model_year", "owner_last", "owner_first", "owner_org", "owner_dl",
    "owner_dl_state", "owner_dob", "owner_fein", "street", "city", "state", "zip", "expires",
    "status",
)
GROUND_TRUTH_COLUMNS = (
    "kind", "file", "interchange", "transaction_set", "carrier_naic", "policy_number",
    "transaction_type", "policy_type", "reported_vin", "true_vin", "registered_plate",
    "registered_vin", "fault", "detail",
)
REGISTRATIONS_FILE = "registrations.csv"
GROUND_TRUTH_FILE = "ground_truth.csv"


@dataclass(slots=True)
class SampleSummary:
    """What one run wrote."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    carriers: list[Carrier] = field(default_factory=list)
    policies: int = 0  # policy transactions (HL level 4 loops)
    vehicles: int = 0  # vehicle HL level 5 loops
    registrations: int = 0
    uninsured: int = 0  # registered vehicles nobody reports
    unregistered: int = 0  # reported vehicles with no registration
    transactions: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def registrations_file(self) -> Path:
        return self.out_dir / REGISTRATIONS_FILE

    @property
    def ground_truth_file(self) -> Path:
        return self.out_dir / GROUND_TRUTH_FILE

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(f) for f in self.files],
            "registrations_file": str(self.registrations_file),
            "ground_truth_file": str(self.ground_truth_file),
            "carriers": [
                {"name": c.name, "naic": c.naic, "sender_id": c.sender_id} for c in self.carriers
            ],
            "policies": self.policies,
            "vehicles": self.vehicles,
            "registrations": self.registrations,
            "uninsured": self.uninsured,
            "unregistered": self.unregistered,
            "transactions": dict(sorted(self.transactions.items())),
            "faults": dict(sorted(self.faults.items())),
        }


@dataclass(frozen=True, slots=True)
class Place:
    """Where a policy was written: file name, ISA13, ST02, carrier NAIC."""

    file: str
    interchange: str
    transaction_set: str
    naic: str


class Outputs:
    def __init__(self, registrations: TextIO, truth: TextIO, summary: SampleSummary) -> None:
        self._reg = csv.writer(registrations, lineterminator="\n")
        self._truth = csv.writer(truth, lineterminator="\n")
        self._reg.writerow(REGISTRATION_COLUMNS)
        self._truth.writerow(GROUND_TRUTH_COLUMNS)
        self.summary = summary

    def registration(
        self, v: Vehicle, owner: Person | Organisation, address: Address, expires: date,
        status: str,
    ) -> None:
        if isinstance(owner, Organisation):
            names: tuple[str, ...] = ("", "", owner.name, "", "", "", owner.fein)
        else:
            dob = owner.dob.isoformat() if owner.dob else ""
            dl_state = "CA" if owner.dl else ""
            names = (owner.last, owner.first, "", owner.dl, dl_state, dob, "")
        street = f"{address.line1} {address.line2}".strip()
        # The 811 carries ZIP+4 as 9 digits; the registration file writes it the DMV way.
        zip_code = address.zip if len(address.zip) == 5 else f"{address.zip[:5]}-{address.zip[5:]}"
        self._reg.writerow((
            v.plate, v.vin, v.make, v.year, *names, street, address.city, address.state,
            zip_code, expires.isoformat(), status,
        ))
        self.summary.registrations += 1

    def uninsured(self, v: Vehicle) -> None:
        self.summary.uninsured += 1
        self._truth.writerow(("uninsured", *[""] * 8, v.vin, v.plate, v.vin, "", ""))

    def file_fault(self, place: Place, fault: str, detail: str) -> None:
        self.summary.faults[fault] += 1
        self._truth.writerow((
            "file", place.file, place.interchange, place.transaction_set, place.naic,
            *[""] * 7, fault, detail,
        ))

    def policy(self, policy: Policy, place: Place) -> None:
        """The ground-truth rows of one policy transaction just written."""
        summary = self.summary
        summary.policies += 1
        summary.transactions[policy.transaction] += 1
        for fault in policy.faults:
            summary.faults[fault] += 1
        head = (
            place.file, place.interchange, place.transaction_set, place.naic, policy.number,
            policy.transaction, policy.policy_type,
        )
        # A fleet policy names no vehicle: its rows say which registered vehicles it covers.
        for v in policy.fleet:
            self._truth.writerow((
                "fleet_vehicle", *head, "", v.vin, v.plate, v.vin if v.plate else "",
                ";".join(policy.faults), "",
            ))
        for rv in policy.vehicles:
            summary.vehicles += 1
            for fault in rv.faults:
                summary.faults[fault] += 1
            v = rv.vehicle
            self._truth.writerow((
                "vehicle", *head, rv.reported_vin, v.vin, v.plate, v.vin if v.plate else "",
                ";".join(policy.faults + rv.faults), rv.change,
            ))
