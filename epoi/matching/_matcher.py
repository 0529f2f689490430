"""The matching cascade (companion guide §5): each reported vehicle against the state's
registrations.

1. VIN exact (normalised).
2. Near VIN: at most 2 positions differ, make and model year agree, and the owner's last
   name (organisation name) or licence number (FEIN) agrees.
3. Owner's licence number (FEIN for organisations) + make + model year.
4. Owner's last name + date of birth + make + model year (the same insured's).

Ambiguity: "a record that matches several registrations at the same step is ambiguous and
is not matched".  The cascade stops at the first step that finds any registration: one is a
match, several make the record ambiguous *at that step*, and later steps are not tried.
Later steps use weaker evidence; letting one of them pick a registration after a stronger
step found several would turn the stronger step's doubt into a guess (for example a fleet of
one make and year with near-sequential VINs: step 2 finds two of them, step 3 would then
"confirm" whichever the licence index lists).  Ambiguous records go to a person.

The owner steps (3 and 4) and the wrong-vehicle problem.  Steps 3 and 4 match on who owns
the car and its make and year, not on the VIN, so an owner with two cars of one make and
year, one of them not registered (just bought, registered elsewhere), would see the
unregistered one matched to the registered one, and the registered one's renewal cleared by
another car's insurance (``epoi sample``'s *twins* measured this: every such vehicle was
matched wrongly).  Two rules keep them out:

* A reported VIN that is a valid VIN (17 characters of the VIN alphabet, check digit right)
  names a vehicle.  Steps 1 and 2 have looked for it and for every registration within two
  positions of it; a registration further away is another vehicle, so steps 3 and 4 do not
  apply to it: the vehicle stays pending (it may be registered later).  The business edits
  reject a vehicle whose VIN fails the check digit (E202-E204), so in the pipeline the owner
  steps serve fleet policies and VINs the edits let through unchecked (pre-1981).
* Claimed registrations: a registration whose own VIN was reported (matched at step 1 or 2,
  in this batch or stored before) is *claimed*, and steps 3 and 4 leave it out of every
  other reported vehicle's candidates.  The stage re-matches stored step-3/4 results when
  their registration is claimed later, so the rule does not depend on arrival order.

The cost is recall on a rare case: a car reported with a valid VIN wrong in three or more
places (the check digit catches all but about one in eleven of those).

Commercial fleet policies (CF, no vehicles) match on the insured's FEIN or licence number to
every vehicle registered to that owner, one result per vehicle, at step 3.

The cascade runs a batch at a time: every step issues one lookup per kind for all the
records still open, which is what a SQL-backed ``RegistrationIndex`` needs.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from ..schemas.match import AgreedField, MatchResult, MatchStep
from ..schemas.policy import PolicyReport
from ..schemas.vin import check_digit_ok, has_valid_characters
from ..schemas.vin import normalize as normalize_vin
from ._index import (
    NameProbe,
    NearVinProbe,
    RegisteredVehicle,
    RegistrationIndex,
    within_distance,
)
from ._names import last_name_agrees, name_keys, organisation_key

FLEET_POLICY_TYPE = "CF"


class Owner(NamedTuple):
    """One insured as the cascade compares it (values normalised like the registrations)."""

    last: str | None = None
    first: str | None = None
    org: str | None = None
    licence: str | None = None
    licence_state: str | None = None
    date_of_birth: date | None = None
    fein: str | None = None


def _compact(value: str | None) -> str | None:
    if not value:
        return None
    return "".join(value.split()).replace("-", "").upper() or None


def owners_of(report: PolicyReport) -> tuple[Owner, ...]:
    # Positional, in Owner's field order: keywords cost a third of this per insured.
    return tuple([
        Owner(ins.last_name or None, ins.first_name or None, ins.organisation_name or None,
              _compact(ins.licence_number), ins.licence_state or None, ins.date_of_birth,
              _compact(ins.fein) if ins.fein else None)
        for ins in report.insureds
    ])


# -- what agrees ---------------------------------------------------------------------


def _licence_agrees(owner: Owner, reg: RegisteredVehicle) -> bool:
    # The same number issued by two states is two people: states must agree when both known.
    return bool(
        owner.licence
        and owner.licence == reg.owner_dl
        and (not owner.licence_state or not reg.owner_dl_state
             or owner.licence_state == reg.owner_dl_state)
    )


def _name_agrees(owner: Owner, reg: RegisteredVehicle) -> bool:
    if owner.last and reg.owner_last and last_name_agrees(
        owner.last, owner.first, reg.owner_last, reg.owner_first
    ):
        return True
    return _organisation_agrees(owner, reg)


def _organisation_agrees(owner: Owner, reg: RegisteredVehicle) -> bool:
    return bool(owner.org and reg.owner_org
                and organisation_key(owner.org) == organisation_key(reg.owner_org))


def _fein_agrees(owner: Owner, reg: RegisteredVehicle) -> bool:
    return bool(owner.fein and owner.fein == reg.owner_fein)


def agreed_fields(
    owners: Sequence[Owner],
    reg: RegisteredVehicle,
    *,
    vin: str | None,
    make: str | None,
    model_year: int | None,
) -> tuple[AgreedField, ...]:
    """Every field that agrees between the report and the registration (schema order)."""
    return _agreed(owners, reg, vin, make, model_year,
                   within_distance(vin, reg.vin) if vin else None)


def _agreed(
    owners: Sequence[Owner],
    reg: RegisteredVehicle,
    vin: str | None,
    make: str | None,
    model_year: int | None,
    distance: int | None,
) -> tuple[AgreedField, ...]:
    """``agreed_fields`` with the VIN distance known (``_settle`` needs it too)."""
    agreed: list[AgreedField] = []
    if vin:
        if distance == 0:
            agreed.append("vin")
        elif distance is not None:
            agreed.append("near_vin")
    if make and make == reg.make:
        agreed.append("make")
    if model_year is not None and model_year == reg.model_year:
        agreed.append("model_year")
    # One pass over the owners, each test only when the registration has the field (this
    # runs for every match: generator expressions per field were a tenth of the cascade).
    last = org = licence = fein = dob = False
    for o in owners:
        if (not last and o.last and reg.owner_last
                and last_name_agrees(o.last, o.first, reg.owner_last, reg.owner_first)):
            last = True
        if not org and o.org and reg.owner_org and _organisation_agrees(o, reg):
            org = True
        if not licence and o.licence and _licence_agrees(o, reg):
            licence = True
        if not fein and o.fein and _fein_agrees(o, reg):
            fein = True
        if not dob and reg.owner_dob and o.date_of_birth == reg.owner_dob:
            dob = True
    found: tuple[tuple[bool, AgreedField], ...] = (
        (last, "last_name"), (org, "organisation"), (licence, "licence"), (fein, "fein"),
        (dob, "date_of_birth"))
    for flag, name in found:
        if flag:
            agreed.append(name)
    return tuple(agreed)


# -- the cascade ---------------------------------------------------------------------


@dataclass(slots=True)
class _Item:
    report_key: str
    vehicle_index: int
    vin: str | None
    make: str | None
    model_year: int | None
    owners: tuple[Owner, ...]
    result: MatchResult | None = None


def _unique(regs: Iterable[RegisteredVehicle]) -> list[RegisteredVehicle]:
    return list({(r.plate, r.vin): r for r in regs}.values())


def _settle(item: _Item, step: MatchStep, candidates: list[RegisteredVehicle]) -> None:
    """Decide an item at ``step`` if the step found anything."""
    if not candidates:
        return
    if len(candidates) > 1:
        item.result = MatchResult(
            report_key=item.report_key, vehicle_index=item.vehicle_index,
            reported_vin=item.vin, state="ambiguous", step=step, candidates=len(candidates))
        return
    reg = candidates[0]
    # Step 1's every match has the VIN itself: distance 0, compared once.
    distance = within_distance(item.vin, reg.vin) if item.vin else None
    item.result = MatchResult(
        report_key=item.report_key, vehicle_index=item.vehicle_index, reported_vin=item.vin,
        state="matched", step=step, plate=reg.plate, vin=reg.vin,
        agreed=_agreed(item.owners, reg, item.vin, item.make, item.model_year, distance),
        vin_distance=distance, candidates=1,
    )


def _probe_keys(owners: Sequence[Owner]) -> tuple[str, ...]:
    """Name keys to look an owner up under: last name, first name (a swapped name is filed
    under the first name's key) and organisation name."""
    keys: dict[str, None] = {}
    for o in owners:
        for k in (*name_keys(o.last), *name_keys(o.first)):
            keys[k] = None
        if o.org and (okey := organisation_key(o.org)):
            keys[okey] = None
    return tuple(keys)


def _step1(items: list[_Item], index: RegistrationIndex) -> None:
    found = index.by_vin({it.vin for it in items if it.vin})
    for it in items:
        if it.vin and (regs := found.get(it.vin)):
            # One registration per VIN is the rule (the column is unique in the store).
            _settle(it, 1, [regs[0]] if len(regs) == 1 else _unique(regs))


def _step2(items: list[_Item], index: RegistrationIndex) -> None:
    probes: dict[int, NearVinProbe] = {}
    for n, it in enumerate(items):
        if it.result is None and it.vin and it.make and it.model_year is not None:
            probes[n] = NearVinProbe(
                it.vin, it.make, it.model_year, _probe_keys(it.owners),
                tuple(o.licence for o in it.owners if o.licence),
                tuple(o.fein for o in it.owners if o.fein),
            )
    found = index.near_vin(set(probes.values()))
    for n, probe in probes.items():
        it = items[n]
        _settle(it, 2, _unique(
            reg for reg in found.get(probe, ())
            if reg.make == it.make and reg.model_year == it.model_year
            and within_distance(it.vin or "", reg.vin) is not None
            and any(_name_agrees(o, reg) or _licence_agrees(o, reg) or _fein_agrees(o, reg)
                    for o in it.owners)
        ))


def _by_owner_ids(
    owners_lists: Iterable[Sequence[Owner]], index: RegistrationIndex
) -> Callable[[Owner], list[RegisteredVehicle]]:
    """One licence lookup and one FEIN lookup for all owners; returns an owner's
    registrations (those whose licence or FEIN agrees)."""
    licences, feins = set(), set()
    for owners in owners_lists:
        for o in owners:
            if o.licence:
                licences.add(o.licence)
            if o.fein:
                feins.add(o.fein)
    by_licence = index.by_licence(licences) if licences else {}
    by_fein = index.by_fein(feins) if feins else {}

    def of(owner: Owner) -> list[RegisteredVehicle]:
        regs = [r for r in by_licence.get(owner.licence or "", ()) if _licence_agrees(owner, r)]
        regs += [r for r in by_fein.get(owner.fein or "", ()) if _fein_agrees(owner, r)]
        return regs

    return of


def _step3(items: list[_Item], index: RegistrationIndex, claims: _Claims) -> None:
    open_items = [it for it in items if _owner_steps_apply(it)]
    if not open_items:
        return
    registrations_of = _by_owner_ids((it.owners for it in open_items), index)
    claims.settle(3, [(it, _unique(
        reg for o in it.owners for reg in registrations_of(o)
        if reg.make == it.make and reg.model_year == it.model_year
    )) for it in open_items])


def _step4(items: list[_Item], index: RegistrationIndex, claims: _Claims) -> None:
    per_item: dict[int, list[tuple[Owner, NameProbe]]] = {}
    for n, it in enumerate(items):
        if (compared := _owner_step_vehicle(it)) is None:
            continue
        make, model_year = compared
        for o in it.owners:
            if o.last and o.date_of_birth:
                for key in (*name_keys(o.last), *name_keys(o.first)):
                    per_item.setdefault(n, []).append(
                        (o, NameProbe(key, make, model_year, o.date_of_birth)))
    if not per_item:
        return
    found = index.by_name({p for pairs in per_item.values() for _, p in pairs})
    claims.settle(4, [(items[n], _unique(
        reg for o, probe in pairs for reg in found.get(probe, ())
        if reg.make == items[n].make and reg.model_year == items[n].model_year
        and reg.owner_dob == o.date_of_birth and reg.owner_last
        and last_name_agrees(o.last, o.first, reg.owner_last, reg.owner_first)
    )) for n, pairs in per_item.items()])


ClaimLookup = Callable[[Collection[str]], Mapping[str, Collection[tuple[str, "int | None"]]]]


class _Claims:
    """The claimed-registration rule of steps 3 and 4 (see the module docstring).

    A registration is *claimed* by a reported vehicle whose VIN matched it at step 1 or 2.
    Steps 3 and 4 never hand a claimed registration to another reported vehicle: the
    registration is already accounted for by its own VIN, and the vehicle at hand, whose
    VIN is more than two positions away from it (or step 2 would have matched), is most
    likely another car of the same owner, make and year that is not registered (yet).
    Claims come from the batch and, through ``lookup``, from results stored earlier."""

    def __init__(self, items: list[_Item], lookup: ClaimLookup | None) -> None:
        self._items = items
        self._lookup = lookup

    def _batch_claims(self) -> dict[str, set[tuple[str, int | None]]]:
        claims: dict[str, set[tuple[str, int | None]]] = {}
        for it in self._items:
            r = it.result
            if r is not None and r.state == "matched" and r.step in (1, 2) and r.vin:
                claims.setdefault(r.vin, set()).add((it.report_key, it.vehicle_index))
        return claims

    def settle(
        self, step: MatchStep, candidates: list[tuple[_Item, list[RegisteredVehicle]]]
    ) -> None:
        claims = self._batch_claims()
        wanted = {reg.vin for _, regs in candidates for reg in regs}
        if self._lookup is not None and wanted:
            for vin, claimers in self._lookup(wanted).items():
                claims.setdefault(vin, set()).update(claimers)
        for it, regs in candidates:
            if it.vin and _names_a_vehicle(it.vin):
                continue  # steps 1 and 2 were the way to it; see the module docstring
            me = (it.report_key, it.vehicle_index)
            _settle(it, step, [r for r in regs if not (claims.get(r.vin, set()) - {me})])


def _owner_steps_apply(it: _Item) -> bool:
    """Still open, with make and year to compare, and no valid VIN (module docstring)."""
    return _owner_step_vehicle(it) is not None


def _owner_step_vehicle(it: _Item) -> tuple[str, int] | None:
    """The make and model year steps 3 and 4 compare, or None when they do not apply to
    the item (see :func:`_owner_steps_apply`)."""
    if (it.result is None and it.make and it.model_year is not None
            and not (it.vin and _names_a_vehicle(it.vin))):
        return it.make, it.model_year
    return None


def _names_a_vehicle(vin: str) -> bool:
    """A valid VIN: 17 characters of the VIN alphabet with the right check digit."""
    return has_valid_characters(vin) and check_digit_ok(vin)


def _is_fleet(report: PolicyReport) -> bool:
    # A CF policy that does list vehicles has them matched one by one like any other.
    return report.policy_type == FLEET_POLICY_TYPE and not report.vehicles


def _match_fleets(
    reports: Sequence[PolicyReport], keys: Sequence[str], index: RegistrationIndex
) -> dict[int, list[MatchResult]]:
    owners = {n: owners_of(r) for n, r in enumerate(reports) if _is_fleet(r)}
    registrations_of = _by_owner_ids(owners.values(), index)
    results: dict[int, list[MatchResult]] = {}
    for n, report_owners in owners.items():
        key = keys[n]
        regs = _unique(reg for o in report_owners for reg in registrations_of(o))
        results[n] = [
            MatchResult(
                report_key=key, state="matched", step=3, plate=reg.plate, vin=reg.vin,
                agreed=agreed_fields(report_owners, reg, vin=None, make=None, model_year=None),
                candidates=len(regs),
            )
            for reg in regs
        ] or [MatchResult(report_key=key, state="pending")]
    return results


def match_many(
    reports: Sequence[PolicyReport],
    index: RegistrationIndex,
    *,
    claimed: ClaimLookup | None = None,
    keys: Sequence[str] | None = None,
) -> list[MatchResult]:
    """Match a batch of policy reports.  ``claimed`` answers, for registered VINs, which
    (report key, vehicle index) pairs outside the batch matched them at step 1 or 2 (the
    store's results); without it only the batch's own claims count.  One result per
    reported vehicle, in report and vehicle order; a fleet policy gives one result per
    vehicle registered to its owner (or one pending result).  Unmatched records come back
    ``pending``; turning them ``unmatched`` after the window is
    :func:`epoi.schemas.match.settle_pending`'s job.
    A vehicle-specific report without vehicles (rejected, E112) gives no result.
    ``keys``: the reports' ``key.as_string()``, when the caller has them already."""
    if keys is None:
        keys = [r.key.as_string() for r in reports]
    items: list[_Item] = []
    for report, key in zip(reports, keys, strict=True):
        owners = owners_of(report)
        for i, v in enumerate(report.vehicles):
            items.append(_Item(key, i, normalize_vin(v.vin) if v.vin else None,
                               (v.make or "").strip().upper() or None, v.model_year, owners))
    for first_steps in (_step1, _step2):
        if any(it.result is None for it in items):
            first_steps(items, index)
    claims = _Claims(items, claimed)
    for owner_step in (_step3, _step4):
        if any(it.result is None for it in items):
            owner_step(items, index, claims)
    fleets = _match_fleets(reports, keys, index)

    results: list[MatchResult] = []
    items_iter = iter(items)
    for n, report in enumerate(reports):
        if n in fleets:
            results.extend(fleets[n])
        for _ in report.vehicles:
            it = next(items_iter)
            results.append(it.result or MatchResult(
                report_key=it.report_key, vehicle_index=it.vehicle_index,
                reported_vin=it.vin, state="pending"))
    return results


def match_one(
    report: PolicyReport, index: RegistrationIndex, *, claimed: ClaimLookup | None = None
) -> list[MatchResult]:
    return match_many([report], index, claimed=claimed)
