"""Bulk load of the registration file into the store (``epoi registrations load``).

One pass over the file, in a handful of statements per 50 000 rows, inside one transaction:

1. Rows go into a temporary staging table (``executemany`` on SQLite, ``COPY`` on
   PostgreSQL) together with their name keys; bad rows are collected, never fatal.
2. Within the file the last row for a plate, and for a VIN, wins.
3. Upsert on plate and on VIN: registrations (and their name keys) whose plate or VIN the
   file holds are deleted, then the staged rows inserted with ``id = base + row number``,
   so the name keys go in by a join on the staging table without reading ids back.
4. When the load is big compared with the table (an initial load, a full refresh), the
   secondary indexes are dropped before the inserts and rebuilt after: building an index
   once over sorted keys is several times faster than maintaining it row by row.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, Index
from sqlalchemy.schema import CreateIndex, DropIndex

from ..schemas.registration import Registration, RowError
from ..store._registrations import (
    NAME_KEY_INDEXES,
    REGISTRATION_INDEXES,
)
from ._index import registration_name_keys
from ._sql_index import vin_blocks

BATCH = 50_000
# Drop and rebuild the secondary indexes when the file is at least this share of the table.
REBUILD_SHARE = 0.25

_STAGE_COLUMNS = (
    "n", "plate", "vin", "make", "model_year", "expires", "status", "owner_last",
    "owner_first", "owner_org", "owner_dl", "owner_dl_state", "owner_dob", "owner_fein",
    "street", "city", "state", "zip",
)
_REG_COLUMNS = ", ".join(_STAGE_COLUMNS[1:])
_KEY_COLUMNS = ("n", "name_key", "make", "model_year", "owner_dob", "vin_b1", "vin_b2",
                "vin_b3")


@dataclass(slots=True)
class LoadReport:
    rows: int = 0  # rows read from the file (good and bad)
    loaded: int = 0  # registrations written (after duplicates within the file)
    replaced: int = 0  # registrations already in the store that the file replaced
    errors: list[RowError] = field(default_factory=list)
    seconds: float = 0.0
    rebuilt_indexes: bool = False

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "loaded": self.loaded, "replaced": self.replaced,
                "bad_rows": len(self.errors), "seconds": round(self.seconds, 3),
                "rows_per_second": round(self.rows_per_second),
                "rebuilt_indexes": self.rebuilt_indexes}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


class _Stager:
    """Writes staged rows in batches: ``executemany`` (SQLite) or ``COPY`` (PostgreSQL)."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pg = conn.dialect.name == "postgresql"
        temp = "TEMPORARY"
        text_cols = ", ".join(f"{c} TEXT" for c in _STAGE_COLUMNS[1:])
        conn.exec_driver_sql("DROP TABLE IF EXISTS reg_stage")
        conn.exec_driver_sql("DROP TABLE IF EXISTS reg_key_stage")
        # Typed where the final table is typed, so INSERT ... SELECT needs no casts.
        # SQLite: INTEGER PRIMARY KEY is the rowid, so the join on n is a rowid lookup.
        key_type = "BIGINT" if self._pg else "INTEGER"
        conn.exec_driver_sql(
            f"CREATE {temp} TABLE reg_stage (n {key_type} PRIMARY KEY, "
            + text_cols.replace("model_year TEXT", "model_year SMALLINT")
            .replace("expires TEXT", "expires DATE").replace("owner_dob TEXT", "owner_dob DATE")
            + ")")
        conn.exec_driver_sql(
            f"CREATE {temp} TABLE reg_key_stage (n BIGINT, name_key TEXT, make TEXT, "
            "model_year SMALLINT, owner_dob DATE, vin_b1 TEXT, vin_b2 TEXT, vin_b3 TEXT)")
        ph = "%s" if self._pg else "?"
        self._reg_sql = (f"INSERT INTO reg_stage VALUES ({','.join([ph] * len(_STAGE_COLUMNS))})")
        self._key_sql = (f"INSERT INTO reg_key_stage VALUES ({','.join([ph] * len(_KEY_COLUMNS))})")

    def write(self, regs: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> None:
        if self._pg:
            cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
            with cursor.copy(f"COPY reg_stage ({', '.join(_STAGE_COLUMNS)}) FROM STDIN") as cp:
                for row in regs:
                    cp.write_row(row)
            with cursor.copy(f"COPY reg_key_stage ({', '.join(_KEY_COLUMNS)}) FROM STDIN") as cp:
                for row in keys:
                    cp.write_row(row)
            return
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cursor.executemany(self._reg_sql, regs)
        cursor.executemany(self._key_sql, keys)


def _stage(conn: Connection, rows: Iterable[Registration | RowError], report: LoadReport,
           progress: Callable[[int], None] | None) -> None:
    stager = _Stager(conn)
    regs: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    n = 0
    for row in rows:
        report.rows += 1
        if isinstance(row, RowError):
            report.errors.append(row)
            continue
        n += 1
        dob = _iso(row.owner_dob)
        regs.append((n, row.plate, row.vin, row.make, row.model_year, row.expires.isoformat(),
                     row.status, row.owner_last, row.owner_first, row.owner_org, row.owner_dl,
                     row.owner_dl_state, dob, row.owner_fein, row.street, row.city,
                     row.state, row.zip))
        b1, b2, b3 = vin_blocks(row.vin)
        for key in registration_name_keys(row.owner_last, row.owner_org):
            keys.append((n, key, row.make, row.model_year, dob, b1, b2, b3))
        if len(regs) >= BATCH:
            stager.write(regs, keys)
            if progress:
                progress(len(regs))
            regs, keys = [], []
    if regs:
        stager.write(regs, keys)
        if progress:
            progress(len(regs))


def _scalar(conn: Connection, sql: str) -> int:
    return int(conn.exec_driver_sql(sql).scalar() or 0)


def _indexes(drop: bool, conn: Connection, indexes: Iterable[Index]) -> None:
    for index in indexes:
        conn.execute(DropIndex(index, if_exists=True) if drop
                     else CreateIndex(index, if_not_exists=True))


def load_registrations(
    conn: Connection,
    rows: Iterable[Registration | RowError],
    *,
    progress: Callable[[int], None] | None = None,
    clock: Callable[[], float] = time.perf_counter,
) -> LoadReport:
    """Load registration rows (``read_registrations``' output) into the store through
    ``conn``, inside the caller's transaction.  Upserts on plate and on VIN; bad rows end
    up in ``LoadReport.errors``.  ``progress`` is called with the rows staged so far."""
    started = clock()
    report = LoadReport()
    _stage(conn, rows, report, progress)

    # Within the file, the last row for a plate and for a VIN wins.
    for column in ("plate", "vin"):
        conn.exec_driver_sql(
            f"DELETE FROM reg_stage WHERE n NOT IN "
            f"(SELECT MAX(n) FROM reg_stage GROUP BY {column})")
    staged = _scalar(conn, "SELECT COUNT(*) FROM reg_stage")
    existing = _scalar(conn, "SELECT COUNT(*) FROM registrations")
    rebuild = staged >= REBUILD_SHARE * existing and staged > 10_000
    report.rebuilt_indexes = rebuild

    if existing:
        # Upsert: whatever the file replaces goes, its name keys first.  The staging table
        # gets indexes for these two probes.
        conn.exec_driver_sql("CREATE INDEX reg_stage_plate ON reg_stage (plate)")
        conn.exec_driver_sql("CREATE INDEX reg_stage_vin ON reg_stage (vin)")
        replaced = ("SELECT id FROM registrations WHERE plate IN (SELECT plate FROM reg_stage)"
                    " UNION SELECT id FROM registrations WHERE vin IN (SELECT vin FROM reg_stage)")
        conn.exec_driver_sql(
            f"DELETE FROM registration_name_keys WHERE registration_id IN ({replaced})")
        report.replaced = conn.exec_driver_sql(
            f"DELETE FROM registrations WHERE id IN ({replaced})").rowcount
    base = _scalar(conn, "SELECT MAX(id) FROM registrations")
    if rebuild:
        _indexes(True, conn, REGISTRATION_INDEXES)
        _indexes(True, conn, NAME_KEY_INDEXES)
    report.loaded = conn.exec_driver_sql(
        f"INSERT INTO registrations (id, {_REG_COLUMNS}) "
        f"SELECT {base} + n, {_REG_COLUMNS} FROM reg_stage ORDER BY n").rowcount
    conn.exec_driver_sql(
        "INSERT INTO registration_name_keys (registration_id, name_key, make, model_year, "
        f"owner_dob, vin_b1, vin_b2, vin_b3) SELECT DISTINCT {base} + k.n, k.name_key, k.make, "
        "k.model_year, k.owner_dob, k.vin_b1, k.vin_b2, k.vin_b3 "
        "FROM reg_key_stage k JOIN reg_stage s ON s.n = k.n")
    if rebuild:
        _indexes(False, conn, REGISTRATION_INDEXES)
        _indexes(False, conn, NAME_KEY_INDEXES)
    conn.exec_driver_sql("DROP TABLE reg_stage")
    conn.exec_driver_sql("DROP TABLE reg_key_stage")
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE registrations")
        conn.exec_driver_sql("ANALYZE registration_name_keys")
    report.seconds = clock() - started
    return report


__all__ = ["LoadReport", "load_registrations"]
