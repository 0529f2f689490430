"""Repository functions that read the pipeline's records back, each inside a caller's
session: what E110/E111 need of the reports stored earlier (``prior_reports``), the stored
reports rebuilt as the transforms made them (``load_records``, ``records_for_return``), a
unit's reports and a submission's error returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import String, any_, bindparam, func, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session

from ..schemas.policy import (
    Address,
    BusinessError,
    Insured,
    NormalizedRecord,
    PolicyReport,
    RecordKey,
    Vehicle,
)
from ._records import (
    BusinessErrorRow,
    ErrorReturn,
    InsuredRow,
    PolicyReportRow,
    VehicleRow,
)


class PriorReport(NamedTuple):
    """What E110/E111 need to know of a report stored earlier (or of an earlier record of
    the same chunk: the pipeline reads the same of each record it answers).  A named tuple:
    the pipeline makes one per record and a worker process hands them over."""

    natural_key: str
    submission_id: int
    set_id: int
    policy_position: int
    carrier_naic: str | None
    policy_number: str | None
    transaction_type: str | None
    effective_date: date | None
    status: str


def record_key_of(row: PolicyReportRow) -> RecordKey:
    """A stored record's natural key, as the normalize stage built it."""
    return RecordKey(
        carrier_naic=row.carrier_naic, policy_number=row.policy_number,
        transaction_type=row.transaction_type, effective_date=row.effective_date,
        sender_id=row.sender_id, interchange=row.interchange, group=row.group_control_number,
        transaction_set=row.transaction_set, policy_position=row.policy_position,
    )  # fmt: skip


def prior_reports(
    session: Session, policies: Iterable[tuple[str | None, str]], *, test: bool
) -> list[PriorReport]:
    """Reports stored for any of these (carrier NAIC, policy number) pairs, in one query per
    NAIC.  Test data answers test data only and production production only: a test
    interchange never changes what a production record is told.

    The query names the NAIC (or NULL) so that it reads the (carrier_naic, policy_number)
    index: by policy number alone it was a scan of every stored report, for every unit."""
    by_naic: dict[str | None, set[str]] = {}
    for naic, number in policies:
        by_naic.setdefault(naic, set()).add(number)
    t = PolicyReportRow.__table__
    # PostgreSQL: the numbers as one array (``= ANY``), so that the statement's text is the
    # same whatever their count and the server plans it once (an IN list of 900 placeholders
    # was parsed and planned anew for every unit: 15 ms a unit, 5 % of a lone worker's
    # drain).  SQLite: lists well under its bound-parameter limit.
    array = session.get_bind().dialect.name == "postgresql"
    out: list[PriorReport] = []
    for naic, wanted in sorted(by_naic.items(), key=lambda kv: kv[0] or ""):
        numbers = sorted(wanted)
        same_naic = t.c.carrier_naic.is_(None) if naic is None else t.c.carrier_naic == naic
        parts = ([numbers] if array
                 else [numbers[start : start + 900] for start in range(0, len(numbers), 900)])
        for part in parts:
            among = (t.c.policy_number == any_(bindparam("numbers", part, type_=ARRAY(String)))
                     if array else t.c.policy_number.in_(part))
            stmt = select(
                t.c.natural_key, t.c.submission_id, t.c.set_id, t.c.policy_position,
                t.c.carrier_naic, t.c.policy_number, t.c.transaction_type,
                t.c.effective_date, t.c.status,
            ).where(same_naic, among, t.c.test == test)
            out.extend(PriorReport(*row) for row in session.execute(stmt))
    return out


# Below this many rows in the planner's view, ``policy_reports`` is taken for new.
_FEW_ROWS = 1000


def plan_prior_reports(session: Session) -> bool:
    """PostgreSQL: ``ANALYZE policy_reports`` when the planner takes it for empty or tiny
    (``pg_class.reltuples`` below ``_FEW_ROWS``; -1: never analysed); True if it did.

    Without column statistics the planner guesses one carrier's share of the reports at a
    fraction of a percent, so ``prior_reports`` read the index by carrier alone and filtered
    every report of the carrier against the unit's policy numbers: on a new deployment a
    fifth of one worker's time, and PostgreSQL's CPU, growing with the table until
    autovacuum's first analyse (a minute or more into an initial load).  Call it once a
    worker has stored its first unit; on SQLite it does nothing."""
    if session.get_bind().dialect.name != "postgresql":
        return False
    rows = session.scalar(
        text("SELECT reltuples FROM pg_class WHERE oid = 'policy_reports'::regclass"))
    if rows is None or rows >= _FEW_ROWS:
        return False
    session.execute(text("ANALYZE policy_reports"))
    return True


