"""The connection to the broker and the one publishing path.

``Broker`` owns a kombu connection, declares the topology on it and publishes envelopes as
persistent JSON messages.  On RabbitMQ publishing goes through one channel in confirm mode
(``_Confirms``): :meth:`Broker.publish_many` sends every message of the batch, then waits
for all their confirms at once (one wait for all of a parse unit's follow-ups, not one per
message); once it returns, the broker holds every message.  A nack (a queue refusing the
message) raises ``QUEUE-PUBLISH``; a connection lost before every confirm arrived costs a
reconnect and the whole batch is published again (a message published twice is harmless:
the stages are idempotent on ``unit_id``), so a broker restart mid-run loses nothing.  On
the server-less transport there are no confirms: once the insert has committed the message
is held, and publishing goes through ``Connection.ensure`` with bounded retries.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import kombu
from kombu import Producer, Queue

from epoi._logging import get_logger
from epoi.errors import QueueError
from epoi.queues._config import QueueConfig
from epoi.queues._headers import NOT_BEFORE
from epoi.queues._topology import Topology
from epoi.schemas.messages import Envelope, Kind

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


@dataclass(frozen=True, slots=True)
class _Outgoing:
    """One message to publish: its body, its queue and its properties."""

    body: Any
    queue: Queue
    headers: Mapping[str, Any] | None = None
    content_type: str | None = None
    content_encoding: str | None = None

    def send(self, producer: Producer, **options: Any) -> None:
        """Hand the message to ``producer``: persistent, its queue declared on the way."""
        producer.publish(
            self.body,
            exchange=self.queue.exchange,
            routing_key=self.queue.routing_key,
            delivery_mode=2,
            headers=dict(self.headers or {}),
            content_type=self.content_type,
            content_encoding=self.content_encoding,
            declare=[self.queue],
            **options,
        )


class _Republish(Exception):  # noqa: N818 - a signal inside the publishing loop, not an error
    """The batch's confirms cannot come any more on the channel it was published on."""


class _Confirms:
    """The publishing channel on RabbitMQ, in confirm mode, and what it has not confirmed yet.

    The broker numbers a confirm-mode channel's publishes 1, 2, 3 ... and answers each with
    ``basic.ack`` (or ``basic.nack``), possibly for several at once (``multiple``); the
    answers arrive while the connection's events are drained, in whatever order the queues
    took the messages.  Batches may nest (a handler run while an outer batch waits for its
    confirms publishes its own): each waits for its own numbers only."""

    def __init__(self, connection: kombu.Connection) -> None:
        self.channel = connection.channel()
        self.channel.confirm_select()
        # py-amqp's own flag for "this channel is in confirm mode" (it would select again).
        self.channel._confirm_selected = True
        self.producer = Producer(self.channel, serializer="json")
        self.sent = 0
        self.unconfirmed: set[int] = set()
        self.nacked: set[int] = set()
        self.channel.events["basic_ack"].add(self._on_ack)
        self.channel.events["basic_nack"].add(self._on_nack)

    def _settled(self, tag: int, multiple: bool) -> set[int]:
        done = {t for t in self.unconfirmed if t <= tag} if multiple else {tag}
        done &= self.unconfirmed
        self.unconfirmed -= done
        return done

    def _on_ack(self, tag: int, multiple: bool) -> None:
        self._settled(tag, multiple)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self.nacked |= self._settled(tag, multiple)

    def publish(self, item: _Outgoing) -> int:
        """Send ``item`` (no waiting); the number its confirm will carry."""
        item.send(self.producer)
        self.sent += 1
        self.unconfirmed.add(self.sent)
        return self.sent


