"""Query functions: fill the report models from the store.

Every figure is a SQL aggregate (``GROUP BY`` in the database, a handful of rows back), never
a Python loop over policy reports or vehicles.  Every query goes through one ``_Filter``: the
carrier scope (``epoi._access.CarrierScope``, applied on ``submissions.carrier_id``), the
period (on the submission's receipt) and, for the submission report, one submission.

Production figures leave out test interchanges (ISA15 ``T``): they are validated and
acknowledged but never production data.  The submission report shows a test submission's
own records all the same.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session, aliased

from .._access import CarrierScope, scoped_submission
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
from ..transforms import CATALOGUE
from ._mask import mask_date_of_birth, mask_fein, mask_licence, mask_name
from ._model import (
    AckRow,
    AgeingBucket,
    CarrierReport,
    ClearanceCount,
    DayVolume,
    ErrorCount,
    LagBucket,
    LateCount,
    MatchStepCount,
    OutcomeCount,
    RecordFinding,
    SubmissionReport,
    SubmissionRow,
    SummaryReport,
    TimelinessReport,
    UnmatchedReport,
    UnmatchedVehicle,
)

T = TypeVar("T", bound=tuple[Any, ...])

# Transaction types E301 holds to the change window (the rest to the new-coverage window);
# the same split as the default edit profile (transforms._profile).
CHANGE_TYPES = ("CHG", "XLC")
STEP_NAMES = {1: "VIN exact", 2: "near VIN", 3: "licence or FEIN", 4: "name and date of birth"}
AGE_BUCKETS = ((0, 7, "0-7 days"), (8, 14, "8-14 days"), (15, 30, "15-30 days"),
               (31, 60, "31-60 days"), (61, None, "over 60 days"))
SET_OUTCOMES = {"A": "accepted", "E": "accepted with errors", "R": "rejected",
                "M": "rejected (MAC)", "W": "rejected (assurance)", "X": "rejected (content)"}
UNMATCHED_ROW_LIMIT = 10_000


@dataclass(frozen=True)
class ReportOptions:
    scope: CarrierScope = field(default_factory=CarrierScope.everything)
    start: date | None = None  # receipt day, inclusive
    end: date | None = None  # receipt day, inclusive
    as_of: date | None = None  # "today" for ageing; default: the clock's day
    masked: bool = True
    pending_window_days: int = 30
    clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)


class _Filter:
    """The WHERE clauses every query shares; statements must select from or join
    ``submissions``."""

    def __init__(self, opts: ReportOptions, submission_id: int | None = None) -> None:
        self.opts = opts
        self.submission_id = submission_id

    def __call__(self, stmt: Select[T]) -> Select[T]:
        stmt = self.opts.scope.submissions(stmt)
        if self.opts.start is not None:
            stmt = stmt.where(Submission.received_at >= _midnight(self.opts.start))
        if self.opts.end is not None:
            stmt = stmt.where(Submission.received_at < _midnight(self.opts.end + timedelta(days=1)))
        if self.submission_id is not None:
            stmt = stmt.where(Submission.id == self.submission_id)
        return stmt

    def records(self, stmt: Select[T]) -> Select[T]:
        """Over ``policy_reports`` joined to ``submissions``: production records only,
        except in a one-submission report."""
        stmt = self(stmt)
        if self.submission_id is None:
            stmt = stmt.where(PolicyReportRow.test.is_(False))
        return stmt


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=timezone.utc)


# -- dialect helpers ---------------------------------------------------------------------


def _day(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(func.timezone("UTC", column), sa.Date)
    return func.date(column)


def _days_between(session: Session, later: Any, earlier: Any) -> Any:
    """Whole days from ``earlier`` to ``later`` (both days)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(sa.cast(later, sa.Date) - sa.cast(earlier, sa.Date), sa.Integer)
    return sa.cast(func.julianday(later) - func.julianday(earlier), sa.Integer)


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def _records_from() -> Select[Any]:
    return select().select_from(PolicyReportRow).join(
        Submission, Submission.id == PolicyReportRow.submission_id
    )


def _match_tables(session: Session) -> tuple[sa.Table, sa.Table] | None:
    """The matching stage's ``match_results`` and ``match_reports``, if matching has
    created them in this database."""
    try:
        from ..store._registrations import match_reports, match_results
    except ImportError:
        return None
    names = set(sa.inspect(session.get_bind()).get_table_names())
    if {"match_results", "match_reports"} <= names:
        return match_results, match_reports
    return None


# -- sections ------------------------------------------------------------------------------


