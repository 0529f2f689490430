"""Repository functions: the queries the stages run, each inside a caller's session.

They take a ``Session`` (the caller owns the transaction) and write in batches: one
statement per table per call, never a statement per row.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Connection,
    CursorResult,
    FromClause,
    Result,
    Table,
    delete,
    func,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..errors import ConfigError
from ._models import (
    Ack,
    AckKind,
    AckSequence,
    Carrier,
    CarrierEnvironment,
    Interchange,
    Submission,
    SubmissionState,
)
from ._records import FunctionalGroup, TransactionSet

_NAIC = re.compile(r"\d{5}")
_ISA_QUALIFIER = re.compile(r"[0-9A-Z]{2}")
# ISA13 is nine digits: ack control numbers run 1 .. 999 999 999 and then start again.
MAX_CONTROL_NUMBER = 999_999_999


def _insert(session: Session, table: FromClause) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (SQLite and PostgreSQL spell it alike).
    ``table``: a model's ``__table__`` (typed as any FromClause by SQLAlchemy, a Table here)."""
    if not isinstance(table, Table):
        raise TypeError(f"an INSERT needs a table, not {type(table).__name__}")
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"epoi store supports sqlite and postgresql, not {dialect}")


def _pairs(result: Any) -> dict[Any, Any]:
    # dict(result) would take a Result for a mapping (it has .keys()): iterate its rows.
    return {k: v for k, v in result}


def _rowcount(result: Result[Any]) -> int:
    """The rows an UPDATE matched.  ``Session.execute`` is typed to answer any ``Result``;
    an UPDATE's is a ``CursorResult``, the kind that counts them."""
    if not isinstance(result, CursorResult):
        raise TypeError(f"no row count in a {type(result).__name__}")
    return result.rowcount or 0


# -- carriers ----------------------------------------------------------------------------


def add_carrier(
    session: Session,
    *,
    name: str,
    naic: str,
    isa_qualifier: str,
    isa_id: str,
    environment: CarrierEnvironment,
    created_at: datetime,
) -> Carrier:
    """Register a trading partner.  Raises ``ConfigError`` (``CARRIER``) when a field is
    malformed or the NAIC code or ISA identity is already taken."""
    isa_id = isa_id.strip()
    isa_qualifier = isa_qualifier.strip().upper()
    if not _NAIC.fullmatch(naic):
        raise ConfigError("CARRIER", "NAIC code must be 5 digits")
    if not _ISA_QUALIFIER.fullmatch(isa_qualifier):
        raise ConfigError("CARRIER", "ISA qualifier must be 2 letters or digits (ISA05)")
    if not 1 <= len(isa_id) <= 15:
        raise ConfigError("CARRIER", "ISA sender ID must be 1 to 15 characters (ISA06)")
    if not name.strip():
        raise ConfigError("CARRIER", "carrier name is empty")
    carrier = Carrier(
        name=name.strip(),
        naic=naic,
        isa_qualifier=isa_qualifier,
        isa_id=isa_id,
        environment=environment,
        created_at=created_at,
    )
    try:
        with session.begin_nested():
            session.add(carrier)
    except IntegrityError as exc:
        raise ConfigError(
            "CARRIER",
            f"a carrier with NAIC {naic} or ISA sender {isa_qualifier}/{isa_id} already exists",
        ) from exc
    return carrier


def list_carriers(session: Session) -> list[Carrier]:
    return list(session.scalars(select(Carrier).order_by(Carrier.naic)))


def carrier_by_naic(session: Session, naic: str) -> Carrier | None:
    return session.scalars(select(Carrier).where(Carrier.naic == naic)).one_or_none()


def carriers_by_sender(session: Session) -> dict[tuple[str, str], Carrier]:
    """Every carrier keyed by its ISA identity (ISA05, ISA06)."""
    return {(c.isa_qualifier, c.isa_id): c for c in session.scalars(select(Carrier))}


