"""Online service benchmark: coverage checks against ``epoi serve`` over loopback.

    python benchmarks/match.py --registrations 1000000 --reports 200000 --steps load,index,stage
    python benchmarks/serve.py --registrations 1000000 --reports 200000

The store is the match benchmark's (``bench-out/match-<size>/bench.db``: the registrations
loaded and the reports matched), so build it first as above.  Three measurements, each
bounded in count and time:

1. ``hold``: ``--connections`` (6,000) keep-alive connections opened and held while a steady
   ``--rate`` (1,000 coverage checks/s) runs through them: p50/p99 latency, errors, server RSS.
2. ``search``: rising rates on ``--search-connections`` connections until p99 exceeds 100 ms
   (or errors appear): the highest rate sustained.
3. ``upload``: coverage checks at ``--upload-rate`` while a carrier uploads 200 MB files back
   to back (each different, none a duplicate): p99 and the server's peak RSS meanwhile.

The load comes from a separate process (this script with ``--client``, on uvloop): one
protocol object per connection, one request at a time on each (no pipelining), every
request built before the clock starts, sent on a fixed schedule (open loop: a latency
counts from when the request was due, so a stalled server cannot hide its queue) and round
all the connections held.  The client and the server share the machine's cores, so each
line gives the server's CPU time over the measurement (checks per server CPU-second: the
figure that does not depend on what else the machine runs) and the client's.  It prints
one line per measurement and, with ``--json``, the figures.  ``BENCH_DEBUG=1``: the client
also prints when the slow (> 50 ms) checks were due, to tell a warm-up from a stall.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import csv
import gc
import json
import os
import random
import resource
import shutil
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

DAY = "2026-11-27"
BIG = 200 * 1024 * 1024


# -- the load client (a process of its own) ----------------------------------------------------


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class _Conn(asyncio.Protocol):
    """One keep-alive connection of the load client: at most one request in flight (no
    pipelining); the response is parsed just enough to know where it ends."""

    def __init__(self, load: _Load) -> None:
        self.load, self.buf, self.due, self.open = load, b"", 0.0, False
        self.transport: Any = None  # asyncio's or uvloop's transport

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport, self.open = transport, True

    def connection_lost(self, exc: Exception | None) -> None:
        if self.open and self.due:
            self.load.errors["closed"] += 1  # lost with a request in flight
        self.open = False

    def send(self, raw: bytes, due: float) -> None:
        assert self.transport is not None
        self.due = due
        self.transport.write(raw)

    def data_received(self, data: bytes) -> None:
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            return
        length = 0
        head = self.buf[:head_end + 2].lower()
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            length = int(head[at + 17:head.index(b"\r\n", at + 2)])
        if len(self.buf) < head_end + 4 + length:
            return
        status = int(self.buf[9:12])
        self.buf = b""
        due, self.due = self.due, 0.0
        self.load.answered(self, status, due)


class _Load:
    """Requests sent on a fixed schedule (open loop): a latency counts from when the request
    was due, so a stalled server cannot hide its queue.  No task per request: a response
    hands its connection back from ``data_received``."""

    def __init__(self) -> None:
        # First in, first out: the requests go round every connection held.
        self.idle: collections.deque[_Conn] = collections.deque()
        self.latencies: list[float] = []
        self.timeline: list[float] = []
        self.errors = {"status": 0, "closed": 0, "no_idle_connection": 0}
        self.in_flight = 0
        self.done = asyncio.Event()

    def answered(self, conn: _Conn, status: int, due: float) -> None:
        self.latencies.append(time.perf_counter() - due)
        self.timeline.append(due)
        if status != 200:
            self.errors["status"] += 1
        self.idle.append(conn)
        self.in_flight -= 1
        if self.in_flight == 0:
            self.done.set()


async def _load(p: dict[str, Any]) -> dict[str, Any]:
    _raise_fd_limit()
    loop = asyncio.get_running_loop()
    load = _Load()
    t = time.perf_counter()
    conns: list[_Conn] = []
    for wave in range(0, p["connections"], 250):  # in waves: the listen backlog is finite
        made = await asyncio.gather(*(loop.create_connection(lambda: _Conn(load), "127.0.0.1",
                                                             p["port"])
                                      for _ in range(wave, min(p["connections"], wave + 250))))
        conns += [c for _t, c in made]
    opened = time.perf_counter() - t
    load.idle.extend(conns)
    # Every request built before the clock starts: the client's CPU goes to sending.
    auth = f"Authorization: Bearer {p['token']}\r\n".encode()
    rng = random.Random(7)
    total = int(p["rate"] * p["seconds"])
    raws = [(f"GET /v1/coverage/{rng.choice(p['vins'])}?date={DAY} HTTP/1.1\r\n"
             f"Host: 127.0.0.1\r\n").encode() + auth + b"\r\n" for _ in range(total)]
    gc.freeze()  # a collection of the client's own objects must not pass for the server's
    print("ready", flush=True)
    sys.stdin.readline()  # "go": the parent has taken the server's CPU time
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter() + 0.05
    n = 0
    while n < total:
        now = time.perf_counter()
        while n < total and start + n / p["rate"] <= now:
            if not load.idle:
                load.errors["no_idle_connection"] += 1
            else:
                conn = load.idle.popleft()
                if conn.open:
                    load.in_flight += 1
                    conn.send(raws[n], start + n / p["rate"])
                else:
                    load.errors["closed"] += 1  # closed while idle: not given back
            n += 1
        await asyncio.sleep(min(0.001, max(0.0, start + n / p["rate"] - now)))
    load.done.clear()  # set whenever nothing was in flight; now: the last answer
    if load.in_flight:
        try:
            await asyncio.wait_for(load.done.wait(), timeout=60)
        except TimeoutError:
            pass
    elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    still_open = sum(c.open for c in conns)
    for c in conns:
        if c.transport is not None:
            c.transport.close()
    if os.environ.get("BENCH_DEBUG"):
        slow = [(round(d - start, 2), round(lat * 1000)) for d, lat in
                zip(load.timeline, load.latencies, strict=True) if lat > 0.05]
        print(len(slow), slow[::10], file=sys.stderr)
    latencies = sorted(load.latencies)

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) \
            if latencies else None

    errors = dict(load.errors, unanswered=load.in_flight)
    return {"connections": len(conns), "open_seconds": round(opened, 1),
            "still_open": still_open, "requests": total, "answered": len(latencies),
            "achieved_per_second": round(len(latencies) / elapsed), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "errors": sum(errors.values()), "error_kinds": errors,
            "seconds": round(elapsed, 1),
            "client_cpu_seconds": round(cpu1.ru_utime + cpu1.ru_stime
                                        - cpu0.ru_utime - cpu0.ru_stime, 1)}  # fmt: skip


def _client_main() -> None:
    """The parameters (with the VINs to ask about) come on stdin's first line."""
    params = json.loads(sys.stdin.readline())
    try:
        import uvloop  # the client's own CPU matters: it shares the cores with the server
    except ImportError:
        result = asyncio.run(_load(params))
    else:
        result = uvloop.run(_load(params))
    print(json.dumps(result), flush=True)


