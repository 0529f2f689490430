"""Repository functions of the pipeline's tables, each inside a caller's session.

Writes are batched (one INSERT .. ON CONFLICT DO NOTHING per table per call, executemany)
and keyed on natural keys, so a unit of work written twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Date, func, select, update
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
    FunctionalGroup,
    InsuredRow,
    PolicyReportRow,
    TransactionSet,
    UnitKind,
    UnitState,
    VehicleRow,
    WorkUnit,
)
from ._repo import _insert

# -- units of work ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class UnitRecord:
    key: str
    kind: UnitKind
    submission_id: int
    set_id: int | None = None
    policies: int = 0
    payload: str | None = None


def add_units(session: Session, units: Sequence[UnitRecord], *, now: datetime) -> None:
    """Record units as queued; a unit whose key exists already is left as it is."""
    rows = [
        {
            "key": u.key,
            "kind": u.kind,
            "submission_id": u.submission_id,
            "set_id": u.set_id,
            "state": UnitState.QUEUED,
            "attempts": 0,
            "policies": u.policies,
            "payload": u.payload,
            "created_at": now,
            "updated_at": now,
        }
        for u in units
    ]
    if rows:
        session.execute(
            _insert(session, WorkUnit.__table__).on_conflict_do_nothing(index_elements=["key"]),
            rows,
        )


def unit_by_key(session: Session, key: str, *, lock: bool = False) -> WorkUnit | None:
    """The unit; ``lock`` takes its row lock (PostgreSQL) so that two workers handed the same
    unit do it one after the other, the second finding it done."""
    stmt = select(WorkUnit).where(WorkUnit.key == key)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one_or_none()


def finish_unit(session: Session, unit_id: int, *, now: datetime) -> None:
    """Mark a unit done and drop its payload (the archive keeps the bytes)."""
    session.execute(
        update(WorkUnit)
        .where(WorkUnit.id == unit_id)
        .values(state=UnitState.DONE, payload=None, error_code=None, updated_at=now)
    )


def note_unit_failure(
    session: Session, key: str, *, code: str, final: bool, now: datetime
) -> None:
    """Count a failed attempt; ``final`` (retries spent, or a permanent error) marks it
    failed, which ``epoi run`` does not re-queue (``epoi dead replay`` does)."""
    values: dict[str, Any] = {
        "attempts": WorkUnit.attempts + 1,
        "error_code": code[:32],
        "updated_at": now,
    }
    if final:
        values["state"] = UnitState.FAILED
    session.execute(
        update(WorkUnit)
        .where(WorkUnit.key == key, WorkUnit.state != UnitState.DONE)
        .values(**values)
    )


def reopen_units(session: Session, keys: Sequence[str], *, now: datetime) -> None:
    """Failed units an operator replays become queued again (their attempts are kept)."""
    if keys:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.key.in_(list(keys)), WorkUnit.state == UnitState.FAILED)
            .values(state=UnitState.QUEUED, updated_at=now)
        )


def refresh_payloads(session: Session, units: Sequence[UnitRecord], *, now: datetime) -> None:
    """A reprocess read the units' chunks from the archive again: the units not done yet
    take those payloads (a done unit keeps none: its records are stored)."""
    for u in units:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.key == u.key, WorkUnit.state != UnitState.DONE)
            .values(payload=u.payload, policies=u.policies, updated_at=now)
        )


def requeue_submission(
    session: Session, submission_id: int, parse_key: str, *, now: datetime
) -> int:
    """``epoi reprocess``: the submission's parse unit and its failed units become queued
    again (done ones stay done: their work is stored); returns how many were re-queued."""
    parse = session.execute(
        update(WorkUnit)
        .where(WorkUnit.key == parse_key, WorkUnit.state != UnitState.QUEUED)
        .values(state=UnitState.QUEUED, updated_at=now)
    )
    failed = session.execute(
        update(WorkUnit)
        .where(WorkUnit.submission_id == submission_id, WorkUnit.state == UnitState.FAILED)
        .values(state=UnitState.QUEUED, updated_at=now)
    )
    return (parse.rowcount or 0) + (failed.rowcount or 0)


def queued_units(session: Session) -> list[tuple[str, UnitKind]]:
    """(key, kind) of every unit still queued, oldest first: what a run re-queues."""
    stmt = (
        select(WorkUnit.key, WorkUnit.kind)
        .where(WorkUnit.state == UnitState.QUEUED)
        .order_by(WorkUnit.id)
    )
    return [(k, kind) for k, kind in session.execute(stmt)]


def units_left(session: Session, submission_id: int, kind: UnitKind) -> int:
    stmt = select(func.count()).select_from(WorkUnit).where(
        WorkUnit.submission_id == submission_id,
        WorkUnit.kind == kind,
        WorkUnit.state != UnitState.DONE,
    )
    return session.scalar(stmt) or 0


def unit_counts(session: Session, submission_id: int | None = None) -> dict[str, dict[str, int]]:
    """{kind: {state: count}}"""
    stmt = select(WorkUnit.kind, WorkUnit.state, func.count()).group_by(
        WorkUnit.kind, WorkUnit.state
    )
    if submission_id is not None:
        stmt = stmt.where(WorkUnit.submission_id == submission_id)
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in session.execute(stmt):
        out.setdefault(str(kind), {})[str(state)] = n
    return out


# -- groups and sets -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GroupRecord:
    key: str
    interchange_id: int
    control_number: str
    sender_application: str
    ack_code: str
    error_codes: str


@dataclass(frozen=True, slots=True)
class SetRecord:
    key: str
    group_key: str
    control_number: str
    ack_code: str
    error_codes: str
    test: bool
    delimiters: str


def record_groups_and_sets(
    session: Session,
    submission_id: int,
    groups: Sequence[GroupRecord],
    sets: Sequence[SetRecord],
) -> dict[str, int]:
    """Record the groups and sets of a submission; returns set key -> set id."""
    if groups:
        session.execute(
            _insert(session, FunctionalGroup.__table__).on_conflict_do_nothing(
                index_elements=["key"]
            ),
            [{"submission_id": submission_id, **_fields(g)} for g in groups],
        )
    group_ids = _pairs(
        session.execute(
            select(FunctionalGroup.key, FunctionalGroup.id).where(
                FunctionalGroup.submission_id == submission_id
            )
        )
    )
    if sets:
        rows = []
        for s in sets:
            fields = _fields(s)
            fields.pop("group_key")
            rows.append(
                {
                    "submission_id": submission_id,
                    "group_id": group_ids[s.group_key],
                    "policies": 0,
                    "chunks_total": 0,
                    "chunks_done": 0,
                    "submission_ref": "",
                    "insurer_name": "",
                    "carrier_naic": "",
                    **fields,
                }
            )
        session.execute(
            _insert(session, TransactionSet.__table__).on_conflict_do_nothing(
                index_elements=["key"]
            ),
            rows,
        )
    return _pairs(
        session.execute(
            select(TransactionSet.key, TransactionSet.id).where(
                TransactionSet.submission_id == submission_id
            )
        )
    )


def _pairs(result: Any) -> dict[Any, Any]:
    # dict(result) would take a Result for a mapping (it has .keys()): iterate its rows.
    return {k: v for k, v in result}


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def update_set(session: Session, set_id: int, **values: Any) -> None:
    session.execute(update(TransactionSet).where(TransactionSet.id == set_id).values(**values))


def count_chunk_done(session: Session, set_id: int) -> tuple[int, int]:
    """Count one more normalize unit of the set done; returns (done, total).  The UPDATE takes
    the set's row lock (the database's write lock on SQLite), so exactly one unit sees
    ``done == total``: the one that writes the set's error return."""
    table = TransactionSet.__table__
    stmt = (
        update(table)
        .where(table.c.id == set_id)
        .values(chunks_done=table.c.chunks_done + 1)
        .returning(table.c.chunks_done, table.c.chunks_total)
    )
    done, total = session.execute(stmt).one()
    return done, total


