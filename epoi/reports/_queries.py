"""The reports: each fills its model from the sections under one ``Filter`` (carrier scope,
period, submission).  The sections are SQL aggregates, one module per group of them:
``_activity`` (volumes, outcomes, errors), ``_matching``, ``_clearance``, ``_timeliness``
and ``_submissions``."""

from __future__ import annotations

from dataclasses import replace

from sqlalchemy.orm import Session

from ..errors import ConfigError
from ..store import CarrierScope, scoped_submission
from ._activity import errors, outcomes, volumes
from ._clearance import clearance
from ._filter import Filter, ReportOptions, pct
from ._matching import ageing, match_steps, unmatched_vehicles
from ._model import (
    CarrierReport,
    ClearanceCount,
    ClearanceRun,
    DayVolume,
    KeyFigure,
    LateCount,
    MatchStepCount,
    SubmissionReport,
    SummaryReport,
    TimelinessReport,
    UnmatchedReport,
)
from ._submissions import ack_rows, findings, submission_rows
from ._timeliness import lags, late

# -- the reports ---------------------------------------------------------------------------

_NO_CLEARANCE_RUN = (
    "No renewal clearance run is stored for this period: each run of epoi renewals clear "
    "is stored, and its renewals cleared and held are counted here."
)
_CLEARANCE_NOT_FOR_CARRIERS = (
    "Renewal clearance is the state's registration business, not a carrier's: it is left "
    "out of a report scoped to one carrier."
)
_NO_MATCHING = (
    "No reported vehicle has been taken up by matching yet (no registrations loaded, or "
    "matching has not run): the match and ageing figures are empty."
)


def key_figures(
    volumes: tuple[DayVolume, ...], steps: tuple[MatchStepCount, ...],
    late: tuple[LateCount, ...], clearance: tuple[ClearanceCount, ...] | None = None,
) -> tuple[KeyFigure, ...]:
    """The headline numbers, added up from the sections (no query of their own, so they
    cannot disagree with them)."""
    policies = sum(v.policies for v in volumes)
    rejected = sum(v.rejected for v in volumes)
    taken_up = sum(s.vehicles for s in steps)
    matched = sum(s.vehicles for s in steps if s.outcome.startswith("step "))
    late_reports = sum(x.new_coverage_late + x.changes_late for x in late)
    figures: list[tuple[str, int | float]] = [
        ("submissions", sum(v.submissions for v in volumes)),
        ("policy reports", policies),
        ("vehicles reported", sum(v.vehicles for v in volumes)),
        ("accepted", sum(v.accepted for v in volumes)),
        ("warned", sum(v.warned for v in volumes)),
        ("rejected", rejected),
        ("rejected percent", pct(rejected, policies)),
        ("match results", taken_up),
        ("matched", matched),
        ("match rate percent", pct(matched, taken_up)),
        ("without a match", taken_up - matched),
        ("late reports (E301)", late_reports),
        ("late percent", pct(late_reports, policies)),
    ]
    if clearance is not None:
        cleared = sum(c.renewals for c in clearance if c.outcome == "cleared")
        held = sum(c.renewals for c in clearance if c.outcome.startswith("held"))
        figures += [("renewals cleared", cleared), ("renewals held", held)]
    return tuple(KeyFigure(measure=m, value=v) for m, v in figures)


def _match_notes(steps: tuple[MatchStepCount, ...]) -> list[str]:
    return [] if any(s.vehicles for s in steps) else [_NO_MATCHING]


def summary_report(session: Session, opts: ReportOptions) -> SummaryReport:
    f = Filter(opts)
    steps, days, lates = match_steps(session, f), volumes(session, f), late(session, f)
    notes = _match_notes(steps)
    cleared: tuple[ClearanceCount, ...] | None = None
    runs: tuple[ClearanceRun, ...] | None = None
    if opts.scope.is_carrier:
        notes.append(_CLEARANCE_NOT_FOR_CARRIERS)
    else:
        cleared, runs = clearance(session, opts)
        if not runs:  # sections left out, with a note, rather than a table of zeros
            cleared, runs = None, None
            notes.append(_NO_CLEARANCE_RUN)
    return SummaryReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=tuple(notes),
        key_figures=key_figures(days, steps, lates, cleared),
        volumes=days, outcomes=outcomes(session, f), errors=errors(session, f),
        match_steps=steps, ageing=ageing(session, f, opts), clearance=cleared,
        clearance_runs=runs, late=lates,
    )


def submission_report(
    session: Session, opts: ReportOptions, submission_id: int
) -> SubmissionReport:
    scoped_submission(session, opts.scope, submission_id)  # not found / not yours: exit 2
    # The whole submission, whenever it was received: no period.
    f = Filter(replace(opts, start=None, end=None), submission_id)
    steps = match_steps(session, f)
    return SubmissionReport(
        generated_at=opts.clock(), masked=opts.masked, notes=tuple(_match_notes(steps)),
        submission_id=submission_id, submission=submission_rows(session, f),
        acks=ack_rows(session, submission_id), outcomes=outcomes(session, f),
        errors=errors(session, f), match_steps=steps, findings=findings(session, f),
    )


def carrier_report(session: Session, opts: ReportOptions, naic: str) -> CarrierReport:
    """One carrier's report.  Under a carrier scope only the scope's own NAIC is known;
    any other is "no carrier", like one that is not registered."""
    scope = opts.scope
    if scope.is_carrier and scope.naic != naic:
        raise _not_found_carrier(naic)
    if not scope.is_carrier:
        scope = CarrierScope.for_naic(session, naic)
    f = Filter(replace(opts, scope=scope))
    steps, days, lates = match_steps(session, f), volumes(session, f), late(session, f)
    return CarrierReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=tuple(_match_notes(steps)),
        carrier_naic=scope.naic or naic, carrier_name=scope.name or "",
        key_figures=key_figures(days, steps, lates),
        submissions=submission_rows(session, f), volumes=days,
        outcomes=outcomes(session, f), errors=errors(session, f),
        match_steps=steps, late=lates,
    )


def _not_found_carrier(naic: str) -> ConfigError:
    # The same words as CarrierScope.for_naic's for a NAIC nobody registered.
    return ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")


def unmatched_report(session: Session, opts: ReportOptions) -> UnmatchedReport:
    f = Filter(opts)
    vehicles, more = unmatched_vehicles(session, f, opts)
    notes = [] if vehicles else ["No reported vehicle is without a match."]
    if more:
        notes.append(f"{more} more vehicles without a match are not listed (oldest listed first).")
    return UnmatchedReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=tuple(notes), carrier_naic=opts.scope.naic,
        ageing=ageing(session, f, opts), vehicles=vehicles, truncated=more,
    )


def timeliness_report(session: Session, opts: ReportOptions) -> TimelinessReport:
    f = Filter(opts)
    return TimelinessReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, carrier_naic=opts.scope.naic,
        late=late(session, f), lags=lags(session, f),
    )


__all__ = [
    "ReportOptions",
    "carrier_report",
    "submission_report",
    "summary_report",
    "timeliness_report",
    "unmatched_report",
]
