"""A throw-away scale-out deployment for tests: a fresh PostgreSQL database, a RabbitMQ
namespace of its own, an EPOI_HOME under tmp_path, and `epoi worker` subprocesses.

Used by ``test_chaos.py`` and ``test_scaleout.py``.  Without the services the tests skip with
the reason, except under CI (env ``CI`` set), where they fail.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from _helpers import subprocess_env, write_carriers_csv
from epoi.queues import Broker, QueueConfig

POSTGRES_URL = os.environ.get(
    "EPOI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
RABBITMQ_URL = os.environ.get("EPOI_TEST_RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672//")

# Workers under test retry quickly: a poison message is dead after 3 deliveries in < 1 s.
MAX_ATTEMPTS = 3
RETRY_DELAYS = (0.2, 0.4)


SERVICES = {"PostgreSQL": (POSTGRES_URL, 5432), "RabbitMQ": (RABBITMQ_URL, 5672)}


def require_services(*names: str) -> None:
    """Skip (fail under CI) unless the named services (default: all of ``SERVICES``) answer."""
    for what in names or SERVICES:
        url, default_port = SERVICES[what]
        parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
        host, port = parts.hostname or "127.0.0.1", parts.port or default_port
        try:
            socket.create_connection((host, port), timeout=2).close()
        except OSError as exc:
            reason = f"{what} unreachable at {host}:{port} ({type(exc).__name__})"
            if os.environ.get("CI"):
                pytest.fail(f"{reason}; CI is set, so this is a failure, not a skip")
            pytest.skip(reason)


def broker_reachable() -> bool:
    parts = urlsplit(RABBITMQ_URL)
    try:
        socket.create_connection((parts.hostname, parts.port or 5672), timeout=1).close()
    except OSError:
        return False
    return True


@dataclass
class Worker:
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.monotonic)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def ready(self) -> bool:
        """Past start-up: the store's queued units were re-queued, consumers come next."""
        return "queue.requeued" in self.log_text()

    def kill(self) -> bool:
        """SIGKILL; True when it was still running."""
        alive = self.proc.poll() is None
        if alive:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        return alive

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM (graceful stop) and the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)


