"""What the queue layer needs to know, passed in rather than read from the environment."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from epoi.config import Settings


@dataclass(frozen=True, slots=True)
class QueueConfig:
    broker_url: str
    # Prefix of every exchange and queue name; tests use a unique one per run so that runs
    # sharing one RabbitMQ never see each other's messages.
    namespace: str = "epoi"
    # Handler calls per message, the first included; then the message goes to <ns>.dead.
    max_attempts: int = 5
    # Unacked messages a consumer may hold (basic_qos); 1 keeps work fair between workers.
    prefetch: int = 1
    # Delay before attempt n+1 is retry_delays[n-1]; the last value repeats.
    retry_delays: tuple[float, ...] = (1.0, 5.0, 30.0, 120.0)
    # Worker.run(until_idle=True) returns after the queues stayed empty this long.
    idle_timeout: float = 2.0
    # How often a server-less transport looks at its tables when they are empty.
    polling_interval: float = 0.2
    # Reconnection attempts (with growing intervals) before a broker outage is an error.
    connect_retries: int = 10
    connect_interval_max: float = 5.0
    # RabbitMQ: seconds to wait for a batch's publisher confirms before publishing it again
    # on a new connection (a broker that neither confirms nor drops the connection).
    confirm_timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if not self.retry_delays or any(d < 0 for d in self.retry_delays):
            raise ValueError("retry_delays must be non-empty and non-negative")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> QueueConfig:
        values: dict[str, object] = {
            "broker_url": settings.resolved_broker_url,
            "namespace": settings.queue_namespace,
            "max_attempts": settings.max_attempts,
            "prefetch": settings.prefetch,
            "retry_delays": tuple(settings.retry_delays),
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]

    def retry_delay(self, attempt: int) -> float:
        """Delay to wait after failed attempt ``attempt`` (1-based)."""
        return self.retry_delays[min(attempt, len(self.retry_delays)) - 1]
