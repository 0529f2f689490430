"""Shared fixtures.

- ``database_url``: an empty database, once on SQLite (a file under tmp_path) and once on
  PostgreSQL (a fresh schema, dropped afterwards).  PostgreSQL tests skip when the server is
  unreachable, except under CI (env ``CI`` set), where they fail.
- ``store``: a ``Store`` on that database, migrated to head.
- ``settings``: ``Settings`` with its data directory under tmp_path and the store's URL.
- ``clock``: a fixed, advanceable UTC clock to pass where epoi takes one.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from epoi.config import Settings
from epoi.store import Store

POSTGRES_URL = os.environ.get(
    "EPOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_admin_engine() -> sa.Engine:
    engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
    try:
        with engine.connect():
            pass
    except sa.exc.OperationalError as exc:
        engine.dispose()
        reason = f"PostgreSQL unreachable at {POSTGRES_URL} ({type(exc.orig).__name__})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
        pytest.skip(reason)
    return engine


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'epoi-test.db'}"
        return
    admin = _postgres_admin_engine()
    schema = f"epoi_test_{uuid.uuid4().hex[:12]}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    # Every connection of the store under test works inside the schema (libpq options).
    yield f"{POSTGRES_URL}?options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    admin.dispose()


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    s = Store(database_url)
    s.upgrade()
    yield s
    s.dispose()


@pytest.fixture
def settings(tmp_path: Path, store: Store) -> Settings:
    return Settings(home=tmp_path / "epoi-data", database_url=store.url)


class FixedClock:
    """Returns the same aware UTC instant until advanced."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 27, 9, 30, tzinfo=timezone.utc))