def volumes(session: Session, f: _Filter) -> tuple[DayVolume, ...]:
    day = _day(session, Submission.received_at).label("day")
    subs = dict(
        session.execute(f(select(day, func.count(Submission.id)).group_by(day))).all()
    )
    st = PolicyReportRow.status
    records = {
        r.day: r
        for r in session.execute(
            f.records(
                _records_from().add_columns(
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
                _records_from()
                .join(VehicleRow, VehicleRow.policy_report_id == PolicyReportRow.id)
                .add_columns(day, func.count(VehicleRow.id))
            ).group_by(day)
        ).all()
    )
    out = []
    for d in sorted(set(subs) | set(records), key=_as_date):
        r = records.get(d)
        out.append(
            DayVolume(
                day=_as_date(d),
                submissions=subs.get(d, 0),
                policies=r.policies if r else 0,
                vehicles=vehicles.get(d, 0),
                accepted=(r.accepted or 0) if r else 0,
                warned=(r.warned or 0) if r else 0,
                rejected=(r.rejected or 0) if r else 0,
            )
        )
    return tuple(out)


def outcomes(session: Session, f: _Filter) -> tuple[OutcomeCount, ...]:
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
                _records_from().add_columns(PolicyReportRow.status, func.count(PolicyReportRow.id))
            ).group_by(PolicyReportRow.status)
        ).all()
    )
    out += [
        OutcomeCount(level="record", outcome=s, count=recs.get(s, 0))
        for s in ("accepted", "warned", "rejected")
    ]
    return tuple(out)


