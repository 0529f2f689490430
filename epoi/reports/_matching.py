"""Matching figures: how the reported vehicles were matched (by step), how long the
unmatched ones have waited, and the unmatched vehicles themselves, personal data masked."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, case, func
from sqlalchemy.orm import Session, aliased

from ..store import (
    Carrier,
    InsuredRow,
    PolicyReportRow,
    Submission,
    match_reports,
    match_results,
)
from ._filter import Filter, ReportOptions, as_of_day, days_between, pct, records_from
from ._mask import mask_date_of_birth, mask_fein, mask_licence, mask_name
from ._model import AgeingBucket, MatchStepCount, UnmatchedVehicle

STEP_NAMES = {1: "VIN exact", 2: "near VIN", 3: "licence or FEIN", 4: "name and date of birth"}
AGE_BUCKETS = ((0, 7, "0-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"),
               (31, 60, "31-60 days"), (61, None, "over 60 days"))
UNMATCHED_ROW_LIMIT = 10_000


def match_steps(session: Session, f: Filter) -> tuple[MatchStepCount, ...]:
    results = match_results
    rows = session.execute(
        f.records(
            records_from()
            .join(results, results.c.report_key == PolicyReportRow.natural_key)
            .add_columns(results.c.state, results.c.step, func.count())
        ).group_by(results.c.state, results.c.step)
    ).all()
    total = sum(n for _, _, n in rows)
    counts: dict[str, int] = defaultdict(int)
    for state, step, n in rows:
        if state == "matched" and step is not None:
            counts[f"step {step}: {STEP_NAMES.get(step, '?')}"] += n
        else:
            counts[state] += n
    order = [f"step {s}: {name}" for s, name in STEP_NAMES.items()]
    order += ["ambiguous", "pending", "unmatched"]
    order += sorted(set(counts) - set(order))
    return tuple(
        MatchStepCount(outcome=o, vehicles=counts.get(o, 0), percent=pct(counts.get(o, 0), total))
        for o in order
    )


def _open_matches(
    session: Session, opts: ReportOptions
) -> tuple[sa.Table, sa.Table, Any, ColumnElement[str]]:
    """Columns for the vehicles without a match: the state as of ``as_of`` (a pending
    vehicle past its window counts as unmatched, as ``settle_pending`` decides) and its age
    since it was first tried."""
    results, reports = match_results, match_reports
    as_of = sa.literal(as_of_day(opts), sa.Date)
    age = days_between(session, as_of, reports.c.first_tried)
    state = case(
        (sa.and_(results.c.state == "pending", age > opts.pending_window_days), "unmatched"),
        else_=results.c.state,
    )
    return results, reports, age, state


def ageing(session: Session, f: Filter, opts: ReportOptions) -> tuple[AgeingBucket, ...]:
    results, reports, age, state = _open_matches(session, opts)
    bucket = case(
        *[(age <= hi, label) for lo, hi, label in AGE_BUCKETS if hi is not None],
        else_=AGE_BUCKETS[-1][2],
    ).label("bucket")
    rows = session.execute(
        f.records(
            records_from()
            .join(results, results.c.report_key == PolicyReportRow.natural_key)
            .join(reports, reports.c.report_key == results.c.report_key)
            .add_columns(bucket, state.label("state"), func.count())
            .where(results.c.state.in_(("pending", "unmatched", "ambiguous")))
        ).group_by(bucket, state)
    ).all()
    counts = {(b, s): n for b, s, n in rows}
    return tuple(
        AgeingBucket(
            age=label,
            pending=counts.get((label, "pending"), 0),
            unmatched=counts.get((label, "unmatched"), 0),
        )
        for _, _, label in AGE_BUCKETS
    )


def unmatched_vehicles(
    session: Session, f: Filter, opts: ReportOptions
) -> tuple[tuple[UnmatchedVehicle, ...], int]:
    """The vehicles without a match (oldest first), at most ``UNMATCHED_ROW_LIMIT``, and
    how many more there are.  Personal data is masked unless ``opts.masked`` is off."""
    results, reports, age, state = _open_matches(session, opts)
    first = aliased(InsuredRow)
    base = f.records(
        records_from()
        .join(results, results.c.report_key == PolicyReportRow.natural_key)
        .join(reports, reports.c.report_key == results.c.report_key)
        .where(results.c.state.in_(("pending", "unmatched", "ambiguous")))
    )
    total = session.execute(base.add_columns(func.count())).scalar_one()
    rows = session.execute(
        base.outerjoin(Carrier, Carrier.id == Submission.carrier_id)
        .outerjoin(first, sa.and_(first.policy_report_id == PolicyReportRow.id, first.ordinal == 0))
        .add_columns(
            func.coalesce(Carrier.naic, PolicyReportRow.carrier_naic, ""),
            Submission.id, PolicyReportRow.policy_number, PolicyReportRow.transaction_type,
            PolicyReportRow.effective_date, results.c.reported_vin, state, age,
            first.last_name, first.organisation_name, first.licence_number,
            first.date_of_birth, first.fein,
        )
        .order_by(age.desc(), results.c.id)
        .limit(UNMATCHED_ROW_LIMIT)
    ).all()
    m = opts.masked
    out = tuple(
        UnmatchedVehicle(
            carrier_naic=naic, submission_id=sid, policy_number=pn or "",
            transaction_type=tt or "", effective_date=eff, vin=vin or "", state=st,
            age_days=int(a or 0),
            insured=(mask_name(last or org) if m else (last or org or "")),
            licence=(mask_licence(dl) if m else (dl or "")),
            date_of_birth=(mask_date_of_birth(dob) if m else (dob.isoformat() if dob else "")),
            fein=(mask_fein(fein) if m else (fein or "")),
        )
        for naic, sid, pn, tt, eff, vin, st, a, last, org, dl, dob, fein in rows
    )
    return out, max(total - len(out), 0)
