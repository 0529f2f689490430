"""One settings object. Values come from the environment (prefix ``EPOI_``) or a
``.env``-style file named by ``EPOI_CONFIG``; nothing else in epoi reads os.environ."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="EPOI_", env_file=os.environ.get("EPOI_CONFIG"), extra="ignore", frozen=True
    )

    home: Path = Field(Path("./epoi-data"), description="data directory of the embedded default")
    database_url: str | None = Field(None, description="SQLAlchemy URL; default: SQLite under home")
    broker_url: str | None = Field(None, description="kombu URL; default: server-less under home")

    # The state's side of the envelope.
    receiver_qualifier: str = "ZZ"
    receiver_id: str = "EPOISTATE"
    receiver_application: str = "EPOISTATE"

    # Business-rule windows (companion guide §4 and §5).
    late_new_days: int = 30
    late_change_days: int = 45
    future_effective_days: int = 60
    pending_window_days: int = 30
    suspension_window_days: int = 45

    # `epoi carriers certify`: test interchanges (ISA15 T) a carrier must have sent, each
    # accepted without errors (TA1 A, every 997 AK9 and AK5 A), before it may send production.
    certify_min_test_interchanges: int = Field(1, ge=1)

    # Processes for validation; 0 means one per core.
    workers: int = 0

    # Limits that keep memory flat on hostile input.
    max_errors_per_set: int = 1000
    max_segment_length: int = 4096

    # Queues: handler calls per message before epoi.dead, unacked messages per consumer,
    # seconds to wait before each retry (the last value repeats).
    max_attempts: int = 5
    prefetch: int = 1
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    # Prefix of the exchange and queue names: deployments (or test runs) sharing one
    # RabbitMQ keep apart by giving each its own.
    queue_namespace: str = "epoi"

    @property
    def archive_dir(self) -> Path:
        return self.home / "archive"

    @property
    def index_dir(self) -> Path:
        """Derived lookup files (the near-VIN arrays), rebuilt after a registration load."""
        return self.home / "index"

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.home / 'epoi.db').resolve()}"

    @property
    def resolved_broker_url(self) -> str:
        return self.broker_url or f"sqla+sqlite:///{(self.home / 'queue.db').resolve()}"
