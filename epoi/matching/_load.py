"""Bulk load of the registration file into the store (``epoi registrations load``).

One pass over the file, in a handful of statements per 50 000 rows, inside one transaction:

1. Rows go into a temporary staging table (``executemany`` on SQLite, ``COPY`` on
   PostgreSQL) together with their name keys; bad rows are collected, never fatal.
2. Within the file the last row for a plate, and for a VIN, wins.
3. Upsert on plate and on VIN: registrations (and their name keys) whose plate or VIN the
   file holds are deleted, then the staged rows inserted with ``id = base + row number``,
   so the name keys go in by a join on the staging table without reading ids back.
4. When the load is big compared with the table (a full refresh), the secondary indexes
   are dropped before the inserts and rebuilt after: building an index once over sorted
   keys is several times faster than maintaining it row by row.

The first load into an empty store skips the staging: rows go straight into the final
tables (indexes dropped), duplicates within the file are deleted after, indexes rebuilt.
"""

from __future__ import annotations

import gc
import time
import uuid
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import numpy as np
from sqlalchemy import Connection, Index, insert
from sqlalchemy.schema import CreateIndex, DropIndex

from ..schemas.registration import Registration, RowError
from ..store import (
    NAME_KEY_INDEXES,
    REGISTRATION_INDEXES,
    registration_loads,
)
from ._index import registration_name_keys
from ._sql_index import lookup_key, owner_keys, vin_blocks

BATCH = 50_000
LOAD_CACHE_KIB = 1 << 20  # 1 GiB
# Drop and rebuild the secondary indexes when the file is at least this share of the table.
REBUILD_SHARE = 0.25

_STAGE_COLUMNS = (
    "n", "plate", "vin", "make", "model_year", "expires", "status", "owner_last",
    "owner_first", "owner_org", "owner_dl", "owner_dl_state", "owner_dob", "owner_fein",
    "street", "city", "state", "zip",
)
_REG_COLUMNS = ", ".join(_STAGE_COLUMNS[1:])
_KEY_COLUMNS = ("n", "lookup_key", "owner_dob", "vin_b1", "vin_b2", "vin_b3")


@dataclass(slots=True)
class LoadReport:
    rows: int = 0  # rows read from the file (good and bad)
    loaded: int = 0  # registrations written (after duplicates within the file)
    replaced: int = 0  # registrations already in the store that the file replaced
    errors: list[RowError] = field(default_factory=list)  # rows skipped
    emptied: list[RowError] = field(default_factory=list)  # optional fields left empty
    seconds: float = 0.0
    rebuilt_indexes: bool = False
    phases: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "loaded": self.loaded, "replaced": self.replaced,
                "bad_rows": len(self.errors), "fields_left_empty": len(self.emptied),
                "seconds": round(self.seconds, 3),
                "rows_per_second": round(self.rows_per_second),
                "rebuilt_indexes": self.rebuilt_indexes,
                "phases": {k: round(v, 2) for k, v in self.phases.items()}}


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day is not None else None


class _Seen:
    """The plates and VINs written, as 64-bit hashes beside their row numbers (24 bytes a
    row): enough to find the rows that may repeat a plate or a VIN within the file without
    a GROUP BY over the whole table (two minutes at 10 M rows, measured)."""

    def __init__(self) -> None:
        self.rows = array("q")
        self.plates = array("q")
        self.vins = array("q")

    def add(self, n: int, plate: str, vin: str) -> None:
        self.rows.append(n)
        self.plates.append(hash(plate))  # per process, which is all this needs
        self.vins.append(hash(vin))

    def suspects(self, column: str) -> list[int]:
        """Row numbers whose plate (or VIN) hash occurs more than once."""
        hashes = np.frombuffer(getattr(self, f"{column}s"), dtype=np.int64)
        if len(hashes) < 2:
            return []
        order = np.argsort(hashes, kind="stable")
        ordered = hashes[order]
        same = ordered[1:] == ordered[:-1]
        flagged = np.zeros(len(ordered), dtype=bool)
        flagged[1:] |= same
        flagged[:-1] |= same
        return np.frombuffer(self.rows, dtype=np.int64)[order[flagged]].tolist()


