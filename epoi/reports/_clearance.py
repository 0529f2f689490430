"""Renewal clearance: the stored clearance runs of the report's period and their renewals
cleared and held, by reason."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from ..matching import HOLD_LABELS
from ..store import clearance_results, clearance_runs
from ._filter import ReportOptions, pct
from ._model import ClearanceCount, ClearanceRun


def _runs_in_period(opts: ReportOptions) -> ColumnElement[bool]:
    """The stored clearance runs whose as-of day falls in the report's period."""
    cond: list[ColumnElement[bool]] = [sa.true()]
    if opts.start is not None:
        cond.append(clearance_runs.c.as_of >= opts.start)
    if opts.end is not None:
        cond.append(clearance_runs.c.as_of <= opts.end)
    return sa.and_(*cond)


def clearance(session: Session, opts: ReportOptions
              ) -> tuple[tuple[ClearanceCount, ...], tuple[ClearanceRun, ...]]:
    """Renewals cleared and held (by reason) over the stored clearance runs of the period,
    and the runs themselves, latest first."""
    runs = session.execute(
        select(clearance_runs).where(_runs_in_period(opts))
        .order_by(clearance_runs.c.as_of.desc(), clearance_runs.c.id.desc())
    ).all()
    r = clearance_results.c
    counts = dict(((status, reason), n) for status, reason, n in session.execute(
        select(r.status, r.reason, func.count())
        .join(clearance_runs, clearance_runs.c.id == r.run_id)
        .where(_runs_in_period(opts)).group_by(r.status, r.reason)
    ).all())
    total = sum(counts.values())
    outcomes = [("cleared", counts.get(("cleared", None), 0))] + [
        (f"held: {label}", counts.get(("held", reason), 0))
        for reason, label in HOLD_LABELS.items()]
    return (
        tuple(ClearanceCount(outcome=o, renewals=n, percent=pct(n, total)) for o, n in outcomes),
        tuple(ClearanceRun(run_id=x.id, file_name=x.file_name, as_of=x.as_of, run_at=x.run_at,
                           renewals=x.renewals, cleared=x.cleared, held=x.held,
                           bad_rows=x.bad_rows) for x in runs),
    )