# -- the server -------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _pids(root: int) -> list[int]:
    """The server and its worker processes."""
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found


def _cpu_seconds(root: int) -> float:
    """User + system CPU time of the server and its workers so far."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except OSError:
            pass
    return total / ticks


def _rss_mb(root: int) -> float:
    total = 0
    for pid in _pids(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return round(total / 1024, 1)


class _Sampler(threading.Thread):
    """The server's RSS every 0.2 s while a measurement runs: the peak."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stopped = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.2):
            self.peak = max(self.peak, _rss_mb(self.pid))

    def __enter__(self) -> _Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.join()


def _prepare(home: Path, db: Path) -> tuple[dict[str, str], str, str]:
    """A data directory over the match benchmark's database, and tokens for the renewal
    system and one carrier (issued each run: the database keeps them, that is harmless)."""
    from epoi.store import (
        CarrierEnvironment,
        Store,
        TokenRole,
        add_carrier,
        carrier_by_naic,
        issue_token,
    )

    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env |= {"EPOI_HOME": str(home), "EPOI_DATABASE_URL": f"sqlite:///{db.resolve()}"}
    store = Store(env["EPOI_DATABASE_URL"])
    store.upgrade()
    now = datetime.now(UTC)
    with store.session() as session:
        if carrier_by_naic(session, "12345") is None:
            add_carrier(session, name="BENCH MUTUAL", naic="12345", isa_qualifier="ZZ",
                        isa_id="BENCHINS", environment=CarrierEnvironment.PRODUCTION,
                        created_at=now)
        _i, renewal = issue_token(session, role=TokenRole.RENEWAL, now=now,
                                  valid_for=timedelta(days=1), label="benchmark")
        _i, carrier = issue_token(session, role=TokenRole.CARRIER, carrier_naic="12345",
                                  now=now, valid_for=timedelta(days=1), label="benchmark")
    store.dispose()
    return env, renewal, carrier


