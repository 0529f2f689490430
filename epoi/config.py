"""One settings object. Values come from the environment (prefix ``EPOI_``) or a
``.env``-style file named by ``EPOI_CONFIG``; nothing else in epoi reads os.environ."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from .errors import ConfigError

# The databases epoi keeps its state in (architecture.md): the embedded default and the
# distributed one.  Any other SQLAlchemy backend would fail later, as an internal error.
SUPPORTED_DATABASES = ("sqlite", "postgresql")


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
    # `epoi run`: a submission of at least this many policies is normalised ahead in worker
    # processes (one a core); a smaller one is done sooner in one process (a worker takes
    # about a second to start).
    first_pass_min_policies: int = Field(2000, ge=0)

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

    @field_validator("database_url")
    @classmethod
    def _usable_database_url(cls, url: str | None) -> str | None:
        """A URL epoi can open: parsed, of a supported backend, with its driver installed.
        Messages never quote the URL (it may hold a password)."""
        if url is None or not url.strip():
            return None  # EPOI_DATABASE_URL= (empty) means the embedded default
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        try:
            parsed = make_url(url)
        except ArgumentError:
            raise ValueError("not a database URL; expected e.g. "
                             "postgresql+psycopg://user@host/db or sqlite:////srv/epoi/epoi.db"
                             ) from None  # fmt: skip
        backend = parsed.get_backend_name()
        if backend not in SUPPORTED_DATABASES:
            raise ValueError(f"database {backend!r} is not supported; "
                             "epoi keeps its state in sqlite or postgresql")  # fmt: skip
        try:
            parsed.get_dialect().import_dbapi()
        except NoSuchModuleError:
            raise ValueError(f"unknown {backend} driver {parsed.get_driver_name()!r}") from None
        except ImportError as exc:
            raise ValueError(f"the {backend} driver {parsed.get_driver_name()!r} is not "
                             f"installed (no module {exc.name!r})") from None  # fmt: skip
        return url

    def ensure_home(self) -> Path:
        """Create the data directory if need be; a configuration error (exit 2) naming
        EPOI_HOME and the cause when it cannot be created or written to."""
        try:
            self.home.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            cause = "exists and is not a directory" if isinstance(exc, FileExistsError) \
                else exc.strerror  # fmt: skip
            raise ConfigError(
                "CONFIG", f"EPOI_HOME {self.home}: cannot create the directory: {cause}"
            ) from exc
        problem = unwritable_reason(self.home)
        if problem:
            raise ConfigError("CONFIG", f"EPOI_HOME {self.home}: cannot write there: {problem}")
        return self.home

    # The HTTP service (``epoi serve``).  Uploads larger than this are refused (413) while
    # they stream in; the partial file is deleted.
    max_upload_bytes: int = Field(1024**3, gt=0)
    # Addresses (or CIDR networks) of the reverse proxies whose X-Forwarded-For and
    # X-Forwarded-Proto are believed, comma-separated; empty: nobody's.
    trusted_proxies: str = ""
    # How long a token issued without --days stays valid.
    token_valid_days: int = Field(365, gt=0)
    # Batch coverage checks: VINs per request at most.
    max_batch_vins: int = Field(1000, gt=0)
    # How long each server worker trusts a token it has read from the store, so the hot
    # routes skip that read: a revocation takes effect within this many seconds; 0: every
    # request reads the token.
    token_cache_seconds: float = Field(5.0, ge=0)

    @property
    def trusted_proxy_list(self) -> list[str]:
        return [p.strip() for p in self.trusted_proxies.split(",") if p.strip()]

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


def unwritable_reason(directory: Path) -> str | None:
    """Why a file cannot be created in ``directory`` (the system's words: "Read-only file
    system", "Permission denied"), or None when it can.  Tried, not guessed from modes:
    root passes every permission check but not a read-only mount."""
    if not directory.is_dir():
        return "not a directory" if directory.exists() else "no such directory"
    try:
        with tempfile.TemporaryFile(dir=directory):
            pass
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None