def records_for_return(session: Session, set_id: int) -> tuple[list[str], list[NormalizedRecord]]:
    """The set's jurisdictions (in order of appearance) and its rejected or warned records,
    rebuilt with what the error return echoes (never the insureds' personal data)."""
    t = PolicyReportRow
    jurisdictions = [
        j
        for (j,) in session.execute(
            select(t.jurisdiction).where(t.set_id == set_id).group_by(t.jurisdiction)
            .order_by(func.min(t.policy_position))
        )
        if j
    ]
    rows = list(
        session.scalars(
            select(t).where(t.set_id == set_id, t.status != "accepted").order_by(t.policy_position)
        )
    )
    return jurisdictions, load_records(session, rows, insureds=False)


def _children(session: Session, model: Any, ids: Sequence[int]) -> dict[int, list[Any]]:
    out: dict[int, list[Any]] = {}
    for start in range(0, len(ids), 900):  # well under SQLite's bound-parameter limit
        for row in session.scalars(
            select(model).where(model.policy_report_id.in_(ids[start : start + 900]))
            .order_by(model.policy_report_id, model.ordinal)
        ):
            out.setdefault(row.policy_report_id, []).append(row)
    return out


def load_records(
    session: Session, rows: Sequence[PolicyReportRow], *, insureds: bool = True
) -> list[NormalizedRecord]:
    """The stored reports as the transforms made them: report (with its insureds when
    ``insureds``, which matching needs and the error return must not echo), vehicles,
    errors and status.  Three queries per 900 reports."""
    ids = [r.id for r in rows]
    if not ids:
        return []
    vehicles = _children(session, VehicleRow, ids)
    errors = _children(session, BusinessErrorRow, ids)
    people = _children(session, InsuredRow, ids) if insureds else {}
    records = []
    for r in rows:
        key = record_key_of(r)
        report = PolicyReport(
            carrier_naic=r.carrier_naic, insurer_name=r.insurer_name,
            jurisdiction=r.jurisdiction, policy_number=r.policy_number,
            transaction_type=r.transaction_type, policy_type=r.policy_type,
            effective_date=r.effective_date, expiration_date=r.expiration_date,
            cancellation_date=r.cancellation_date,
            insureds=tuple(_insured(i) for i in people.get(r.id, [])),
            vehicles=tuple(
                Vehicle(vin=v.vin, model_year=v.model_year, make=v.make,
                        transaction=v.transaction, transaction_date=v.transaction_date)
                for v in vehicles.get(r.id, [])
            ),
            file=r.file, sender_id=r.sender_id, interchange=r.interchange,
            group=r.group_control_number, transaction_set=r.transaction_set,
            submission_ref=r.submission_ref, report_date=r.report_date, test=r.test, key=key,
        )  # fmt: skip
        errs = tuple(
            BusinessError(
                code=e.code, severity=e.severity, level=e.level, message=e.message,
                segment_position=e.segment_position, segment_id=e.segment_id,
                element=e.element, vehicle_index=e.vehicle_index,
            )  # fmt: skip
            for e in errors.get(r.id, [])
        )
        records.append(NormalizedRecord(report=report, errors=errs, status=r.status))  # type: ignore[arg-type]
    return records


def _insured(i: InsuredRow) -> Insured:
    has_address = i.address_lines or i.city or i.state or i.zip
    return Insured(
        kind=i.kind, last_name=i.last_name, first_name=i.first_name,  # type: ignore[arg-type]
        middle_name=i.middle_name, organisation_name=i.organisation_name, fein=i.fein,
        licence_number=i.licence_number, licence_state=i.licence_state,
        date_of_birth=i.date_of_birth,
        address=Address(
            lines=tuple(i.address_lines.split("\n")) if i.address_lines else (),
            city=i.city, state=i.state, zip=i.zip,
        ) if has_address else None,
    )  # fmt: skip


def reports_of_unit(session: Session, unit_id: int) -> list[PolicyReportRow]:
    stmt = select(PolicyReportRow).where(PolicyReportRow.unit_id == unit_id)
    return list(session.scalars(stmt))


def error_returns_of(session: Session, submission_id: int) -> list[ErrorReturn]:
    stmt = (
        select(ErrorReturn).where(ErrorReturn.submission_id == submission_id)
        .order_by(ErrorReturn.id)
    )
    return list(session.scalars(stmt))

