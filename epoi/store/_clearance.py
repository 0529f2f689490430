"""Renewal clearance runs (``epoi renewals clear``) and their result rows, so that reports
can show how renewals were cleared or held, and why.

- ``clearance_runs``: one row per run, unique on the renewal file's sha256 and the as-of
  day: the same list cleared again for the same day replaces that run (its rows then say
  what the store answers now) instead of counting every renewal twice.
- ``clearance_results``: one row per renewal of a run, unique on (run, plate, VIN, due):
  the vehicle, cleared or held, the hold reason and its date, and the coverage that cleared
  it.  Plates and VINs identify vehicles, not people; no owner data is kept here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    Column,
    Connection,
    Date,
    ForeignKey,
    Integer,
    String,
    Table,
    UniqueConstraint,
    delete,
    insert,
    select,
    update,
)

from ._base import Base, UtcDateTime

metadata = Base.metadata  # migration 0005_reports

clearance_runs = Table(
    "clearance_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("file_sha256", String(64), nullable=False),
    Column("file_name", String(255), nullable=False),
    Column("as_of", Date, nullable=False),
    Column("run_at", UtcDateTime, nullable=False),
    Column("renewals", Integer, nullable=False),
    Column("cleared", Integer, nullable=False),
    Column("held", Integer, nullable=False),
    Column("bad_rows", Integer, nullable=False),
    UniqueConstraint("file_sha256", "as_of"),
)

clearance_results = Table(
    "clearance_results",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", Integer, ForeignKey("clearance_runs.id", ondelete="CASCADE"),
           nullable=False, index=True),
    Column("plate", String(16), nullable=False),  # "" when the renewal gave only a VIN
    Column("vin", String(32), nullable=False),
    Column("due", Date, nullable=False),
    Column("status", String(8), nullable=False),  # cleared | held
    Column("reason", String(32)),  # a HoldReason; NULL when cleared
    Column("reason_date", Date),
    Column("carrier_naic", String(5)),  # the coverage that cleared it
    Column("policy_number", String(50)),
    Column("report_key", String(200)),
    UniqueConstraint("run_id", "plate", "vin", "due"),
)


@dataclass(frozen=True, slots=True)
class ClearanceResult:
    plate: str
    vin: str
    due: date
    status: str
    reason: str | None = None
    reason_date: date | None = None
    carrier_naic: str | None = None
    policy_number: str | None = None
    report_key: str | None = None


def record_clearance_run(conn: Connection, *, file_sha256: str, file_name: str, as_of: date,
                         run_at: datetime, results: Iterable[ClearanceResult],
                         bad_rows: int) -> int:
    """Store one clearance run and its rows inside the caller's transaction; a run of the
    same file for the same day is replaced.  Returns the run's id."""
    rows = {(r.plate, r.vin, r.due): r for r in results}  # a line repeated: stored once
    cleared = sum(r.status == "cleared" for r in rows.values())
    figures = {"file_name": file_name, "run_at": run_at, "renewals": len(rows),
               "cleared": cleared, "held": len(rows) - cleared, "bad_rows": bad_rows}
    run_id = conn.execute(select(clearance_runs.c.id).where(
        clearance_runs.c.file_sha256 == file_sha256, clearance_runs.c.as_of == as_of)
    ).scalar_one_or_none()
    if run_id is None:
        key = conn.execute(insert(clearance_runs).values(
            file_sha256=file_sha256, as_of=as_of, **figures)).inserted_primary_key
        assert key is not None  # a single-row INSERT always reports its key
        run_id = key[0]
    else:
        conn.execute(update(clearance_runs).where(clearance_runs.c.id == run_id)
                     .values(**figures))
        conn.execute(delete(clearance_results).where(clearance_results.c.run_id == run_id))
    if rows:
        conn.execute(insert(clearance_results), [
            {"run_id": run_id, "plate": r.plate, "vin": r.vin, "due": r.due,
             "status": r.status, "reason": r.reason, "reason_date": r.reason_date,
             "carrier_naic": r.carrier_naic, "policy_number": r.policy_number,
             "report_key": r.report_key} for r in rows.values()])
    return int(run_id)


__all__ = ["ClearanceResult", "clearance_results", "clearance_runs", "record_clearance_run"]
