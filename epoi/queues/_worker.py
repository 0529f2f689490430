"""The consumer loop: fetch a unit of work, run its stage's handler, publish the follow-ups,
then acknowledge.  No other order is possible from a handler's point of view.

Handler contract: ``handler(envelope) -> list[Envelope]``.  The handler does its work and
commits its database transaction before it returns; the follow-ups it returns are published
(and confirmed) before the incoming message is acknowledged, so a crash anywhere in between
leads to a redelivery, never to a lost unit (stages are idempotent on ``unit_id``).

Failures:

* a handler exception whose ``permanent`` attribute is true (see ``EpoiError.permanent``) goes
  straight to ``<ns>.dead``;
* any other exception is retried: the next attempt is published with ``attempt + 1`` and a
  delay of ``retry_delays[attempt - 1]``, then the failed message is acknowledged.  After
  ``max_attempts`` handler calls the message goes to ``<ns>.dead``;
* a message that is not a readable envelope (wrong content type, bad JSON, wrong schema) is
  dead-lettered at once and never reaches a handler.

Why re-publish rather than reject-and-requeue: a rejected message comes back immediately (no
back-off) and RabbitMQ does not count redeliveries on classic queues, so the attempt number
would be lost.  Re-publishing carries the attempt in the envelope, lets the delay live in the
broker (RabbitMQ: a TTL'd delay queue that dead-letters back to the stage queue) or in a
``not-before`` header (server-less transport), and lets the next message flow meanwhile.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kombu import Consumer
from kombu.message import Message

from epoi._logging import get_logger
from epoi.queues._broker import ACCEPT, Broker
from epoi.queues._headers import (
    BAD_MESSAGE,
    LAST_ERROR_CODE,
    NOT_BEFORE,
    carried,
    dead_headers,
    error_code_and_message,
    is_permanent,
)
from epoi.schemas.messages import Envelope, Kind

log = get_logger(__name__)

Handler = Callable[[Envelope], Sequence[Envelope]]


@dataclass(slots=True)
class WorkerStats:
    handled: int = 0  # handler returned, message acknowledged
    published: int = 0  # follow-ups published
    retried: int = 0
    dead_lettered: int = 0
    deferred: int = 0  # fetched before its retry time and put back (server-less transport)
    reconnects: int = 0


class Worker:
    """Consumes the queues of the stages in ``handlers`` until told to stop.

    ``run(stop_event)`` serves until the event is set (a SIGTERM handler sets it, see
    :func:`stop_on_signals`): the unit in hand finishes and is acknowledged, the next one is
    not fetched.  ``run(until_idle=True)`` also returns once the queues, their pending retries
    included, stayed empty for ``config.idle_timeout`` seconds — how ``epoi run`` drains the
    embedded default.
    """

    def __init__(self, broker: Broker, handlers: Mapping[Kind, Handler]) -> None:
        if not handlers:
            raise ValueError("a worker needs at least one handler")
        self.broker = broker
        self.handlers = dict(handlers)
        self.stats = WorkerStats()
        self._stop = threading.Event()
        self._last_activity = time.monotonic()

    def stop(self) -> None:
        self._stop.set()

    # -- the loop -------------------------------------------------------------------------

    def run(
        self, stop_event: threading.Event | None = None, *, until_idle: bool = False
    ) -> WorkerStats:
        if stop_event is not None:
            self._stop = stop_event  # so that Worker.stop() stops this run too
        stop = self._stop
        conn = self.broker.connection
        while not stop.is_set():
            try:
                self._consume(stop, until_idle)
                break
            except conn.connection_errors as exc:
                # The broker went away (restart, network): the unacked message in hand is
                # redelivered by the broker; reconnect with bounded retries and carry on.
                log.warning("worker.connection_lost", error=type(exc).__name__)
                self.stats.reconnects += 1
                self.broker.reconnect()
        return self.stats

    def _consume(self, stop: threading.Event, until_idle: bool) -> None:
        config = self.broker.config
        conn = self.broker.connection
        channel = conn.channel()
        consumers = []
        try:
            for kind in self.handlers:
                consumer = Consumer(
                    channel,
                    queues=[self.broker.topology.queue(kind)],
                    accept=ACCEPT,
                    on_message=self._make_callback(kind, stop),
                    prefetch_count=config.prefetch,
                )
                consumer.consume()
                consumers.append(consumer)
            poll = max(0.05, min(1.0, config.idle_timeout / 2))
            self._last_activity = time.monotonic()
            while not stop.is_set():
                try:
                    conn.drain_events(timeout=poll)
                except TimeoutError:
                    if until_idle and self._idle():
                        log.info("worker.idle", **_stats_dict(self.stats))
                        return
        finally:
            for consumer in consumers:
                try:
                    consumer.cancel()
                except conn.connection_errors + conn.channel_errors:
                    pass
            try:
                # Unacked messages (a prefetched one after a stop) go back to the queue.
                channel.close()
            except conn.connection_errors + conn.channel_errors:
                pass

    def _idle(self) -> bool:
        if time.monotonic() - self._last_activity < self.broker.config.idle_timeout:
            return False
        pending = self.broker.waiting(self.handlers)
        if pending:
            self._last_activity = time.monotonic()
        return pending == 0

    def _make_callback(self, kind: Kind, stop: threading.Event) -> Callable[[Message], None]:
        def on_message(message: Message) -> None:
            if stop.is_set():
                message.requeue()  # fetched after the stop: not ours to handle any more
                return
            self._last_activity = time.monotonic()
            self._on_message(kind, message)
            self._last_activity = time.monotonic()

        return on_message

    # -- one message ----------------------------------------------------------------------

    def _on_message(self, kind: Kind, message: Message) -> None:
        queue_name = self.broker.topology.queue_name(kind)
        headers = dict(message.headers or {})
        try:
            envelope = Envelope.model_validate(message.decode())
            if envelope.kind != kind:
                raise ValueError("envelope kind does not match its queue")
        except Exception as exc:  # noqa: BLE001 - any unreadable message is poison
            self._dead_letter_raw(message, queue_name, headers, type(exc).__name__)
            return

        not_before = headers.get(NOT_BEFORE)
        if isinstance(not_before, (int, float)) and not_before > time.time():
            self._defer(envelope, headers, not_before)
            message.ack()
            return

        handler = self.handlers[kind]
        try:
            follow_ups = list(handler(envelope) or ())
        except Exception as exc:  # noqa: BLE001 - the retry policy decides, not the handler
            self._fail(envelope, queue_name, headers, exc)
            message.ack()
            return
        # Follow-ups first: once they are confirmed the incoming unit may be acknowledged.
        self.stats.published += self.broker.publish_many(follow_ups)
        message.ack()
        self.stats.handled += 1

    def _defer(self, envelope: Envelope, headers: dict[str, Any], not_before: float) -> None:
        # Server-less transport: a retry waits in the stage queue itself.  Put it back at the
        # tail so that other messages flow, and pause briefly so that a queue holding only
        # waiting retries is not spun through at full speed.
        self.broker.publish(envelope, headers=headers)
        self.stats.deferred += 1
        time.sleep(min(max(0.0, not_before - time.time()), self.broker.config.polling_interval))

    def _fail(
        self, envelope: Envelope, queue_name: str, headers: dict[str, Any], exc: Exception
    ) -> None:
        code, text = error_code_and_message(exc)
        config = self.broker.config
        if is_permanent(exc) or envelope.attempt >= config.max_attempts:
            dead_id = uuid.uuid4().hex
            self.broker.publish_dead(
                envelope.model_dump(mode="json"),
                dead_headers(
                    dead_id=dead_id,
                    queue=queue_name,
                    code=code,
                    message=text,
                    attempt=envelope.attempt,
                    original=headers,
                ),
            )
            self.stats.dead_lettered += 1
            log.warning(
                "worker.dead_lettered",
                queue=queue_name,
                unit_id=envelope.unit_id,
                attempt=envelope.attempt,
                code=code,
                dead_id=dead_id,
            )
            return
        delay = config.retry_delay(envelope.attempt)
        self.broker.publish_retry(
            envelope.next_attempt(), delay, {**carried(headers), LAST_ERROR_CODE: code}
        )
        self.stats.retried += 1
        log.info(
            "worker.retry",
            queue=queue_name,
            unit_id=envelope.unit_id,
            attempt=envelope.attempt,
            code=code,
            error=text,  # the code's message, or only the exception's type: no personal data
            delay=delay,
        )

    def _dead_letter_raw(
        self, message: Message, queue_name: str, headers: dict[str, Any], why: str
    ) -> None:
        dead_id = uuid.uuid4().hex
        self.broker.publish_dead(
            message.body,
            dead_headers(
                dead_id=dead_id,
                queue=queue_name,
                code=BAD_MESSAGE,
                message=f"not a readable envelope ({why})",
                attempt=1,
                original=headers,
            ),
            content_type=message.content_type or "application/octet-stream",
            content_encoding=message.content_encoding or "binary",
        )
        message.ack()
        self.stats.dead_lettered += 1
        log.warning("worker.bad_message", queue=queue_name, dead_id=dead_id, error=why)


def _stats_dict(stats: WorkerStats) -> dict[str, int]:
    return {name: getattr(stats, name) for name in stats.__slots__}


def stop_on_signals(
    stop_event: threading.Event, signals: Sequence[int] = (signal.SIGTERM, signal.SIGINT)
) -> dict[int, Any]:
    """Make SIGTERM (and Ctrl-C) set ``stop_event``: the worker finishes the unit in hand and
    returns.  Call from the main thread; returns the previous handlers, to restore them."""

    def _handler(signum: int, _frame: object) -> None:
        log.info("worker.stopping", signal=signal.Signals(signum).name)
        stop_event.set()

    return {sig: signal.signal(sig, _handler) for sig in signals}
