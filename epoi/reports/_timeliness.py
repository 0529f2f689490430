"""Reporting timeliness: late reports (E301) per carrier and the lag from a policy change
taking effect to its report, by carrier and transaction type."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..store import BusinessErrorRow, Carrier, PolicyReportRow, Submission
from ._filter import Filter, day_of, days_between, pct, records_from
from ._model import LagBucket, LateCount

# Transaction types E301 holds to the change window (the rest to the new-coverage window);
# the same split as the default edit profile (transforms._profile).
CHANGE_TYPES = ("CHG", "XLC")


def _carrier_naic() -> Any:
    # The submitting carrier's profile; a record of an unknown sender under the NAIC it claims.
    return func.coalesce(Carrier.naic, PolicyReportRow.carrier_naic, "").label("naic")


def _late_counts(session: Session, f: Filter, *group: Any) -> dict[tuple[Any, ...], int]:
    """Policy reports with an E301 finding, by ``group`` columns.  Starts from the E301 rows
    (the ``code`` index) rather than joining every report to them: a few thousand rows
    instead of an outer join over all reports."""
    rows = session.execute(
        f.records(
            select()
            .select_from(BusinessErrorRow)
            .join(PolicyReportRow, PolicyReportRow.id == BusinessErrorRow.policy_report_id)
            .join(Submission, Submission.id == PolicyReportRow.submission_id)
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .where(BusinessErrorRow.code == "E301")
            .add_columns(*group, func.count(func.distinct(BusinessErrorRow.policy_report_id)))
        ).group_by(*group)
    ).all()
    return {tuple(r[:-1]): r[-1] for r in rows}


def late(session: Session, f: Filter) -> tuple[LateCount, ...]:
    """E301 per carrier, new coverage and changes apart."""
    naic = _carrier_naic()
    name = func.coalesce(Carrier.name, PolicyReportRow.insurer_name, "")
    totals = session.execute(
        f.records(
            records_from()
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .add_columns(naic, func.max(name), func.count(PolicyReportRow.id))
        ).group_by(naic)
    ).all()
    is_change = case((PolicyReportRow.transaction_type.in_(CHANGE_TYPES), 1), else_=0)
    counts = _late_counts(session, f, naic, is_change.label("change"))
    out = []
    for n, nm, p in sorted(totals):
        new, chg = counts.get((n, 0), 0), counts.get((n, 1), 0)
        out.append(LateCount(
            carrier_naic=n, carrier_name=nm or "", policies=p, new_coverage_late=new,
            changes_late=chg, late_percent=pct(new + chg, p),
        ))
    return tuple(out)


def lags(session: Session, f: Filter) -> tuple[LagBucket, ...]:
    took_effect = case(
        (PolicyReportRow.transaction_type == "XLC", PolicyReportRow.cancellation_date),
        else_=PolicyReportRow.effective_date,
    )
    lag = days_between(session, day_of(session, Submission.received_at), took_effect)
    naic = _carrier_naic()
    ttype = func.coalesce(PolicyReportRow.transaction_type, "").label("ttype")

    def between(lo: int | None, hi: int | None) -> Any:
        cond = [lag.is_not(None)]
        if lo is not None:
            cond.append(lag >= lo)
        if hi is not None:
            cond.append(lag <= hi)
        return func.sum(case((sa.and_(*cond), 1), else_=0))

    rows = session.execute(
        f.records(
            records_from()
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .add_columns(
                naic, ttype, func.count(PolicyReportRow.id),
                between(None, 30), between(31, 45), between(46, 90), between(91, None),
                func.max(lag),
            )
        ).group_by(naic, ttype)
    ).all()
    late_by = _late_counts(session, f, naic, ttype)
    out = []
    for n, t, total, a, b, c, d, mx in sorted(rows):
        lt = late_by.get((n, t), 0)
        out.append(LagBucket(
            carrier_naic=n, transaction_type=t, reports=total,
            days_0_30=a or 0, days_31_45=b or 0, days_46_90=c or 0, days_over_90=d or 0,
            late=lt, late_percent=pct(lt, total), max_lag_days=mx,
        ))
    return tuple(out)
