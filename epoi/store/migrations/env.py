"""Alembic environment for epoi's store.

Run through ``Store.upgrade()`` (``epoi db upgrade``), which hands over its own connection
in ``config.attributes["connection"]`` so that the engine's settings (SQLite pragmas,
PostgreSQL search_path) apply to the migration too.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from epoi.store import _models  # noqa: F401  (registers the tables on Base.metadata)
from epoi.store._base import Base


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things: later migrations use batch mode there.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("epoi migrations: no connection given and no sqlalchemy.url set")
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("epoi migrations run online only (Store.upgrade)")
_main()