def clean_test_interchanges(session: Session, carrier: Carrier) -> int:
    """How many test interchanges (ISA15 T) the carrier sent that were accepted without
    errors: TA1 A, at least one set, and every group (AK9) and set (AK5) of it A.  What
    ``epoi carriers certify`` counts before it moves a carrier to production."""
    flawed_group = select(FunctionalGroup.id).where(
        FunctionalGroup.interchange_id == Interchange.id, FunctionalGroup.ack_code != "A"
    )
    flawed_set = (
        select(TransactionSet.id)
        .join(FunctionalGroup, TransactionSet.group_id == FunctionalGroup.id)
        .where(FunctionalGroup.interchange_id == Interchange.id, TransactionSet.ack_code != "A")
    )
    any_set = (
        select(TransactionSet.id)
        .join(FunctionalGroup, TransactionSet.group_id == FunctionalGroup.id)
        .where(FunctionalGroup.interchange_id == Interchange.id)
    )
    stmt = select(func.count()).select_from(Interchange).where(
        Interchange.sender_qualifier == carrier.isa_qualifier,
        Interchange.sender_id == carrier.isa_id,
        Interchange.test.is_(True),
        Interchange.ta1_ack_code == "A",
        any_set.exists(), ~flawed_group.exists(), ~flawed_set.exists(),
    )
    return session.scalar(stmt) or 0


# -- submissions ---------------------------------------------------------------------------


def create_submission(
    session: Session,
    *,
    file_name: str,
    received_at: datetime,
    size: int,
    sha256: str,
    archive_path: str,
    state: SubmissionState,
    carrier_id: int | None = None,
) -> tuple[Submission, bool]:
    """The submission for these bytes and whether this call created it.  The same bytes
    submitted again (same sha256) return the existing row and False: a file is stored once,
    even when two processes submit it at the same moment."""
    stmt = (
        _insert(session, Submission.__table__)
        .values(
            file_name=file_name,
            received_at=received_at,
            size=size,
            sha256=sha256,
            archive_path=archive_path,
            state=state,
            carrier_id=carrier_id,
        )
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(Submission.id)
    )
    new_id = session.execute(stmt).scalar_one_or_none()
    if new_id is not None:
        return session.get_one(Submission, new_id), True
    existing = session.scalars(select(Submission).where(Submission.sha256 == sha256)).one()
    return existing, False


def count_submissions(session: Session, carrier_id: int) -> int:
    stmt = select(func.count()).select_from(Submission).where(Submission.carrier_id == carrier_id)
    return session.scalar(stmt) or 0


def submission_by_id(session: Session, submission_id: int) -> Submission | None:
    return session.get(Submission, submission_id)


def update_submission(session: Session, submission_id: int, **values: Any) -> None:
    """Set columns of one submission (state, error_code, counts ...)."""
    session.execute(update(Submission).where(Submission.id == submission_id).values(**values))


# -- interchanges ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterchangeRecord:
    sender_qualifier: str
    sender_id: str
    control_number: str
    test: bool
    ta1_ack_code: str
    ta1_note_code: str

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.sender_qualifier, self.sender_id, self.control_number)


def claim_interchanges(
    session: Session, submission_id: int, candidates: Sequence[InterchangeRecord]
) -> set[tuple[str, str, str]]:
    """Record interchanges the TA1 accepts; return the keys (sender qualifier, sender ID,
    ISA13) another interchange already owns, i.e. duplicates.  Those rows are not written:
    the caller rejects them (TA1 025) and records them with ``record_interchanges``.

    One INSERT .. ON CONFLICT DO NOTHING: a concurrent submission of the same interchange
    waits for ours and then finds it, so exactly one of them wins."""
    wanted = {c.key: c for c in candidates}
    if len(wanted) != len(candidates):
        raise ValueError("claim_interchanges: the same interchange key twice in one call")
    if not wanted:
        return set()
    table = Interchange.__table__
    stmt = (
        _insert(session, table)
        .values([{"submission_id": submission_id, **_row(c)} for c in candidates])
        .on_conflict_do_nothing()
        .returning(table.c.sender_qualifier, table.c.sender_id, table.c.control_number)
    )
    claimed = {tuple(r) for r in session.execute(stmt)}
    return set(wanted) - claimed


