"""What was rejected or failed in a run, and why, one line per file, interchange, set or
unit: what ``epoi run`` and ``epoi reprocess`` print under their counts (issue 11 §2).

Only codes, control numbers, sender IDs and the stored error texts (which never quote an
element value) go into these lines: no personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..intake import ta1_reason
from ..parsers import TA1_TEXT
from ..store import (
    BusinessErrorRow,
    Carrier,
    FunctionalGroup,
    Interchange,
    PolicyReportRow,
    Submission,
    TransactionSet,
    UnitState,
    WorkUnit,
)
from ..transforms import CATALOGUE

__all__ = ["Problem", "problems_of"]

# The business-edit codes named on a submission's line of rejected records, most frequent
# first: enough to see the cause (an E001 on every record is a carrier profile's NAIC).
_TOP_CODES = 3

# X12 718, the AK5 codes: why a transaction set was rejected.
AK5_TEXT = {
    "1": "transaction set not supported",
    "2": "transaction set trailer missing",
    "3": "control number in header and trailer do not match",
    "4": "number of included segments does not match actual count",
    "5": "one or more segments in error",
    "6": "missing or invalid transaction set identifier",
    "7": "missing or invalid transaction set control number",
    "23": "control number not unique within the functional group",
}


@dataclass(frozen=True, slots=True)
class Problem:
    submission_id: int
    file: str
    code: str  # FILE-EMPTY, "TA1 R 006", "997 R", a unit's error code
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def problems_of(session: Session, submission_ids: Sequence[int]) -> list[Problem]:
    """In submission order: the file's error, then its rejected interchanges, rejected sets,
    rejected records (by business-edit code) and failed units."""
    out: list[Problem] = []
    naics = {(c.isa_qualifier, c.isa_id): c.naic for c in session.scalars(select(Carrier))}
    subs = list(session.scalars(
        select(Submission).where(Submission.id.in_(submission_ids)).order_by(Submission.id)
    ))
    for sub in subs:
        def add(code: str, reason: str) -> None:
            out.append(Problem(sub.id, sub.file_name, code, reason))  # noqa: B023

        if sub.error_code:
            add(sub.error_code, sub.error_message or "")
        for ic in session.scalars(
            select(Interchange).where(Interchange.submission_id == sub.id,
                                      Interchange.ta1_ack_code == "R").order_by(Interchange.id)
        ):  # fmt: skip
            note = ic.ta1_note_code
            reason = ta1_reason(
                note, ic.sender_qualifier, ic.sender_id, ic.control_number,
                named=sub.carrier_id is not None,
                naic=naics.get((ic.sender_qualifier, ic.sender_id)),
            ) or f"interchange {ic.control_number}: {TA1_TEXT.get(note, 'rejected')}"
            add(f"TA1 R {note}", reason)
        for ts, gs06 in session.execute(
            select(TransactionSet, FunctionalGroup.control_number)
            .join(FunctionalGroup, TransactionSet.group_id == FunctionalGroup.id)
            .where(TransactionSet.submission_id == sub.id, TransactionSet.ack_code == "R")
            .order_by(TransactionSet.id)
        ):
            ak5_codes = ts.error_codes.split()
            why = "; ".join(
                f"AK5 {c} {AK5_TEXT.get(c, '')}".rstrip() for c in ak5_codes
            ) or "rejected"
            add("997 R", f"set {ts.control_number} of group {gs06}: {why} (the 997 says "
                         f"where: epoi acks {sub.id})")
        records, codes = _rejected_records(session, sub.id)
        if records:
            top = ", ".join(f"{code} x{n} ({CATALOGUE[code].rule if code in CATALOGUE else code})"
                            for code, n in codes[:_TOP_CODES])  # fmt: skip
            more = f", {len(codes) - _TOP_CODES} other code(s)" if len(codes) > _TOP_CODES else ""
            add("RECORDS-REJECTED", f"{records} record(s) rejected by business edits: {top}"
                f"{more}; the error-return 811 lists them (epoi acks {sub.id})")
        for unit in session.scalars(
            select(WorkUnit).where(WorkUnit.submission_id == sub.id,
                                   WorkUnit.state == UnitState.FAILED).order_by(WorkUnit.id)
        ):  # fmt: skip
            add(unit.error_code or "UNIT-FAILED",
                f"{unit.kind} unit {unit.key} failed after {unit.attempts} attempt(s) "
                "(epoi dead list; epoi reprocess once the cause is fixed)")
    return out


def _rejected_records(session: Session, submission_id: int) -> tuple[int, list[tuple[str, int]]]:
    """How many records of the submission were rejected, and (code, count) of the errors
    (not warnings) on them, most frequent first."""
    p, e = PolicyReportRow, BusinessErrorRow
    records = session.scalar(select(func.count()).select_from(p).where(
        p.submission_id == submission_id, p.status == "rejected")) or 0
    if not records:
        return 0, []
    n = func.count()
    rows = session.execute(
        select(e.code, n).join(p, e.policy_report_id == p.id)
        .where(p.submission_id == submission_id, p.status == "rejected", e.severity == "error")
        .group_by(e.code).order_by(n.desc(), e.code)
    )
    return records, [(code, count) for code, count in rows]
