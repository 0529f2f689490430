"""One carrier's stream of policy transactions, made up one at a time.

Most are fresh (new business, renewals, some stand-alone changes, cancellations and
reinstatements of policies reported before the sample).  Some are follow-ups of a policy
written earlier in the same stream: its cancellation, a change (move, car bought, car sold),
a reinstatement after a cancellation.  Follow-ups wait in a small heap and are built only when
their turn comes, so memory does not grow with the run and nothing is registered for a
follow-up that never gets written."""

from __future__ import annotations

import heapq
import random
from calendar import monthrange
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

from ..matching import within_distance
from ..schemas.vin import with_check_digit
from . import _people
from ._faults import FaultOptions, MatchingTraps, bad_check_digit, vin_typo
from ._outputs import Outputs
from ._records import Address, Carrier, Organisation, Person, Policy, ReportedVehicle, Vehicle
from ._vehicles import PlateFactory, VinFactory

# Policy number layouts; each carrier keeps one.
POLICY_FORMATS = ("{p}{n:08d}", "{p}-{n:07d}-CA", "{n:010d}", "CA{p}{n:09d}", "{p}{n:07d}01")
_FRESH_TYPES = (("NBS", "RWL", "CHG", "XLC", "REI"), (55, 36, 4, 3.5, 1.5))
_POLICY_TYPES = (("PV", "CV", "CF"), (80, 14, 6))
_VEHICLES_PER_POLICY = {"PV": (60, 28, 8, 2, 1, 1), "CV": (35, 25, 15, 10, 8, 7)}
_FLEET_SIZES = (2, 2, 3, 3, 4, 5, 6, 8, 12)
# Dates each transaction type must carry (companion guide §2); a fault drops one of them.
REQUIRED_DATES = {"RWL": ("007", "036"), "XLC": ("007", "177")}


def add_months(d: date, months: int) -> date:
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, monthrange(year, month)[1]))


def _days(n: int) -> timedelta:
    return timedelta(days=n)