def record_interchanges(
    session: Session, submission_id: int, rejected: Iterable[InterchangeRecord]
) -> None:
    """Record interchanges the TA1 rejected (they claim no control number)."""
    rows = [{"submission_id": submission_id, **_row(r)} for r in rejected]
    if any(r["ta1_ack_code"] != "R" for r in rows):
        raise ValueError("record_interchanges is for rejected interchanges; claim the others")
    if rows:
        session.execute(_insert(session, Interchange.__table__), rows)


def release_interchanges(
    session: Session, submission_id: int, keys: Iterable[tuple[str, str, str]]
) -> None:
    """Forget the rejected records of this submission's interchanges with these keys
    (sender qualifier, sender ID, ISA13), so that a reprocess can claim or record them
    again: their rejection followed from a carrier profile that has changed since."""
    for qualifier, sender, control in set(keys):
        session.execute(delete(Interchange).where(
            Interchange.submission_id == submission_id, Interchange.ta1_ack_code == "R",
            Interchange.sender_qualifier == qualifier, Interchange.sender_id == sender,
            Interchange.control_number == control,
        ))  # fmt: skip


def _row(r: InterchangeRecord) -> dict[str, Any]:
    return {
        "sender_qualifier": r.sender_qualifier,
        "sender_id": r.sender_id,
        "control_number": r.control_number,
        "test": r.test,
        "ta1_ack_code": r.ta1_ack_code,
        "ta1_note_code": r.ta1_note_code,
    }


def interchanges_of(session: Session, submission_id: int) -> list[Interchange]:
    return list(
        session.scalars(
            select(Interchange)
            .where(Interchange.submission_id == submission_id)
            .order_by(Interchange.id)
        )
    )


# -- acks ------------------------------------------------------------------------------------


