"""The scale-out setup's guarantees, checked on the real RabbitMQ and PostgreSQL:

- queues are durable, messages persistent, publishes confirmed;
- prefetch 1: a worker busy with a unit leaves the next one to another worker;
- a retry waits out its back-off in the broker (a TTL'd delay queue), not in a worker;
- the pipeline acknowledges a unit only after its database transaction committed;
- PostgreSQL: batched INSERTs (one executemany, pipelined by psycopg 3), a
  pre-pinging connection pool, the schema applied by `epoi db upgrade` and required by workers.

The chaos tests (kill -9, broker restart, poison, duplicates) are in ``test_chaos.py``.
Without PostgreSQL or RabbitMQ these tests skip with the reason; under CI they fail.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import amqp
import pytest
import sqlalchemy as sa
from kombu import Queue

from _helpers import register_carriers
from _scaleout import MAX_ATTEMPTS, RABBITMQ_URL, RETRY_DELAYS, Deployment
from epoi.config import Settings
from epoi.pipeline import Pipeline
from epoi.queues import Broker, Envelope, Worker, WorkerStats
from epoi.sample import generate
from epoi.store import (
    Store,
    SubmissionState,
    UnitKind,
    UnitRecord,
    add_units,
    create_submission,
)

pytestmark = pytest.mark.services

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)


@pytest.fixture
def broker(deployment: Deployment) -> Iterator[Broker]:
    with deployment.broker() as b:
        yield b


# -- RabbitMQ ----------------------------------------------------------------------------------


def test_queues_are_durable_messages_persistent_and_publishes_confirmed(broker: Broker) -> None:
    channel = broker.connection.default_channel
    for queue in broker.topology.all_queues():
        # Declaring a durable queue as transient is refused (406): the queue is durable.
        transient = Queue(queue.name, queue.exchange, queue.routing_key, durable=False,
                          queue_arguments=queue.queue_arguments)  # fmt: skip
        probe = broker.connection.channel()
        with pytest.raises(amqp.exceptions.PreconditionFailed):
            transient.bind(probe).declare()
    broker.publish(Envelope.of("parse", "sub-1"))
    assert broker.producer.channel._confirm_selected  # every publish waits for its confirm
    message = broker.topology.queue("parse").bind(channel).get(no_ack=True)
    assert message is not None
    assert message.properties["delivery_mode"] == 2  # persistent


def test_prefetch_one_leaves_the_next_unit_to_another_worker(broker: Broker) -> None:
    broker.publish_many(Envelope.of("parse", f"sub-{n}") for n in (1, 2))
    queue = broker.topology.queue("parse")
    depth_in_hand: list[int] = []
    stop = threading.Event()

    with Broker(broker.config) as probe:

        def handler(envelope: Envelope) -> list[Envelope]:
            depth_in_hand.append(probe.depth(queue))
            if len(depth_in_hand) == 2:
                stop.set()
            return []

        Worker(broker, {"parse": handler}).run(stop)

    # While the first unit was in hand the second was still in the queue, free for others.
    assert depth_in_hand == [1, 0]


def test_a_retry_waits_out_its_back_off_in_a_delay_queue(broker: Broker) -> None:
    broker.publish(Envelope.of("normalize", "sub-1/x"))
    seen: list[tuple[int, float]] = []
    stop = threading.Event()

    def handler(envelope: Envelope) -> list[Envelope]:
        seen.append((envelope.attempt, time.monotonic()))
        if envelope.attempt == 1:
            raise LookupError("fails once")
        stop.set()
        return []

    Worker(broker, {"normalize": handler}).run(stop)

    assert [a for a, _ in seen] == [1, 2]
    # A lower bound only: the broker held the message for the first back-off (its TTL).
    assert seen[1][1] - seen[0][1] >= RETRY_DELAYS[0] * 0.9
    delay_queue = broker.topology.delay_queue("normalize", RETRY_DELAYS[0])
    assert delay_queue.queue_arguments["x-message-ttl"] == round(RETRY_DELAYS[0] * 1000)
    assert delay_queue.queue_arguments["x-dead-letter-routing-key"] == "normalize"


# -- the pipeline on both ------------------------------------------------------------------------


class Crash(BaseException):
    """The worker dying inside the match unit's transaction (not retried, not caught)."""


