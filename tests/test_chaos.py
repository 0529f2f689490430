"""Chaos against the real services: `epoi worker` subprocesses on RabbitMQ and PostgreSQL.

Each test gets a fresh PostgreSQL database (``epoi_chaos_<random>``, dropped at the end) and
its own queue namespace (``EPOI_QUEUE_NAMESPACE``, deleted at the end), migrated with
``epoi db upgrade``; files go in with ``epoi submit`` (which publishes their units when a
broker is configured).  After the chaos every record of the batch must be stored exactly
once: counts and unique natural keys against ``epoi validate --json`` of the same files.

- kill -9 of workers at >= 50 random points while the batch is in flight, restarting them;
- RabbitMQ restarted (``rabbitmqctl stop_app`` / ``start_app``) in the middle of a run;
- a poison message dead-lettered after ``EPOI_MAX_ATTEMPTS`` deliveries while good units flow;
- two workers given the same units at the same time.

Without PostgreSQL or RabbitMQ the tests skip with the reason; under CI they fail.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import time

import pytest

from _scaleout import (
    MAX_ATTEMPTS,
    Batch,
    Deployment,
    Worker,
    assert_stored_once,
    broker_reachable,
    make_batch,
    require_services,
)
from epoi.queues import Envelope

pytestmark = [pytest.mark.chaos, pytest.mark.services]

SEED = 20261127
KILLS = 50
WAVE = 4  # files per `epoi submit` during the kill test
BACKLOG = 12  # units open below which the next wave is submitted
SLOTS = 3  # workers alive at once during the kill test
STAGES = ("parse", "normalize", "match")


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """10 files of 12 policies, sets of 4: 30 normalize and up to 30 match units."""
    return make_batch(tmp_path_factory.mktemp("chaos-small"), 120, seed=11, per_file=12,
                      per_set=4)  # fmt: skip


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Batch:
    """100 files of 12 policies: enough units to keep workers busy through 50 kills (50
    files drained after 45 kills once the stages got faster, on a quiet machine; 75 after
    43 kills once, on 2026-12-06)."""
    return make_batch(tmp_path_factory.mktemp("chaos-large"), 1200, seed=12, per_file=12,
                      per_set=4)  # fmt: skip


def _dead_letters(dep: Deployment) -> list[dict]:
    listed = dep.epoi("dead", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return json.loads(listed.stdout)["dead"]


# -- kill -9 -----------------------------------------------------------------------------------


def test_kill_minus_9_of_workers_at_50_points_stores_every_record_once(
    deployment: Deployment, large: Batch
) -> None:
    dep, rng = deployment, random.Random(SEED)
    dep.setup(large.carriers)
    pending = list(large.files)
    submitter: subprocess.Popen[bytes] | None = None

    # Three worker slots; each worker is killed a random 0-0.8 s after its start-up is over
    # (store re-queued, consumers starting), i.e. while it fetches, handles, commits,
    # publishes follow-ups or acks; then a new one starts in its place.  (Start-up, mostly
    # imports, is what a kill costs here: three slots keep the kills coming on 2 cores.)
    # A kill counts only while the store has work open; files keep arriving, a wave whenever
    # the backlog runs low, so a fast machine cannot drain the batch between kills.
    slots = [dep.start_worker("--stage", "all") for _ in range(SLOTS)]
    kill_at: list[float | None] = [None] * SLOTS
    kills = 0
    started = time.monotonic()
    deadline = started + 300  # a hang guard; the loop takes 60-150 s here
    while kills < KILLS:
        assert time.monotonic() < deadline, f"only {kills} kills in time"
        open_units = dep.units_open()
        idle = submitter is None or submitter.poll() is not None
        if idle:
            assert submitter is None or submitter.returncode in (0, 1)
            if open_units < BACKLOG and pending:
                wave, pending = pending[:WAVE], pending[WAVE:]
                submitter = subprocess.Popen(
                    [sys.executable, "-m", "epoi", "submit", *map(str, wave)], env=dep.env,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                )  # fmt: skip
                continue
            assert open_units > 0 or pending, f"the batch drained after {kills} kills"
        for i, worker in enumerate(slots):
            now = time.monotonic()
            if kill_at[i] is None and worker.ready():
                kill_at[i] = now + rng.uniform(0.0, 0.8)
            if kill_at[i] is not None and now >= kill_at[i]:  # type: ignore[operator]
                if dep.units_open() == 0:
                    continue  # nothing in flight: wait for the next wave
                kills += worker.kill()
                slots[i] = dep.start_worker("--stage", "all")
                kill_at[i] = None
        time.sleep(0.02)
    if submitter is not None:
        submitter.wait(timeout=60)
    for path in pending:  # any file not submitted yet goes in now
        dep.submit([path])
    for worker in slots:
        worker.kill()

    elapsed = time.monotonic() - started
    finisher = dep.start_worker("--stage", "all")
    dep.wait_until(finisher.ready, 60, "the last worker to start")
    dep.wait_drained(timeout=120)
    assert finisher.terminate() == 0  # graceful SIGTERM: exit 0
    got = dep.snapshot()
    print(f"kill -9: {kills} kills with work in flight in {elapsed:.0f} s; stored {got}")
    assert_stored_once(got, large.expected)
    assert _dead_letters(dep) == []


# -- RabbitMQ restart ------------------------------------------------------------------------


def _rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=120)


def test_rabbitmq_restart_mid_run_loses_nothing_and_doubles_nothing(
    deployment: Deployment, large: Batch
) -> None:
    if shutil.which("rabbitmqctl") is None:
        require_services()  # (skips or fails with the services' state first)
        import os

        reason = "rabbitmqctl is not on PATH: cannot restart the broker"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    dep = deployment
    dep.setup(large.carriers)
    dep.submit(large.files)
    total = dep.units_open()
    worker = dep.start_worker("--stage", "all")
    # The outage starts as soon as the worker got going: rabbitmqctl itself takes a second
    # or two to start, and the batch must not be over by then.
    dep.wait_until(lambda: dep.units_open() < total, 60, "the run to get going")
    try:
        _rabbitmqctl("stop_app")
        left_at_outage = dep.units_open()
        time.sleep(3)
    finally:
        # Whatever happened, the broker comes back before this test ends (other tests use it).
        _rabbitmqctl("start_app")
        _rabbitmqctl("await_startup")
        dep.wait_until(broker_reachable, 60, "RabbitMQ to listen again")
    assert left_at_outage > 0  # the outage hit the run in the middle

    # The worker reconnects by itself (bounded retries, then exit 2 with QUEUE-CONNECT):
    # it must still be running and finish the batch without a restart.
    dep.wait_drained(timeout=120)
    assert worker.proc.poll() is None, worker.log_text()[-2000:]
    log = worker.log_text()
    assert "worker.connection_lost" in log
    assert worker.terminate() == 0
    got = dep.snapshot()
    print(f"RabbitMQ restart with {left_at_outage}/{total} units left: stored {got}")
    assert_stored_once(got, large.expected)
    assert _dead_letters(dep) == []


# -- poison ------------------------------------------------------------------------------------


def test_a_poison_message_is_dead_lettered_after_max_deliveries_and_the_queue_flows(
    deployment: Deployment, small: Batch
) -> None:
    dep = deployment
    dep.setup(small.carriers)
    worker = dep.start_worker("--stage", "all")
    dep.wait_until(worker.ready, 60, "the worker to start")
    poison = Envelope.of("normalize", "sub-999999/poison")  # no such unit: fails every time
    with dep.broker() as broker:
        broker.publish(poison, headers={"x-chaos-origin": "poison-test"})
    dep.submit(small.files)  # good units behind the poison

    dep.wait_until(lambda: dep.units_open() == 0 and dep.stage_depth() == 0, 90,
                   "the good units and the poison's retries")  # fmt: skip
    [letter] = _dead_letters(dep)
    assert letter["unit_id"] == poison.unit_id
    assert letter["queue"] == f"{dep.namespace}.normalize"
    assert letter["error_code"] == "UNEXPECTED"
    assert letter["attempt"] == MAX_ATTEMPTS
    assert letter["original_headers"]["x-chaos-origin"] == "poison-test"
    assert letter["original_headers"]["x-epoi-last-error-code"] == "UNEXPECTED"
    log = [json.loads(line) for line in worker.log_text().splitlines() if line.startswith("{")]
    retries = [e for e in log if e.get("event") == "worker.retry"
               and e.get("unit_id") == poison.unit_id]  # fmt: skip
    assert [e["attempt"] for e in retries] == list(range(1, MAX_ATTEMPTS))
    assert_stored_once(dep.snapshot(), small.expected)

    # Replayed, it fails again the same number of times and parks again; nothing is lost.
    replayed = dep.epoi("dead", "replay", "--all")
    assert replayed.returncode == 0 and "1 dead letter(s) replayed" in replayed.stdout
    dep.wait_until(lambda: len(_dead_letters(dep)) == 1 and dep.stage_depth() == 0, 60,
                   "the replayed poison to park again")  # fmt: skip
    [again] = _dead_letters(dep)
    assert (again["unit_id"], again["attempt"]) == (poison.unit_id, MAX_ATTEMPTS)
    assert again["id"] != letter["id"]
    assert worker.terminate() == 0


# -- the same unit twice -----------------------------------------------------------------------


def test_two_workers_given_the_same_units_store_one_set_of_rows(
    deployment: Deployment, small: Batch
) -> None:
    dep = deployment
    dep.setup(small.carriers)
    dep.submit(small.files)
    with dep.broker() as broker, dep.db.connect() as conn:
        broker.purge()
        units = conn.exec_driver_sql(
            "SELECT key, kind FROM work_units WHERE state = 'queued' ORDER BY id"
        ).all()
        # Each unit twice in a row: with prefetch 1 the two workers take both copies at once.
        for key, kind in units:
            broker.publish(Envelope.of(kind, key))
            broker.publish(Envelope.of(kind, key))
    assert len(units) == small.expected["sets"]
    workers: list[Worker] = [dep.start_worker("--stage", "all") for _ in range(2)]

    dep.wait_drained(timeout=90)
    assert [w.terminate() for w in workers] == [0, 0]
    assert all("worker.stopping" in w.log_text() for w in workers)
    got = dep.snapshot()
    print(f"two workers, every unit published twice: stored {got}")
    assert_stored_once(got, small.expected)