def _start(env: dict[str, str], workers: int, log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "epoi", "serve", "--port", str(port), "--workers", str(workers)],
        env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT,
        preexec_fn=_raise_fd_limit)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, port
        except httpx.TransportError:
            time.sleep(0.2)
    proc.terminate()
    raise SystemExit(f"the server did not start: see {log}")


def _run_client(params: dict[str, Any], server: int,
                during: _Uploads | None = None) -> dict[str, Any]:  # fmt: skip
    """One measurement by a client process.  It connects and builds its requests, says
    "ready", and starts on "go": the server's CPU time is taken over the steady part only
    (and ``during`` runs over that part)."""
    client = subprocess.Popen([sys.executable, __file__, "--client"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    assert client.stdin is not None and client.stdout is not None
    try:
        client.stdin.write(json.dumps(params) + "\n")
        client.stdin.flush()
        if client.stdout.readline().strip() != "ready":
            raise SystemExit("the load client failed before it was ready")
        cpu = -_cpu_seconds(server)
        if during is not None:
            during.start()
        client.stdin.write("go\n")
        client.stdin.flush()
        out = client.stdout.readline()
        cpu += _cpu_seconds(server)
        if during is not None:
            during.stop.set()
            during.join()
        client.wait(timeout=120)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait()
    if client.returncode != 0 or not out:
        raise SystemExit("the load client failed")
    result: dict[str, Any] = json.loads(out)
    result["server_cpu_seconds"] = round(cpu, 1)
    result["checks_per_server_cpu_second"] = round(result["answered"] / cpu) if cpu else None
    return result


class _Uploads(threading.Thread):
    """A carrier uploading 200 MB files back to back (each different, so none is a
    duplicate) from when the checks start until they end: every check of the measurement
    runs during an upload."""

    def __init__(self, port: int, token: str) -> None:
        super().__init__(daemon=True)
        self.port, self.token = port, token
        self.stop = threading.Event()
        self.done: list[dict[str, Any]] = []

    def run(self) -> None:
        import httpx

        chunk = b"NOT X12 " * 8192
        while not self.stop.is_set():
            first = f"NOT X12 {time.time_ns()} ".encode()

            def body(first: bytes = first) -> Any:
                yield first
                for _ in range(BIG // len(chunk)):
                    yield chunk

            t = time.perf_counter()
            r = httpx.post(f"http://127.0.0.1:{self.port}/v1/submissions", content=body(),
                           timeout=600, headers={"Authorization": f"Bearer {self.token}",
                                                 "content-type": "application/edi-x12"})
            self.done.append({"status": r.status_code,
                              "seconds": round(time.perf_counter() - t, 1)})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registrations", type=int, default=1_000_000)
    ap.add_argument("--reports", type=int, default=200_000)
    ap.add_argument("--workers", type=int, default=2, help="server processes")
    ap.add_argument("--connections", type=int, default=6_000)
    ap.add_argument("--rate", type=int, default=1_000, help="coverage checks/s while holding")
    ap.add_argument("--seconds", type=int, default=30, help="length of each measurement")
    ap.add_argument("--search-connections", type=int, default=500)
    ap.add_argument("--search-rates", default="1000,1500,2000,2500,3000,4000")
    ap.add_argument("--upload-rate", type=int, default=500)
    ap.add_argument("--steps", default="hold,search,upload")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--client", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.client:
        _client_main()
        return
    out = Path("bench-out") / f"match-{args.registrations}-{args.reports}-{args.reports}"
    db = out / "bench.db"
    if not db.exists():
        raise SystemExit(f"no {db}: run benchmarks/match.py --registrations "
                         f"{args.registrations} --reports {args.reports} --steps load,index,stage")
    with open(out / "registrations.csv", newline="", encoding="utf-8") as fh:
        vins = [row["vin"] for row in csv.DictReader(fh)]
    vins = random.Random(3).sample(vins, min(20_000, len(vins)))
    home = Path("bench-out") / "serve-home"
    home.mkdir(parents=True, exist_ok=True)
    env, renewal, carrier = _prepare(home, db)
    proc, port = _start(env, args.workers, home / "server.log")
    figures: dict[str, Any] = {"registrations": args.registrations, "reports": args.reports,
                               "workers": args.workers, "cores": os.cpu_count()}
    base = {"port": port, "token": renewal, "vins": vins, "seconds": args.seconds}

    def line(name: str, r: dict[str, Any], rss: float) -> None:
        print(f"{name:<34} {r['achieved_per_second']:>6,}/s  p50 {r['p50_ms']} ms  "
              f"p99 {r['p99_ms']} ms  max {r['max_ms']} ms  errors {r['errors']} "
              f"{ {k: v for k, v in r['error_kinds'].items() if v} or ''}  "
              f"connections {r['connections']} (still open {r['still_open']})  "
              f"server RSS {rss} MB  CPU s: server {r['server_cpu_seconds']} "
              f"({r['checks_per_server_cpu_second']} checks/CPU-s) client "
              f"{r['client_cpu_seconds']} in {r['seconds']} s", flush=True)

    try:
        steps = set(args.steps.split(","))
        figures["idle_rss_mb"] = _rss_mb(proc.pid)
        if "hold" in steps:
            with _Sampler(proc.pid) as s:
                r = _run_client({**base, "connections": args.connections, "rate": args.rate},
                                proc.pid)
            figures["hold"] = {**r, "server_rss_peak_mb": s.peak}
            line(f"hold {args.connections} conns @ {args.rate}/s", r, s.peak)
        if "search" in steps:
            best = None
            figures["search"] = []
            for rate in (int(x) for x in args.search_rates.split(",")):
                with _Sampler(proc.pid) as s:
                    r = _run_client({**base, "connections": args.search_connections,
                                     "rate": rate, "seconds": min(args.seconds, 15)}, proc.pid)
                figures["search"].append({"rate": rate, **r, "server_rss_peak_mb": s.peak})
                line(f"search @ {rate}/s", r, s.peak)
                if r["errors"] or r["p99_ms"] is None or r["p99_ms"] > 100:
                    break
                best = rate
            figures["highest_rate_p99_under_100ms"] = best
            print(f"highest rate with p99 <= 100 ms: {best}/s", flush=True)
        if "upload" in steps:
            uploads = _Uploads(port, carrier)
            with _Sampler(proc.pid) as s:
                r = _run_client({**base, "connections": args.search_connections,
                                 "rate": args.upload_rate, "seconds": args.seconds}, proc.pid,
                                during=uploads)  # fmt: skip
            figures["upload"] = {**r, "server_rss_peak_mb": s.peak, "uploads": uploads.done}
            line(f"during 200 MB uploads @ {args.upload_rate}/s", r, s.peak)
            done = [f"HTTP {u['status']} in {u['seconds']} s" for u in uploads.done]
            print(f"  uploads (back to back): {', '.join(done)}", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        # The uploads' archived copies (a GB or more a run): the benchmark's scratch.
        shutil.rmtree(home / "archive", ignore_errors=True)
    if args.json:
        print(json.dumps({k: v for k, v in figures.items()}, indent=2, default=str))


if __name__ == "__main__":
    main()
