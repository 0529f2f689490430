"""``Store``: one database, its engine, its sessions and its schema version."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from ..config import Settings, unwritable_reason
from ..errors import ConfigError, StoreError
from ._engine import make_engine

_MIGRATIONS = Path(__file__).with_name("migrations")


class Store:
    """A database epoi keeps its state in: SQLite (embedded default) or PostgreSQL.

    ``session()`` is a unit of work: it commits when the block ends and rolls back if it
    raises.  Build one Store per process and share it; it owns a connection pool.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine: Engine = make_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._readonly_sessions = sessionmaker(
            self.engine.execution_options(epoi_readonly=True), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        url = settings.resolved_database_url
        if make_url(url).get_backend_name() == "sqlite":
            settings.ensure_home()
        return cls(url)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self, *, readonly: bool = False) -> Iterator[Session]:
        """A transaction.  On SQLite a write session holds the database's write lock from
        its first statement to its end, so keep write sessions short; ``readonly=True``
        sessions never wait for writers (and must not write)."""
        factory = self._readonly_sessions if readonly else self._sessions
        with factory() as session:
            with session.begin():
                yield session

    # -- schema ---------------------------------------------------------------------------

    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(_MIGRATIONS))
        return cfg

    def check_connection(self) -> None:
        """Raise a configuration error (exit 2) when the database cannot be reached."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            shown = make_url(self.url).render_as_string(hide_password=True)
            raise ConfigError(
                "STORE-CONNECT", f"cannot open the database {shown}: {self._connect_cause(exc)}"
            ) from exc

    def _connect_cause(self, exc: OperationalError) -> str:
        """The driver's reason on one line ("Connection refused", "database "x" does not
        exist"; drivers do not quote passwords).  SQLite says only "unable to open database
        file": the directory is tried to say why ("Read-only file system")."""
        cause = " ".join(str(exc.orig).split()) or type(exc.orig).__name__
        url = make_url(self.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            folder = Path(url.database).resolve().parent
            problem = unwritable_reason(folder)
            if problem:
                cause += f"; {folder}: {problem}"
        return cause

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations up to ``revision`` (alembic ``upgrade``)."""
        self.check_connection()
        cfg = self._alembic_config()
        try:
            with self.engine.begin() as conn:
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
        except SQLAlchemyError as exc:
            # DDL errors name tables and columns, never data: safe to show.
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            raise StoreError("STORE", f"migration failed: {detail}") from exc

    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def ensure_current(self) -> None:
        """Raise a configuration error unless the schema is at the newest migration."""
        self.check_connection()
        current, head = self.current_revision(), self.head_revision()
        if current != head:
            raise ConfigError(
                "STORE-SCHEMA",
                f"database schema is at {current or 'nothing'}, this epoi needs {head}: "
                "run `epoi db upgrade`",
            )

    def dispose(self) -> None:
        self.engine.dispose()