def next_control_numbers(session: Session, key: str, count: int = 1) -> list[int]:
    """Take the next ``count`` ack control numbers of one trading partner.

    One upsert, ``INSERT .. ON CONFLICT DO UPDATE SET last_number = last_number + n
    RETURNING last_number``: PostgreSQL holds the row lock and SQLite the database write
    lock to the end of the caller's transaction, so concurrent callers get consecutive,
    disjoint numbers, and a rolled-back transaction gives its numbers back (no gaps)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    table = AckSequence.__table__
    ins = _insert(session, table).values(key=key, last_number=count)
    stmt = ins.on_conflict_do_update(
        index_elements=["key"],
        set_={"last_number": table.c.last_number + ins.excluded.last_number},
    ).returning(table.c.last_number)
    last = session.execute(stmt).scalar_one()
    return [(n - 1) % MAX_CONTROL_NUMBER + 1 for n in range(last - count + 1, last + 1)]


@dataclass(frozen=True, slots=True)
class AckRecord:
    kind: AckKind
    control_number: str
    answers_interchange: str
    answers_group: str | None
    path: str
    created_at: datetime


def add_acks(session: Session, submission_id: int, acks: Iterable[AckRecord]) -> None:
    rows = [
        {
            "submission_id": submission_id,
            "kind": a.kind,
            "control_number": a.control_number,
            "answers_interchange": a.answers_interchange,
            "answers_group": a.answers_group,
            "path": a.path,
            "created_at": a.created_at,
        }
        for a in acks
    ]
    if rows:
        session.execute(_insert(session, Ack.__table__), rows)


def acks_of(session: Session, submission_id: int) -> list[Ack]:
    return list(
        session.scalars(select(Ack).where(Ack.submission_id == submission_id).order_by(Ack.id))
    )


_UNIQUE_VIOLATION = "23505"


def copy_insert(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: Sequence[str] | None = None,
) -> int:
    """PostgreSQL: INSERT ``rows`` (value tuples in ``columns``' order) into ``table`` through
    ``COPY``, in the order given; returns how many went in.  A quarter of the client's CPU
    of an INSERT of many rows (SQLAlchemy's "insertmanyvalues" or the driver's
    ``executemany``) and half its time.

    Without ``conflict`` straight into ``table``: a duplicate key fails as the INSERT would.
    With ``conflict`` (the natural key) it is INSERT .. ON CONFLICT DO NOTHING, which COPY
    does not know: straight into ``table`` first, under a savepoint (the usual case: no row
    is there yet); if a key is there already, back to the savepoint, and the rows go into a
    temporary staging table of the same columns (``ON COMMIT DELETE ROWS``, one per
    connection and table, created on first use), then from there into ``table`` in one
    INSERT .. SELECT .. ON CONFLICT DO NOTHING, in the order they were copied."""
    if not rows:
        return 0
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    names = ", ".join(f'"{c}"' for c in columns)  # quoted: "transaction" is a keyword
    try:
        if not conflict:
            _copy(cursor, f'COPY "{table}" ({names}) FROM STDIN', rows)
            return len(rows)
        cursor.execute("SAVEPOINT epoi_copy")
        try:
            _copy(cursor, f'COPY "{table}" ({names}) FROM STDIN', rows)
        except Exception as exc:
            if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                raise
            cursor.execute("ROLLBACK TO SAVEPOINT epoi_copy; RELEASE SAVEPOINT epoi_copy")
        else:
            cursor.execute("RELEASE SAVEPOINT epoi_copy")
            return len(rows)
        stage = f"epoi_stage_{table}"
        cursor.execute(
            f'CREATE TEMPORARY TABLE IF NOT EXISTS "{stage}" ON COMMIT DELETE ROWS AS '
            f'SELECT 0::bigint AS epoi_n, {names} FROM "{table}" WITH NO DATA'
        )
        _copy(cursor, f'COPY "{stage}" (epoi_n, {names}) FROM STDIN',
              [(n, *row) for n, row in enumerate(rows)])  # fmt: skip
        keys = ", ".join(f'"{c}"' for c in conflict)
        # Two statements, one round trip (no parameters: the simple query protocol); the
        # cursor stays on the first one's result, the INSERT's row count.
        cursor.execute(
            f'INSERT INTO "{table}" ({names}) SELECT {names} FROM "{stage}" ORDER BY epoi_n '
            f'ON CONFLICT ({keys}) DO NOTHING; DELETE FROM "{stage}"'
        )
        return int(cursor.rowcount)
    finally:
        cursor.close()


def driver_day(sqlite: bool) -> Callable[[date | None], date | str | None]:
    """How ``insert_rows`` takes a date: on SQLite as ISO text (as SQLAlchemy's ``Date``
    writes it there), interned, since a unit's rows cross from a worker process pickled and
    pickle writes a string object once; elsewhere as it is."""
    return _iso_day if sqlite else _same_day


def _iso_day(value: date | None) -> str | None:
    return None if value is None else sys.intern(value.isoformat())


def _same_day(value: date | None) -> date | None:
    return value


def insert_rows(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    conflict: Sequence[str] | None = None,
) -> int | None:
    """The bulk paths' INSERT of ``rows`` (value tuples in ``columns``' order, dates as the
    driver takes them: ISO text on SQLite) into ``table``; with ``conflict`` (a natural key)
    ON CONFLICT DO NOTHING.  On PostgreSQL through ``COPY`` (``copy_insert``): how many went
    in.  On SQLite through the driver's ``executemany`` (SQLAlchemy's per-row parameter
    processing cost more than the statement itself): None, the driver does not count."""
    if conn.dialect.name != "sqlite":
        return copy_insert(conn, table, columns, rows, conflict=conflict)
    if not rows:
        return None
    names = ", ".join(f'"{c}"' for c in columns)  # quoted: "transaction" is a keyword
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(sql, rows)
    finally:
        cursor.close()
    return None


def _copy(cursor: Any, sql: str, rows: Iterable[Sequence[Any]]) -> None:
    with cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