def set_by_id(session: Session, set_id: int) -> TransactionSet:
    return session.get_one(TransactionSet, set_id)


def group_by_id(session: Session, group_id: int) -> FunctionalGroup:
    return session.get_one(FunctionalGroup, group_id)


def sets_of(session: Session, submission_id: int) -> list[TransactionSet]:
    stmt = (
        select(TransactionSet)
        .where(TransactionSet.submission_id == submission_id)
        .order_by(TransactionSet.id)
    )
    return list(session.scalars(stmt))


# -- policy reports --------------------------------------------------------------------------


def add_records(
    session: Session,
    records: Sequence[NormalizedRecord],
    *,
    submission_id: int,
    set_id: int,
    unit_id: int,
) -> int:
    """Store normalised records with their insureds, vehicles and errors; returns how many
    reports were new.  A report whose natural key is stored already is skipped whole."""
    return len(store_records(session, records, submission_id=submission_id, set_id=set_id,
                             unit_id=unit_id))


def store_records(
    session: Session,
    records: Sequence[NormalizedRecord],
    *,
    submission_id: int,
    set_id: int,
    unit_id: int,
) -> dict[str, int]:
    """``add_records``, returning natural key -> report id of the rows this unit owns: what
    the next stage needs to go on from the records in hand without reading them back."""
    if not records:
        return {}
    by_key = {r.report.key.as_string(): r for r in records}
    if len(by_key) != len(records):
        raise ValueError("add_records: the same natural key twice in one batch")
    table = PolicyReportRow.__table__
    _bulk_insert(session, table, ["natural_key"],
                 [_report_row(k, r, submission_id, set_id, unit_id) for k, r in by_key.items()])
    # The ids of the rows this unit owns: new ones, or ones a crashed attempt of the same unit
    # cannot have left (the unit's writes commit together), so unit_id identifies them.
    ids = _pairs(
        session.execute(
            select(table.c.natural_key, table.c.id).where(
                table.c.unit_id == unit_id, table.c.natural_key.in_(list(by_key))
            )
        )
    )
    insureds: list[dict[str, Any]] = []
    vehicles: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for key, report_id in ids.items():
        rec = by_key[key]
        for n, ins in enumerate(rec.report.insureds):
            addr = ins.address
            insureds.append(
                {
                    "policy_report_id": report_id,
                    "ordinal": n,
                    "kind": ins.kind,
                    "last_name": ins.last_name,
                    "first_name": ins.first_name,
                    "middle_name": ins.middle_name,
                    "organisation_name": ins.organisation_name,
                    "fein": ins.fein,
                    "licence_number": ins.licence_number,
                    "licence_state": ins.licence_state,
                    "date_of_birth": ins.date_of_birth,
                    "address_lines": "\n".join(addr.lines) if addr and addr.lines else None,
                    "city": addr.city if addr else None,
                    "state": addr.state if addr else None,
                    "zip": addr.zip if addr else None,
                }
            )
        for n, v in enumerate(rec.report.vehicles):
            vehicles.append(
                {
                    "policy_report_id": report_id,
                    "ordinal": n,
                    "vin": v.vin,
                    "model_year": v.model_year,
                    "make": v.make,
                    "transaction": v.transaction,
                    "transaction_date": v.transaction_date,
                    "match_state": None,
                }
            )
        for n, e in enumerate(rec.errors):
            errors.append(
                {
                    "policy_report_id": report_id,
                    "ordinal": n,
                    "code": e.code,
                    "severity": e.severity,
                    "level": e.level,
                    "message": e.message,
                    "segment_position": e.segment_position,
                    "segment_id": e.segment_id,
                    "element": e.element,
                    "vehicle_index": e.vehicle_index,
                }
            )
    for model, rows in ((InsuredRow, insureds), (VehicleRow, vehicles), (BusinessErrorRow, errors)):
        _bulk_insert(session, model.__table__, ["policy_report_id", "ordinal"], rows)
    return ids


