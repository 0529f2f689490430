"""The matching cascade (companion guide §5): every step positive and negative, decoys,
ambiguity, fleet policies, name variants, and the batch shape of the index protocol."""

from __future__ import annotations

from datetime import date

import pytest

from epoi.matching import (
    InMemoryRegistrationIndex,
    last_name_agrees,
    match_many,
    match_one,
    name_key,
    name_keys,
    organisation_key,
    within_distance,
)
from epoi.schemas.match import MatchResult, settle_pending
from epoi.schemas.policy import Insured, PolicyReport, RecordKey, Vehicle
from epoi.schemas.registration import Registration
from epoi.schemas.vin import with_check_digit

VIN = "1HGCM82633A004352"
DOB = date(1980, 1, 15)


def reg(plate: str = "7ABC123", vin: str = VIN, make: str = "HOND", year: int = 2003,
        **owner: object) -> Registration:
    owner.setdefault("owner_last", "GARCIA")
    owner.setdefault("owner_first", "MARIA")
    return Registration(plate=plate, vin=vin, make=make, model_year=year,
                        expires=date(2027, 1, 31), **owner)  # type: ignore[arg-type]


def person(last: str = "GARCIA", first: str = "MARIA", dl: str | None = None,
           dl_state: str | None = "CA", dob: date | None = None) -> Insured:
    return Insured(kind="individual", last_name=last, first_name=first, licence_number=dl,
                   licence_state=dl_state if dl else None, date_of_birth=dob)


def org(name: str = "ACME TRUCKING INC", fein: str | None = "123456789") -> Insured:
    return Insured(kind="organisation", organisation_name=name, fein=fein)


def report(*vehicles: Vehicle, insureds: tuple[Insured, ...] = (), policy_type: str = "PV",
           number: str = "PA1", position: int = 9) -> PolicyReport:
    key = RecordKey(carrier_naic="12345", policy_number=number, transaction_type="NBS",
                    effective_date=date(2026, 11, 1), sender_id="ACMEINS", interchange="1",
                    group="1", transaction_set="0001", policy_position=position)
    return PolicyReport(carrier_naic="12345", policy_number=number, transaction_type="NBS",
                        policy_type=policy_type, effective_date=date(2026, 11, 1),
                        insureds=insureds or (person(),), vehicles=vehicles, file="f.x12",
                        sender_id="ACMEINS", interchange="1", group="1", transaction_set="0001",
                        submission_ref="S1", key=key)


def car(vin: str | None = VIN, make: str | None = "HOND", year: int | None = 2003) -> Vehicle:
    return Vehicle(vin=vin, make=make, model_year=year)


def only(results: list[MatchResult]) -> MatchResult:
    assert len(results) == 1
    return results[0]


def typo(vin: str, *positions: int) -> str:
    """The VIN with a different character at each position."""
    chars = list(vin)
    for p in positions:
        chars[p] = "7" if chars[p] != "7" else "8"
    return "".join(chars)


# -- step 1 ------------------------------------------------------------------------------


def test_step1_exact_vin_after_normalising_case_and_blanks() -> None:
    index = InMemoryRegistrationIndex([reg(), reg(plate="OTHER1", vin=typo(VIN, 16))])
    result = only(match_one(report(car(vin=" 1hgcm826 33a004352")), index))
    assert (result.state, result.step, result.plate, result.vin) == ("matched", 1, "7ABC123", VIN)
    assert result.agreed == ("vin", "make", "model_year", "last_name")
    assert result.vin_distance == 0 and result.vehicle_index == 0


def test_step1_matches_even_when_make_and_year_disagree() -> None:
    index = InMemoryRegistrationIndex([reg(make="TOYT", year=2010)])
    result = only(match_one(report(car()), index))
    assert (result.state, result.step) == ("matched", 1)
    assert "make" not in result.agreed and "model_year" not in result.agreed


def test_step1_several_registrations_is_ambiguous_and_later_steps_are_not_tried() -> None:
    # Step 3 alone would single out 7ABC123 (licence), but step 1 already found two.
    index = InMemoryRegistrationIndex([
        reg(owner_dl="D1234567"), reg(plate="DUP0001", owner_last="SMITH"),
    ])
    result = only(match_one(report(car(), insureds=(person(dl="D1234567"),)), index))
    assert (result.state, result.step, result.candidates) == ("ambiguous", 1, 2)
    assert result.plate is None and result.agreed == ()


