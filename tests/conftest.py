"""Shared fixtures.

- ``database_url``: an empty database, once on SQLite (a file under tmp_path) and once on
  PostgreSQL (a fresh schema, dropped afterwards).  PostgreSQL tests skip when the server is
  unreachable, except under CI (env ``CI`` set), where they fail.
- ``store``: a ``Store`` on that database, migrated to head.
- ``settings``: ``Settings`` with its data directory under tmp_path and the store's URL.
- ``clock``: a fixed, advanceable UTC clock to pass where epoi takes one.
- ``sample_world``: a factory of ``epoi sample`` files whose carriers are registered in ``store``.
- ``home``: ``EPOI_HOME`` set to an empty directory, on the embedded default.
- ``deployment``: a throw-away scale-out deployment on PostgreSQL and RabbitMQ (``_scaleout``).

Plain helpers (the CLI in-process, carriers files, subprocess environments) are in ``_helpers``.

Markers (setup.cfg): ``services`` (PostgreSQL, RabbitMQ; the ``postgresql`` param below),
``chaos``, ``browser``, ``slow``; the fast tier deselects all four.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from _helpers import register_carriers
from _scaleout import POSTGRES_URL, Deployment, require_services
from epoi.config import Settings
from epoi.sample import FaultOptions, generate
from epoi.store import Store


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
    return FixedClock(datetime(2026, 11, 27, 9, 30, tzinfo=UTC))


@pytest.fixture
def sample_world(tmp_path: Path, store: Store, clock: FixedClock):
    """``make(policies, *, seed, **generate_options) -> files``: sample files (generated for
    2026-11-27 under tmp_path/edi) whose carriers are registered in ``store``."""

    def make(policies: int, *, seed: int, faults: FaultOptions = FaultOptions(),
             **options: object) -> list[Path]:  # fmt: skip
        summary = generate(policies, tmp_path / "edi", today=date(2026, 11, 27), seed=seed,
                           faults=faults, **options)  # fmt: skip
        register_carriers(store, summary.carriers, created_at=clock())
        return sorted(summary.files)

    return make


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``EPOI_HOME`` for this test (an empty directory, the embedded default: no
    ``EPOI_DATABASE_URL``), for the command line run in-process."""
    home = tmp_path / "epoi-data"
    monkeypatch.setenv("EPOI_HOME", str(home))
    monkeypatch.delenv("EPOI_DATABASE_URL", raising=False)
    return home


@pytest.fixture
def deployment(tmp_path: Path) -> Iterator[Deployment]:
    """A fresh PostgreSQL database and RabbitMQ namespace, dropped afterwards (skips without
    the services, fails under CI)."""
    require_services()
    dep = Deployment(tmp_path / "epoi-data")
    try:
        yield dep
    finally:
        dep.close()
