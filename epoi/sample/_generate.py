"""``generate``: a deterministic synthetic world of carriers, their 811 files, the state's
registration file and the ground truth that says what every reported vehicle really is."""

from __future__ import annotations

import csv
import heapq
import random
from calendar import monthrange
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TextIO

from ..errors import ConfigError
from . import _people
from ._faults import FaultOptions, bad_check_digit, vin_typo
from ._records import Address, Carrier, Organisation, Person, Policy, ReportedVehicle, Vehicle
from ._vehicles import PlateFactory, VinFactory
from ._writer import InterchangeWriter

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
MAX_CARRIERS = 20

_CARRIER_STEMS = (
    "GOLDEN STATE", "PACIFIC CREST", "SIERRA NEVADA", "REDWOOD EMPIRE", "CASCADE", "MISSION BAY",
    "SUNCOAST", "PALOMAR", "YOSEMITE", "TAHOE", "BIG SUR", "EL DORADO", "MONTEREY", "CORONADO",
    "MARIPOSA", "SEQUOIA", "CHANNEL ISLANDS", "ANGELES CREST", "DIABLO", "SHASTA",
)
_CARRIER_KINDS = (
    ("MUTUAL INSURANCE CO", "MUT"), ("CASUALTY CO", "CAS"), ("INDEMNITY CO", "IND"),
    ("AUTO INSURANCE EXCHANGE", "EXCH"), ("FIRE AND CASUALTY CO", "FC"),
    ("GENERAL INSURANCE CO", "GEN"),
)
# Policy number layouts; each carrier keeps one.
_POLICY_FORMATS = ("{p}{n:08d}", "{p}-{n:07d}-CA", "{n:010d}", "CA{p}{n:09d}", "{p}{n:07d}01")


@dataclass(slots=True)
class SampleSummary:
    out_dir: Path
    files: list[Path] = field(default_factory=list)
    carriers: list[Carrier] = field(default_factory=list)
    policies: int = 0
    vehicles: int = 0  # vehicle HL loops written
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


def _add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def _make_carriers(rng: random.Random, count: int) -> list[Carrier]:
    stems = rng.sample(_CARRIER_STEMS, count)
    naics = rng.sample(range(10000, 99999), count)
    formats = list(_POLICY_FORMATS)
    rng.shuffle(formats)
    carriers = []
    for i, stem in enumerate(stems):
        # NM103 holds at most 35 characters in 004010.
        kind, abbr = rng.choice([k for k in _CARRIER_KINDS if len(stem) + 1 + len(k[0]) <= 35])
        initials = "".join(w[0] for w in stem.split()) + abbr[0]
        carriers.append(
            Carrier(
                name=f"{stem} {kind}",
                naic=str(naics[i]),
                fein=_people.fein(rng),
                sender_id=(stem.replace(" ", "")[:10] + abbr)[:15],
                policy_prefix=initials,
                # Real carriers differ: some break lines after each segment, some never do.
                line_end=("\n", "\r\n", "\n", "")[i % 4],
                asks_ta1=rng.random() < 0.7,
            )
        )
    return carriers


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """Unequal market shares that add up to ``total``."""
    weights = [rng.uniform(0.6, 1.4) for _ in range(parts)]
    s = sum(weights)
    counts = [int(total * w / s) for w in weights]
    for i in range(total - sum(counts)):
        counts[i % parts] += 1
    return counts