# -- step 2 ------------------------------------------------------------------------------


def test_step2_one_typo_with_last_name_agreeing() -> None:
    index = InMemoryRegistrationIndex([reg()])
    result = only(match_one(report(car(vin=typo(VIN, 5))), index))
    assert (result.state, result.step, result.vin, result.vin_distance) == ("matched", 2, VIN, 1)
    assert result.agreed == ("near_vin", "make", "model_year", "last_name")


def test_step2_adjacent_transposition_is_distance_two() -> None:
    swapped = VIN[:3] + VIN[4] + VIN[3] + VIN[5:]
    assert within_distance(swapped, VIN) == 2
    result = only(match_one(report(car(vin=swapped)), InMemoryRegistrationIndex([reg()])))
    assert (result.state, result.step, result.vin_distance) == ("matched", 2, 2)


def test_step2_three_differences_is_too_far() -> None:
    result = only(match_one(report(car(vin=typo(VIN, 1, 5, 12))),
                            InMemoryRegistrationIndex([reg()])))
    assert result.state == "pending" and result.step is None


def test_step2_licence_agreeing_is_enough_when_the_name_differs() -> None:
    index = InMemoryRegistrationIndex([reg(owner_last="NGUYEN", owner_dl="D1234567")])
    ins = (person(last="GARCIA", dl="D1234567"),)
    result = only(match_one(report(car(vin=typo(VIN, 16)), insureds=ins), index))
    assert (result.state, result.step) == ("matched", 2)
    assert "licence" in result.agreed and "last_name" not in result.agreed


def test_step2_decoy_near_vin_of_another_owner_does_not_match() -> None:
    # The reported VIN is one typo away from a car registered to somebody else.
    index = InMemoryRegistrationIndex([reg(owner_last="NGUYEN", owner_first="AN",
                                           owner_dl="X9999999")])
    ins = (person(dl="D1234567", dob=DOB),)
    result = only(match_one(report(car(vin=typo(VIN, 7)), insureds=ins), index))
    assert result.state == "pending"


def test_step2_decoy_of_another_owner_loses_to_the_owners_own_car() -> None:
    own_vin = with_check_digit("2T1BURHE0JC000001")
    index = InMemoryRegistrationIndex([
        reg(plate="DECOY01", owner_last="NGUYEN", owner_first="AN"),  # VIN itself
        reg(plate="OWN0001", vin=own_vin, owner_dl="D1234567"),
    ])
    ins = (person(dl="D1234567"),)
    result = only(match_one(report(car(vin=typo(VIN, 9)), insureds=ins), index))
    # Not the decoy at step 2; the owner's own HOND 2003 at step 3.
    assert (result.state, result.step, result.plate) == ("matched", 3, "OWN0001")


def test_step2_needs_make_and_year_to_agree() -> None:
    index = InMemoryRegistrationIndex([reg(make="TOYT")])
    assert only(match_one(report(car(vin=typo(VIN, 5))), index)).state == "pending"
    index = InMemoryRegistrationIndex([reg(year=2004)])
    assert only(match_one(report(car(vin=typo(VIN, 5))), index)).state == "pending"


def test_step2_two_near_vins_of_the_same_owner_is_ambiguous() -> None:
    index = InMemoryRegistrationIndex([reg(), reg(plate="FLEET02", vin=typo(VIN, 16))])
    result = only(match_one(report(car(vin=typo(VIN, 15))), index))
    assert (result.state, result.step, result.candidates) == ("ambiguous", 2, 2)


# -- step 3 ------------------------------------------------------------------------------

# The owner steps serve vehicles whose VIN does not name a vehicle (here: a wrong check
# digit); a valid VIN far from every registration is another, unregistered vehicle.
_VALID_OTHER = with_check_digit("JTDKB20U093000001")
OTHER_VIN = _VALID_OTHER[:8] + ("1" if _VALID_OTHER[8] != "1" else "2") + _VALID_OTHER[9:]