class Deployment:
    """One epoi installation on the shared services, torn down by :meth:`close`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.namespace = f"epoichaos-{uuid.uuid4().hex[:10]}"
        self.db_name = f"epoi_chaos_{uuid.uuid4().hex[:12]}"
        self.admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{self.db_name}"')
        self.database_url = make_url(POSTGRES_URL).set(database=self.db_name).render_as_string(
            hide_password=False
        )
        self.db = sa.create_engine(self.database_url, pool_pre_ping=True)
        self.workers: list[Worker] = []
        self._logs = 0

    # -- environment and commands -----------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        return subprocess_env(
            EPOI_HOME=str(self.home),
            EPOI_DATABASE_URL=self.database_url,
            EPOI_BROKER_URL=RABBITMQ_URL,
            EPOI_QUEUE_NAMESPACE=self.namespace,
            EPOI_MAX_ATTEMPTS=str(MAX_ATTEMPTS),
            EPOI_RETRY_DELAYS=json.dumps(list(RETRY_DELAYS)),
        )

    def epoi(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "epoi", *args], env=self.env, capture_output=True,
            text=True, check=False, timeout=timeout,
        )  # fmt: skip

    def setup(self, carriers: Path) -> None:
        """`epoi db upgrade` and `epoi carriers import`: what an operator does first."""
        up = self.epoi("db", "upgrade")
        assert up.returncode == 0, up.stderr
        imported = self.epoi("carriers", "import", str(carriers))
        assert imported.returncode == 0, imported.stderr

    def submit(self, files: Sequence[Path]) -> None:
        done = self.epoi("submit", *map(str, files), "--json")
        assert done.returncode in (0, 1), done.stderr
        assert all(not s["duplicate"] for s in json.loads(done.stdout)["submissions"])

    def start_worker(self, *args: str) -> Worker:
        self._logs += 1
        log = self.home.parent / f"worker-{self.namespace}-{self._logs}.log"
        with log.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-m", "epoi", "--log-level", "INFO", "worker", *args],
                env=self.env, stdout=subprocess.DEVNULL, stderr=fh,
            )  # fmt: skip
        worker = Worker(proc, log)
        self.workers.append(worker)
        return worker

    def queue_config(self) -> QueueConfig:
        return QueueConfig(
            broker_url=RABBITMQ_URL, namespace=self.namespace, max_attempts=MAX_ATTEMPTS,
            retry_delays=RETRY_DELAYS, connect_retries=3,
        )  # fmt: skip

    @contextmanager
    def broker(self) -> Iterator[Broker]:
        with Broker(self.queue_config()) as broker:
            yield broker

    # -- what the store and the queues hold ---------------------------------------------------

    def scalar(self, sql: str) -> Any:
        with self.db.connect() as conn:
            return conn.exec_driver_sql(sql).scalar()

    def units_open(self) -> int:
        return int(self.scalar("SELECT count(*) FROM work_units WHERE state <> 'done'"))

    def stage_depth(self) -> int:
        """Messages ready in the stage queues and their retry queues."""
        with self.broker() as broker:
            return broker.waiting(("parse", "normalize", "match"))

    def wait_until(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not done():
            if time.monotonic() > deadline:
                logs = "\n".join(w.log_text()[-2000:] for w in self.workers[-2:])
                raise AssertionError(f"timed out waiting for {what}; last worker logs:\n{logs}")
            time.sleep(0.25)

    def wait_drained(self, timeout: float = 90) -> None:
        """Every unit done in the store and nothing left in the stage queues."""
        self.wait_until(lambda: self.units_open() == 0 and self.stage_depth() == 0,
                        timeout, "the workers to drain the batch")  # fmt: skip

    def snapshot(self) -> dict[str, Any]:
        q = self.scalar
        return {
            "policies": q("SELECT count(*) FROM policy_reports"),
            "unique_keys": q("SELECT count(DISTINCT natural_key) FROM policy_reports"),
            "rejected": q("SELECT count(*) FROM policy_reports WHERE status = 'rejected'"),
            "vehicles": q("SELECT count(*) FROM vehicles"),
            "unique_vehicles": q(
                "SELECT count(DISTINCT (policy_report_id, ordinal)) FROM vehicles"
            ),
            "insureds": q("SELECT count(*) FROM insureds"),
            "business_errors": q("SELECT count(*) FROM business_errors"),
            "sets": q("SELECT count(*) FROM transaction_sets"),
            "acks": q("SELECT count(*) FROM acks"),
            "error_returns": q("SELECT count(*) FROM error_returns"),
            "sets_with_a_return": q("SELECT count(DISTINCT set_id) FROM error_returns"),
            "units_open": q("SELECT count(*) FROM work_units WHERE state <> 'done'"),
            "states": q("SELECT string_agg(DISTINCT state::text, ',') FROM submissions"),
            # Lineage left behind: not at its end state (matched; normalised when nothing in
            # it was up for matching).
            "submissions_behind": q(
                "SELECT count(*) FROM submissions s WHERE s.state NOT IN ('normalised', "
                "'matched') OR (s.state = 'normalised' AND EXISTS (SELECT 1 FROM work_units u "
                "WHERE u.submission_id = s.id AND u.kind = 'match'))"
            ),
        }

    # -- teardown -------------------------------------------------------------------------------

    def close(self) -> None:
        for w in self.workers:
            if w.proc.poll() is None:
                w.kill()
        self.db.dispose()
        if broker_reachable():
            try:
                with self.broker() as broker:
                    broker.delete()
            except Exception:  # noqa: BLE001 - tidying; a leftover namespace harms no one
                pass
        with self.admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')
        self.admin.dispose()


@dataclass(frozen=True)
class Batch:
    files: list[Path]
    carriers: Path
    expected: dict[str, int]


def make_batch(out: Path, policies: int, *, seed: int, per_file: int, per_set: int) -> Batch:
    """Small carrier files (a few faulty records), their carriers file and the counts a
    correct run stores, from `epoi validate --json`."""
    from datetime import date

    from epoi.sample import FaultOptions, generate

    summary = generate(
        policies, out, today=date(2026, 11, 27), seed=seed, policies_per_file=per_file,
        policies_per_set=per_set, faults=FaultOptions(bad_check_digits=0.03, missing_dates=0.03),
    )  # fmt: skip
    carriers = write_carriers_csv(summary.carriers, out / "carriers.csv")
    files = sorted(summary.files)
    checked = subprocess.run(
        [sys.executable, "-m", "epoi", "validate", *map(str, files), "--json"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    doc = json.loads(checked.stdout)
    interchanges = [i for f in doc["files"] for i in f["interchanges"]]
    sets = [t for i in interchanges for g in i["groups"] for t in g["transaction_sets"]]
    expected = {
        "policies": sum(t["policies"] for t in sets),
        "vehicles": sum(t["vehicles"] for t in sets),
        "rejected": sum(t["rejected"] for t in sets),
        "sets": len(sets),
        "acks": 2 * len(interchanges),  # a TA1 and a 997 each
    }
    assert expected["policies"] == policies
    return Batch(files, carriers, expected)


def assert_stored_once(snapshot: dict[str, Any], expected: dict[str, int]) -> None:
    """Every record of the batch stored exactly once, every set answered once."""
    assert snapshot["units_open"] == 0
    assert snapshot["submissions_behind"] == 0, snapshot["states"]
    assert snapshot["unique_keys"] == snapshot["policies"] == expected["policies"]
    assert snapshot["unique_vehicles"] == snapshot["vehicles"] == expected["vehicles"]
    assert snapshot["rejected"] == expected["rejected"]
    assert snapshot["sets"] == expected["sets"]
    assert snapshot["acks"] == expected["acks"]
    assert snapshot["error_returns"] == snapshot["sets_with_a_return"] == expected["sets"]
