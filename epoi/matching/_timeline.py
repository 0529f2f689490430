"""A vehicle's coverage timeline from its matched reports (companion guide §2 and §5).

Pure functions of the *set* of reports: the arrival order never matters, because every
choice below is made from the dates, with fixed tie rules.

Per policy (carrier NAIC + policy number):

* Terms: NBS, RWL, CHG and REI each cover ``[effective, expiration)``, open-ended without an
  expiration date.  Ends are exclusive: a policy that expires, or is cancelled, on day X
  does not cover day X.  A policy of which the state holds no NBS, RWL or CHG (reported
  before the state's records begin: an E111 warning) has its XLC stand for the term it
  cancels, so the cancellation still ends coverage; without that it would end nothing, and
  the vehicle would never be a suspension candidate.
* Status: the latest status event on or before a day decides whether the policy is
  cancelled then.  XLC is a cancellation on its cancellation date; REI (reinstatement) and
  the start of an NBS or RWL term reopen.  So an XLC dated on or before a REI is rescinded
  from the REI's effective date on (a lapse between them stays a lapse), and an XLC dated
  after it cancels again.  On one day REI beats XLC (reinstated without a lapse) and XLC
  beats NBS/RWL (a cancellation dated on a term's first day is a flat cancellation).
  CHG does not reopen a cancelled policy: a change to a cancelled policy is not coverage.
* The vehicle on the policy: being listed in a report puts it on from the report's
  effective date; VAD puts it on and VDL takes it off from their own date (VDL beats a
  listing on the same day).  A fleet policy (no vehicles) covers the owner's vehicles as
  long as the policy is in force.

A day is covered by a policy when a term covers it, the policy is not cancelled and the
vehicle is on it; the timeline is the list of spans where that holds, per report.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from ..schemas.match import MatchResult
from ..schemas.policy import PolicyReport

TERM_TYPES = frozenset({"NBS", "RWL", "CHG", "REI"})
_OPENING_TYPES = frozenset({"NBS", "RWL", "CHG"})  # without one, an XLC stands for the term
EndReason = Literal["expired", "cancelled", "removed", "superseded"]

# Status events on one day apply in this order; the last applied wins.
_START, _CANCEL, _REOPEN = 0, 1, 2
# Membership events on one day: removal wins.
_ADD, _REMOVE = 0, 1


@dataclass(frozen=True, slots=True)
class CoverageReport:
    """What the timeline needs of one matched report about one vehicle (or a fleet)."""

    report_key: str
    carrier_naic: str
    policy_number: str
    transaction_type: str  # NBS RWL CHG XLC REI
    effective_date: date
    expiration_date: date | None = None
    cancellation_date: date | None = None
    vehicle_transaction: str | None = None  # VAD | VDL
    vehicle_transaction_date: date | None = None
    fleet: bool = False  # a fleet policy's report: it covers the owner's vehicles, lists none

    @classmethod
    def from_report(cls, report: PolicyReport, vehicle_index: int | None) -> CoverageReport:
        """``vehicle_index`` as in ``MatchResult`` (None for a fleet policy).  The report
        must be one the edits accepted: it has the dates its transaction type requires."""
        if report.effective_date is None:
            raise ValueError("a report without an effective date has no place on a timeline")
        vehicle = report.vehicles[vehicle_index] if vehicle_index is not None else None
        return cls(
            report_key=report.key.as_string(),
            carrier_naic=report.carrier_naic or "",
            policy_number=report.policy_number or "",
            transaction_type=report.transaction_type or "",
            effective_date=report.effective_date,
            expiration_date=report.expiration_date,
            cancellation_date=report.cancellation_date,
            vehicle_transaction=vehicle.transaction if vehicle else None,
            vehicle_transaction_date=vehicle.transaction_date if vehicle else None,
            fleet=vehicle is None,
        )


@dataclass(frozen=True, slots=True, order=True)
class CoverageSpan:
    """The vehicle is covered on ``start <= day < end`` (``end`` None: open-ended) by this
    carrier's policy, as ``report_key`` reported it.  ``end_reason`` says why it ends;
    ``ended_by`` is the report that ended it (the XLC or VDL), when one did."""

    start: date
    end: date | None
    carrier_naic: str
    policy_number: str
    report_key: str
    end_reason: EndReason | None = None
    ended_by: str | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day < self.end)


Timeline = tuple[CoverageSpan, ...]


@dataclass(frozen=True, slots=True)
class _State:
    covered: bool
    report_key: str | None  # the term report when covered


def _latest(events: list[tuple[date, int, str]], day: date) -> tuple[date, int, str] | None:
    """The event that decides ``day``: the last one on or before it in (date, rank, key)
    order.  ``events`` is sorted."""
    i = bisect.bisect_right(events, (day, 99, "\uffff"))
    return events[i - 1] if i else None


def _policy_spans(reports: list[CoverageReport]) -> list[CoverageSpan]:
    fleet = any(r.fleet for r in reports)
    term_types = TERM_TYPES
    if not any(r.transaction_type in _OPENING_TYPES for r in reports):
        term_types = TERM_TYPES | {"XLC"}  # the XLC's term is all the state knows (above)
    terms: list[tuple[date, date | None, str]] = []
    status: list[tuple[date, int, str]] = []
    member: list[tuple[date, int, str]] = []
    for r in reports:
        tt = r.transaction_type
        if tt in term_types:
            terms.append((r.effective_date, r.expiration_date, r.report_key))
        if tt in ("NBS", "RWL"):
            status.append((r.effective_date, _START, r.report_key))
        elif tt == "REI":
            status.append((r.effective_date, _REOPEN, r.report_key))
        elif tt == "XLC" and r.cancellation_date is not None:
            status.append((r.cancellation_date, _CANCEL, r.report_key))
        if r.vehicle_transaction in ("VAD", "VDL") and r.vehicle_transaction_date is not None:
            kind = _ADD if r.vehicle_transaction == "VAD" else _REMOVE
            member.append((r.vehicle_transaction_date, kind, r.report_key))
        else:
            member.append((r.effective_date, _ADD, r.report_key))
    status.sort()
    member.sort()

    def state(day: date) -> _State:
        covering = [t for t in terms if t[0] <= day and (t[1] is None or day < t[1])]
        if not covering:
            return _State(False, None)
        decisive = _latest(status, day)
        if decisive is not None and decisive[1] == _CANCEL:
            return _State(False, None)
        if not fleet:
            on = _latest(member, day)
            if on is None or on[1] == _REMOVE:
                return _State(False, None)
        # The latest term that covers the day reports it (ties: the greatest key).
        return _State(True, max(covering, key=lambda t: (t[0], t[2]))[2])

    points = sorted({t[0] for t in terms} | {t[1] for t in terms if t[1]}
                    | {e[0] for e in status} | {e[0] for e in member})
    spans: list[CoverageSpan] = []
    opened: tuple[date, str] | None = None  # the span being built: its start and report
    carrier, policy = reports[0].carrier_naic, reports[0].policy_number

    def close(open_start: date, open_key: str, end: date, now: _State) -> None:
        reason: EndReason
        ended_by = None
        decisive = _latest(status, end)
        removal = _latest(member, end)
        if now.covered:
            reason = "superseded"
        elif decisive is not None and decisive[0] == end and decisive[1] == _CANCEL:
            reason, ended_by = "cancelled", decisive[2]
        elif not fleet and removal is not None and removal[0] == end and removal[1] == _REMOVE:
            reason, ended_by = "removed", removal[2]
        else:
            reason = "expired"
        spans.append(CoverageSpan(open_start, end, carrier, policy, open_key, reason, ended_by))

    for day in points:
        now = state(day)
        if opened is not None and now.report_key != opened[1]:
            close(*opened, day, now)
            opened = None
        if now.covered and now.report_key is not None and opened is None:
            opened = (day, now.report_key)
    if opened is not None:
        spans.append(CoverageSpan(opened[0], None, carrier, policy, opened[1]))
    return spans


def coverage_timeline(reports: Iterable[CoverageReport]) -> Timeline:
    """The timeline of one vehicle from the reports matched to it, in any order."""
    by_policy: dict[tuple[str, str], list[CoverageReport]] = {}
    for r in reports:
        by_policy.setdefault((r.carrier_naic, r.policy_number), []).append(r)
    spans: list[CoverageSpan] = []
    for key in sorted(by_policy):
        spans.extend(_policy_spans(by_policy[key]))
    return tuple(sorted(spans, key=_span_order))


def _span_order(s: CoverageSpan) -> tuple:
    return (s.start, s.end or date.max, s.carrier_naic, s.policy_number, s.report_key)


def spans_on(timeline: Timeline, day: date) -> tuple[CoverageSpan, ...]:
    """Every span in force on ``day`` (two carriers may overlap while a vehicle moves)."""
    return tuple(s for s in timeline if s.covers(day))


def coverage_on(timeline: Timeline, day: date) -> CoverageSpan | None:
    """The coverage in force on ``day``, or None.  With several, the most recently started
    (then the greatest carrier, policy, report) answers."""
    in_force = spans_on(timeline, day)
    if not in_force:
        return None
    return max(in_force, key=lambda s: (s.start, s.carrier_naic, s.policy_number, s.report_key))


def timelines_by_plate(
    matched: Iterable[tuple[MatchResult, PolicyReport]],
) -> dict[str, Timeline]:
    """Every registered vehicle's timeline from match results and the reports they belong
    to.  Results that are not ``matched`` are left out: only matched coverage counts."""
    per_plate: dict[str, list[CoverageReport]] = {}
    for result, report in matched:
        if result.state != "matched" or result.plate is None or report.effective_date is None:
            continue
        per_plate.setdefault(result.plate, []).append(
            CoverageReport.from_report(report, result.vehicle_index))
    return {plate: coverage_timeline(reports) for plate, reports in per_plate.items()}