def _drop_repeats(conn: Connection, table: str, id_column: str, seen: _Seen) -> list[int]:
    """Within the file the last row for a plate, and for a VIN, wins: delete the earlier
    ones among the suspects (hash collisions are told apart by the values themselves)."""
    ph = "%s" if conn.dialect.name == "postgresql" else "?"
    dropped: list[int] = []
    for column in ("plate", "vin"):
        suspects = seen.suspects(column)
        last: dict[str, int] = {}
        rows: list[tuple[int, str]] = []
        for start in range(0, len(suspects), 900):
            part = suspects[start:start + 900]
            rows += conn.exec_driver_sql(
                f"SELECT {id_column}, {column} FROM {table} WHERE {id_column} IN "
                f"({','.join([ph] * len(part))})", tuple(part)).fetchall()
        for row_id, value in rows:
            last[value] = max(row_id, last.get(value, row_id))
        earlier = [row_id for row_id, value in rows if last[value] != row_id]
        for start in range(0, len(earlier), 900):
            part = earlier[start:start + 900]
            conn.exec_driver_sql(
                f"DELETE FROM {table} WHERE {id_column} IN ({','.join([ph] * len(part))})",
                tuple(part))
        dropped += earlier
    return dropped


class _Writer:
    """Writes registration rows and their key rows in batches, into the staging tables or
    straight into the final ones: ``executemany`` (SQLite) or ``COPY`` (PostgreSQL)."""

    def __init__(self, conn: Connection, reg_table: str, key_table: str) -> None:
        self._conn = conn
        self._pg = conn.dialect.name == "postgresql"
        ph = "%s" if self._pg else "?"
        self._reg_table, self._key_table = reg_table, key_table
        self._reg_cols = ("id" if reg_table == "registrations" else "n", *_STAGE_COLUMNS[1:])
        self._key_cols = ("registration_id" if key_table == "registration_name_keys" else "n",
                          *_KEY_COLUMNS[1:])
        self._reg_sql = (f"INSERT INTO {reg_table} ({', '.join(self._reg_cols)}) "
                         f"VALUES ({','.join([ph] * len(self._reg_cols))})")
        self._key_sql = (f"INSERT INTO {key_table} ({', '.join(self._key_cols)}) "
                         f"VALUES ({','.join([ph] * len(self._key_cols))})")

    def write(self, regs: list[tuple[Any, ...]], keys: list[tuple[Any, ...]]) -> None:
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            if self._pg:
                for table, cols, rows in ((self._reg_table, self._reg_cols, regs),
                                          (self._key_table, self._key_cols, keys)):
                    with cursor.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as cp:
                        for row in rows:
                            cp.write_row(row)
            else:
                cursor.executemany(self._reg_sql, regs)
                cursor.executemany(self._key_sql, keys)
        finally:
            cursor.close()


def _create_staging(conn: Connection) -> None:
    pg = conn.dialect.name == "postgresql"
    # SQLite: INTEGER PRIMARY KEY is the rowid, so the join on n is a rowid lookup.
    key_type = "BIGINT" if pg else "INTEGER"
    text_cols = ", ".join(f"{c} TEXT" for c in _STAGE_COLUMNS[1:])
    conn.exec_driver_sql("DROP TABLE IF EXISTS reg_stage")
    conn.exec_driver_sql("DROP TABLE IF EXISTS reg_key_stage")
    # Typed where the final table is typed, so INSERT ... SELECT needs no casts.
    conn.exec_driver_sql(
        f"CREATE TEMPORARY TABLE reg_stage (n {key_type} PRIMARY KEY, "
        + text_cols.replace("model_year TEXT", "model_year SMALLINT")
        .replace("expires TEXT", "expires DATE").replace("owner_dob TEXT", "owner_dob DATE")
        + ")")
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE reg_key_stage (n BIGINT, lookup_key BIGINT, owner_dob DATE, "
        "vin_b1 TEXT, vin_b2 TEXT, vin_b3 TEXT)")


