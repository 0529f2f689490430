"""Behaviour of the queue layer, the same suite on both transports: the embedded default
(kombu's SQLAlchemy transport on a SQLite file under tmp_path) and RabbitMQ on 127.0.0.1.

Each RabbitMQ test uses its own namespace (exchange and queue name prefix) and deletes it
afterwards, so runs sharing the broker never see each other's messages.  RabbitMQ tests skip
when the broker is unreachable, except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import kombu
import kombu.message
import pytest
from pydantic import BaseModel, ValidationError

from _scaleout import RABBITMQ_URL, require_services
from epoi.config import Settings
from epoi.errors import EpoiError, InputError, QueueError
from epoi.queues import (
    Broker,
    Envelope,
    QueueConfig,
    Worker,
    dead_list,
    dead_replay,
    stop_on_signals,
)
from epoi.schemas.messages import Kind

MAX_ATTEMPTS = 3


@pytest.fixture(params=["embedded", pytest.param("rabbitmq", marks=pytest.mark.services)])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> QueueConfig:
    if request.param == "embedded":
        url = f"sqla+sqlite:///{tmp_path / 'queue.db'}"
    else:
        require_services("RabbitMQ")
        url = RABBITMQ_URL
    return QueueConfig(
        broker_url=url,
        namespace=f"epoitest-{uuid.uuid4().hex[:10]}",
        max_attempts=MAX_ATTEMPTS,
        retry_delays=(0.05, 0.1),
        idle_timeout=0.3,
        polling_interval=0.02,
        connect_retries=2,
    )


@pytest.fixture
def broker(config: QueueConfig) -> Iterator[Broker]:
    with Broker(config) as b:
        yield b
        if not b.server_less:
            b.delete()


class Recorder:
    """A handler that records what it was given and fails on demand."""

    def __init__(
        self, fail: dict[str, BaseException] | None = None, follow: Kind | None = None
    ) -> None:
        self.seen: list[Envelope] = []
        self.fail = fail or {}
        self.follow = follow

    def __call__(self, envelope: Envelope) -> list[Envelope]:
        self.seen.append(envelope)
        if envelope.unit_id in self.fail:
            raise self.fail[envelope.unit_id]
        if self.follow:
            return [
                Envelope.of(self.follow, f"{envelope.unit_id}/next", {"from": envelope.unit_id})
            ]
        return []

    def attempts(self, unit_id: str) -> list[int]:
        return [e.attempt for e in self.seen if e.unit_id == unit_id]


class ChunkBody(BaseModel):
    submission_id: int
    policy_numbers: list[str]


def _unit(n: int) -> str:
    return f"sub-12/ic-000000101/gs-101/st-{n:04d}/chunk-1"


def _drain(broker: Broker, **handlers: Recorder) -> Worker:
    worker = Worker(broker, handlers)  # type: ignore[arg-type]
    worker.run(until_idle=True)
    return worker


# -- round trip, ack ---------------------------------------------------------------------


def test_envelope_round_trip(broker: Broker) -> None:
    body = ChunkBody(submission_id=12, policy_numbers=["P-1", "P-2"])
    sent = Envelope.of("normalize", _unit(1), body)
    broker.publish(sent)

    handler = Recorder()
    _drain(broker, normalize=handler)

    assert handler.seen == [sent]
    assert handler.seen[0].body_as(ChunkBody) == body
    assert handler.seen[0].attempt == 1


def test_ack_after_handler_removes_the_message(broker: Broker) -> None:
    broker.publish(Envelope.of("parse", _unit(1)))
    first = Recorder()
    worker = _drain(broker, parse=first)

    assert worker.stats.handled == 1
    assert broker.depth(broker.topology.queue("parse")) == 0
    again = Recorder()
    _drain(broker, parse=again)
    assert again.seen == []


class Crash(BaseException):
    """Stands for the process dying inside the handler (not an Exception: not retried)."""


def test_message_is_not_acked_when_the_handler_does_not_return(broker: Broker) -> None:
    broker.publish(Envelope.of("parse", _unit(1)))
    with pytest.raises(Crash):
        _drain(broker, parse=Recorder(fail={_unit(1): Crash()}))

    survivor = Recorder()
    _drain(broker, parse=survivor)
    assert [e.unit_id for e in survivor.seen] == [_unit(1)]


# -- follow-ups ----------------------------------------------------------------------------


def test_follow_ups_are_published_before_the_ack(
    broker: Broker, config: QueueConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    normalize_depth_at_ack: list[int] = []
    original_ack = kombu.message.Message.ack

    with Broker(config) as probe:
        normalize_queue = probe.topology.queue("normalize")

        def spying_ack(self: kombu.message.Message, multiple: bool = False) -> None:
            if self.delivery_info.get("routing_key") == "parse":
                normalize_depth_at_ack.append(probe.depth(normalize_queue))
            original_ack(self, multiple=multiple)

        monkeypatch.setattr(kombu.message.Message, "ack", spying_ack)
        broker.publish(Envelope.of("parse", _unit(1)))
        _drain(broker, parse=Recorder(follow="normalize"))

    assert normalize_depth_at_ack == [1]
    downstream = Recorder()
    _drain(broker, normalize=downstream)
    assert [(e.kind, e.unit_id, e.body) for e in downstream.seen] == [
        ("normalize", f"{_unit(1)}/next", {"from": _unit(1)})
    ]


def test_a_pipeline_of_stages_runs_in_one_worker(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", _unit(n)) for n in (1, 2))
    parse, normalize, match = Recorder(follow="normalize"), Recorder(follow="match"), Recorder()

    worker = _drain(broker, parse=parse, normalize=normalize, match=match)

    assert sorted(e.unit_id for e in match.seen) == [f"{_unit(n)}/next/next" for n in (1, 2)]
    assert worker.stats.handled == 6
    assert worker.stats.published == 4


# -- retry and dead letter ------------------------------------------------------------------


def test_failing_handler_is_retried_then_dead_lettered(broker: Broker) -> None:
    broker.publish(Envelope.of("parse", _unit(1)), headers={"x-submission": "12"})
    handler = Recorder(fail={_unit(1): EpoiError("STORE", "database refused the unit")})

    worker = _drain(broker, parse=handler)

    assert handler.attempts(_unit(1)) == [1, 2, 3]
    assert worker.stats.retried == MAX_ATTEMPTS - 1
    assert worker.stats.dead_lettered == 1
    [letter] = dead_list(broker)
    assert letter.error_code == "STORE"
    assert letter.error_message == "database refused the unit"
    assert letter.queue == broker.topology.queue_name("parse")
    assert letter.attempt == MAX_ATTEMPTS
    assert letter.unit_id == _unit(1)
    assert letter.original_headers["x-submission"] == "12"
    assert letter.original_headers["x-epoi-last-error-code"] == "STORE"
    assert "x-death" not in letter.original_headers
    assert broker.depth(broker.topology.queue("parse")) == 0


def test_permanent_error_goes_straight_to_dead_letter(broker: Broker) -> None:
    broker.publish(Envelope.of("parse", _unit(1)))
    handler = Recorder(fail={_unit(1): InputError("FILE-EMPTY", "file has no segments")})

    _drain(broker, parse=handler)

    assert handler.attempts(_unit(1)) == [1]
    assert [(d.error_code, d.attempt) for d in dead_list(broker)] == [("FILE-EMPTY", 1)]


def test_unexpected_exception_text_is_not_kept(broker: Broker) -> None:
    # A foreign exception's text may quote the input (names, dates of birth): only its type
    # name may reach the dead letter.
    broker.publish(Envelope.of("parse", _unit(1)))
    _drain(broker, parse=Recorder(fail={_unit(1): ValueError("JANE Q DOE 19700101")}))

    [letter] = dead_list(broker)
    assert letter.error_code == "UNEXPECTED"
    assert "ValueError" in letter.error_message
    assert "DOE" not in letter.model_dump_json()


def test_dead_list_leaves_the_queue_as_it_was_and_replay_puts_it_back(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", _unit(n)) for n in (1, 2))
    failing = Recorder(fail={_unit(n): InputError("E100", "bad") for n in (1, 2)})
    _drain(broker, parse=failing)

    letters = dead_list(broker)
    assert dead_list(broker) == letters
    assert sorted(d.unit_id for d in letters) == [_unit(1), _unit(2)]

    assert dead_replay(broker, ["no-such-id"]) == 0
    first = next(d for d in letters if d.unit_id == _unit(1))
    assert dead_replay(broker, first.id[:3]) == 0  # a bare string is one id, not its letters
    assert dead_replay(broker, [first.id]) == 1
    assert [d.unit_id for d in dead_list(broker)] == [_unit(2)]

    fixed = Recorder()
    _drain(broker, parse=fixed)
    assert [(e.unit_id, e.attempt) for e in fixed.seen] == [(_unit(1), 1)]

    assert dead_replay(broker, "all") == 1
    assert dead_list(broker) == []
    _drain(broker, parse=fixed)
    assert [e.unit_id for e in fixed.seen] == [_unit(1), _unit(2)]


# -- poison does not block -----------------------------------------------------------------


def test_a_failing_unit_does_not_hold_up_the_next(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", _unit(n)) for n in (1, 2))
    handler = Recorder(fail={_unit(1): EpoiError("STORE", "busy")})

    _drain(broker, parse=handler)

    order = [(e.unit_id, e.attempt) for e in handler.seen]
    assert order[:2] == [(_unit(1), 1), (_unit(2), 1)]
    assert handler.attempts(_unit(1)) == [1, 2, 3]


def test_unreadable_messages_are_dead_lettered_and_the_queue_flows(broker: Broker) -> None:
    queue = broker.topology.queue("parse")
    producer = kombu.Producer(broker.connection)
    # A pickle (refused: JSON only), JSON that is not an envelope, then a good message.
    producer.publish({"x": 1}, exchange=queue.exchange, routing_key="parse", serializer="pickle")
    producer.publish(
        {"kind": "parse"}, exchange=queue.exchange, routing_key="parse", serializer="json"
    )
    broker.publish(Envelope.of("parse", _unit(3)))

    handler = Recorder()
    _drain(broker, parse=handler)

    assert [e.unit_id for e in handler.seen] == [_unit(3)]
    letters = dead_list(broker)
    assert [d.error_code for d in letters] == ["QUEUE-BAD-MESSAGE"] * 2
    assert all(d.envelope is None and d.queue == queue.name for d in letters)
    assert dead_replay(broker, "all") == 0  # nothing replayable, nothing lost
    assert len(dead_list(broker)) == 2


# -- stopping ----------------------------------------------------------------------------


def test_until_idle_returns_on_empty_queues(broker: Broker) -> None:
    worker = _drain(broker, parse=Recorder(), normalize=Recorder())
    assert worker.stats.handled == 0
    assert worker.stats.dead_lettered == 0


def test_stop_finishes_the_unit_in_hand_and_fetches_no_more(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", _unit(n)) for n in (1, 2, 3))
    stop = threading.Event()
    seen: list[str] = []

    def handler(envelope: Envelope) -> list[Envelope]:
        seen.append(envelope.unit_id)
        stop.set()  # as the SIGTERM handler would, while this unit is in hand
        return []

    worker = Worker(broker, {"parse": handler})
    worker.run(stop)

    assert seen == [_unit(1)]
    assert worker.stats.handled == 1
    rest = Recorder()
    _drain(broker, parse=rest)
    assert sorted(e.unit_id for e in rest.seen) == [_unit(2), _unit(3)]


def test_sigterm_lets_the_unit_in_hand_finish(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", _unit(n)) for n in (1, 2))
    stop = threading.Event()
    previous = stop_on_signals(stop)
    seen: list[str] = []

    def handler(envelope: Envelope) -> list[Envelope]:
        seen.append(envelope.unit_id)
        os.kill(os.getpid(), signal.SIGTERM)
        return [Envelope.of("normalize", envelope.unit_id)]

    try:
        worker = Worker(broker, {"parse": handler})
        worker.run(stop)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

    assert stop.is_set()
    assert seen == [_unit(1)]
    assert (worker.stats.handled, worker.stats.published) == (1, 1)
    assert broker.depth(broker.topology.queue("parse")) == 1


def test_requeue_publishes_first_attempts(broker: Broker) -> None:
    stale = Envelope.of("match", _unit(1)).model_copy(update={"attempt": 4})
    assert broker.requeue([stale]) == 1
    handler = Recorder()
    _drain(broker, match=handler)
    assert [(e.unit_id, e.attempt) for e in handler.seen] == [(_unit(1), 1)]


# -- the envelope and the settings (transport-independent) --------------------------------


def test_envelope_is_frozen_json_with_a_known_kind() -> None:
    envelope = Envelope.of("parse", _unit(1), {"n": 1})
    with pytest.raises(ValidationError):
        envelope.attempt = 2  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Envelope.model_validate({"kind": "policy", "unit_id": "x"})
    with pytest.raises(ValidationError):
        Envelope.model_validate({"kind": "parse", "unit_id": "x", "schema_version": 2})
    assert Envelope.model_validate_json(envelope.model_dump_json()) == envelope
    assert envelope.model_dump(mode="json")["schema_version"] == 1


def test_queue_config_from_settings(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path, max_attempts=7, prefetch=4, retry_delays=(2.0, 9.0))
    config = QueueConfig.from_settings(settings)
    assert config.broker_url == f"sqla+sqlite:///{(tmp_path / 'queue.db').resolve()}"
    assert (config.max_attempts, config.prefetch) == (7, 4)
    assert [config.retry_delay(n) for n in (1, 2, 3, 10)] == [2.0, 9.0, 9.0, 9.0]


# -- broker outage (RabbitMQ only: the embedded transport has no connection to lose) ------


@pytest.fixture
def rabbitmq_broker(tmp_path: Path) -> Iterator[Broker]:
    require_services("RabbitMQ")
    config = QueueConfig(
        broker_url=RABBITMQ_URL,
        namespace=f"epoitest-{uuid.uuid4().hex[:10]}",
        retry_delays=(0.05,),
        idle_timeout=0.3,
        connect_retries=3,
    )
    with Broker(config) as b:
        yield b
        b.delete()


def _drop_connection(broker: Broker) -> None:
    broker.connection.connection.sock.shutdown(socket.SHUT_RDWR)


@pytest.mark.services
def test_publishing_and_consuming_survive_a_dropped_connection(rabbitmq_broker: Broker) -> None:
    broker = rabbitmq_broker
    broker.publish(Envelope.of("parse", _unit(1)))
    _drop_connection(broker)
    broker.publish(Envelope.of("parse", _unit(2)))  # reconnects and publishes

    seen: list[str] = []

    def handler(envelope: Envelope) -> list[Envelope]:
        seen.append(envelope.unit_id)
        if len(seen) == 1:
            _drop_connection(broker)  # the ack of this unit will fail: it must come back
        return []

    worker = Worker(broker, {"parse": handler})
    worker.run(until_idle=True)

    assert worker.stats.reconnects == 1
    assert sorted(seen) == [_unit(1), _unit(1), _unit(2)]
    assert broker.depth(broker.topology.queue("parse")) == 0


# -- publisher confirms (RabbitMQ only: the embedded transport has none) --------------------


def _depth_soon(broker: Broker, kind: Kind, want: int, timeout: float = 5.0) -> int:
    """The depth of ``kind``'s queue once it is ``want`` (a requeue is asynchronous)."""
    queue = broker.topology.queue(kind)
    deadline = time.monotonic() + timeout
    while (depth := broker.depth(queue)) != want and time.monotonic() < deadline:
        time.sleep(0.05)
    return depth


