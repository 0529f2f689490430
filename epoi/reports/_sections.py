"""The sections of the reports, one query function each: SQL aggregates over the store
(``GROUP BY`` in the database, a handful of rows back), never a Python loop over policy
reports or vehicles.  Every statement goes through the report's ``Filter``.

Production figures leave out test interchanges (ISA15 ``T``): they are validated and
acknowledged but never production data.  A one-submission report shows a test submission's
own records all the same.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session, aliased

from ..store import (
    Ack,
    BusinessErrorRow,
    Carrier,
    ErrorReturn,
    InsuredRow,
    Interchange,
    PolicyReportRow,
    Submission,
    TransactionSet,
    VehicleRow,
)
from ..matching import HOLD_LABELS
from ..store import clearance_results, clearance_runs, match_reports, match_results
from ..transforms import CATALOGUE
from ._filter import (
    Filter,
    ReportOptions,
    as_date,
    as_of_day,
    day_of,
    days_between,
    pct,
    records_from,
)
from ._mask import mask_date_of_birth, mask_fein, mask_licence, mask_name
from ._model import (
    AckRow,
    AgeingBucket,
    ClearanceCount,
    ClearanceRun,
    DayVolume,
    ErrorCount,
    LagBucket,
    LateCount,
    MatchStepCount,
    OutcomeCount,
    RecordFinding,
    SubmissionRow,
    UnmatchedVehicle,
)

# Transaction types E301 holds to the change window (the rest to the new-coverage window);
# the same split as the default edit profile (transforms._profile).
CHANGE_TYPES = ("CHG", "XLC")
STEP_NAMES = {1: "VIN exact", 2: "near VIN", 3: "licence or FEIN", 4: "name and date of birth"}
AGE_BUCKETS = ((0, 7, "0-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"),
               (31, 60, "31-60 days"), (61, None, "over 60 days"))
SET_OUTCOMES = {"A": "accepted", "E": "accepted with errors", "R": "rejected",
                "M": "rejected (MAC)", "W": "rejected (assurance)", "X": "rejected (content)"}
UNMATCHED_ROW_LIMIT = 10_000


# -- sections ------------------------------------------------------------------------------


def volumes(session: Session, f: Filter) -> tuple[DayVolume, ...]:
    day = day_of(session, Submission.received_at).label("day")
    subs = dict(
        session.execute(f(select(day, func.count(Submission.id)).group_by(day))).all()
    )
    st = PolicyReportRow.status
    records = {
        r.day: r
        for r in session.execute(
            f.records(
                records_from().add_columns(
                    day,
                    func.count(PolicyReportRow.id).label("policies"),
                    func.sum(case((st == "accepted", 1), else_=0)).label("accepted"),
                    func.sum(case((st == "warned", 1), else_=0)).label("warned"),
                    func.sum(case((st == "rejected", 1), else_=0)).label("rejected"),
                )
            ).group_by(day)
        )
    }
    vehicles = dict(
        session.execute(
            f.records(
                records_from()
                .join(VehicleRow, VehicleRow.policy_report_id == PolicyReportRow.id)
                .add_columns(day, func.count(VehicleRow.id))
            ).group_by(day)
        ).all()
    )
    out = []
    for d in sorted(set(subs) | set(records), key=as_date):
        r = records.get(d)
        out.append(
            DayVolume(
                day=as_date(d),
                submissions=subs.get(d, 0),
                policies=r.policies if r else 0,
                vehicles=vehicles.get(d, 0),
                accepted=(r.accepted or 0) if r else 0,
                warned=(r.warned or 0) if r else 0,
                rejected=(r.rejected or 0) if r else 0,
            )
        )
    return tuple(out)


def outcomes(session: Session, f: Filter) -> tuple[OutcomeCount, ...]:
    out: list[OutcomeCount] = []
    files = session.execute(
        f(select(Submission.state, func.count(Submission.id)).group_by(Submission.state))
    ).all()
    out += [OutcomeCount(level="file", outcome=str(s), count=n) for s, n in sorted(files)]
    sets_stmt = (
        select(TransactionSet.ack_code, func.count(TransactionSet.id))
        .join(Submission, Submission.id == TransactionSet.submission_id)
        .group_by(TransactionSet.ack_code)
    )
    if f.submission_id is None:
        sets_stmt = sets_stmt.where(TransactionSet.test.is_(False))
    sets = session.execute(f(sets_stmt)).all()
    out += [
        OutcomeCount(level="transaction set", outcome=SET_OUTCOMES.get(c, c), count=n)
        for c, n in sorted(sets)
    ]
    recs = dict(
        session.execute(
            f.records(
                records_from().add_columns(PolicyReportRow.status, func.count(PolicyReportRow.id))
            ).group_by(PolicyReportRow.status)
        ).all()
    )
    out += [
        OutcomeCount(level="record", outcome=s, count=recs.get(s, 0))
        for s in ("accepted", "warned", "rejected")
    ]
    return tuple(out)


def errors(session: Session, f: Filter) -> tuple[ErrorCount, ...]:
    """Business edits (E-codes) by code, then the X12 codes of TA1 notes and 997 AK5/AK9."""
    rows = session.execute(
        f.records(
            records_from()
            .join(BusinessErrorRow, BusinessErrorRow.policy_report_id == PolicyReportRow.id)
            .add_columns(
                BusinessErrorRow.code,
                BusinessErrorRow.severity,
                func.count(BusinessErrorRow.id),
                func.count(func.distinct(BusinessErrorRow.policy_report_id)),
            )
        ).group_by(BusinessErrorRow.code, BusinessErrorRow.severity)
    ).all()
    out = [
        ErrorCount(
            code=code, severity=sev,
            description=CATALOGUE[code].rule if code in CATALOGUE else "",
            errors=n, records=recs,
        )
        for code, sev, n, recs in sorted(rows)
    ]
    notes = session.execute(
        f(
            select(Interchange.ta1_note_code, func.count(Interchange.id))
            .join(Submission, Submission.id == Interchange.submission_id)
            .where(Interchange.ta1_note_code != "000")
            .group_by(Interchange.ta1_note_code)
        )
    ).all()
    out += [
        ErrorCount(code=f"TA1-{c}", severity="error", description="interchange note (TA1)",
                   errors=n, records=0)
        for c, n in sorted(notes)
    ]
    # AK5 codes are stored space-joined per set: a few distinct strings, split here.
    ak5: dict[str, int] = defaultdict(int)
    for codes, n in session.execute(
        f(
            select(TransactionSet.error_codes, func.count(TransactionSet.id))
            .join(Submission, Submission.id == TransactionSet.submission_id)
            .where(TransactionSet.error_codes != "")
            .group_by(TransactionSet.error_codes)
        )
    ).all():
        for c in codes.split():
            ak5[c] += n
    out += [
        ErrorCount(code=f"AK5-{c}", severity="error", description="transaction set syntax (997)",
                   errors=n, records=0)
        for c, n in sorted(ak5.items())
    ]
    return tuple(out)


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


def _open_matches(session: Session, opts: ReportOptions) -> tuple[Any, ...]:
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


def _runs_in_period(opts: ReportOptions) -> Any:
    """The stored clearance runs whose as-of day falls in the report's period."""
    cond = [sa.true()]
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