def test_a_unit_is_acknowledged_only_after_its_commit(
    deployment: Deployment, broker: Broker, tmp_path: Path
) -> None:
    up = deployment.epoi("db", "upgrade")
    assert up.returncode == 0, up.stderr
    store = Store(deployment.database_url)
    settings = Settings(home=tmp_path / "home", database_url=deployment.database_url)
    clock = lambda: NOW  # noqa: E731
    summary = generate(8, tmp_path / "edi", today=date(2026, 11, 27), seed=5, carriers=1)
    register_carriers(store, summary.carriers, created_at=clock())  # one carrier
    crashes: list[int] = []

    def crashing_hook(session: sa.orm.Session, records: object) -> None:
        crashes.append(1)
        raise Crash  # after the unit's writes, before its commit

    try:
        pipeline = Pipeline(store, settings, clock, match_hook=crashing_hook)
        _results, parse_units = pipeline.submit(sorted(summary.files))
        broker.publish_many(parse_units)
        with pytest.raises(Crash):
            Worker(broker, pipeline.handlers()).run(until_idle=True)
        with store.session(readonly=True) as s:
            assert s.scalar(sa.text(
                "SELECT count(*) FROM work_units WHERE kind = 'match' AND state = 'done'"
            )) == 0  # fmt: skip
        broker.reconnect()  # the crashed consumer's channel is gone: its unit is back

        healed = Pipeline(store, settings, clock)
        Worker(broker, healed.handlers()).run(until_idle=True)
        with store.session(readonly=True) as s:
            left = s.scalar(sa.text("SELECT count(*) FROM work_units WHERE state <> 'done'"))
            policies = s.scalar(sa.text("SELECT count(*) FROM policy_reports"))
        assert crashes == [1]
        assert left == 0  # the match unit whose commit never happened came back and was done
        assert policies == 8
    finally:
        store.dispose()


@dataclass
class Backlog:
    store: Store
    settings: Settings
    units: list[Envelope]  # every normalize unit the parse planned, all queued in the store
    lost: list[Envelope]  # those of them committed and never published (a crash between)
    policies: int


def _now() -> datetime:
    return NOW


