"""Names and declarations of the exchange and queues.

One direct, durable exchange ``<ns>``; one durable queue per stage (``<ns>.parse``,
``<ns>.normalize``, ``<ns>.match``), routed by the envelope's kind; ``<ns>.dead`` for messages
that keep failing.  On RabbitMQ each stage also gets one delay queue per retry delay
(``<ns>.parse.retry.1000ms``): no consumer, a message TTL, and a dead-letter route back to
the stage queue, so a message waiting for its retry is held durably by the broker and no
worker is busy with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from kombu import Exchange, Queue

from epoi.schemas.messages import KINDS, Kind

DEAD_ROUTING_KEY = "dead"


@dataclass(frozen=True, slots=True)
class Topology:
    namespace: str
    retry_delays: tuple[float, ...]
    delay_queues: bool  # True on brokers with per-queue TTL and dead-lettering (RabbitMQ)

    @property
    def exchange(self) -> Exchange:
        return Exchange(self.namespace, type="direct", durable=True, delivery_mode=2)

    def queue_name(self, kind: Kind) -> str:
        return f"{self.namespace}.{kind}"

    def queue(self, kind: Kind) -> Queue:
        return Queue(self.queue_name(kind), self.exchange, routing_key=kind, durable=True)

    @property
    def dead_queue(self) -> Queue:
        return Queue(
            f"{self.namespace}.dead", self.exchange, routing_key=DEAD_ROUTING_KEY, durable=True
        )

    def kind_of_queue(self, queue_name: str) -> Kind | None:
        for kind in KINDS:
            if self.queue_name(kind) == queue_name:
                return kind
        return None

    def delay_queue(self, kind: Kind, delay: float) -> Queue:
        """The RabbitMQ queue where a message waits ``delay`` seconds before going back to
        the ``kind`` stage queue.  Published to through the default exchange."""
        ms = max(1, round(delay * 1000))
        return Queue(
            f"{self.queue_name(kind)}.retry.{ms}ms",
            exchange=Exchange(""),
            routing_key=f"{self.queue_name(kind)}.retry.{ms}ms",
            durable=True,
            queue_arguments={
                "x-message-ttl": ms,
                "x-dead-letter-exchange": self.namespace,
                "x-dead-letter-routing-key": kind,
            },
        )

    def delay_queues_of(self, kind: Kind) -> list[Queue]:
        if not self.delay_queues:
            return []
        return [self.delay_queue(kind, d) for d in dict.fromkeys(self.retry_delays)]

    def all_queues(self) -> list[Queue]:
        queues = [self.queue(k) for k in KINDS] + [self.dead_queue]
        for kind in KINDS:
            queues.extend(self.delay_queues_of(kind))
        return queues