def submission_rows(session: Session, f: Filter) -> tuple[SubmissionRow, ...]:
    st = PolicyReportRow.status
    per_sub = (
        select(
            PolicyReportRow.submission_id.label("sid"),
            func.sum(case((st == "accepted", 1), else_=0)).label("accepted"),
            func.sum(case((st == "warned", 1), else_=0)).label("warned"),
            func.sum(case((st == "rejected", 1), else_=0)).label("rejected"),
        )
        .group_by(PolicyReportRow.submission_id)
        .subquery()
    )
    rows = session.execute(
        f(
            select(
                Submission.id, func.coalesce(Carrier.naic, ""), Submission.file_name,
                Submission.received_at, Submission.state, Submission.error_code,
                Submission.policy_count, Submission.vehicle_count,
                per_sub.c.accepted, per_sub.c.warned, per_sub.c.rejected,
            )
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .outerjoin(per_sub, per_sub.c.sid == Submission.id)
            .order_by(Submission.id)
        )
    ).all()
    return tuple(
        SubmissionRow(
            submission_id=sid, carrier_naic=naic, file_name=_base_name(fname),
            received_at=received, state=str(state), error_code=code or "",
            policies=pol or 0, vehicles=veh or 0,
            accepted=a or 0, warned=w or 0, rejected=r or 0,
        )
        for sid, naic, fname, received, state, code, pol, veh, a, w, r in rows
    )


def _base_name(path: str) -> str:
    # The name the carrier gave the file, not where the operator kept it.
    return path.replace("\\", "/").rsplit("/", 1)[-1]


def ack_rows(session: Session, submission_id: int) -> tuple[AckRow, ...]:
    acks = session.scalars(
        select(Ack).where(Ack.submission_id == submission_id).order_by(Ack.id)
    ).all()
    returns = session.scalars(
        select(ErrorReturn).where(ErrorReturn.submission_id == submission_id)
        .order_by(ErrorReturn.id)
    ).all()
    out = [
        AckRow(kind=str(a.kind), control_number=a.control_number,
               answers_interchange=a.answers_interchange, answers_group=a.answers_group or "",
               created_at=a.created_at)
        for a in acks
    ]
    out += [
        AckRow(kind="error return", control_number=e.control_number,
               answers_interchange=e.answers_interchange, answers_group=e.answers_group,
               created_at=e.created_at)
        for e in returns
    ]
    return tuple(out)


def findings(session: Session, f: Filter, limit: int = 10_000) -> tuple[RecordFinding, ...]:
    codes = (
        select(BusinessErrorRow.policy_report_id, BusinessErrorRow.code)
        .join(PolicyReportRow, PolicyReportRow.id == BusinessErrorRow.policy_report_id)
        .join(Submission, Submission.id == PolicyReportRow.submission_id)
    )
    by_report: dict[int, list[str]] = defaultdict(list)
    for rid, code in session.execute(
        f(codes.where(PolicyReportRow.status != "accepted")).order_by(
            BusinessErrorRow.policy_report_id, BusinessErrorRow.ordinal
        )
    ).all():
        by_report[rid].append(code)
    rows = session.execute(
        f(
            select(
                PolicyReportRow.id, PolicyReportRow.policy_number,
                PolicyReportRow.transaction_type, PolicyReportRow.status,
                PolicyReportRow.transaction_set, PolicyReportRow.policy_position,
            )
            .join(Submission, Submission.id == PolicyReportRow.submission_id)
            .where(PolicyReportRow.status != "accepted")
            .order_by(PolicyReportRow.id)
            .limit(limit)
        )
    ).all()
    return tuple(
        RecordFinding(
            policy_number=pn or "", transaction_type=tt or "", status=status,
            codes=" ".join(by_report.get(rid, [])), transaction_set=ts, policy_position=pos,
        )
        for rid, pn, tt, status, ts, pos in rows
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

