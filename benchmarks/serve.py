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
3. ``upload``: coverage checks at ``--upload-rate`` while a carrier uploads a 200 MB file:
   p99 and the server's peak RSS during the upload.

The load comes from a separate process (this script with ``--client``): raw asyncio streams,
one request at a time per connection, sent on a fixed schedule (open loop: a latency counts
from when the request was due, so a stalled server cannot hide its queue).  It prints one
line per measurement and, with ``--json``, the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
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


async def _open(port: int, n: int) -> list[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    conns = []
    for start in range(0, n, 250):  # in waves: the listen backlog is finite
        conns += await asyncio.gather(*(asyncio.open_connection("127.0.0.1", port)
                                        for _ in range(start, min(n, start + 250))))
    return conns


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                   raw: bytes) -> int:  # fmt: skip
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(p: dict[str, Any]) -> dict[str, Any]:
    _raise_fd_limit()
    vins: list[str] = p["vins"]
    t = time.perf_counter()
    conns = await _open(p["port"], p["connections"])
    opened = time.perf_counter() - t
    idle = asyncio.Queue[int]()
    for i in range(len(conns)):
        idle.put_nowait(i)
    latencies: list[float] = []
    errors = {"status": 0, "closed": 0, "no_idle_connection": 0}
    auth = f"Authorization: Bearer {p['token']}\r\n".encode()
    total = int(p["rate"] * p["seconds"])
    rng = random.Random(7)

    async def one(due: float) -> None:
        try:
            i = idle.get_nowait()
        except asyncio.QueueEmpty:
            errors["no_idle_connection"] += 1
            return
        reader, writer = conns[i]
        raw = (f"GET /v1/coverage/{rng.choice(vins)}?date={DAY} HTTP/1.1\r\n"
               f"Host: 127.0.0.1\r\n").encode() + auth + b"\r\n"
        try:
            status = await _request(reader, writer, raw)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            errors["closed"] += 1
            return  # the connection is gone: not given back
        latencies.append(time.perf_counter() - due)
        if status != 200:
            errors["status"] += 1
        idle.put_nowait(i)

    tasks = []
    start = time.perf_counter() + 0.2
    for n in range(total):
        due = start + n / p["rate"]
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(due)))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=p["seconds"] + 60)
    elapsed = time.perf_counter() - start
    still_open = sum(not w.is_closing() and not r.at_eof() for r, w in conns)
    for _r, w in conns:
        w.close()
    latencies.sort()

    def pct(q: float) -> float | None:
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 1) \
            if latencies else None

    return {"connections": len(conns), "open_seconds": round(opened, 1),
            "still_open": still_open, "requests": total, "answered": len(latencies),
            "achieved_per_second": round(len(latencies) / elapsed), "p50_ms": pct(0.50),
            "p99_ms": pct(0.99), "max_ms": round(latencies[-1] * 1000, 1) if latencies else None,
            "errors": sum(errors.values()), "error_kinds": errors}  # fmt: skip


def _client_main() -> None:
    """The parameters (with the VINs to ask about) come on stdin."""
    print(json.dumps(asyncio.run(_load(json.loads(sys.stdin.read())))), flush=True)


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
    from epoi.store import CarrierEnvironment, Store, TokenRole, add_carrier, carrier_by_naic
    from epoi.store import issue_token

    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env |= {"EPOI_HOME": str(home), "EPOI_DATABASE_URL": f"sqlite:///{db.resolve()}"}
    store = Store(env["EPOI_DATABASE_URL"])
    store.upgrade()
    now = datetime.now(timezone.utc)
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


def _run_client(params: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, "--client"], input=json.dumps(params),
                          capture_output=True, text=True, timeout=params["seconds"] + 300)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.splitlines()[-1])  # type: ignore[no-any-return]


def _upload(port: int, token: str, result: dict[str, Any]) -> None:
    import httpx

    chunk = b"NOT X12 " * 8192

    def body() -> Any:
        for _ in range(BIG // len(chunk)):
            yield chunk

    t = time.perf_counter()
    r = httpx.post(f"http://127.0.0.1:{port}/v1/submissions", content=body(), timeout=600,
                   headers={"Authorization": f"Bearer {token}",
                            "content-type": "application/edi-x12"})
    result.update(status=r.status_code, seconds=round(time.perf_counter() - t, 1))


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
              f"p99 {r['p99_ms']} ms  max {r['max_ms']} ms  errors {r['errors']}  "
              f"connections {r['connections']} (still open {r['still_open']})  "
              f"server RSS {rss} MB", flush=True)

    try:
        steps = set(args.steps.split(","))
        figures["idle_rss_mb"] = _rss_mb(proc.pid)
        if "hold" in steps:
            with _Sampler(proc.pid) as s:
                r = _run_client({**base, "connections": args.connections, "rate": args.rate})
            figures["hold"] = {**r, "server_rss_peak_mb": s.peak}
            line(f"hold {args.connections} conns @ {args.rate}/s", r, s.peak)
        if "search" in steps:
            best = None
            figures["search"] = []
            for rate in (int(x) for x in args.search_rates.split(",")):
                with _Sampler(proc.pid) as s:
                    r = _run_client({**base, "connections": args.search_connections,
                                     "rate": rate, "seconds": min(args.seconds, 15)})
                figures["search"].append({"rate": rate, **r, "server_rss_peak_mb": s.peak})
                line(f"search @ {rate}/s", r, s.peak)
                if r["errors"] or r["p99_ms"] is None or r["p99_ms"] > 100:
                    break
                best = rate
            figures["highest_rate_p99_under_100ms"] = best
            print(f"highest rate with p99 <= 100 ms: {best}/s", flush=True)
        if "upload" in steps:
            up: dict[str, Any] = {}
            uploader = threading.Thread(target=_upload, args=(port, carrier, up))
            with _Sampler(proc.pid) as s:
                uploader.start()
                r = _run_client({**base, "connections": args.search_connections,
                                 "rate": args.upload_rate, "seconds": args.seconds})
                uploader.join()
            figures["upload"] = {**r, "server_rss_peak_mb": s.peak, "upload": up}
            line(f"during a 200 MB upload @ {args.upload_rate}/s", r, s.peak)
            print(f"  the upload: HTTP {up.get('status')} in {up.get('seconds')} s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    if args.json:
        print(json.dumps({k: v for k, v in figures.items()}, indent=2, default=str))


if __name__ == "__main__":
    main()