def _write_rows(writer: _Writer, rows: Iterable[Registration | RowError], base: int,
                report: LoadReport, progress: Callable[[int], None] | None, seen: _Seen
                ) -> None:
    """Every good row as ``(base + n, ...)`` with its key rows; bad rows into the report."""
    regs: list[tuple[Any, ...]] = []
    keys: list[tuple[Any, ...]] = []
    n = base
    # The batches are millions of short-lived tuples and no cycles: the cyclic collector
    # would only walk them again and again (a third of the load's time, measured).
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        _write_batches(writer, rows, n, regs, keys, report, progress, seen)
    finally:
        if was_enabled:
            gc.enable()


def _write_batches(writer: _Writer, rows: Iterable[Registration | RowError], n: int,
                   regs: list[tuple[Any, ...]], keys: list[tuple[Any, ...]],
                   report: LoadReport, progress: Callable[[int], None] | None, seen: _Seen
                   ) -> None:
    for row in rows:
        if isinstance(row, RowError):
            if not row.skipped:  # a field of the row that follows: not a row of its own
                report.emptied.append(row)
                continue
            report.rows += 1
            report.errors.append(row)
            continue
        report.rows += 1
        n += 1
        seen.add(n, row.plate, row.vin)
        dob = _iso(row.owner_dob)
        regs.append((n, row.plate, row.vin, row.make, row.model_year, row.expires.isoformat(),
                     row.status, row.owner_last, row.owner_first, row.owner_org, row.owner_dl,
                     row.owner_dl_state, dob, row.owner_fein, row.street, row.city,
                     row.state, row.zip))
        b1, b2, b3 = vin_blocks(row.vin)
        make, year = row.make, row.model_year
        # A set: two owner keys of one registration never make two rows (primary key).
        for lk in {lookup_key(key, make, year) for key in owner_keys(
                registration_name_keys(row.owner_last, row.owner_org),
                (row.owner_dl,) if row.owner_dl else (),
                (row.owner_fein,) if row.owner_fein else ())}:
            keys.append((n, lk, dob, b1, b2, b3))
        if len(regs) >= BATCH:
            writer.write(regs, keys)
            if progress:
                progress(len(regs))
            regs, keys = [], []
    if regs:
        writer.write(regs, keys)
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
    file: str | None = None,
) -> LoadReport:
    """Load registration rows (``read_registrations``' output) into the store through
    ``conn``, inside the caller's transaction.  Upserts on plate and on VIN; bad rows end
    up in ``LoadReport.errors``.  ``progress`` is called with the rows written so far.

    Into an empty store (the first load) rows go straight into the final tables with the
    secondary indexes dropped, duplicates within the file are removed after, and the
    indexes rebuilt; otherwise they go through the staging tables (module docstring)."""
    started = last = clock()
    report = LoadReport()
    if conn.dialect.name == "sqlite":
        # SQLite's sorter (index builds, GROUP BY) keeps up to the page cache's size in
        # memory before spilling to temp files; 2 MB by default (per connection).
        conn.exec_driver_sql(f"PRAGMA cache_size=-{LOAD_CACHE_KIB}")

    def phase(name: str) -> None:
        nonlocal last
        now = clock()
        report.phases[name] = report.phases.get(name, 0.0) + now - last
        last = now

    if _scalar(conn, "SELECT COUNT(*) FROM (SELECT 1 FROM registrations LIMIT 1) t") == 0:
        _first_load(conn, rows, report, progress, phase)
    else:
        _upsert_load(conn, rows, report, progress, phase)
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("ANALYZE registrations")
        conn.exec_driver_sql("ANALYZE registration_name_keys")
        phase("analyze")
    report.seconds = clock() - started
    # Recorded even when nothing changed: the token says which load the tables reflect.
    conn.execute(insert(registration_loads).values(
        token=uuid.uuid4().hex, file=file, rows=report.rows, loaded=report.loaded,
        replaced=report.replaced, bad_rows=len(report.errors), seconds=report.seconds))
    return report


