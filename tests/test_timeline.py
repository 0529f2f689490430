"""Coverage timelines, renewal clearance and suspension candidates (companion guide §5)."""

from __future__ import annotations

from datetime import date, timedelta
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from epoi.matching import (
    Clearance,
    CoverageReport,
    clear_renewal,
    coverage_on,
    coverage_timeline,
    suspension_candidate,
    suspension_candidates,
)
from epoi.schemas.policy import Insured, PolicyReport, RecordKey, Vehicle
from epoi.schemas.registration import Registration


def d(month: int, day: int, year: int = 2026) -> date:
    return date(year, month, day)


def rep(key: str, tt: str, eff: date, exp: date | None = None, cancel: date | None = None,
        *, carrier: str = "11111", policy: str = "P1", vt: str | None = None,
        vt_date: date | None = None) -> CoverageReport:
    return CoverageReport(key, carrier, policy, tt, eff, exp, cancel, vt, vt_date)


REG = Registration(plate="7ABC123", vin="1HGCM82633A004352", make="HOND", model_year=2003,
                   expires=d(12, 31, 2027), owner_last="GARCIA")


# -- timeline ------------------------------------------------------------------------------


def test_new_business_without_expiration_is_open_ended() -> None:
    (span,) = coverage_timeline([rep("n", "NBS", d(1, 1))])
    assert (span.start, span.end, span.report_key) == (d(1, 1), None, "n")
    assert coverage_on((span,), d(12, 31, 2030)) == span
    assert coverage_on((span,), d(12, 31, 2025)) is None


def test_expiration_day_is_not_covered() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(7, 1))])
    assert coverage_on(timeline, d(6, 30)) is not None
    assert coverage_on(timeline, d(7, 1)) is None
    assert timeline[0].end_reason == "expired"


def test_renewal_continues_and_answers_for_its_term() -> None:
    timeline = coverage_timeline([rep("r", "RWL", d(7, 1), d(1, 1, 2027)),
                                  rep("n", "NBS", d(1, 1), d(7, 1))])
    assert [(s.report_key, s.end_reason) for s in timeline] == [("n", "superseded"),
                                                                ("r", "expired")]
    assert coverage_on(timeline, d(8, 1)).report_key == "r"  # type: ignore[union-attr]


def test_cancellation_ends_coverage_on_its_date() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(7, 1)),
                                  rep("x", "XLC", d(1, 1), cancel=d(3, 1))])
    (span,) = timeline
    assert (span.end, span.end_reason, span.ended_by) == (d(3, 1), "cancelled", "x")
    assert coverage_on(timeline, d(2, 28)) is not None and coverage_on(timeline, d(3, 1)) is None


def test_a_cancellation_of_a_policy_never_opened_here_ends_the_term_it_names() -> None:
    # The bundled sample's only XLC is such a one (E111): without its term the vehicle had
    # no coverage to lose and ``epoi suspensions`` listed nothing at any date.
    timeline = coverage_timeline([rep("x", "XLC", d(1, 1), d(1, 1, 2027), cancel=d(3, 1))])
    (span,) = timeline
    assert (span.start, span.end, span.end_reason, span.ended_by) == (
        d(1, 1), d(3, 1), "cancelled", "x")
    found = suspension_candidate(REG, timeline, as_of=d(4, 16), window_days=45)
    assert found is not None and found.cancelled_on == d(3, 1)


def test_flat_cancellation_on_the_first_day_leaves_no_coverage() -> None:
    reports = [rep("n", "NBS", d(1, 1)), rep("x", "XLC", d(1, 1), cancel=d(1, 1))]
    assert coverage_timeline(reports) == ()


def test_reinstatement_after_a_lapse_reopens_from_its_date() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(1, 1, 2027)),
                                  rep("x", "XLC", d(1, 1), cancel=d(3, 1)),
                                  rep("i", "REI", d(4, 1), d(1, 1, 2027))])
    assert coverage_on(timeline, d(3, 15)) is None
    assert coverage_on(timeline, d(4, 1)).report_key == "i"  # type: ignore[union-attr]
    assert coverage_on(timeline, d(12, 31)) is not None


def test_reinstatement_on_the_cancellation_date_leaves_no_gap() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(1, 1, 2027)),
                                  rep("x", "XLC", d(1, 1), cancel=d(3, 1)),
                                  rep("i", "REI", d(3, 1), d(1, 1, 2027))])
    assert all(coverage_on(timeline, d(1, 1) + timedelta(n)) for n in range(365))


