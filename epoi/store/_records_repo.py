"""Repository functions that write the pipeline's records, each inside a caller's session:
policy reports with their insureds, vehicles and business errors, the vehicles taken up for
matching, error returns; and the counts of all of them.  Reading them back is
``_records_read``.

Writes are batched (one INSERT .. ON CONFLICT DO NOTHING per table per call, executemany)
and keyed on natural keys, so a unit of work written twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..schemas.policy import NormalizedRecord
from ._records import (
    BusinessErrorRow,
    ErrorReturn,
    InsuredRow,
    PolicyReportRow,
    VehicleRow,
)
from ._repo import _insert, _pairs, _rowcount, sqlite_values

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
    values = sqlite_values(table, columns, rows)
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
        count += _rowcount(result)
    return count


# -- error returns ---------------------------------------------------------------------------


def add_error_return(session: Session, submission_id: int, **values: Any) -> None:
    session.execute(
        _insert(session, ErrorReturn.__table__)
        .values(submission_id=submission_id, **values)
        .on_conflict_do_nothing(index_elements=["set_id"])
    )


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
