"""Engines and sessions, set up the same way wherever a Store is built."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# How long a SQLite writer waits for another one before giving up (milliseconds).
SQLITE_BUSY_TIMEOUT_MS = 30_000
# WAL pages written before a commit checkpoints them into the database (SQLite's default is
# 1,000).  A unit of 1,000 policies writes more than 1,000 pages, much of them the same
# random pages of the VIN and policy-number indexes as the units before: with the default
# every commit copied them back, with 8,000 (32 MB of WAL) a page written by several
# commits in a row is copied once.  epoi run on 200 k policies: 5 % less time (benchmarks/
# README.md).
SQLITE_WAL_AUTOCHECKPOINT = 8_000


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        _configure_sqlite(engine)
        return engine
    return create_engine(parsed, pool_pre_ping=True)


def _configure_sqlite(engine: Engine) -> None:
    """WAL (readers do not block the writer), foreign keys on, a busy timeout, and write
    transactions that take the write lock when they begin.

    pysqlite's own transaction handling starts transactions lazily and DEFERRED: two
    sessions that both read and then write can deadlock, and the loser gets "database is
    locked" at once, whatever the busy timeout.  So pysqlite's handling is switched off and
    every transaction is begun here with BEGIN IMMEDIATE: writers queue on the busy timeout
    instead.  A Store's read-only sessions (execution option ``epoi_readonly``) use a plain
    BEGIN so that they never wait for a writer.

    ``synchronous=NORMAL`` (SQLite's default is FULL): in WAL mode a commit then appends to
    the WAL without an fsync; the WAL is synced at checkpoints.  A committed transaction is
    in the OS's page cache at once, so a killed process (``kill -9``, a crash of epoi itself)
    loses nothing it committed: ack after commit and tests/test_crash.py hold as before.  Only
    an OS crash or a power loss may lose the last transactions before a checkpoint (at most
    ``SQLITE_WAL_AUTOCHECKPOINT`` pages of them, a few units), and even
    then the file is never corrupt: it opens at an earlier commit.  The units those commits
    finished are then queued again in the store, and every stage is idempotent on its natural
    keys, so a rerun redoes them (its queue messages may be gone: a worker re-publishes the
    units the store holds as queued on start).  The fsync per commit was a tenth of
    ``epoi run``'s time (one per unit of every stage); a deployment that cannot redo the
    last seconds of work after a power loss runs PostgreSQL, as for scale-out."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # autocommit at the driver: we emit BEGIN
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")  # durability trade: see below
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute(f"PRAGMA wal_autocheckpoint={SQLITE_WAL_AUTOCHECKPOINT}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get("epoi_readonly", False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")