def _bulk_insert(
    session: Session, table: Any, conflict: list[str], rows: list[dict[str, Any]]
) -> None:
    """INSERT .. ON CONFLICT DO NOTHING of many rows (all with the same keys).

    On SQLite through the driver's ``executemany``: SQLAlchemy's per-row parameter
    processing cost more than the statement itself (the match stage's ``_Raw`` found the
    same); dates go in as ISO text, as SQLAlchemy's ``Date`` writes them there.  On
    PostgreSQL through Core, whose "insertmanyvalues" batches the rows into few statements."""
    if not rows:
        return
    if session.get_bind().dialect.name != "sqlite":
        stmt = _insert(session, table).on_conflict_do_nothing(index_elements=conflict)
        session.execute(stmt, rows)
        return
    columns = list(rows[0])
    dated = [i for i, c in enumerate(columns) if isinstance(table.c[c].type, Date)]
    values: list[list[Any]] = []
    for r in rows:
        row = [r[c] for c in columns]
        for i in dated:
            if row[i] is not None:
                row[i] = row[i].isoformat()
        values.append(row)
    names = ", ".join(f'"{c}"' for c in columns)  # quoted: "transaction" is a keyword
    sql = (f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" * len(columns))}) '
           f"ON CONFLICT ({', '.join(conflict)}) DO NOTHING")
    cursor = session.connection().connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, values)
    finally:
        cursor.close()