class _Outputs:
    """The two CSV files, written row by row."""

    def __init__(self, reg: TextIO, truth: TextIO, summary: SampleSummary) -> None:
        self.reg = csv.writer(reg, lineterminator="\n")
        self.truth = csv.writer(truth, lineterminator="\n")
        self.reg.writerow(REGISTRATION_COLUMNS)
        self.truth.writerow(GROUND_TRUTH_COLUMNS)
        self.summary = summary

    def registration(
        self, v: Vehicle, owner: Person | Organisation, address: Address,
        expires: date, status: str,
    ) -> None:
        if isinstance(owner, Organisation):
            names = ("", "", owner.name, "", "", "", owner.fein)
        else:
            dob = owner.dob.isoformat() if owner.dob else ""
            names = (owner.last, owner.first, "", owner.dl, "CA" if owner.dl else "", dob, "")
        street = f"{address.line1} {address.line2}".strip()
        zip_code = address.zip if len(address.zip) == 5 else f"{address.zip[:5]}-{address.zip[5:]}"
        self.reg.writerow((
            v.plate, v.vin, v.make, v.year, *names, street, address.city, address.state,
            zip_code, expires.isoformat(), status,
        ))
        self.summary.registrations += 1


class _CarrierStream:
    """The policy transactions of one carrier, one at a time.  Follow-ups (a cancellation,
    a change, a reinstatement of a policy reported earlier in the stream) wait in a small
    heap a few hundred slots at most, so memory does not grow with the run."""

    def __init__(
        self, carrier: Carrier, rng: random.Random, frng: random.Random, faults: FaultOptions,
        today: date, vins: VinFactory, plates: PlateFactory, out: _Outputs,
    ) -> None:
        self.c = carrier
        self.rng = rng
        self.frng = frng
        self.faults = faults
        self.today = today
        self.vins = vins
        self.plates = plates
        self.out = out
        self.slot = 0
        self.seq = 0
        self.pending: list[tuple[int, int, Policy]] = []
        self.number = rng.randint(100_000, 4_000_000)
        self.fmt = _POLICY_FORMATS[int(carrier.naic) % len(_POLICY_FORMATS)]

    # -- the world ---------------------------------------------------------------------

    def _policy_number(self) -> str:
        self.number += self.rng.randint(1, 9)
        return self.fmt.format(p=self.c.policy_prefix, n=self.number)

    def _registration_dates(self) -> tuple[date, str]:
        rng = self.rng
        expires = self.today + _days(rng.randint(-25, 365))
        r = rng.random()
        if r < 0.01:
            status = "SUSPENDED"
        elif r < 0.015:
            status = "CANCELLED"
        else:
            status = "ACTIVE" if expires >= self.today else "EXPIRED"
        return expires, status

    def _vehicle(self, owner: Person | Organisation, address: Address, *, commercial: bool) -> Vehicle:
        rng = self.rng
        vin, year, make = self.vins.vehicle(self.today, commercial=commercial)
        registered = rng.random() < 0.96
        plate = self.plates.next(commercial=commercial) if registered else ""
        v = Vehicle(vin, year, make, plate)
        if registered:
            self.out.registration(v, owner, address, *self._registration_dates())
        else:
            self.out.summary.unregistered += 1
        if rng.random() < 0.07:
            self._uninsured()
        return v

    def _uninsured(self) -> None:
        """A registered vehicle that no carrier reports: what the state is looking for."""
        rng = self.rng
        vin, year, make = self.vins.vehicle(self.today)
        v = Vehicle(vin, year, make, self.plates.next())
        self.out.registration(v, _people.person(rng, self.today), _people.address(rng), *self._registration_dates())
        self.out.summary.uninsured += 1
        self.out.truth.writerow(("uninsured", "", "", "", "", "", "", "", "", vin, v.plate, vin, "", ""))

    def _insureds(self, policy_type: str) -> list[Person | Organisation]:
        rng, today = self.rng, self.today
        if policy_type == "PV" or (policy_type == "CV" and rng.random() < 0.3) or (
            policy_type == "CF" and rng.random() < 0.1
        ):
            named = _people.person(rng, today)
            insureds: list[Person | Organisation] = [named]
            if policy_type == "PV" and rng.random() < 0.25:
                same_family = rng.random() < 0.7
                insureds.append(_people.person(rng, today, last=named.last if same_family else None))
            return insureds
        return [_people.organisation(rng, fleet=policy_type == "CF")]

    def _dates(self, transaction: str) -> tuple[date, date | None, date | None]:
        """(effective, expiration, cancellation) of a transaction reported today."""
        rng, t = self.rng, self.today
        term = rng.choice((6, 12, 12))
        if transaction == "NBS":
            r = rng.random()
            if r < 0.85:
                eff = t - _days(rng.randint(0, 25))
            elif r < 0.94:
                eff = t - _days(rng.randint(31, 150))  # late report
            else:
                eff = t + _days(rng.randint(1, 75))  # written ahead of its start
            return eff, (_add_months(eff, term) if rng.random() < 0.85 else None), None
        if transaction == "RWL":
            late = rng.random() < 0.06
            eff = t - _days(rng.randint(31, 90) if late else rng.randint(-10, 28))
            return eff, _add_months(eff, term), None
        if transaction == "XLC":
            eff = t - _days(rng.randint(30, 330))
            cancel = max(eff + _days(1), t - _days(rng.randint(0, 40)))
            return eff, (_add_months(eff, 12) if rng.random() < 0.5 else None), cancel
        # CHG, REI: the day the change or reinstatement takes effect.
        eff = t - _days(rng.randint(0, 30))
        return eff, (_add_months(eff, term) if rng.random() < 0.5 else None), None

    def _fresh(self) -> Policy:
        rng = self.rng
        policy_type = rng.choices(("PV", "CV", "CF"), weights=(80, 14, 6))[0]
        transaction = rng.choices(("NBS", "RWL", "CHG", "XLC", "REI"), weights=(55, 36, 4, 3.5, 1.5))[0]
        eff, exp, cancel = self._dates(transaction)
        insureds = self._insureds(policy_type)
        named = insureds[0]
        org = isinstance(named, Organisation)
        address = _people.business_address(rng) if org else _people.address(rng)
        # The registered owner is usually the named insured, sometimes the co-insured.
        owner = insureds[1] if len(insureds) > 1 and rng.random() < 0.15 else named
        policy = Policy(
            number=self._policy_number(),
            transaction=transaction, policy_type=policy_type, effective=eff, expiration=exp,
            cancellation=cancel, insureds=insureds, address=address, vehicles=[],
        )
        if policy_type == "CF":
            fleet_size = rng.choice((2, 2, 3, 3, 4, 5, 6, 8, 12))
            policy.fleet = [self._vehicle(named, address, commercial=True) for _ in range(fleet_size)]
        else:
            n = rng.choices((1, 2, 3, 4, 5, 6), weights=(60, 28, 8, 2, 1, 1) if policy_type == "PV" else (35, 25, 15, 10, 8, 7))[0]
            policy.vehicles = [
                ReportedVehicle(v, v.vin)
                for v in (self._vehicle(owner, address, commercial=policy_type == "CV") for _ in range(n))
            ]
        if transaction in ("NBS", "RWL"):
            r = rng.random()
            if r < 0.05:
                self._schedule(self._cancellation_of(policy))
            elif r < 0.09:
                self._schedule(self._change_of(policy))
        return policy

    # -- follow-ups ---------------------------------------------------------------------

    def _schedule(self, policy: Policy) -> None:
        self.seq += 1
        heapq.heappush(self.pending, (self.slot + self.rng.randint(3, 150), self.seq, policy))

    @staticmethod
    def _again(policy: Policy, transaction: str, **changes: Any) -> Policy:
        return replace(
            policy, transaction=transaction,
            vehicles=[ReportedVehicle(rv.vehicle, rv.vehicle.vin) for rv in policy.vehicles if rv.change != "VDL"],
            faults=[], omitted_dates=frozenset(), **changes,
        )

    def _cancellation_of(self, policy: Policy) -> Policy:
        cancel = policy.effective + _days(self.rng.randint(1, 60))
        xlc = self._again(policy, "XLC", cancellation=cancel)
        return xlc

    def _change_of(self, policy: Policy) -> Policy:
        rng = self.rng
        when = max(policy.effective + _days(1), self.today - _days(rng.randint(0, 20)))
        chg = self._again(policy, "CHG", effective=when, cancellation=None)
        r = rng.random()
        if policy.policy_type == "CF" or r < 0.4:  # moved
            org = isinstance(policy.insureds[0], Organisation)
            chg.address = _people.business_address(rng) if org else _people.address(rng)
        elif r < 0.75 or len(chg.vehicles) < 2:  # bought another car
            v = self._vehicle(policy.insureds[0], policy.address, commercial=policy.policy_type == "CV")
            chg.vehicles.append(ReportedVehicle(v, v.vin, "VAD", when))
        else:  # sold one
            gone = rng.randrange(len(chg.vehicles))
            chg.vehicles[gone].change, chg.vehicles[gone].change_date = "VDL", when
        return chg

    def next_policy(self) -> Policy:
        self.slot += 1
        if self.pending and self.pending[0][0] <= self.slot:
            policy = heapq.heappop(self.pending)[2]
            if policy.transaction == "XLC" and self.rng.random() < 0.35:
                reinstated = policy.cancellation + _days(self.rng.randint(0, 12))  # type: ignore[operator]
                self._schedule(self._again(policy, "REI", effective=reinstated, cancellation=None))
        else:
            policy = self._fresh()
        self._inject(policy)
        return policy

    # -- faults --------------------------------------------------------------------------

    def _inject(self, policy: Policy) -> None:
        """Draw every fault for every item whatever the rates, so that the fault stream
        stays aligned and only the outcome depends on the rates."""
        frng, f = self.frng, self.faults
        missing = frng.random() < f.missing_dates
        required = {"RWL": ("007", "036"), "XLC": ("007", "177")}.get(policy.transaction, ("007",))
        which = frng.choice(required)
        if missing:
            policy.omitted_dates = frozenset((which,))
            policy.faults.append(f"missing_date_{which}")
        for rv in policy.vehicles:
            typo = frng.random() < f.vin_typos
            bad = frng.random() < f.bad_check_digits
            if typo:
                rv.reported_vin, kind = vin_typo(frng, rv.vehicle.vin)
                rv.faults.append(f"vin_typo_{kind}")
            if bad and not typo:
                rv.reported_vin = bad_check_digit(frng, rv.vehicle.vin)
                rv.faults.append("bad_check_digit")


