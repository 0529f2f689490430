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
from ._writer import SENDER_QUALIFIER

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
# The trading-partner file ``epoi carriers import`` reads (cli.md): the sample's carriers
# send production interchanges (ISA15 P), so they are registered in production.
CARRIER_COLUMNS = ("name", "naic", "isa_qualifier", "isa_id", "environment")
REGISTRATIONS_FILE = "registrations.csv"
GROUND_TRUTH_FILE = "ground_truth.csv"
CARRIERS_FILE = "carriers.csv"


@dataclass(slots=True)
class SampleSummary:
    """What one run wrote."""

    out_dir: Path
    files: list[Path] = field(default_factory=list)
    carriers: list[Carrier] = field(default_factory=list)
    policies: int = 0  # policy transactions (HL level 4 loops)
    vehicles: int = 0  # vehicle HL level 5 loops
    registrations: int = 0
    uninsured: int = 0  # registered vehicles nobody reports (decoys and twins included)
    unregistered: int = 0  # reported vehicles with no registration
    decoys: int = 0  # registered near VINs of reported vehicles, other owners
    twins: int = 0  # registered vehicles of the same owner, make and year as an unregistered one
    name_variants: int = 0  # registrations that spell the owner's name differently
    transactions: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)

    @property
    def registrations_file(self) -> Path:
        return self.out_dir / REGISTRATIONS_FILE

    @property
    def ground_truth_file(self) -> Path:
        return self.out_dir / GROUND_TRUTH_FILE

    @property
    def carriers_file(self) -> Path:
        return self.out_dir / CARRIERS_FILE

    def as_dict(self) -> dict[str, Any]:
        return {
            "out_dir": str(self.out_dir),
            "files": [str(f) for f in self.files],
            "registrations_file": str(self.registrations_file),
            "ground_truth_file": str(self.ground_truth_file),
            "carriers_file": str(self.carriers_file),
            "carriers": [
                {"name": c.name, "naic": c.naic, "sender_id": c.sender_id} for c in self.carriers
            ],
            "policies": self.policies,
            "vehicles": self.vehicles,
            "registrations": self.registrations,
            "uninsured": self.uninsured,
            "unregistered": self.unregistered,
            "decoys": self.decoys,
            "twins": self.twins,
            "name_variants": self.name_variants,
            "transactions": dict(sorted(self.transactions.items())),
            "faults": dict(sorted(self.faults.items())),
        }


def write_carriers(summary: SampleSummary) -> None:
    """The carriers of this world as ``epoi carriers import`` reads them: the files' ISA
    senders and the NAIC codes their NM1*IN name, so that the sample runs as it is."""
    with open(summary.carriers_file, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(CARRIER_COLUMNS)
        for c in summary.carriers:
            w.writerow((c.name, c.naic, SENDER_QUALIFIER, c.sender_id, "production"))


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
        # Plate -> how the registration spells its owner's name, for the ground truth.
        self._variants: dict[str, str] = {}

    def registration(
        self, v: Vehicle, owner: Person | Organisation, address: Address, expires: date,
        status: str, *, names: tuple[str, str, str] | None = None,
    ) -> None:
        """``names``: (last, first, kind) when the registration spells the owner otherwise."""
        row_names: tuple[str, ...]
        if isinstance(owner, Organisation):
            row_names = ("", "", owner.name, "", "", "", owner.fein)
        else:
            dob = owner.dob.isoformat() if owner.dob else ""
            dl_state = "CA" if owner.dl else ""
            last, first = owner.last, owner.first
            if names is not None:
                last, first, kind = names
                self._variants[v.plate] = f"reg_name_{kind}"
                self.summary.name_variants += 1
            row_names = (last, first, "", owner.dl, dl_state, dob, "")
        street = f"{address.line1} {address.line2}".strip()
        # The 811 carries ZIP+4 as 9 digits; the registration file writes it the DMV way.
        zip_code = address.zip if len(address.zip) == 5 else f"{address.zip[:5]}-{address.zip[5:]}"
        self._reg.writerow((
            v.plate, v.vin, v.make, v.year, *row_names, street, address.city, address.state,
            zip_code, expires.isoformat(), status,
        ))
        self.summary.registrations += 1

    def uninsured(self, v: Vehicle, *, fault: str = "", detail: str = "") -> None:
        """A registered vehicle nobody reports; ``fault`` says when it is a matching trap
        (``decoy``, ``twin``) and ``detail`` which reported vehicle it is near or twin of."""
        self.summary.uninsured += 1
        if fault == "decoy":
            self.summary.decoys += 1
        elif fault == "twin":
            self.summary.twins += 1
        self._truth.writerow(("uninsured", *[""] * 8, v.vin, v.plate, v.vin, fault, detail))

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
                ";".join(policy.faults + rv.faults),
                ";".join(filter(None, (rv.change, self._variants.get(v.plate, "")))),
            ))
