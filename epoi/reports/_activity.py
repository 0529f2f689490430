"""What came in and what became of it: submissions, policy reports and vehicles per day,
outcomes per level (file, transaction set, record) and the errors found, by code.

Like every section, SQL aggregates over the store (``GROUP BY`` in the database, a handful of
rows back) through the report's ``Filter``, never a Python loop over the records.
Production figures leave out test interchanges (ISA15 ``T``): they are validated and
acknowledged but never production data.  A one-submission report shows a test submission's
own records all the same.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..store import (
    BusinessErrorRow,
    Interchange,
    PolicyReportRow,
    Submission,
    TransactionSet,
    VehicleRow,
)
from ..transforms import CATALOGUE
from ._filter import Filter, as_date, day_of, records_from
from ._model import DayVolume, ErrorCount, OutcomeCount

SET_OUTCOMES = {"A": "accepted", "E": "accepted with errors", "R": "rejected",
                "M": "rejected (MAC)", "W": "rejected (assurance)", "X": "rejected (content)"}


def volumes(session: Session, f: Filter) -> tuple[DayVolume, ...]:
    day = day_of(session, Submission.received_at).label("day")
    subs: dict[date | str, int] = dict(  # a date on PostgreSQL, text on SQLite
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
    vehicles: dict[date | str, int] = dict(
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
    recs: dict[str, int] = dict(
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