@pytest.fixture
def backlog(deployment: Deployment, broker: Broker, tmp_path: Path) -> Iterator[Backlog]:
    """24 policies parsed into normalize units of 4 on PostgreSQL, the first half of the
    units published to RabbitMQ, the rest lost."""
    up = deployment.epoi("db", "upgrade")
    assert up.returncode == 0, up.stderr
    store = Store(deployment.database_url)
    settings = Settings(home=tmp_path / "home", database_url=deployment.database_url,
                        broker_url=RABBITMQ_URL, queue_namespace=deployment.namespace,
                        max_attempts=MAX_ATTEMPTS, retry_delays=RETRY_DELAYS)
    summary = generate(24, tmp_path / "edi", today=date(2026, 11, 27), seed=5, carriers=1)
    register_carriers(store, summary.carriers, created_at=_now())
    try:
        pipeline = Pipeline(store, settings, _now, chunk_size=4)
        _results, parse_units = pipeline.submit(sorted(summary.files))
        units = [u for env in parse_units for u in pipeline.parse(env)]
        assert len(units) >= 4
        broker.publish_many(units[: len(units) // 2])
        yield Backlog(store, settings, units, units[len(units) // 2:], summary.policies)
    finally:
        store.dispose()


def test_a_worker_re_queues_the_stores_units_only_while_their_queues_stand_empty(
    deployment: Deployment, backlog: Backlog
) -> None:
    """On start, a backlog whose messages wait in the queue gets no second copy (a worker
    used to re-queue every queued unit whenever it started); units whose publish never
    happened are re-queued once the queues stand empty, without a restart."""
    from epoi.pipeline import serve

    stats: list[WorkerStats] = []
    stop = threading.Event()
    try:
        worker = threading.Thread(target=lambda: stats.extend(serve(
            store=backlog.store, settings=backlog.settings, clock=_now,
            stages=["normalize", "match"], stop_event=stop, install_signals=False,
            recover_every=0.5)))
        worker.start()
        deadline = time.monotonic() + 60
        while deployment.units_open() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()
        worker.join(timeout=30)
        assert deployment.units_open() == 0
        handled = sum(s.handled for s in stats)
        # Every unit once; at most the unit in hand when the queue went empty twice.
        assert len(backlog.units) <= handled <= len(backlog.units) + 1
    finally:
        stop.set()


def test_a_run_on_rabbitmq_re_queues_only_the_units_no_message_stands_for(
    deployment: Deployment, backlog: Backlog
) -> None:
    """``epoi run`` pointed at a shared broker: the units whose messages wait in the queues
    get no second copy (it used to re-queue every queued unit as it started); those whose
    publish never happened are re-queued once the queues stand empty, and the run finishes
    them too."""
    from epoi.pipeline import run

    done = run([], store=backlog.store, settings=backlog.settings, clock=_now,
               idle_timeout=0.3)
    assert deployment.units_open() == 0
    assert done.recovered_units == len(backlog.lost)  # not every unit, then the lost again
    assert done.unfinished == 0
    assert done.policies == backlog.policies


# -- PostgreSQL ------------------------------------------------------------------------------


def test_postgres_store_batches_inserts_and_pre_pings_its_pool(deployment: Deployment) -> None:
    up = deployment.epoi("db", "upgrade")
    store = Store(deployment.database_url)
    assert up.returncode == 0 and f"revision {store.head_revision()}" in up.stdout, up.stderr
    try:
        assert isinstance(store.engine.pool, sa.pool.QueuePool)
        assert store.engine.pool._pre_ping
        statements: list[tuple[bool, int]] = []

        @sa.event.listens_for(store.engine, "before_cursor_execute")
        def _count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith("INSERT INTO WORK_UNITS"):
                statements.append((executemany, len(parameters)))

        with store.session() as session:
            sub, _ = create_submission(
                session, file_name="f.x12", received_at=NOW, size=1, sha256="0" * 64,
                archive_path="archive/f.x12", state=SubmissionState.ARCHIVED,
            )  # fmt: skip
            units = [UnitRecord(f"sub-{sub.id}/u{n}", UnitKind.NORMALIZE, sub.id)
                     for n in range(2500)]  # fmt: skip
            add_units(session, units, now=NOW)
        # 2500 rows in one executemany call (psycopg 3 sends them pipelined, without a
        # round trip per row), not 2500 statements.
        assert statements == [(True, 2500)]
        assert deployment.scalar("SELECT count(*) FROM work_units") == 2500
    finally:
        store.dispose()


def test_workers_refuse_an_unmigrated_database_until_db_upgrade(deployment: Deployment) -> None:
    refused = deployment.epoi("worker", "--stage", "all", timeout=60)
    assert refused.returncode == 2
    assert "epoi db upgrade" in refused.stderr + refused.stdout
    up = deployment.epoi("db", "upgrade")
    assert up.returncode == 0, up.stderr
    head = Store(deployment.database_url)
    try:
        assert deployment.scalar("SELECT version_num FROM alembic_version") == head.head_revision()
    finally:
        head.dispose()


# -- a worker whose broker stays away ------------------------------------------------------------


def test_a_consumer_that_gives_up_stops_the_worker_with_its_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Embedded transport: no service needed.)  After the reconnect retries a consumer
    thread raises QUEUE-CONNECT: the whole worker stops and raises it (`epoi worker` exits
    3), rather than living on with a dead consumer and exiting 0."""
    import epoi.pipeline._run as run_module
    from epoi.errors import QueueError
    from epoi.pipeline import serve
    from epoi.queues import WorkerStats

    settings = Settings(home=tmp_path / "home")
    store = Store.from_settings(settings)
    store.upgrade()
    calls: list[int] = []

    def run(self: Worker, stop_event: threading.Event | None = None, **_: object) -> WorkerStats:
        calls.append(1)
        if len(calls) == 1:
            raise QueueError("QUEUE-CONNECT", "broker unreachable: ConnectionRefusedError")
        assert stop_event is not None
        stop_event.wait(30)  # the other consumer serves until the process stops
        return WorkerStats()

    monkeypatch.setattr(run_module.Worker, "run", run)
    try:
        with pytest.raises(QueueError) as raised:
            serve(store=store, settings=settings, clock=lambda: NOW, stages=["parse"],
                  concurrency=2, install_signals=False)  # fmt: skip
    finally:
        store.dispose()
    assert raised.value.code == "QUEUE-CONNECT"
    assert len(calls) == 2