class Broker:
    """A connected, declared broker.  Use as a context manager or call :meth:`close`."""

    def __init__(self, config: QueueConfig) -> None:
        self.config = config
        options: dict[str, Any] = {}
        url = config.broker_url
        # On RabbitMQ the publishing channel is put in confirm mode by ``_Confirms`` (not
        # ``confirm_publish``, which makes every publish wait for its own confirm).
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
        self._confirms: _Confirms | None = None
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
        self._confirms = None
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
        """The producer every publish goes through (on RabbitMQ: the confirm-mode channel's)."""
        if not self.server_less:
            return self._confirm_channel().producer
        if self._producer is None:
            self._producer = Producer(self.connection, serializer="json")
        return self._producer

    def _confirm_channel(self) -> _Confirms:
        if self._confirms is None:
            self._confirms = _Confirms(self.connection)
        return self._confirms

    def _publish_raw(
        self,
        body: Any,
        queue: Queue,
        *,
        headers: Mapping[str, Any] | None = None,
        content_type: str | None = None,
        content_encoding: str | None = None,
    ) -> None:
        self._publish_batch([_Outgoing(body, queue, headers, content_type, content_encoding)])

    def _publish_batch(self, items: list[_Outgoing]) -> None:
        """Publish ``items``; returns once the broker holds every one of them."""
        if not items:
            return
        if not self.server_less:
            self._publish_confirmed(items)
            return
        for item in items:
            try:
                item.send(self.producer, retry=True, retry_policy=self.retry_policy)
            except self.connection.connection_errors + self.connection.channel_errors as exc:
                raise QueueError(
                    "QUEUE-PUBLISH", f"publish to {item.queue.name} failed: {type(exc).__name__}"
                ) from exc

    def _publish_confirmed(self, items: list[_Outgoing]) -> None:
        """RabbitMQ: send the whole batch, then wait for all its confirms.  A connection lost
        before they all came (or no answer within ``confirm_timeout``) costs a reconnect and
        the batch is sent again, up to ``connect_retries`` times."""
        conn = self.connection
        rounds = 0
        while True:
            try:
                confirms = self._confirm_channel()
                tags = {confirms.publish(item) for item in items}
                self._wait_confirms(confirms, tags)
                return
            except _Republish as exc:
                why = str(exc)
            except conn.connection_errors as exc:
                why = type(exc).__name__
            except conn.channel_errors as exc:
                self._drop_confirm_channel()
                raise QueueError(
                    "QUEUE-PUBLISH", f"publish to {items[0].queue.name} failed: "
                    f"{type(exc).__name__}"
                ) from exc
            rounds += 1
            if rounds > self.config.connect_retries:
                raise QueueError("QUEUE-PUBLISH", f"publish not confirmed: {why}")
            log.warning("broker.republish", error=why, messages=len(items))
            if self._confirms is confirms:
                # This batch found the connection broken (a nested one may have reconnected
                # already: then its channel is new, and only the publishing is done again).
                self.reconnect()

    def _wait_confirms(self, confirms: _Confirms, tags: set[int]) -> None:
        deadline = time.monotonic() + self.config.confirm_timeout
        while tags & confirms.unconfirmed:
            if self._confirms is not confirms:
                raise _Republish("the publishing channel was replaced")
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Republish("no confirm in time")
            # Deliveries to this connection's consumers are handled meanwhile (py-amqp
            # dispatches every frame it reads): a handler may run nested in this wait.
            with contextlib.suppress(TimeoutError):
                self.connection.drain_events(timeout=min(1.0, left))
        nacked = tags & confirms.nacked
        if nacked:
            confirms.nacked -= nacked
            raise QueueError("QUEUE-PUBLISH", f"the broker refused {len(nacked)} message(s)")

    def _drop_confirm_channel(self) -> None:
        confirms, self._confirms = self._confirms, None
        if confirms is not None:
            with contextlib.suppress(Exception):
                confirms.channel.close()

    def publish(self, envelope: Envelope, *, headers: Mapping[str, Any] | None = None) -> None:
        """Publish ``envelope`` to its stage queue; returns once the broker holds it."""
        self._publish_raw(
            envelope.model_dump(mode="json"), self.topology.queue(envelope.kind), headers=headers
        )

    def publish_many(self, envelopes: Iterable[Envelope]) -> int:
        """Publish ``envelopes``; returns (their number) once the broker holds all of them.
        On RabbitMQ they are sent together and their confirms awaited together."""
        items = [
            _Outgoing(e.model_dump(mode="json"), self.topology.queue(e.kind)) for e in envelopes
        ]
        self._publish_batch(items)
        return len(items)

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

    def waiting(self, kinds: Iterable[Kind]) -> int:
        """Messages ready in the stage queues of ``kinds`` and in their retry queues."""
        topology = self.topology
        return sum(self.depth(q) for kind in kinds
                   for q in (topology.queue(kind), *topology.delay_queues_of(kind)))

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
