"""What the match stage reads and writes of the store, row by row: the driver's cursor for
the bulk statements (``_Raw``), the rows of ``match_results`` and ``match_reports``, and the
two reads a batch's cascade depends on besides the registrations: each report's first try
(``_tried``) and who claims a registration (``_claim_lookup``); and the reports matched
again, read back (``load_reports``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import date
from typing import Any, NamedTuple

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from ..schemas.policy import PolicyReport
from ..store import (
    PolicyReportRow,
    driver_day,
    insert_rows,
    load_records,
    match_reports,
    match_results,
)
from ._matcher import ClaimLookup

_KEY_CHUNK = 900


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _claim_lookup(conn: Connection) -> ClaimLookup:
    """The stored step-1/2 matches of registered VINs: who claims each registration."""

    def lookup(vins: Collection[str]) -> Mapping[str, set[tuple[str, int | None]]]:
        claims: dict[str, set[tuple[str, int | None]]] = {}
        wanted = list(vins)
        t = match_results.c
        for part in _chunks(wanted, _KEY_CHUNK):
            rows = conn.execute(select(t.vin, t.report_key, t.vehicle_index).where(
                t.vin.in_(part), t.state == "matched", t.step.in_((1, 2))))
            for vin, key, vehicle_index in rows:
                claims.setdefault(vin, set()).add((key, vehicle_index))
        return claims

    return lookup


class _Raw:
    """The driver's cursor on the stage's connection, for the bulk statements of every
    batch: SQLAlchemy's statement compilation and per-row parameter processing cost more
    than the statements themselves here (measured: half of the stage's time).  On SQLite
    dates go in as ISO text, as SQLAlchemy's ``Date`` writes them there (``day``)."""

    def __init__(self, conn: Connection) -> None:
        self.sqlite = conn.dialect.name == "sqlite"
        self.ph = "?" if self.sqlite else "%s"
        self._conn = conn
        self.day = driver_day(self.sqlite)  # a date as this database's driver takes it

    def _cursor(self) -> Any:
        return self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def rows_in(self, sql: str, values: Sequence[Any], chunk: int = _KEY_CHUNK
                ) -> list[tuple[Any, ...]]:
        """``sql`` with ``{marks}`` where the ``IN`` list goes, over chunks of ``values``.
        On PostgreSQL ``column IN ({marks})`` becomes ``column = ANY(%s)`` with the values
        as one array, in one statement: a statement text that is the same whatever the
        number of values (psycopg parsed each IN list's text anew: 4 % of a worker) and
        an index scan the planner picks as for the list."""
        values = list(values)
        statements: list[tuple[str, tuple[Any, ...]]]
        if not self.sqlite and " IN ({marks})" in sql:
            statements = [(sql.replace(" IN ({marks})", " = ANY(%s)"), (values,))] if values else []
        else:
            statements = [(sql.format(marks=",".join([self.ph] * len(part))), tuple(part))
                          for part in _chunks(values, chunk)]
        out: list[tuple[Any, ...]] = []
        cursor = self._cursor()
        try:
            for text, params in statements:
                cursor.execute(text, params)
                if cursor.description is not None:  # a DELETE returns no rows
                    out += cursor.fetchall()
        finally:
            cursor.close()
        return out

    def insert(self, table: Any, rows: Sequence[tuple[Any, ...]]) -> None:
        """``rows`` (``_ResultRow``s or ``_ReportRow``s: named tuples whose fields are the
        table's columns, dates through ``day`` already) into ``table``."""
        if rows:
            insert_rows(self._conn, table.name, type(rows[0])._fields,  # type: ignore[attr-defined]
                        rows)


class _ReportRow(NamedTuple):
    """A ``match_reports`` row (the fields are the columns)."""

    report_key: str
    carrier_naic: str | None
    policy_number: str | None
    transaction_type: str | None
    policy_type: str | None
    first_tried: date | str | None
    report: str


class _ResultRow(NamedTuple):
    """A ``match_results`` row (the fields are the columns, ``id`` aside): a tuple, not a
    dict, for the ~2 per report the stage writes and the hook copies onto the vehicles."""

    report_key: str
    position: int
    vehicle_index: int | None
    carrier_naic: str | None
    policy_number: str | None
    reported_vin: str | None
    state: str
    step: int | None
    plate: str | None
    vin: str | None
    agreed: str
    vin_distance: int | None
    candidates: int
    transaction_type: str | None
    effective_date: date | str | None
    expiration_date: date | str | None
    cancellation_date: date | str | None
    vehicle_transaction: str | None
    vehicle_transaction_date: date | str | None
    fleet: bool
    tried_on: date | str | None


def _tried(conn: Connection, keys: Sequence[str]) -> tuple[dict[str, date], set[str]]:
    """The day each of these reports was first tried, and those stored without JSON."""
    found: dict[str, date] = {}
    without_doc: set[str] = set()
    for key, day, has_doc in _Raw(conn).rows_in(
            "SELECT report_key, first_tried, report <> '' FROM match_reports "
            "WHERE report_key IN ({marks})", keys):
        found[key] = date.fromisoformat(day) if isinstance(day, str) else day
        if not has_doc:
            without_doc.add(key)
    return found, without_doc


def load_reports(conn: Connection, keys: Collection[str]) -> list[PolicyReport]:
    """The reports ``keys`` as matching stored them, in key order: from their JSON in
    ``match_reports``, or, stored without it, rebuilt from the pipeline's record rows
    (``policy_reports``, insureds, vehicles: the pipeline matches only reports it stored
    there, and keeps no second copy).  A key with a ``match_reports`` row found in neither
    place is an error; a key with no such row is left out, as matching never stored it."""
    t = match_reports.c
    docs: dict[str, str] = {}
    for part in _chunks(sorted(keys), _KEY_CHUNK):
        docs.update((key, doc) for key, doc in conn.execute(
            select(t.report_key, t.report).where(t.report_key.in_(part))))
    found = {k: PolicyReport.model_validate_json(doc) for k, doc in docs.items() if doc}
    in_rows = [k for k, doc in docs.items() if not doc]
    if in_rows:
        with Session(bind=conn) as session:  # joins the connection's transaction
            rows: list[PolicyReportRow] = []
            for part in _chunks(in_rows, _KEY_CHUNK):
                rows += session.scalars(select(PolicyReportRow).where(
                    PolicyReportRow.natural_key.in_(part)))
            found |= {row.natural_key: record.report
                      for row, record in zip(rows, load_records(session, rows), strict=True)}
    missing = sorted(set(docs) - set(found))
    if missing:
        raise LookupError(f"{len(missing)} report(s) stored without their JSON and not in the "
                          f"record rows, e.g. {missing[0]!r}")
    return [found[k] for k in sorted(docs)]

