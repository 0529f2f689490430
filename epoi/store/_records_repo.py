"""Repository functions that write the pipeline's records, each inside a caller's session:
policy reports with their insureds, vehicles and business errors, the vehicles taken up for
matching, error returns; and the counts of all of them.  Reading them back is
``_records_read``.

Writes are batched (one INSERT .. ON CONFLICT DO NOTHING per table per call, executemany)
and keyed on natural keys, so a unit of work written twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
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
from ._repo import _insert, _rowcount, driver_day, insert_rows

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
    rows = record_rows(records, submission_id=submission_id, set_id=set_id, unit_id=unit_id,
                       sqlite=session.get_bind().dialect.name == "sqlite")
    return store_record_rows(session, rows)


@dataclass(frozen=True, slots=True)
class RecordRows:
    """A unit's records as the rows ``store_records`` writes: value tuples in the columns'
    order, dates as the database's driver takes them.  A child row (insured, vehicle,
    business error) starts with the index of its report in ``reports`` where the table has
    the report's id, which only the insert gives.  Built where the records are (a worker
    process of ``epoi run`` builds them beside its records, so that the writing process
    only inserts them)."""

    reports: list[tuple[Any, ...]]
    insureds: list[tuple[Any, ...]]
    vehicles: list[tuple[Any, ...]]
    errors: list[tuple[Any, ...]]

    def with_match_states(self, states: Mapping[tuple[str, int], str]) -> RecordRows:
        """These rows with each vehicle's ``match_state`` as ``states`` gives it by (report
        natural key, vehicle index): inserted with the rows instead of updated after."""
        reports = self.reports
        vehicles = [(*row[:-1], states.get((reports[row[0]][0], row[1])))
                    for row in self.vehicles]
        return RecordRows(reports, self.insureds, vehicles, self.errors)


def record_rows(
    records: Sequence[NormalizedRecord], *, submission_id: int, set_id: int, unit_id: int,
    sqlite: bool,
) -> RecordRows:
    """The rows of ``records`` (``RecordRows``); ``sqlite``: dates as ISO text."""
    # Rows as value tuples in the columns' order: the dicts and the second pass that turned
    # them into tuples cost as much as the inserts (the bulk paths below).
    day = driver_day(sqlite)
    reports: list[tuple[Any, ...]] = []
    insureds: list[tuple[Any, ...]] = []
    vehicles: list[tuple[Any, ...]] = []
    errors: list[tuple[Any, ...]] = []
    for i, rec in enumerate(records):
        report = rec.report
        reports.append(_report_values(report.key.as_string(), rec, submission_id, set_id,
                                      unit_id, day))
        for n, ins in enumerate(report.insureds):
            addr = ins.address
            insureds.append((
                i, n, ins.kind, ins.last_name, ins.first_name, ins.middle_name,
                ins.organisation_name, ins.fein, ins.licence_number, ins.licence_state,
                day(ins.date_of_birth),
                "\n".join(addr.lines) if addr and addr.lines else None,
                addr.city if addr else None, addr.state if addr else None,
                addr.zip if addr else None,
            ))  # fmt: skip
        for n, v in enumerate(report.vehicles):
            vehicles.append((i, n, v.vin, v.model_year, v.make, v.transaction,
                             day(v.transaction_date), None))  # fmt: skip
        for n, e in enumerate(rec.errors):
            errors.append((i, n, e.code, e.severity, e.level, e.message,
                           e.segment_position, e.segment_id, e.element, e.vehicle_index))
    return RecordRows(reports, insureds, vehicles, errors)


def store_record_rows(session: Session, rows: RecordRows) -> dict[str, int]:
    """Insert ``rows`` (one unit's, ``record_rows``); natural key -> report id of the rows
    this unit owns.  A report whose natural key is stored already is skipped whole."""
    if not rows.reports:
        return {}
    keys = [r[0] for r in rows.reports]
    wanted = set(keys)
    if len(wanted) != len(keys):
        raise ValueError("add_records: the same natural key twice in one batch")
    table = PolicyReportRow.__table__
    unit_id = rows.reports[0][3]
    inserted = _bulk_insert(session, table, _REPORT_COLUMNS, ["natural_key"], rows.reports)
    # The ids of the rows this unit owns: new ones, or ones a crashed attempt of the same unit
    # cannot have left (the unit's writes commit together), so unit_id identifies them.  By
    # unit alone (indexed), not with the keys as an IN list of the whole chunk: the same rows.
    ids = {
        key: report_id
        for key, report_id in session.execute(
            select(table.c.natural_key, table.c.id).where(table.c.unit_id == unit_id)
        )
        if key in wanted
    }
    # A child row's report index becomes its report's id; children of reports stored before
    # (not this unit's) are left out with them.
    by_index = [ids.get(k) for k in keys]
    child_key = ["policy_report_id", "ordinal"]
    # Every report of the batch inserted just now: none has children yet, theirs need no ON
    # CONFLICT (PostgreSQL: straight COPY).  Else (the unit written twice in one transaction)
    # they take the idempotent path.
    fresh = inserted == len(keys)
    for model, columns, children in ((InsuredRow, _INSURED_COLUMNS, rows.insureds),
                                     (VehicleRow, _VEHICLE_COLUMNS, rows.vehicles),
                                     (BusinessErrorRow, _ERROR_COLUMNS, rows.errors)):
        owned = [(rid, *row[1:]) for row in children if (rid := by_index[row[0]]) is not None]
        _bulk_insert(session, model.__table__, columns, child_key, owned, fresh=fresh)
    return ids


_REPORT_COLUMNS = (
    "natural_key", "submission_id", "set_id", "unit_id", "test", "status", "carrier_naic",
    "insurer_name", "jurisdiction", "policy_number", "transaction_type", "policy_type",
    "effective_date", "expiration_date", "cancellation_date", "file", "sender_id",
    "interchange", "group_control_number", "transaction_set", "policy_position",
    "submission_ref", "report_date", "schema_version",
)
_INSURED_COLUMNS = (
    "policy_report_id", "ordinal", "kind", "last_name", "first_name", "middle_name",
    "organisation_name", "fein", "licence_number", "licence_state", "date_of_birth",
    "address_lines", "city", "state", "zip",
)
_VEHICLE_COLUMNS = (
    "policy_report_id", "ordinal", "vin", "model_year", "make", "transaction",
    "transaction_date", "match_state",
)
_ERROR_COLUMNS = (
    "policy_report_id", "ordinal", "code", "severity", "level", "message",
    "segment_position", "segment_id", "element", "vehicle_index",
)


def _bulk_insert(
    session: Session,
    table: Any,
    columns: Sequence[str],
    conflict: list[str],
    rows: list[tuple[Any, ...]],
    *,
    fresh: bool = False,
) -> int | None:
    """INSERT .. ON CONFLICT DO NOTHING of many rows (``insert_rows``: value tuples in
    ``columns``' order, dates already as the driver takes them, ``driver_day``); how
    many went in on PostgreSQL, ``None`` on SQLite.  ``fresh``: the rows cannot conflict
    (children of parents just inserted), a plain INSERT will do."""
    return insert_rows(session.connection(), table.name, columns, rows,
                       conflict=None if fresh else conflict)


def _report_values(
    key: str, rec: NormalizedRecord, submission_id: int, set_id: int, unit_id: int,
    day: Callable[[date | None], Any],
) -> tuple[Any, ...]:
    """A ``policy_reports`` row in ``_REPORT_COLUMNS``' order."""
    r = rec.report
    return (
        key, submission_id, set_id, unit_id, r.test, rec.status, r.carrier_naic,
        r.insurer_name, r.jurisdiction, r.policy_number, r.transaction_type, r.policy_type,
        day(r.effective_date), day(r.expiration_date), day(r.cancellation_date), r.file,
        r.sender_id, r.interchange, r.group, r.transaction_set, r.key.policy_position,
        r.submission_ref, day(r.report_date), r.schema_version,
    )  # fmt: skip


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