def test_owner_steps_leave_a_valid_vin_far_from_every_registration_pending() -> None:
    # The owner's registered HOND 2003 is another car: the reported one is not registered.
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567", owner_dob=DOB)])
    ins = (person(dl="D1234567", dob=DOB),)
    result = only(match_one(report(car(vin=_VALID_OTHER), insureds=ins), index))
    assert (result.state, result.step) == ("pending", None)


def test_owner_steps_skip_a_registration_claimed_by_its_own_vin() -> None:
    # P1 reports the registered car by its VIN; P2's car (VIN unusable) has the same owner,
    # make and year: step 3 must not hand it P1's registration, in one batch or later.
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567")])
    ins = (person(dl="D1234567"),)
    p1 = report(car(), number="P1", position=1, insureds=ins)
    p2 = report(car(vin=OTHER_VIN), number="P2", position=2, insureds=ins)
    r1, r2 = match_many([p1, p2], index)
    assert (r1.state, r1.step, r2.state) == ("matched", 1, "pending")
    claims = {VIN: {(p1.key.as_string(), 0)}}
    later = only(match_one(p2, index, claimed=lambda vins: {v: claims[v] for v in vins
                                                            if v in claims}))
    assert later.state == "pending"
    alone = only(match_one(p2, index))  # without P1's claim step 3 does match
    assert (alone.state, alone.step) == ("matched", 3)


def test_step3_licence_make_and_year() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567", owner_dl_state="CA",
                                           owner_last="GARCIA LOPEZ")])
    ins = (person(last="SMITH", dl="d123-4567"),)
    result = only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index))
    assert (result.state, result.step, result.plate) == ("matched", 3, "7ABC123")
    assert result.agreed == ("make", "model_year", "licence")
    assert result.vin_distance is None


def test_step3_licence_from_another_state_does_not_agree() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567", owner_dl_state="NV",
                                           owner_last="JONES")])
    ins = (person(last="SMITH", dl="D1234567", dl_state="CA"),)
    assert only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index)).state == "pending"


def test_step3_needs_make_and_year() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567", owner_last="JONES")])
    ins = (person(dl="D1234567"),)
    assert only(match_one(report(car(vin=OTHER_VIN, year=2004), insureds=ins),
                          index)).state == "pending"
    assert only(match_one(report(car(vin=OTHER_VIN, make=None), insureds=ins),
                          index)).state == "pending"


def test_step3_fein_for_organisations() -> None:
    index = InMemoryRegistrationIndex([reg(owner_last=None, owner_first=None,
                                           owner_org="ACME TRUCKING, INC.",
                                           owner_fein="123456789")])
    result = only(match_one(report(car(vin=OTHER_VIN), insureds=(org(fein="12-3456789"),),
                                   policy_type="CV"), index))
    assert (result.state, result.step) == ("matched", 3)
    assert result.agreed == ("make", "model_year", "organisation", "fein")


def test_step3_two_vehicles_of_the_owner_with_same_make_and_year_is_ambiguous() -> None:
    index = InMemoryRegistrationIndex([
        reg(owner_dl="D1234567"),
        reg(plate="SECOND1", vin=typo(VIN, 3, 8, 12), owner_dl="D1234567"),
    ])
    ins = (person(dl="D1234567"),)
    result = only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index))
    assert (result.state, result.step, result.candidates) == ("ambiguous", 3, 2)


# -- step 4 ------------------------------------------------------------------------------


def test_step4_last_name_date_of_birth_make_and_year() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dob=DOB)])
    result = only(match_one(report(car(vin=OTHER_VIN), insureds=(person(dob=DOB),)), index))
    assert (result.state, result.step) == ("matched", 4)
    assert result.agreed == ("make", "model_year", "last_name", "date_of_birth")


def test_step4_date_of_birth_must_agree() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dob=DOB)])
    ins = (person(dob=date(1980, 1, 16)),)
    assert only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index)).state == "pending"


def test_step4_name_and_birth_date_must_be_the_same_insureds() -> None:
    # GARCIA is one insured, the birth date another's: not one person, no match.
    index = InMemoryRegistrationIndex([reg(owner_dob=DOB)])
    ins = (person(dob=date(1990, 5, 5)), person(last="SMITH", first="JOHN", dob=DOB))
    assert only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index)).state == "pending"