def test_a_cancellation_after_a_reinstatement_cancels_again() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1)),
                                  rep("x1", "XLC", d(1, 1), cancel=d(3, 1)),
                                  rep("i", "REI", d(4, 1)),
                                  rep("x2", "XLC", d(1, 1), cancel=d(6, 1))])
    assert coverage_on(timeline, d(5, 1)) is not None
    assert coverage_on(timeline, d(6, 1)) is None and coverage_on(timeline, d(12, 1)) is None


def test_a_change_does_not_reopen_a_cancelled_policy_but_new_business_does() -> None:
    base = [rep("n", "NBS", d(1, 1)), rep("x", "XLC", d(1, 1), cancel=d(3, 1))]
    assert coverage_on(coverage_timeline([*base, rep("c", "CHG", d(4, 1))]), d(4, 15)) is None
    reopened = coverage_timeline([*base, rep("n2", "NBS", d(5, 1))])
    assert coverage_on(reopened, d(5, 1)).report_key == "n2"  # type: ignore[union-attr]


def test_vehicle_added_and_deleted_on_their_own_dates() -> None:
    # Only the VAD and VDL reports mention this vehicle: it is on the policy from 2-01 to 6-01.
    timeline = coverage_timeline([
        rep("a", "CHG", d(1, 1), d(1, 1, 2027), vt="VAD", vt_date=d(2, 1)),
        rep("r", "CHG", d(1, 1), d(1, 1, 2027), vt="VDL", vt_date=d(6, 1)),
    ])
    assert coverage_on(timeline, d(1, 15)) is None
    assert coverage_on(timeline, d(2, 1)) is not None
    (span,) = timeline
    assert (span.start, span.end, span.end_reason, span.ended_by) == (
        d(2, 1), d(6, 1), "removed", "r")


def test_fleet_policy_covers_without_vehicle_entries() -> None:
    fleet = CoverageReport("f", "11111", "F1", "NBS", d(1, 1), d(1, 1, 2027), fleet=True)
    assert coverage_on(coverage_timeline([fleet]), d(6, 1)) is not None
    # A VDL cannot take a vehicle off a fleet policy: the policy lists no vehicles.
    removal = CoverageReport("r", "11111", "F1", "CHG", d(1, 1), vehicle_transaction="VDL",
                             vehicle_transaction_date=d(3, 1), fleet=True)
    assert coverage_on(coverage_timeline([fleet, removal]), d(6, 1)) is not None


def test_two_carriers_overlapping_the_newest_answers() -> None:
    timeline = coverage_timeline([rep("old", "NBS", d(1, 1), d(7, 1), carrier="11111"),
                                  rep("new", "NBS", d(6, 1), d(12, 1), carrier="22222",
                                      policy="Q")])
    assert coverage_on(timeline, d(6, 15)).carrier_naic == "22222"  # type: ignore[union-attr]
    assert coverage_on(timeline, d(5, 15)).carrier_naic == "11111"  # type: ignore[union-attr]


def test_from_policy_report() -> None:
    key = RecordKey(carrier_naic="12345", policy_number="PA1", transaction_type="CHG",
                    effective_date=d(1, 1), sender_id="S", interchange="1", group="1",
                    transaction_set="0001", policy_position=3)
    report = PolicyReport(carrier_naic="12345", policy_number="PA1", transaction_type="CHG",
                          policy_type="PV", effective_date=d(1, 1), expiration_date=d(7, 1),
                          insureds=(Insured(kind="individual", last_name="X"),),
                          vehicles=(Vehicle(vin="A"), Vehicle(vin="B", transaction="VDL",
                                                              transaction_date=d(3, 1))),
                          file="f", sender_id="S", interchange="1", group="1",
                          transaction_set="0001", submission_ref="S1", key=key)
    second = CoverageReport.from_report(report, 1)
    assert (second.vehicle_transaction, second.vehicle_transaction_date) == ("VDL", d(3, 1))
    assert CoverageReport.from_report(report, 0).vehicle_transaction is None
    assert second.report_key == key.as_string() and second.expiration_date == d(7, 1)


# Reports in any order give the same timeline.
_DAY0 = d(1, 1)
_days = st.integers(0, 400).map(lambda n: _DAY0 + timedelta(n))


