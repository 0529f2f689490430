"""Opening the store and the broker for a command or the HTTP service, one way for both."""

from __future__ import annotations

from ..config import Settings
from ..queues import Broker, QueueConfig
from ..store import Store


def open_store(settings: Settings) -> Store:
    """The configured store, ready for use.  The embedded default (no EPOI_DATABASE_URL)
    migrates itself; a configured server database must be migrated by an operator with
    ``epoi db upgrade`` (its absence is a configuration error), so that no worker or
    service process changes a shared schema on its own."""
    store = Store.from_settings(settings)
    try:
        if settings.database_url is None:
            store.upgrade()
        else:
            store.ensure_current()
    except BaseException:
        store.dispose()
        raise
    return store


def open_broker(settings: Settings) -> Broker:
    """The configured broker, connected and declared (the embedded queue lives in home)."""
    settings.ensure_home()
    return Broker(QueueConfig.from_settings(settings))