@pytest.mark.services
def test_a_follow_up_the_broker_refuses_leaves_the_incoming_unit_unacked(
    rabbitmq_broker: Broker,
) -> None:
    broker = rabbitmq_broker
    # A second queue on the follow-ups' route that takes nothing: the broker answers their
    # publish with a nack (reject-publish), as it does for a queue over its length limit.
    refuse = {"x-max-length": 0, "x-overflow": "reject-publish"}
    full = kombu.Queue(f"{broker.config.namespace}.full", broker.topology.exchange,
                       routing_key="normalize", durable=False, auto_delete=True,
                       queue_arguments=refuse)  # fmt: skip
    full.bind(broker.connection.default_channel).declare()
    broker.publish(Envelope.of("parse", _unit(1)))

    handler = Recorder(follow="normalize")
    with pytest.raises(QueueError) as caught:
        Worker(broker, {"parse": handler}).run(until_idle=True)

    assert caught.value.code == "QUEUE-PUBLISH"
    assert [e.unit_id for e in handler.seen] == [_unit(1)]
    # Never acknowledged: the incoming unit is back in its queue for the next worker.
    assert _depth_soon(broker, "parse", 1) == 1


@pytest.mark.services
def test_a_connection_lost_before_the_confirms_publishes_the_batch_again(
    rabbitmq_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = rabbitmq_broker
    broker.publish(Envelope.of("parse", _unit(1)))
    follow_ups = [Envelope.of("normalize", f"{_unit(1)}/n{n}") for n in range(3)]
    armed = threading.Event()
    drain = broker.connection.drain_events

    def drain_events(**kwargs: object) -> object:
        if armed.is_set():  # the follow-ups are sent, their confirms not read yet
            armed.clear()
            _drop_connection(broker)
        return drain(**kwargs)

    monkeypatch.setattr(broker.connection, "drain_events", drain_events)
    done: set[str] = set()  # the store: a unit's follow-ups are queued by its first commit
    parsed: list[str] = []
    normalized: list[str] = []

    def parse(envelope: Envelope) -> list[Envelope]:
        parsed.append(envelope.unit_id)
        if envelope.unit_id in done:
            return []  # a redelivery of a unit that committed: nothing to publish
        done.add(envelope.unit_id)
        armed.set()
        return follow_ups

    def normalize(envelope: Envelope) -> list[Envelope]:
        normalized.append(envelope.unit_id)
        return []

    worker = Worker(broker, {"parse": parse, "normalize": normalize})
    worker.run(until_idle=True)

    # The batch went out again on a new connection, then the unit was acknowledged (its
    # first delivery died with the connection: it came back once, and published nothing).
    assert parsed == [_unit(1), _unit(1)]
    assert worker.stats.reconnects == 1
    assert set(normalized) == {e.unit_id for e in follow_ups}  # each at least once
    assert broker.depth(broker.topology.queue("parse")) == 0
    assert broker.depth(broker.topology.queue("normalize")) == 0


@pytest.mark.services
def test_a_batch_is_sent_whole_before_its_confirms_are_awaited(
    rabbitmq_broker: Broker, monkeypatch: pytest.MonkeyPatch
) -> None:
    broker = rabbitmq_broker
    waits: list[int] = []
    wait = broker._wait_confirms

    def counting(confirms: object, tags: set[int]) -> None:
        waits.append(len(tags))
        wait(confirms, tags)  # type: ignore[arg-type]

    monkeypatch.setattr(broker, "_wait_confirms", counting)
    assert broker.publish_many(Envelope.of("parse", _unit(n)) for n in range(5)) == 5
    assert waits == [5]  # one wait for the five confirms
    assert broker.depth(broker.topology.queue("parse")) == 5