def _first_load(conn: Connection, rows: Iterable[Registration | RowError], report: LoadReport,
                progress: Callable[[int], None] | None, phase: Callable[[str], None]) -> None:
    report.rebuilt_indexes = True
    _indexes(True, conn, (*REGISTRATION_INDEXES, *NAME_KEY_INDEXES))
    seen = _Seen()
    _write_rows(_Writer(conn, "registrations", "registration_name_keys"), rows, 0, report,
                progress, seen)
    phase("read and insert")
    dropped = _drop_repeats(conn, "registrations", "id", seen)
    ph = "%s" if conn.dialect.name == "postgresql" else "?"
    for start in range(0, len(dropped), 900):
        part = dropped[start:start + 900]
        conn.exec_driver_sql("DELETE FROM registration_name_keys WHERE registration_id IN "
                             f"({','.join([ph] * len(part))})", tuple(part))
    phase("duplicates within the file")
    report.loaded = report.rows - len(report.errors) - len(dropped)
    _indexes(False, conn, REGISTRATION_INDEXES)
    phase("registration indexes")
    _indexes(False, conn, NAME_KEY_INDEXES)
    phase("name-key index")


def _upsert_load(conn: Connection, rows: Iterable[Registration | RowError], report: LoadReport,
                 progress: Callable[[int], None] | None, phase: Callable[[str], None]) -> None:
    _create_staging(conn)
    seen = _Seen()
    _write_rows(_Writer(conn, "reg_stage", "reg_key_stage"), rows, 0, report, progress, seen)
    phase("read and stage")
    _drop_repeats(conn, "reg_stage", "n", seen)
    staged = _scalar(conn, "SELECT COUNT(*) FROM reg_stage")
    existing = _scalar(conn, "SELECT COUNT(*) FROM registrations")
    rebuild = staged >= REBUILD_SHARE * existing and staged > 10_000
    report.rebuilt_indexes = rebuild
    phase("duplicates within the file")
    # Upsert: whatever the file replaces goes, its name keys first.  The ids are found once,
    # through the unique indexes, before a big load drops them.
    conn.exec_driver_sql("DROP TABLE IF EXISTS reg_gone")
    conn.exec_driver_sql(
        "CREATE TEMPORARY TABLE reg_gone AS "
        "SELECT r.id AS id FROM reg_stage s JOIN registrations r ON r.plate = s.plate "
        "UNION SELECT r.id FROM reg_stage s JOIN registrations r ON r.vin = s.vin")
    base = _scalar(conn, "SELECT MAX(id) FROM registrations")
    if rebuild:
        _indexes(True, conn, (*REGISTRATION_INDEXES, *NAME_KEY_INDEXES))
    conn.exec_driver_sql(
        "DELETE FROM registration_name_keys WHERE registration_id IN (SELECT id FROM reg_gone)")
    report.replaced = conn.exec_driver_sql(
        "DELETE FROM registrations WHERE id IN (SELECT id FROM reg_gone)").rowcount
    conn.exec_driver_sql("DROP TABLE reg_gone")
    phase("replace")
    report.loaded = conn.exec_driver_sql(
        f"INSERT INTO registrations (id, {_REG_COLUMNS}) "
        f"SELECT {base} + n, {_REG_COLUMNS} FROM reg_stage ORDER BY n").rowcount
    conn.exec_driver_sql(
        "INSERT INTO registration_name_keys (registration_id, lookup_key, owner_dob, vin_b1, "
        f"vin_b2, vin_b3) SELECT {base} + k.n, k.lookup_key, k.owner_dob, k.vin_b1, "
        "k.vin_b2, k.vin_b3 FROM reg_key_stage k JOIN reg_stage s ON s.n = k.n")
    phase("insert")
    if rebuild:
        _indexes(False, conn, (*REGISTRATION_INDEXES, *NAME_KEY_INDEXES))
        phase("indexes")
    conn.exec_driver_sql("DROP TABLE reg_stage")
    conn.exec_driver_sql("DROP TABLE reg_key_stage")


__all__ = ["LoadReport", "load_registrations"]
