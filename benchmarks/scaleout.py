"""epoi scale-out benchmark: the same input drained by 1, then 2 (or N) `epoi worker`
processes on RabbitMQ + PostgreSQL.

Usage:  python benchmarks/scaleout.py [--policies 200000] [--workers 1,2] [--rounds 1]
            [--out bench-scaleout]
            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
            [--broker-url amqp://guest:guest@127.0.0.1:5672//] [--no-registrations]
            [--profile DIR] [--json]

Input is made once with ``epoi sample``.  Each worker count gets a fresh PostgreSQL database
(``epoi_bench_<random>``, created next to the one named by --database-url, dropped after)
and its own queue namespace, then what an operator does: ``epoi db upgrade``, ``epoi
carriers import``, ``epoi registrations load`` (so that the match stage has work),
``epoi submit`` of every file (archive, validate, TA1/997, units queued and published).
Then N ``epoi worker --stage all`` processes are started together and timed until the store
holds no unit left to do (normalize and match of every chunk); they are stopped with SIGTERM.

The drain time includes the workers' start-up (imports, connecting, re-queueing): that is
what an operator waits for.  Reported: policies/s per worker count, the ratio to one
worker, and the workers' CPU seconds (from ``wait4``) over the drain time, i.e. how many
cores they actually got: on a machine with fewer free cores than workers the ratio measures
the machine, and that column says so.  With PostgreSQL on this machine, also the CPU
seconds of the database's backends that ended during the drain (the workers' connections,
counted by the postmaster when they exit; anyone else's backends ending then too): the
worker's and the database's CPU per policy are the figures a shared machine cannot blur.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url

PY = sys.executable


@dataclass
class Drain:
    workers: int
    policies: int
    submit_seconds: float
    drain_seconds: float
    policies_per_second: float
    units: int
    # user + system CPU of the worker processes (not PostgreSQL's or RabbitMQ's), and that
    # divided by the drain time: how many cores the workers really got on this machine.
    worker_cpu_seconds: float = 0.0
    cores_used: float = 0.0
    # CPU of PostgreSQL backends that exited during the drain (None: not on this machine).
    postgres_cpu_seconds: float | None = None


def _epoi(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([PY, "-m", "epoi", *args], env=env, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if done.returncode not in (0, 1):
        raise SystemExit(f"epoi {' '.join(args[:2])} failed ({done.returncode}):\n{done.stderr}")
    return done.stdout


def _sample(out: Path, policies: int, env: dict[str, str]) -> dict[str, Any]:
    summary_file = out / "sample.json"
    if summary_file.exists():
        summary = json.loads(summary_file.read_text())
        if summary["policies"] == policies:
            return summary  # the same input as last time
    summary = json.loads(_epoi(env, "sample", "--policies", str(policies), "--seed", "1",
                               "--today", "2026-11-27", "--out", str(out), "--json"))  # fmt: skip
    summary_file.write_text(json.dumps(summary))
    with (out / "carriers.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "naic", "isa_qualifier", "isa_id", "environment"])
        for c in summary["carriers"]:
            w.writerow([c["name"], c["naic"], "ZZ", c["sender_id"], "production"])
    return summary


def _open_units(db: sa.Engine) -> tuple[int, int]:
    with db.connect() as conn:
        left, total = conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE state <> 'done'), count(*) FROM work_units"
        ).one()
    return int(left), int(total)


def _postmaster_pid(admin: sa.Engine) -> int | None:
    """The local postmaster's pid (the parent of this connection's backend), if visible."""
    with admin.connect() as conn:
        backend = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
    try:
        status = Path(f"/proc/{backend}/status").read_text()
    except OSError:
        return None  # PostgreSQL on another machine (or in a container)
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _children_cpu(pid: int | None) -> float | None:
    """User + system CPU seconds of ``pid``'s children that have exited (and were reaped)."""
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2:].split()  # after "pid (comm) "
    cutime, cstime = int(fields[13]), int(fields[14])
    return (cutime + cstime) / os.sysconf("SC_CLK_TCK")