@st.composite
def _report(draw: st.DrawFn) -> CoverageReport:
    tt = draw(st.sampled_from(["NBS", "RWL", "CHG", "XLC", "REI"]))
    eff = draw(_days)
    exp = draw(st.none() | st.integers(1, 400).map(lambda n: eff + timedelta(n)))
    cancel = draw(_days) if tt == "XLC" else None
    vt = draw(st.sampled_from([None, None, "VAD", "VDL"]))
    return CoverageReport(
        f"k{draw(st.integers(0, 10**6))}", draw(st.sampled_from(["11111", "22222"])),
        draw(st.sampled_from(["P1", "P2"])), tt, eff, exp, cancel, vt,
        draw(_days) if vt else None, draw(st.booleans()),
    )


@settings(max_examples=200, deadline=None)
@given(reports=st.lists(_report(), max_size=8), data=st.data())
def test_reports_in_any_order_give_the_same_timeline(reports: list[CoverageReport],
                                                     data: st.DataObject) -> None:
    shuffled = data.draw(st.permutations(reports))
    assert coverage_timeline(shuffled) == coverage_timeline(reports)


@settings(max_examples=100, deadline=None)
@given(reports=st.lists(_report(), max_size=6), day=_days)
def test_spans_agree_with_a_day_by_day_reading(reports: list[CoverageReport], day: date) -> None:
    # Spans of one policy never overlap, and each day is covered by at most one of them.
    timeline = coverage_timeline(reports)
    for policy in {(s.carrier_naic, s.policy_number) for s in timeline}:
        mine = [s for s in timeline if (s.carrier_naic, s.policy_number) == policy]
        assert sum(s.covers(day) for s in mine) <= 1
        for a, b in pairwise(mine):
            assert a.end is not None and a.end <= b.start


# -- clearance -----------------------------------------------------------------------------


def test_cleared_when_coverage_is_in_force_on_the_due_day() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(1, 1, 2027))])
    clearance = clear_renewal(d(6, 1), REG, timeline)
    assert (clearance.status, clearance.reason, clearance.coverage) == (
        "cleared", None, timeline[0])


def test_held_without_any_report() -> None:
    clearance = clear_renewal(d(6, 1), REG, ())
    assert (clearance.status, clearance.reason) == ("held", "no_matched_report")
    assert clearance.reason_text == "no matched report"


def test_held_with_only_pending_or_unmatched_reports() -> None:
    clearance = clear_renewal(d(6, 1), REG, (), pending_reports=["a pending result"])
    assert (clearance.status, clearance.reason) == ("held", "only_unmatched_reports")


def test_held_cancelled_on_x() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(1, 1, 2027)),
                                  rep("x", "XLC", d(1, 1), cancel=d(3, 1))])
    clearance = clear_renewal(d(6, 1), REG, timeline)
    assert (clearance.reason, clearance.reason_date) == ("cancelled", d(3, 1))
    assert clearance.reason_text == "coverage cancelled on 2026-03-01"


def test_held_expired_on_y() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1), d(5, 1))])
    clearance = clear_renewal(d(6, 1), REG, timeline)
    assert (clearance.status, clearance.reason, clearance.reason_date) == (
        "held", "expired", d(5, 1))


def test_held_vehicle_removed() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(1, 1)),
                                  rep("r", "CHG", d(1, 1), vt="VDL", vt_date=d(4, 1))])
    assert clear_renewal(d(6, 1), REG, timeline).reason == "removed"


def test_held_coverage_not_yet_in_force() -> None:
    timeline = coverage_timeline([rep("n", "NBS", d(7, 1))])
    clearance = clear_renewal(d(6, 1), REG, timeline)
    assert (clearance.reason, clearance.reason_date) == ("not_yet_in_force", d(7, 1))


# -- suspension candidates -----------------------------------------------------------------

CANCELLED = [rep("n", "NBS", d(1, 1)), rep("x", "XLC", d(1, 1), cancel=d(3, 1))]


def candidate(reports: list[CoverageReport], as_of: date, reg: Registration = REG):  # type: ignore[no-untyped-def]
    return suspension_candidate(reg, coverage_timeline(reports), as_of=as_of, window_days=45)


def test_cancelled_without_replacement_is_a_candidate_once_the_window_is_over() -> None:
    found = candidate(CANCELLED, d(4, 16))  # 3-01 + 45 days = 4-15
    assert found is not None
    assert (found.plate, found.cancelled_on, found.cancelled_by, found.policy_number) == (
        "7ABC123", d(3, 1), "x", "P1")
    assert candidate(CANCELLED, d(4, 15)) is None  # window still open


