"""Whether workers side by side give the verdicts of ``epoi run``: one sample file through
``epoi run`` on the embedded default, then through N ``epoi worker`` processes on RabbitMQ +
PostgreSQL (a fresh database and queue namespace, dropped after); the business errors of
both stores compared record by record (natural key, code), E110/E111 first: the codes that
depend on what was reported before, so on the order the units are done in.

Usage:  python benchmarks/same_verdicts.py [--policies 20000] [--workers 2]
            [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/test]
            [--broker-url amqp://guest:guest@127.0.0.1:5672//] [--out bench-out]

Prints each store's counts by code and the records whose errors differ (none: the same).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import epoi_run_contender, make_input  # noqa: E402

PY = sys.executable
_ERRORS = ("SELECT p.natural_key, e.code FROM business_errors e "
           "JOIN policy_reports p ON p.id = e.policy_report_id")


def _epoi(env: dict[str, str], *args: str) -> None:
    """One command of the set-up; exit 1 (something rejected, as the sample has) is fine,
    anything else stops the comparison rather than compare a store that missed a step."""
    done = subprocess.run([PY, "-m", "epoi", *args], env=env, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    if done.returncode not in (0, 1):
        raise SystemExit(f"epoi {' '.join(args[:2])} failed: {done.stderr[-2000:]}")


def embedded(path: Path, scratch: Path) -> set[tuple[str, str]]:
    _tag, _label, cmd, env = epoi_run_contender(path, scratch)
    subprocess.run(cmd, env={**os.environ, **env}, check=False, stdout=subprocess.DEVNULL)
    db = sqlite3.connect(f"file:{Path(env['EPOI_HOME']) / 'epoi.db'}?mode=ro", uri=True)
    try:
        return set(db.execute(_ERRORS).fetchall())
    finally:
        db.close()


def distributed(path: Path, scratch: Path, args: argparse.Namespace) -> set[tuple[str, str]]:
    admin = sa.create_engine(args.database_url, isolation_level="AUTOCOMMIT")
    name = f"epoi_verdicts_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = make_url(args.database_url).set(database=name).render_as_string(hide_password=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env.update(EPOI_HOME=str(scratch / "workers"), EPOI_DATABASE_URL=url,
               EPOI_BROKER_URL=args.broker_url, EPOI_QUEUE_NAMESPACE=f"verdicts-{name[14:]}")
    workers: list[subprocess.Popen[bytes]] = []
    db = sa.create_engine(url)
    try:
        _epoi(env, "db", "upgrade")
        for c in json.loads((path.parent / "sample.json").read_text())["carriers"]:
            _epoi(env, "carriers", "add", "--name", c["name"], "--naic", c["naic"],
                  "--isa-qualifier", "ZZ", "--isa-id", c["sender_id"], "--production")
        _epoi(env, "registrations", "load", str(path.parent / "registrations.csv"))
        _epoi(env, "submit", str(path))
        workers = [subprocess.Popen([PY, "-m", "epoi", "worker", "--stage", "all"], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                   for _ in range(args.workers)]
        while True:
            with db.connect() as conn:
                left = conn.scalar(sa.text(
                    "SELECT count(*) FROM work_units WHERE state = 'queued'"))
            if not left:
                break
            if any(w.poll() is not None for w in workers):
                raise SystemExit("a worker exited before the file was done")
            time.sleep(0.3)
        with db.connect() as conn:
            return {(k, c) for k, c in conn.execute(sa.text(_ERRORS))}
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(timeout=60)
        db.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--database-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--broker-url", default="amqp://guest:guest@127.0.0.1:5672//")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    path = make_input(args.policies, args.out).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="epoi-verdicts-"))
    try:
        one = embedded(path, scratch)
        many = distributed(path, scratch, args)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    for label, found in (("epoi run", one), (f"{args.workers} workers", many)):
        counts = Counter(code for _key, code in found)
        print(f"{label:10s} " + ", ".join(f"{c} {n}" for c, n in sorted(counts.items())))
    differ = sorted(one ^ many)
    print(f"records whose errors differ: {len({k for k, _c in differ})} "
          f"(only epoi run: {len(one - many)}, only the workers: {len(many - one)})")
    for key, code in differ[:20]:
        print(f"  {'epoi run' if (key, code) in one else 'workers '}  {code}  {key}")


if __name__ == "__main__":
    main()
