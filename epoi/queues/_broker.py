"""The connection to the broker and the one publishing path.

``Broker`` owns a kombu connection, declares the topology on it and publishes envelopes as
persistent JSON messages.  On RabbitMQ every publish waits for the broker's confirm
(``confirm_publish``), so once :meth:`Broker.publish` returns the message is on disk; on the
server-less transport the insert has committed.  Publishing goes through
``Connection.ensure`` with bounded retries, so a broker restart mid-run costs a reconnect,
not a lost message.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

import kombu
from kombu import Producer, Queue

from epoi._logging import get_logger
from epoi.errors import QueueError
from epoi.queues._config import QueueConfig
from epoi.queues._headers import NOT_BEFORE
from epoi.queues._topology import Topology
from epoi.schemas.messages import Envelope

log = get_logger(__name__)

CONTENT_TYPE = "application/json"
ACCEPT = ["json"]  # never pickle: a message is data, not code


_SQLITE_QUEUE = "sqla+sqlite:///"


def _queue_file_options(url: str) -> dict[str, Any]:
    """The server-less queue's SQLite file in WAL mode without an fsync per commit, the
    store's trade (``epoi/store/_engine.py``): a killed process loses nothing committed; an
    OS crash may lose the last messages, and the store is the truth for them (a run or a
    worker re-publishes the units the store holds as queued on start).  With SQLite's
    defaults every publish and every acknowledgement paid two fsyncs, a fifth of a run."""
    if not url.startswith(_SQLITE_QUEUE):
        return {}
    path = url[len(_SQLITE_QUEUE):]

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        return conn

    return {"creator": connect}


def _is_server_less(conn: kombu.Connection) -> bool:
    return conn.transport.driver_type != "amqp"


class Broker:
    """A connected, declared broker.  Use as a context manager or call :meth:`close`."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        options: dict[str, Any] = {}
        url = config.broker_url
        if url.startswith(("amqp://", "amqps://", "pyamqp://")):
            # The broker acknowledges every publish once it has taken responsibility for it.
            options["confirm_publish"] = True
        # The SQLAlchemy transport hands its transport options to create_engine, so only
        # options it knows go in there; its polling interval is set on the transport below.
        options |= _queue_file_options(url)
        self.connection = kombu.Connection(url, transport_options=options)
        self.server_less = _is_server_less(self.connection)
        if self.server_less:
            self.connection.transport.polling_interval = config.polling_interval
        self.topology = Topology(
            namespace=config.namespace,
            retry_delays=config.retry_delays,
            delay_queues=not self.server_less,
        )
        self._producer: Producer | None = None
        self.ensure_connected()
        self.declare()

    # -- connection ---------------------------------------------------------------------

    @property
    def retry_policy(self) -> dict[str, Any]:
        return {
            "max_retries": self.config.connect_retries,
            "interval_start": 0.2,
            "interval_step": 0.5,
            "interval_max": self.config.connect_interval_max,
        }

    def ensure_connected(self) -> None:
        def _errback(exc: Exception, interval: float) -> None:
            log.warning("broker.reconnect", error=type(exc).__name__, retry_in=interval)

        try:
            self.connection.ensure_connection(errback=_errback, **self.retry_policy)
        except self.connection.connection_errors as exc:
            raise QueueError("QUEUE-CONNECT", f"broker unreachable: {type(exc).__name__}") from exc

    def reconnect(self) -> None:
        """Drop the broken connection, connect again (bounded retries) and re-declare."""
        self._producer = None
        # The connection is already broken: closing it is tidying, and may fail.
        with contextlib.suppress(Exception):
            self.connection.close()
        self.ensure_connected()
        self.declare()

    def declare(self) -> None:
        """Declare the exchange and every queue (idempotent; done again after reconnects)."""
        channel = self.connection.default_channel
        for queue in self.topology.all_queues():
            queue.bind(channel).declare()

    def close(self) -> None:
        self.connection.release()

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- publishing -----------------------------------------------------------------------

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.connection, serializer="json")
        return self._producer

    def _publish_raw(
        self,
        body: Any,
        queue: Queue,
        *,
        headers: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
    ) -> None:
        try:
            self.producer.publish(
                body,
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                delivery_mode=2,
                headers=dict(headers or {}),
                content_type=content_type,
                content_encoding=content_encoding,
                declare=[queue],
                retry=True,
                retry_policy=self.retry_policy,
            )
        except self.connection.connection_errors + self.connection.channel_errors as exc:
            raise QueueError(
                "QUEUE-PUBLISH", f"publish to {queue.name} failed: {type(exc).__name__}"
            ) from exc

    def publish(self, envelope: Envelope, *, headers: Mapping[str, Any] | None = None) -> None:
        """Publish ``envelope`` to its stage queue; returns once the broker holds it."""
        self._publish_raw(
            envelope.model_dump(mode="json"), self.topology.queue(envelope.kind), headers=headers
        )

    def publish_many(self, envelopes: Iterable[Envelope]) -> int:
        count = 0
        for envelope in envelopes:
            self.publish(envelope)
            count += 1
        return count

    def requeue(self, units: Iterable[Envelope]) -> int:
        """Put units of work back on their queues as first attempts.

        This is the start-up hook of ``epoi run``: on the server-less transport a message is
        gone once fetched, so the store is the source of truth and the run re-queues every
        unit whose state did not advance.  Duplicates are harmless (stages are idempotent).
        """
        count = self.publish_many(u.first_attempt() for u in units)
        log.info("queue.requeued", units=count)
        return count

    def publish_retry(self, envelope: Envelope, delay: float, headers: Mapping[str, Any]) -> None:
        """Publish the next attempt of ``envelope`` so that it is handled after ``delay``."""
        if self.topology.delay_queues:
            queue = self.topology.delay_queue(envelope.kind, delay)
            self._publish_raw(envelope.model_dump(mode="json"), queue, headers=headers)
        else:
            self.publish(envelope, headers={**headers, NOT_BEFORE: time.time() + delay})

    def publish_dead(
        self,
        body: Any,
        headers: Mapping[str, Any],
        *,
        content_type: str | None = None,
        content_encoding: str | None = None,
    ) -> None:
        self._publish_raw(
            body,
            self.topology.dead_queue,
            headers=headers,
            content_type=content_type,
            content_encoding=content_encoding,
        )

    # -- inspection -------------------------------------------------------------------------

    def depth(self, queue: Queue) -> int:
        """Messages ready in ``queue`` (not counting those a consumer holds unacked)."""
        channel = self.connection.default_channel
        return queue.bind(channel).queue_declare(passive=True).message_count

    def purge(self) -> int:
        """Empty every queue of this namespace (tests, and `epoi` resets)."""
        channel = self.connection.default_channel
        return sum(q.bind(channel).purge() or 0 for q in self.topology.all_queues())

    def delete(self) -> None:
        """Delete every queue and the exchange of this namespace (test clean-up)."""
        channel = self.connection.default_channel
        for queue in self.topology.all_queues():
            queue.bind(channel).delete()
        self.topology.exchange.bind(channel).delete()


__all__ = ["ACCEPT", "Broker"]