def test_replacement_within_the_window_by_another_carrier() -> None:
    other = rep("o", "NBS", d(4, 10), carrier="22222", policy="Q")
    assert candidate([*CANCELLED, other], d(6, 1)) is None


def test_reinstatement_within_the_window_is_replacement() -> None:
    assert candidate([*CANCELLED, rep("i", "REI", d(3, 20))], d(6, 1)) is None


def test_replacement_after_the_window_does_not_help() -> None:
    late = rep("o", "NBS", d(5, 1), carrier="22222", policy="Q")
    assert candidate([*CANCELLED, late], d(6, 1)) is not None


def test_overlapping_coverage_elsewhere_is_replacement() -> None:
    other = rep("o", "NBS", d(2, 1), carrier="22222", policy="Q")
    assert candidate([*CANCELLED, other], d(6, 1)) is None


def test_only_a_still_valid_registration_is_a_candidate() -> None:
    assert candidate(CANCELLED, d(6, 1), REG._replace(status="SUSPENDED")) is None
    assert candidate(CANCELLED, d(6, 1), REG._replace(expires=d(5, 31))) is None


def test_expiry_is_not_cancellation() -> None:
    assert candidate([rep("n", "NBS", d(1, 1), d(3, 1))], d(6, 1)) is None


def test_suspension_candidates_over_many_vehicles() -> None:
    second = REG._replace(plate="8XYZ001")
    pairs = [(REG, coverage_timeline(CANCELLED)), (second, coverage_timeline(CANCELLED[:1]))]
    found = list(suspension_candidates(pairs, as_of=d(6, 1), window_days=45))
    assert [c.plate for c in found] == ["7ABC123"]


def _covered_by_rules(reports: list[CoverageReport], day: date) -> set[tuple[str, str]]:
    """The guide's rules read literally for one day, policy by policy: the oracle the
    span-building code must agree with."""
    covered = set()
    for policy in {(r.carrier_naic, r.policy_number) for r in reports}:
        mine = [r for r in reports if (r.carrier_naic, r.policy_number) == policy]
        # A policy the state never saw opened: its XLC stands for the term it cancels.
        terms = ({"NBS", "RWL", "CHG", "REI"} if any(
            r.transaction_type in ("NBS", "RWL", "CHG") for r in mine)
            else {"XLC", "REI"})
        in_term = any(r.transaction_type in terms
                      and r.effective_date <= day
                      and (r.expiration_date is None or day < r.expiration_date) for r in mine)
        # (date, rank): on one day NBS/RWL < XLC < REI; the last one on or before the day wins.
        status = sorted(
            [(r.effective_date, 0) for r in mine if r.transaction_type in ("NBS", "RWL")]
            + [(r.cancellation_date, 1) for r in mine
               if r.transaction_type == "XLC" and r.cancellation_date]
            + [(r.effective_date, 2) for r in mine if r.transaction_type == "REI"])
        past = [s for s in status if s[0] <= day]
        cancelled = bool(past) and past[-1][1] == 1
        member = sorted(
            [(r.vehicle_transaction_date, 1 if r.vehicle_transaction == "VDL" else 0)
             for r in mine if r.vehicle_transaction and r.vehicle_transaction_date]
            + [(r.effective_date, 0) for r in mine if not r.vehicle_transaction])
        on = [m for m in member if m[0] <= day]
        on_policy = any(r.fleet for r in mine) or (bool(on) and on[-1][1] == 0)
        if in_term and not cancelled and on_policy:
            covered.add(policy)
    return covered


@settings(max_examples=150, deadline=None)
@given(reports=st.lists(_report(), max_size=8), day=_days)
def test_timeline_agrees_with_the_rules_day_by_day(reports: list[CoverageReport],
                                                   day: date) -> None:
    timeline = coverage_timeline(reports)
    assert {(s.carrier_naic, s.policy_number) for s in timeline if s.covers(day)} == (
        _covered_by_rules(reports, day))


def test_not_registered_is_the_clis_hold_for_an_unknown_plate_or_vin() -> None:
    # ``epoi renewals clear`` holds a renewal whose plate or VIN the registrations lack
    # (tests/test_cli_matching.py); the reason has its text like every other.
    held = Clearance("9ZZZ999", "", d(6, 1), "held", "not_registered")
    assert held.reason_text == "plate or VIN not in the registrations"
