"""Per-submission rows: the submissions in scope with their record counts, the
acknowledgements and error returns written for one submission, and the records not
accepted with their codes."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from ..store import Ack, BusinessErrorRow, Carrier, ErrorReturn, PolicyReportRow, Submission
from ._filter import Filter
from ._model import AckRow, RecordFinding, SubmissionRow


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
