"""The coverage routes' reads: ``epoi verify``'s own query (``matching.verify_many``), run
where it costs the least.

SQLite (the embedded default): a check of one VIN runs on the event loop, on one driver
connection the worker process keeps open, through ``matching.OneVinVerifier`` (the same
three selects, compiled once).  Measured on the 1 M-registration store: 0.02 ms for the
three reads against 0.9 ms through SQLAlchemy, and no hop to the thread pool (which under
load also waits for the GIL).  In WAL mode a reader never waits for a writer, so the loop
is not held up by an upload or a matching run.  A batch of a few VINs runs the same way,
VIN by VIN; a bigger one (more than ``INLINE_VINS``) would hold the loop too long and goes
to the thread pool, ``verify_many`` on a pooled connection.

A server database (PostgreSQL): always the thread pool and the engine's pool, since a
network round trip must not block the loop."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from fastapi.concurrency import run_in_threadpool
from sqlalchemy import Engine

from ..matching import OneVinVerifier, Verification, verify_many
from ..store import Store

INLINE_VINS = 10


class CoverageReader:
    def __init__(self, store: Store) -> None:
        # epoi_readonly: SQLite begins with a plain BEGIN, never the write lock.
        self._engine: Engine = store.engine.execution_options(epoi_readonly=True)
        self._inline = store.dialect == "sqlite"
        self._verifier = OneVinVerifier(store.engine.dialect)
        self._conn: Any = None  # the pool's proxy of the driver connection
        self._cursor: Any = None

    async def verify(self, vins: Sequence[str], day: date) -> list[Verification]:
        if self._inline and len(vins) <= INLINE_VINS:
            return self._verify_inline(vins, day)
        return await run_in_threadpool(self._verify_pooled, vins, day)

    def _verify_inline(self, vins: Sequence[str], day: date) -> list[Verification]:
        if self._cursor is None:
            # Set up by the engine's connect hook: WAL, busy timeout, driver autocommit.
            self._conn = self._engine.raw_connection()
            self._cursor = self._conn.driver_connection.cursor()
        cursor = self._cursor
        try:
            cursor.execute("BEGIN")  # one snapshot for the reads
            try:
                return [self._verifier.verify(cursor, v, day) for v in vins]
            finally:
                cursor.execute("COMMIT")
        except Exception:
            self.close()  # the next check starts on a fresh connection
            raise

    def warm_up(self) -> None:
        """Open the connection with a check of a VIN no vehicle has (see ``_app``)."""
        if self._inline:
            self._verify_inline(["0" * 17], date(2000, 1, 1))

    def _verify_pooled(self, vins: Sequence[str], day: date) -> list[Verification]:
        with self._engine.connect() as conn, conn.begin():
            return verify_many(conn, vins, day)

    def close(self) -> None:
        if self._conn is not None:
            self._cursor = None
            conn, self._conn = self._conn, None
            conn.close()