class CarrierStream:
    def __init__(
        self, carrier: Carrier, *, rng: random.Random, fault_rng: random.Random,
        faults: FaultOptions, today: date, vins: VinFactory, plates: PlateFactory, out: Outputs,
        traps: MatchingTraps = MatchingTraps(), trap_rng: random.Random | None = None,
    ) -> None:
        self.carrier = carrier
        self.faults = faults
        self.traps = traps
        self._trng = trap_rng or random.Random(0)
        self.today = today
        self._rng = rng
        self._frng = fault_rng
        self._vins = vins
        self._plates = plates
        self._out = out
        self._slot = 0
        self._seq = 0
        self._pending: list[tuple[int, int, Callable[[], Policy]]] = []
        self._number = rng.randint(100_000, 4_000_000)
        self._format = POLICY_FORMATS[int(carrier.naic) % len(POLICY_FORMATS)]

    def next_policy(self) -> Policy:
        """The next transaction, with its faults injected."""
        self._slot += 1
        if self._pending and self._pending[0][0] <= self._slot:
            policy = heapq.heappop(self._pending)[2]()
        else:
            policy = self._fresh()
        self._inject(policy)
        return policy

    # -- the world -----------------------------------------------------------------------

    def _policy_number(self) -> str:
        self._number += self._rng.randint(1, 9)
        return self._format.format(p=self.carrier.policy_prefix, n=self._number)

    def _registration_dates(self) -> tuple[date, str]:
        rng = self._rng
        expires = self.today + _days(rng.randint(-25, 365))
        r = rng.random()
        if r < 0.01:
            return expires, "SUSPENDED"
        if r < 0.015:
            return expires, "CANCELLED"
        return expires, "ACTIVE" if expires >= self.today else "EXPIRED"

    def _vehicle(
        self, owner: Person | Organisation, address: Address, *, commercial: bool,
        fleet: bool = False,
    ) -> Vehicle:
        """A new vehicle of ``owner``, registered or not.  ``fleet``: one of a CF policy's
        vehicles, which the policy covers without naming (so it gets no twin: a fleet
        policy covers every vehicle of its owner)."""
        rng, trng = self._rng, self._trng
        vin, year, make = self._vins.vehicle(self.today, commercial=commercial)
        registered = rng.random() < 0.96
        v = Vehicle(vin, year, make, self._plates.next(commercial=commercial) if registered else "")
        if registered:
            self._out.registration(v, owner, address, *self._registration_dates(),
                                   names=self._registered_names(owner))
            if trng.random() < self.traps.decoys:
                self._decoy(v)
        else:
            self._out.summary.unregistered += 1
            if not fleet and trng.random() < self.traps.twins:
                self._twin(v, owner, address)
        if rng.random() < 0.07:
            self._uninsured()
        return v

    # -- matching traps (their own random stream: the carrier files never change) ---------

    def _trap_dates(self) -> tuple[date, str]:
        expires = self.today + _days(self._trng.randint(-25, 365))
        return expires, "ACTIVE" if expires >= self.today else "EXPIRED"

    def _registered_names(self, owner: Person | Organisation) -> tuple[str, str, str] | None:
        """How the registration spells an individual owner when it differs from the 811:
        (last, first, kind), or None when it is spelt the same."""
        trng = self._trng
        if not isinstance(owner, Person) or trng.random() >= self.traps.name_variants:
            return None
        last, first = owner.last, owner.first
        options: list[tuple[str, str, str]] = [(first, last, "swapped")]
        if "-" in last:
            options += [(last.replace("-", " "), first, "hyphen"),
                        (last.split("-")[0], first, "half")]
        if " " in last:
            options.append((last.replace(" ", ""), first, "joined"))
        if "'" in last:
            options.append((last.replace("'", ""), first, "apostrophe"))
        options.append((f"{last} {owner.suffix or trng.choice(('JR', 'SR', 'II'))}", first,
                        "suffix"))
        return trng.choice(options)

    def _decoy(self, v: Vehicle) -> None:
        """A vehicle of the same make and year two serial positions away from ``v`` (check
        digit unchanged), registered to somebody else, reported by nobody."""
        trng = self._trng
        near = ""
        for _ in range(200):
            i, j = sorted(trng.sample(range(11, 17), 2))
            if j == i + 1:
                continue  # an adjacent swap is a typo the carrier might make: not a decoy
            chars = list(v.vin)
            chars[i], chars[j] = trng.choice("0123456789"), trng.choice("0123456789")
            candidate = "".join(chars)
            if with_check_digit(candidate) == candidate and within_distance(candidate, v.vin) == 2:
                near = candidate
                break
        if not near:
            return
        decoy = Vehicle(near, v.year, v.make, self._plates.next())
        self._out.registration(decoy, _people.person(trng, self.today), _people.address(trng),
                               *self._trap_dates())
        self._out.uninsured(decoy, fault="decoy", detail=f"near:{v.vin}")

    def _twin(self, v: Vehicle, owner: Person | Organisation, address: Address) -> None:
        """The owner's other vehicle of the same make, model and year (another serial),
        registered, reported by nobody, at least three positions from ``v``."""
        trng = self._trng
        for _ in range(50):
            twin_vin = with_check_digit(v.vin[:11] + f"{trng.randint(0, 999_999):06d}")
            if within_distance(twin_vin, v.vin) is None:
                twin = Vehicle(twin_vin, v.year, v.make, self._plates.next())
                self._out.registration(twin, owner, address, *self._trap_dates())
                self._out.uninsured(twin, fault="twin", detail=f"twin_of:{v.vin}")
                return

    def _uninsured(self) -> None:
        """A registered vehicle that no carrier reports: what the state is looking for."""
        rng = self._rng
        vin, year, make = self._vins.vehicle(self.today)
        v = Vehicle(vin, year, make, self._plates.next())
        owner = _people.person(rng, self.today)
        self._out.registration(v, owner, _people.address(rng), *self._registration_dates())
        self._out.uninsured(v)

    def _insureds(self, policy_type: str) -> list[Person | Organisation]:
        rng, today = self._rng, self.today
        individual = {"PV": 1.0, "CV": 0.3, "CF": 0.1}[policy_type]
        if rng.random() >= individual:
            return [_people.organisation(rng, fleet=policy_type == "CF")]
        named = _people.person(rng, today)
        insureds: list[Person | Organisation] = [named]
        if policy_type == "PV" and rng.random() < 0.25:  # spouse, partner, grown-up child
            last = named.last if rng.random() < 0.7 else None
            insureds.append(_people.person(rng, today, last=last))
        return insureds

    def _dates(self, transaction: str) -> tuple[date, date | None, date | None]:
        """(effective, expiration, cancellation) of a fresh transaction reported today."""
        rng, t = self._rng, self.today
        term = rng.choice((6, 12, 12))
        if transaction == "NBS":
            r = rng.random()
            if r < 0.85:
                eff = t - _days(rng.randint(0, 25))
            elif r < 0.94:
                eff = t - _days(rng.randint(31, 150))  # reported late
            else:
                eff = t + _days(rng.randint(1, 75))  # written ahead of its start
            return eff, (add_months(eff, term) if rng.random() < 0.85 else None), None
        if transaction == "RWL":
            late = rng.random() < 0.06
            eff = t - _days(rng.randint(31, 90) if late else rng.randint(-10, 28))
            return eff, add_months(eff, term), None
        if transaction == "XLC":
            eff = t - _days(rng.randint(30, 330))
            cancel = max(eff + _days(1), t - _days(rng.randint(0, 40)))
            return eff, (add_months(eff, 12) if rng.random() < 0.5 else None), cancel
        # CHG, REI: the day the change or the reinstatement takes effect.
        eff = t - _days(rng.randint(0, 30))
        return eff, (add_months(eff, term) if rng.random() < 0.5 else None), None

    def _fresh(self) -> Policy:
        rng = self._rng
        policy_type = rng.choices(*_POLICY_TYPES)[0]
        transaction = rng.choices(*_FRESH_TYPES)[0]
        eff, exp, cancel = self._dates(transaction)
        insureds = self._insureds(policy_type)
        named = insureds[0]
        if isinstance(named, Organisation):
            address = _people.business_address(rng)
        else:
            address = _people.address(rng)
        # The registered owner is usually the named insured, sometimes the co-insured.
        owner = insureds[1] if len(insureds) > 1 and rng.random() < 0.15 else named
        policy = Policy(
            number=self._policy_number(), transaction=transaction, policy_type=policy_type,
            effective=eff, expiration=exp, cancellation=cancel, insureds=insureds,
            address=address, vehicles=[],
        )
        if policy_type == "CF":
            policy.fleet = [
                self._vehicle(named, address, commercial=True, fleet=True)
                for _ in range(rng.choice(_FLEET_SIZES))
            ]
        else:
            n = rng.choices(range(1, 7), weights=_VEHICLES_PER_POLICY[policy_type])[0]
            for _ in range(n):
                v = self._vehicle(owner, address, commercial=policy_type == "CV")
                policy.vehicles.append(ReportedVehicle(v, v.vin))
        if transaction in ("NBS", "RWL"):
            r = rng.random()
            if r < 0.05:
                self._schedule(lambda: self._cancellation_of(policy))
            elif r < 0.09:
                self._schedule(lambda: self._change_of(policy))
        return policy

    # -- follow-ups ----------------------------------------------------------------------

    def _schedule(self, build: Callable[[], Policy]) -> None:
        self._seq += 1
        due = self._slot + self._rng.randint(2, 25)
        heapq.heappush(self._pending, (due, self._seq, build))

    @staticmethod
    def _again(policy: Policy, transaction: str, **changes: object) -> Policy:
        """The same policy reported anew: its current vehicles, no faults yet."""
        vehicles = [
            ReportedVehicle(rv.vehicle, rv.vehicle.vin)
            for rv in policy.vehicles if rv.change != "VDL"
        ]
        return replace(
            policy, transaction=transaction, vehicles=vehicles, faults=[],
            omitted_dates=frozenset(), **changes,  # type: ignore[arg-type]
        )

    def _cancellation_of(self, policy: Policy) -> Policy:
        rng = self._rng
        cancel = policy.effective + _days(rng.randint(1, 60))
        xlc = self._again(policy, "XLC", cancellation=cancel)
        if rng.random() < 0.35:  # reinstated: payment arrived after all
            self._schedule(lambda: self._reinstatement_of(xlc))
        return xlc

    def _reinstatement_of(self, xlc: Policy) -> Policy:
        assert xlc.cancellation is not None
        reinstated = xlc.cancellation + _days(self._rng.randint(0, 12))
        return self._again(xlc, "REI", effective=reinstated, cancellation=None)

    def _change_of(self, policy: Policy) -> Policy:
        rng = self._rng
        when = max(policy.effective + _days(1), self.today - _days(rng.randint(0, 20)))
        chg = self._again(policy, "CHG", effective=when, cancellation=None)
        r = rng.random()
        if policy.policy_type == "CF" or r < 0.4:  # moved
            org = isinstance(policy.insureds[0], Organisation)
            chg.address = _people.business_address(rng) if org else _people.address(rng)
        elif r < 0.75 or len(chg.vehicles) < 2:  # bought another vehicle
            commercial = policy.policy_type == "CV"
            v = self._vehicle(policy.insureds[0], policy.address, commercial=commercial)
            chg.vehicles.append(ReportedVehicle(v, v.vin, "VAD", when))
        else:  # sold one
            sold = chg.vehicles[rng.randrange(len(chg.vehicles))]
            sold.change, sold.change_date = "VDL", when
        return chg

    # -- faults --------------------------------------------------------------------------

    def _inject(self, policy: Policy) -> None:
        """Faults come from their own random stream: the world (names, VINs, dates, plates)
        is the same whatever the rates."""
        frng, f = self._frng, self.faults
        missing = frng.random() < f.missing_dates
        which = frng.choice(REQUIRED_DATES.get(policy.transaction, ("007",)))
        # A record-level fault (E103): the map requires at least one DTM, so a policy's only
        # date is never removed; that would be a syntax error rejecting the whole set.
        present = 1 + (policy.expiration is not None) + (policy.cancellation is not None)
        if missing and present > 1:
            policy.omitted_dates = frozenset((which,))
            policy.faults.append(f"missing_date_{which}")
        for rv in policy.vehicles:
            typo = frng.random() < f.vin_typos
            bad = frng.random() < f.bad_check_digits
            if typo:
                rv.reported_vin, kind = vin_typo(frng, rv.vehicle.vin)
                rv.faults.append(f"vin_typo_{kind}")
            elif bad:
                rv.reported_vin = bad_check_digit(frng, rv.vehicle.vin)
                rv.faults.append("bad_check_digit")