def generate(
    policies: int,
    out_dir: Path,
    *,
    today: date,
    seed: int = 0,
    carriers: int = 3,
    faults: FaultOptions = FaultOptions(),
    policies_per_file: int = 10_000,
    policies_per_set: int = 2_000,
    progress: Callable[[int], None] | None = None,
) -> SampleSummary:
    """Write carrier 811 files, ``registrations.csv`` and ``ground_truth.csv`` into ``out_dir``.

    The same arguments give byte-identical files: all randomness comes from ``seed`` and
    the only date is ``today`` (report date, envelope dates, coverage dates are relative to
    it).  ``progress`` is called with the number of policies written since its last call."""
    if policies < 1:
        raise ConfigError("SAMPLE-ARGS", "policies must be at least 1")
    if not 1 <= carriers <= MAX_CARRIERS:
        raise ConfigError("SAMPLE-ARGS", f"carriers must be between 1 and {MAX_CARRIERS}")
    if policies_per_file < 1 or policies_per_set < 1:
        raise ConfigError("SAMPLE-ARGS", "policies per file and per set must be at least 1")
    if carriers > policies:
        raise ConfigError("SAMPLE-ARGS", "fewer policies than carriers")
    per_set = min(policies_per_set, policies_per_file)
    if -(-policies_per_file // per_set) > 999:  # ST02 and BIG02 leave room for 999 sets
        raise ConfigError("SAMPLE-ARGS", "more than 999 sets per file: raise --policies-per-set")

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    frng = random.Random(f"epoi-sample-faults-{seed}")
    summary = SampleSummary(out_dir=out_dir)
    summary.carriers = _make_carriers(rng, carriers)
    shares = _split(rng, policies, carriers)
    if -(-max(shares) // policies_per_file) > 9999:  # BIG02 leaves room for 9999 files
        raise ConfigError("SAMPLE-ARGS", "more than 9999 files per carrier: raise --policies-per-file")
    vins, plates = VinFactory(rng), PlateFactory(rng)

    with (
        open(summary.registrations_file, "w", encoding="utf-8", newline="") as reg,
        open(summary.ground_truth_file, "w", encoding="utf-8", newline="") as truth,
    ):
        out = _Outputs(reg, truth, summary)
        for carrier, share in zip(summary.carriers, shares):
            stream = _CarrierStream(carrier, rng, frng, faults, today, vins, plates, out)
            _write_carrier(stream, share, policies_per_file, per_set, rng, frng, out, progress)
    return summary


def _write_carrier(
    stream: _CarrierStream, share: int, per_file: int, per_set: int, rng: random.Random,
    frng: random.Random, out: _Outputs, progress: Callable[[int], None] | None,
) -> None:
    c, summary, today = stream.c, out.summary, stream.today
    control = rng.randint(1, 900_000_000)
    remaining, k = share, 0
    while remaining:
        k += 1
        in_file = min(per_file, remaining)
        path = summary.out_dir / f"{c.sender_id.lower()}_{today:%Y%m%d}_{k:03d}.x12"
        hhmm = f"{rng.randint(0, 23):02d}{rng.randint(0, 59):02d}"
        control += 1
        isa13 = f"{control:09d}"
        with open(path, "w", encoding="ascii", newline="", buffering=1 << 20) as fh:
            w = InterchangeWriter(fh, c, control=control, when=today, hhmm=hhmm)
            w.begin()
            left, s, done = in_file, 0, 0
            while left:
                s += 1
                st = w.begin_set(f"{c.policy_prefix[:3]}{today:%Y%m%d}-{k:04d}-{s:03d}")
                for _ in range(min(per_set, left)):
                    policy = stream.next_policy()
                    w.write_policy(policy)
                    _truth_rows(out, policy, path.name, isa13, st, c.naic)
                    done += 1
                    if progress is not None and done % 1000 == 0:
                        progress(1000)
                left -= min(per_set, left)
                se_error = frng.choice((1, 2, -1)) if frng.random() < stream.faults.wrong_counts else 0
                written, true = w.end_set(se_error=se_error)
                if se_error:
                    summary.faults["wrong_se_count"] += 1
                    out.truth.writerow(("file", path.name, isa13, st, c.naic, "", "", "", "", "", "", "", "wrong_se_count", f"SE01={written} actual={true}"))
            ge_error = frng.choice((1, 2)) if frng.random() < stream.faults.wrong_counts else 0
            written, true = w.end(ge_error=ge_error)
            if ge_error:
                summary.faults["wrong_ge_count"] += 1
                out.truth.writerow(("file", path.name, isa13, "", c.naic, "", "", "", "", "", "", "", "wrong_ge_count", f"GE01={written} actual={true}"))
        if progress is not None and done % 1000:
            progress(done % 1000)
        summary.files.append(path)
        remaining -= in_file


def _truth_rows(out: _Outputs, policy: Policy, file: str, isa13: str, st: str, naic: str) -> None:
    summary = out.summary
    summary.policies += 1
    summary.transactions[policy.transaction] += 1
    for fault in policy.faults:
        summary.faults[fault] += 1
    head = (file, isa13, st, naic, policy.number, policy.transaction, policy.policy_type)
    # A fleet policy names no vehicle: its rows say which registered vehicles it covers.
    for v in policy.fleet:
        out.truth.writerow((
            "fleet_vehicle", *head, "", v.vin, v.plate, v.vin if v.plate else "",
            ";".join(policy.faults), "",
        ))
    for rv in policy.vehicles:
        summary.vehicles += 1
        for fault in rv.faults:
            summary.faults[fault] += 1
        v = rv.vehicle
        out.truth.writerow((
            "vehicle", *head, rv.reported_vin, v.vin, v.plate, v.vin if v.plate else "",
            ";".join(policy.faults + rv.faults), rv.change,
        ))