def errors(session: Session, f: _Filter) -> tuple[ErrorCount, ...]:
    """Business edits (E-codes) by code, then the X12 codes of TA1 notes and 997 AK5/AK9."""
    rows = session.execute(
        f.records(
            _records_from()
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


def match_steps(session: Session, f: _Filter) -> tuple[MatchStepCount, ...]:
    tables = _match_tables(session)
    if tables is None:
        return ()
    results, _ = tables
    rows = session.execute(
        f.records(
            _records_from()
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
        MatchStepCount(outcome=o, vehicles=counts.get(o, 0), share=_pct(counts.get(o, 0), total))
        for o in order
    )


def _open_matches(session: Session, f: _Filter, opts: ReportOptions) -> tuple[Any, ...] | None:
    """Columns for the vehicles without a match: the state as of ``as_of`` (a pending
    vehicle past its window counts as unmatched, as ``settle_pending`` decides) and its age
    since it was first tried."""
    tables = _match_tables(session)
    if tables is None:
        return None
    results, reports = tables
    as_of = sa.literal(_as_of(opts), sa.Date)
    age = _days_between(session, as_of, reports.c.first_tried)
    state = case(
        (sa.and_(results.c.state == "pending", age > opts.pending_window_days), "unmatched"),
        else_=results.c.state,
    )
    return results, reports, age, state


def _as_of(opts: ReportOptions) -> date:
    return opts.as_of or opts.clock().date()


def ageing(session: Session, f: _Filter, opts: ReportOptions) -> tuple[AgeingBucket, ...]:
    parts = _open_matches(session, f, opts)
    if parts is None:
        return ()
    results, reports, age, state = parts
    bucket = case(
        *[(age <= hi, label) for lo, hi, label in AGE_BUCKETS if hi is not None],
        else_=AGE_BUCKETS[-1][2],
    ).label("bucket")
    rows = session.execute(
        f.records(
            _records_from()
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


def late(session: Session, f: _Filter) -> tuple[LateCount, ...]:
    """E301 per carrier (the submitting carrier's profile; a record of an unknown sender
    under the NAIC it claims)."""
    e301 = (
        select(BusinessErrorRow.policy_report_id)
        .where(BusinessErrorRow.code == "E301")
        .distinct()
        .subquery()
    )
    naic = func.coalesce(Carrier.naic, PolicyReportRow.carrier_naic, "").label("naic")
    name = func.coalesce(Carrier.name, PolicyReportRow.insurer_name, "").label("name")
    is_late = e301.c.policy_report_id.is_not(None)
    is_change = PolicyReportRow.transaction_type.in_(CHANGE_TYPES)
    rows = session.execute(
        f.records(
            _records_from()
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .outerjoin(e301, e301.c.policy_report_id == PolicyReportRow.id)
            .add_columns(
                naic,
                func.max(name),
                func.count(PolicyReportRow.id),
                func.sum(case((sa.and_(is_late, sa.not_(is_change)), 1), else_=0)),
                func.sum(case((sa.and_(is_late, is_change), 1), else_=0)),
            )
        ).group_by(naic)
    ).all()
    return tuple(
        LateCount(
            carrier_naic=n, carrier_name=nm or "", policies=p,
            new_coverage_late=new or 0, changes_late=chg or 0,
            late_share=_pct((new or 0) + (chg or 0), p),
        )
        for n, nm, p, new, chg in sorted(rows)
    )


def lags(session: Session, f: _Filter) -> tuple[LagBucket, ...]:
    e301 = (
        select(BusinessErrorRow.policy_report_id)
        .where(BusinessErrorRow.code == "E301")
        .distinct()
        .subquery()
    )
    took_effect = case(
        (PolicyReportRow.transaction_type == "XLC", PolicyReportRow.cancellation_date),
        else_=PolicyReportRow.effective_date,
    )
    lag = _days_between(session, _day(session, Submission.received_at), took_effect)
    naic = func.coalesce(Carrier.naic, PolicyReportRow.carrier_naic, "").label("naic")
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
            _records_from()
            .outerjoin(Carrier, Carrier.id == Submission.carrier_id)
            .outerjoin(e301, e301.c.policy_report_id == PolicyReportRow.id)
            .add_columns(
                naic, ttype, func.count(PolicyReportRow.id),
                between(None, 30), between(31, 45), between(46, 90), between(91, None),
                func.count(e301.c.policy_report_id), func.max(lag),
            )
        ).group_by(naic, ttype)
    ).all()
    return tuple(
        LagBucket(
            carrier_naic=n, transaction_type=t, reports=total,
            days_0_30=a or 0, days_31_45=b or 0, days_46_90=c or 0, days_over_90=d or 0,
            late=lt, late_share=_pct(lt, total), max_lag_days=mx,
        )
        for n, t, total, a, b, c, d, lt, mx in sorted(rows)
    )


def submission_rows(session: Session, f: _Filter) -> tuple[SubmissionRow, ...]:
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


def findings(session: Session, f: _Filter, limit: int = 10_000) -> tuple[RecordFinding, ...]:
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
    session: Session, f: _Filter, opts: ReportOptions
) -> tuple[tuple[UnmatchedVehicle, ...], int]:
    """The vehicles without a match (oldest first), at most ``UNMATCHED_ROW_LIMIT``, and
    how many more there are.  Personal data is masked unless ``opts.masked`` is off."""
    parts = _open_matches(session, f, opts)
    if parts is None:
        return (), 0
    results, reports, age, state = parts
    first = aliased(InsuredRow)
    base = f.records(
        _records_from()
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


# -- the reports ---------------------------------------------------------------------------

_NO_CLEARANCE = (
    "Renewal clearance outcomes are not stored (`epoi renewals clear` answers them on "
    "demand), so this report has none."
)
_NO_MATCHING = "Matching has not run on this database: no match or ageing figures."


def _common_notes(session: Session) -> list[str]:
    return [] if _match_tables(session) is not None else [_NO_MATCHING]


def summary_report(session: Session, opts: ReportOptions) -> SummaryReport:
    f = _Filter(opts)
    return SummaryReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=(*_common_notes(session), _NO_CLEARANCE),
        volumes=volumes(session, f), outcomes=outcomes(session, f), errors=errors(session, f),
        match_steps=match_steps(session, f), ageing=ageing(session, f, opts),
        clearance=None, late=late(session, f),
    )


def submission_report(session: Session, opts: ReportOptions, submission_id: int) -> SubmissionReport:
    scoped_submission(session, opts.scope, submission_id)  # not found / not yours: exit 2
    f = _Filter(ReportOptions(scope=opts.scope, masked=opts.masked, clock=opts.clock,
                              as_of=opts.as_of), submission_id)
    return SubmissionReport(
        generated_at=opts.clock(), masked=opts.masked, notes=tuple(_common_notes(session)),
        submission_id=submission_id, submission=submission_rows(session, f),
        acks=ack_rows(session, submission_id), outcomes=outcomes(session, f),
        errors=errors(session, f), match_steps=match_steps(session, f),
        findings=findings(session, f),
    )


def carrier_report(session: Session, opts: ReportOptions, naic: str) -> CarrierReport:
    """One carrier's report.  Under a carrier scope only the scope's own NAIC is known;
    any other is "no carrier", like one that is not registered."""
    scope = opts.scope
    if scope.is_carrier and scope.naic != naic:
        raise _not_found_carrier(naic)
    if not scope.is_carrier:
        scope = CarrierScope.for_naic(session, naic)
    scoped = ReportOptions(
        scope=scope, start=opts.start, end=opts.end, as_of=opts.as_of, masked=opts.masked,
        pending_window_days=opts.pending_window_days, clock=opts.clock,
    )
    f = _Filter(scoped)
    return CarrierReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=tuple(_common_notes(session)),
        carrier_naic=scope.naic or naic, carrier_name=scope.name or "",
        submissions=submission_rows(session, f), volumes=volumes(session, f),
        outcomes=outcomes(session, f), errors=errors(session, f),
        match_steps=match_steps(session, f), late=late(session, f),
    )


def _not_found_carrier(naic: str) -> Exception:
    from ..errors import ConfigError

    return ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")


def unmatched_report(session: Session, opts: ReportOptions) -> UnmatchedReport:
    f = _Filter(opts)
    vehicles, more = unmatched_vehicles(session, f, opts)
    notes = _common_notes(session)
    if more:
        notes.append(f"{more} more vehicles without a match are not listed (oldest listed first).")
    return UnmatchedReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, notes=tuple(notes), carrier_naic=opts.scope.naic,
        ageing=ageing(session, f, opts), vehicles=vehicles, truncated=more,
    )


def timeliness_report(session: Session, opts: ReportOptions) -> TimelinessReport:
    f = _Filter(opts)
    return TimelinessReport(
        generated_at=opts.clock(), period_from=opts.start, period_to=opts.end,
        masked=opts.masked, carrier_naic=opts.scope.naic,
        late=late(session, f), lags=lags(session, f),
    )


__all__ = [
    "ClearanceCount",
    "ReportOptions",
    "carrier_report",
    "submission_report",
    "summary_report",
    "timeliness_report",
    "unmatched_report",
]