def _report_row(
    key: str, rec: NormalizedRecord, submission_id: int, set_id: int, unit_id: int
) -> dict[str, Any]:
    r = rec.report
    return {
        "natural_key": key,
        "submission_id": submission_id,
        "set_id": set_id,
        "unit_id": unit_id,
        "test": r.test,
        "status": rec.status,
        "carrier_naic": r.carrier_naic,
        "insurer_name": r.insurer_name,
        "jurisdiction": r.jurisdiction,
        "policy_number": r.policy_number,
        "transaction_type": r.transaction_type,
        "policy_type": r.policy_type,
        "effective_date": r.effective_date,
        "expiration_date": r.expiration_date,
        "cancellation_date": r.cancellation_date,
        "file": r.file,
        "sender_id": r.sender_id,
        "interchange": r.interchange,
        "group_control_number": r.group,
        "transaction_set": r.transaction_set,
        "policy_position": r.key.policy_position,
        "submission_ref": r.submission_ref,
        "report_date": r.report_date,
        "schema_version": r.schema_version,
    }


@dataclass(frozen=True, slots=True)
class PriorReport:
    """What E110/E111 need to know of a report stored earlier."""

    natural_key: str
    submission_id: int
    set_id: int
    policy_position: int
    carrier_naic: str | None
    policy_number: str | None
    transaction_type: str | None
    effective_date: date | None
    status: str


def prior_reports(
    session: Session, policy_numbers: Iterable[str], *, test: bool
) -> list[PriorReport]:
    """Reports stored for any of these policy numbers, in one query.  Test data answers test
    data only and production production only: a test interchange never changes what a
    production record is told."""
    numbers = sorted(set(policy_numbers))
    if not numbers:
        return []
    t = PolicyReportRow.__table__
    out: list[PriorReport] = []
    for start in range(0, len(numbers), 900):  # well under SQLite's bound-parameter limit
        stmt = select(
            t.c.natural_key, t.c.submission_id, t.c.set_id, t.c.policy_position,
            t.c.carrier_naic, t.c.policy_number, t.c.transaction_type,
            t.c.effective_date, t.c.status,
        ).where(t.c.policy_number.in_(numbers[start : start + 900]), t.c.test == test)
        out.extend(PriorReport(*row) for row in session.execute(stmt))
    return out


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
        key = RecordKey(
            carrier_naic=r.carrier_naic, policy_number=r.policy_number,
            transaction_type=r.transaction_type, effective_date=r.effective_date,
            sender_id=r.sender_id, interchange=r.interchange, group=r.group_control_number,
            transaction_set=r.transaction_set, policy_position=r.policy_position,
        )  # fmt: skip
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


def mark_vehicles_pending(session: Session, report_ids: Sequence[int]) -> int:
    """Take the vehicles of these reports up for matching (state ``pending``)."""
    count = 0
    for start in range(0, len(report_ids), 900):
        result = session.execute(
            update(VehicleRow)
            .where(
                VehicleRow.policy_report_id.in_(report_ids[start : start + 900]),
                VehicleRow.match_state.is_(None),
            )
            .values(match_state="pending")
        )
        count += result.rowcount or 0
    return count


# -- error returns ---------------------------------------------------------------------------


def add_error_return(session: Session, submission_id: int, **values: Any) -> None:
    session.execute(
        _insert(session, ErrorReturn.__table__)
        .values(submission_id=submission_id, **values)
        .on_conflict_do_nothing(index_elements=["set_id"])
    )


def error_returns_of(session: Session, submission_id: int) -> list[ErrorReturn]:
    stmt = (
        select(ErrorReturn).where(ErrorReturn.submission_id == submission_id)
        .order_by(ErrorReturn.id)
    )
    return list(session.scalars(stmt))


# -- counts ----------------------------------------------------------------------------------


def record_counts(session: Session, submission_id: int | None = None) -> dict[str, int]:
    """Policy reports by status, vehicles, business errors and error returns."""
    def scoped(stmt: Any, column: Any) -> Any:
        return stmt if submission_id is None else stmt.where(column == submission_id)

    p = PolicyReportRow
    out = {"accepted": 0, "warned": 0, "rejected": 0}
    for status, n in session.execute(
        scoped(select(p.status, func.count()).group_by(p.status), p.submission_id)
    ):
        out[status] = n
    out["policies"] = out["accepted"] + out["warned"] + out["rejected"]
    out["test_policies"] = session.scalar(
        scoped(select(func.count()).select_from(p).where(p.test.is_(True)), p.submission_id)
    ) or 0
    out["vehicles"] = session.scalar(
        scoped(
            select(func.count()).select_from(VehicleRow)
            .join(p, VehicleRow.policy_report_id == p.id),
            p.submission_id,
        )
    ) or 0
    out["business_errors"] = session.scalar(
        scoped(
            select(func.count()).select_from(BusinessErrorRow)
            .join(p, BusinessErrorRow.policy_report_id == p.id),
            p.submission_id,
        )
    ) or 0
    out["error_returns"] = session.scalar(
        scoped(select(func.count()).select_from(ErrorReturn), ErrorReturn.submission_id)
    ) or 0
    return out