@pytest.mark.parametrize(("reported_last", "reported_first", "registered_last"), [
    ("GARCIA-LOPEZ", "MARIA", "GARCIA LOPEZ"),
    ("GARCIA LOPEZ", "MARIA", "GARCIA"),
    ("GARCIA JR.", "MARIA", "GARCIA"),
    ("O'BRIEN", "MARIA", "OBRIEN"),
    ("MARIA", "GARCIA", "GARCIA"),  # swapped first and last
    ("García", "María", "GARCIA"),
])
def test_step4_name_variants_agree(reported_last: str, reported_first: str,
                                   registered_last: str) -> None:
    index = InMemoryRegistrationIndex([reg(owner_last=registered_last, owner_dob=DOB)])
    ins = (person(last=reported_last, first=reported_first, dob=DOB),)
    result = only(match_one(report(car(vin=OTHER_VIN), insureds=ins), index))
    assert (result.state, result.step) == ("matched", 4)


def test_step2_swapped_names_agree() -> None:
    index = InMemoryRegistrationIndex([reg()])
    ins = (person(last="MARIA", first="GARCIA"),)
    result = only(match_one(report(car(vin=typo(VIN, 12)), insureds=ins), index))
    assert (result.state, result.step) == ("matched", 2)


# -- fleet policies, batches, pending ------------------------------------------------------


def fleet_index() -> InMemoryRegistrationIndex:
    acme = {"owner_last": None, "owner_first": None, "owner_org": "ACME TRUCKING INC",
            "owner_fein": "123456789"}
    return InMemoryRegistrationIndex([
        reg(plate="TRK0001", vin=with_check_digit("1FUJGLDR0CL000001"), make="FRHT", year=2012,
            **acme),
        reg(plate="TRK0002", vin=with_check_digit("1FUJGLDR0CL000002"), make="FRHT", year=2012,
            **acme),
        reg(plate="7ABC123"),
    ])


def test_fleet_policy_matches_every_vehicle_of_the_owner_by_fein() -> None:
    results = match_one(report(insureds=(org(),), policy_type="CF"), fleet_index())
    assert sorted(r.plate for r in results) == ["TRK0001", "TRK0002"]
    assert all(r.state == "matched" and r.step == 3 and r.vehicle_index is None for r in results)
    assert all(r.agreed == ("organisation", "fein") for r in results)


def test_fleet_policy_matches_by_licence_for_an_individual() -> None:
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567"),
                                       reg(plate="NOTHERS", vin=OTHER_VIN)])
    results = match_one(report(insureds=(person(dl="D1234567"),), policy_type="CF"), index)
    assert [(r.plate, r.agreed) for r in results] == [("7ABC123", ("last_name", "licence"))]


def test_fleet_policy_of_an_unknown_owner_is_pending() -> None:
    result = only(match_one(report(insureds=(org(fein="999999999"),), policy_type="CF"),
                            fleet_index()))
    assert (result.state, result.vehicle_index, result.plate) == ("pending", None, None)


def test_vehicle_specific_policy_without_vehicles_gives_nothing() -> None:
    assert match_one(report(policy_type="PV"), fleet_index()) == []


class CountingIndex:
    """Wraps an index and counts calls per method: the cascade must ask once per batch."""

    def __init__(self, inner: InMemoryRegistrationIndex) -> None:
        self.inner, self.calls = inner, {}

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        method = getattr(self.inner, name)

        def counted(arg):  # type: ignore[no-untyped-def]
            self.calls[name] = self.calls.get(name, 0) + 1
            return method(arg)

        return counted


def test_match_many_keeps_order_and_asks_the_index_once_per_step() -> None:
    # Steps 3 and 4 find a second car of the owner: the first is claimed by its exact VIN.
    second = reg(plate="8DEF456", vin=with_check_digit("1HGCM82633A900001"),
                 owner_dl="D1234567", owner_dob=DOB)
    index = CountingIndex(InMemoryRegistrationIndex([reg(), second]))
    reports = [
        report(car(), number="P1", position=1),
        report(car(vin=typo(VIN, 4)), number="P2", position=2),
        report(car(vin=OTHER_VIN), car(vin=OTHER_VIN, make="TOYT"), number="P3", position=3,
               insureds=(person(dl="D1234567"),)),
        report(car(vin=OTHER_VIN), number="P4", position=4, insureds=(person(dob=DOB),)),
    ]
    results = match_many(reports, index)  # type: ignore[arg-type]
    assert [(r.report_key.split("|")[6], r.vehicle_index, r.state, r.step) for r in results] == [
        ("P1", 0, "matched", 1), ("P2", 0, "matched", 2), ("P3", 0, "matched", 3),
        ("P3", 1, "pending", None), ("P4", 0, "matched", 4),
    ]
    assert index.calls == {"by_vin": 1, "near_vin": 1, "by_licence": 1, "by_name": 1}