def drain(n: int, args: argparse.Namespace, summary: dict[str, Any], out: Path) -> Drain:
    admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"epoi_bench_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    db = sa.create_engine(url)
    home = out / f"home-{n}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env.update(EPOI_HOME=str(home), EPOI_DATABASE_URL=url, EPOI_BROKER_URL=args.broker_url,
               EPOI_QUEUE_NAMESPACE=f"epoibench-{name[11:]}")  # fmt: skip
    workers: list[subprocess.Popen[bytes]] = []
    try:
        _epoi(env, "db", "upgrade")
        _epoi(env, "carriers", "import", str(out / "carriers.csv"))
        if args.registrations:
            _epoi(env, "registrations", "load", summary["registrations_file"])
        t0 = time.perf_counter()
        _epoi(env, "submit", *summary["files"])
        submitted = time.perf_counter() - t0
        _note(f"{n} worker(s): submitted in {submitted:.1f} s; draining")

        postmaster = _postmaster_pid(admin)
        pg_cpu0 = _children_cpu(postmaster)
        t0 = time.perf_counter()
        workers = [
            subprocess.Popen([PY, "-m", "epoi", "worker", "--stage", "all",
                              *(["--concurrency", str(args.concurrency)]
                                if args.concurrency else [])], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(n)
        ]  # fmt: skip
        spies = [_profile(w.pid, args.profile / f"{name[11:]}-{n}w-{i}.txt")
                 for i, w in enumerate(workers)] if args.profile else []
        while True:
            left, total = _open_units(db)
            if left == 0:
                break
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker exited before the batch was drained")
            time.sleep(0.2)
        drained = time.perf_counter() - t0
        _note(f"{n} worker(s): drained in {drained:.1f} s")
        cpu = _stop(workers)
        for spy in spies:  # it writes its file once the worker it watched has exited
            spy.wait(timeout=60)
        db.dispose()
        time.sleep(0.5)  # the workers' backends exit once their connections close
        pg_cpu1 = _children_cpu(postmaster)
        pg_cpu = None if pg_cpu0 is None or pg_cpu1 is None else round(pg_cpu1 - pg_cpu0, 1)
        policies = summary["policies"]
        return Drain(n, policies, round(submitted, 1), round(drained, 1),
                     round(policies / drained), total, round(cpu, 1),
                     round(cpu / drained, 2), pg_cpu)  # fmt: skip
    finally:
        _stop(workers)
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
        _delete_namespace(args.broker_url, env["EPOI_QUEUE_NAMESPACE"])


def _profile(pid: int, path: Path) -> subprocess.Popen[bytes]:
    """py-spy sampling a worker, 100 times a second, into ``path`` (collapsed stacks, one a
    line with its count: ``benchmarks/spy_top.py`` sums them up)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--rate", "100",
                             "--format", "raw", "--output", str(path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def _stop(workers: list[subprocess.Popen[bytes]]) -> float:
    """SIGTERM the workers, reap them; their CPU seconds (user + system, from wait4)."""
    cpu = 0.0
    for w in workers:
        if w.returncode is None:
            w.send_signal(signal.SIGTERM)
    for w in workers:
        if w.returncode is None:
            _pid, status, usage = os.wait4(w.pid, 0)
            w.returncode = os.waitstatus_to_exitcode(status)
            cpu += usage.ru_utime + usage.ru_stime
    return cpu


def _or_dash(value: object) -> str:
    return "-" if value is None else str(value)


def _note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def _delete_namespace(broker_url: str, namespace: str) -> None:
    from epoi.queues import Broker, QueueConfig

    with Broker(QueueConfig(broker_url=broker_url, namespace=namespace)) as broker:
        broker.delete()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", type=int, default=200_000)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--concurrency", type=int, default=0,
                        help="each worker's --concurrency (default: the worker's own)")
    parser.add_argument("--out", type=Path, default=Path("bench-scaleout"))
    parser.add_argument("--database-url",
                        default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--broker-url", default="amqp://guest:guest@127.0.0.1:5672//")
    parser.add_argument("--no-registrations", dest="registrations", action="store_false",
                        help="skip loading registrations (the match stage then finds none)")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run the worker counts this many times in turn (1, 2, 1, 2, ...):"
                             " each round's ratio is to its own first count, and the medians"
                             " come last (this machine's speed drifts from minute to minute)")
    parser.add_argument("--profile", type=Path, metavar="DIR",
                        help="sample every worker with py-spy into DIR (py-spy must be on the"
                             " PATH; the sampling costs the workers a few per cent)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    args.out.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    summary = _sample(args.out.resolve(), args.policies, env)
    counts = [int(n) for n in args.workers.split(",")]
    rows: list[dict[str, Any]] = []
    for round_ in range(1, args.rounds + 1):
        results = [drain(n, args, summary, args.out.resolve()) for n in counts]
        base = results[0].policies_per_second
        rows += [asdict(r) | {"round": round_, "ratio": round(r.policies_per_second / base, 2)}
                 for r in results]  # fmt: skip
    doc = {
        "policies": args.policies,
        "files": len(summary["files"]),
        "registrations": args.registrations,
        "results": rows,
        "medians": {n: {key: statistics.median(r[key] for r in rows if r["workers"] == n)
                        for key in ("policies_per_second", "ratio")} for n in counts},
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"{args.policies} policies in {doc['files']} files, RabbitMQ + PostgreSQL")
    print(f"{'workers':>7} {'submit s':>9} {'drain s':>8} {'units':>6} {'policies/s':>11} "
          f"{'ratio':>6} {'worker CPU s':>13} {'cores used':>11} "
          f"{'postgres CPU s':>15}")  # fmt: skip
    for r in doc["results"]:
        print(f"{r['workers']:>7} {r['submit_seconds']:>9} {r['drain_seconds']:>8} "
              f"{r['units']:>6} {r['policies_per_second']:>11} {r['ratio']:>6} "
              f"{r['worker_cpu_seconds']:>13} {r['cores_used']:>11} "
              f"{_or_dash(r['postgres_cpu_seconds']):>15}")  # fmt: skip
    if args.rounds > 1:
        for n, m in doc["medians"].items():
            print(f"median of {args.rounds} rounds, {n} worker(s): "
                  f"{m['policies_per_second']:,.0f} policies/s, ratio {m['ratio']}")


if __name__ == "__main__":
    main()