def test_settle_pending_after_the_window() -> None:
    pending = MatchResult(report_key="k", state="pending")
    first = date(2026, 11, 1)
    assert settle_pending(pending, first, date(2026, 12, 1), 30).state == "pending"
    assert settle_pending(pending, first, date(2026, 12, 2), 30).state == "unmatched"
    matched = MatchResult(report_key="k", state="matched", step=1)
    assert settle_pending(matched, first, date(2027, 12, 2), 30) is matched


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "key"), [
    ("García-López Jr.", "GARCIALOPEZ"),
    ("O'BRIEN", "OBRIEN"),
    ("SMITH III", "SMITH"),
    ("  de la cruz ", "DELACRUZ"),
    ("II", "II"),
    (None, ""),
])
def test_name_key(raw: str | None, key: str) -> None:
    assert name_key(raw) == key


def test_name_keys_of_compound_names_skip_particles() -> None:
    assert name_keys("DE LA CRUZ") == ("DELACRUZ", "CRUZ")
    assert name_keys("GARCIA-LOPEZ") == ("GARCIALOPEZ", "GARCIA", "LOPEZ")


def test_swap_needs_both_halves() -> None:
    # A reported first name equal to the registered surname is not enough on its own.
    assert not last_name_agrees("JONES", "GARCIA", "GARCIA", "MARIA")
    assert last_name_agrees("MARIA", "GARCIA", "GARCIA", "MARIA")
    assert not last_name_agrees("SMITH", "JOHN", "SMYTHE", "JOHN")


def test_organisation_key_drops_legal_forms() -> None:
    assert organisation_key("The Acme Trucking Co., Inc.") == organisation_key("ACME TRUCKING")


def test_index_grows_across_loads() -> None:
    index = InMemoryRegistrationIndex([reg()])
    assert only(match_one(report(car(vin=typo(VIN, 2))), index)).plate == "7ABC123"
    other = with_check_digit("5YJ3E1EA0KF000001")
    index.add_all([reg(plate="NEW0001", vin=other, make="TESL", year=2019)])
    assert len(index) == 2
    result = only(match_one(report(car(vin=typo(other, 14), make="TESL", year=2019)), index))
    assert (result.step, result.plate) == (2, "NEW0001")


def test_near_vin_needs_equal_lengths() -> None:
    # A pre-1981 registration with a short VIN: a 17-character report is never "near" it.
    index = InMemoryRegistrationIndex([reg(vin=VIN[:16])])
    assert only(match_one(report(car(vin=VIN)), index)).state == "pending"
    short = only(match_one(report(car(vin=typo(VIN[:16], 3))), index))
    assert (short.state, short.step) == ("matched", 2)


def test_fleet_policy_with_vehicles_matches_them_one_by_one() -> None:
    results = match_one(report(car(), insureds=(org(),), policy_type="CF"), fleet_index())
    assert [(r.plate, r.step, r.vehicle_index) for r in results] == [("7ABC123", 1, 0)]


def test_index_hits_are_verified_against_the_registration() -> None:
    # The index files rows under key hashes; a colliding hash must not yield a candidate.
    index = InMemoryRegistrationIndex([reg(owner_dl="D1234567")])
    index._by_vin.add(hash("NOTAREGISTEREDVIN"), 0)
    index._by_licence.add(hash("X0000000"), 0)
    assert index.by_vin(["NOTAREGISTEREDVIN"]) == {}
    assert index.by_licence(["X0000000"]) == {}
    assert [v.plate for v in index.by_vin([VIN])[VIN]] == ["7ABC123"]
