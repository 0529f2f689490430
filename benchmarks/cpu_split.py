"""Where the CPU of one ``epoi run`` goes, process by process, in microseconds a policy: the
budget that 10,000 policies/s on two cores (20 s, so 40 s of CPU for 200 k policies, 200 µs
a policy) has to fit in.

Usage:  python benchmarks/cpu_split.py [--policies 200000] [--rounds 1] [--out bench-out]

Each round runs ``epoi run FILE`` on a fresh home (the sample's carrier registered, its
registrations loaded, not timed) and reads ``/proc`` every 50 ms for the run's process and
its descendants, keeping each one's last user + system CPU.  A process is counted under its
part: ``run`` (the run's own process: parse, plan, the SQLite writes, the error returns, the
queue), ``validation helper`` (the forked process that validates the second half of a large
file), ``first-pass workers`` (the spawned worker processes: imports, the first pass of the
normalize units, handing it back pickled), ``other`` (multiprocessing's resource tracker).
What a process spent in its last 50 ms can be missed: a few tens of milliseconds a process.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from run import PY, count, epoi_run_contender, make_input  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, float, str]]:
    """pid -> (parent pid, user + system CPU seconds, command line) of every process."""
    found: dict[int, tuple[int, float, str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue  # it ended meanwhile
        fields = stat.rsplit(")", 1)[1].split()
        found[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK,
                             cmdline.decode(errors="replace"))
    return found


def _part(pid: int, root: int, cmdline: str) -> str:
    if pid == root:
        return "run"
    if "multiprocessing.spawn" in cmdline:
        return "first-pass workers"
    if "resource_tracker" in cmdline:
        return "other"
    return "validation helper"  # forked: the run's own command line


def one_run(path: Path, out: Path) -> tuple[float, dict[str, float]]:
    _name, _label, argv, env = epoi_run_contender(path, out)
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL)
    cpu: dict[int, float] = {}
    part_of: dict[int, str] = {}
    while proc.poll() is None:
        table = _processes()
        mine = {proc.pid}
        grew = True  # a grandchild may be listed before its parent: repeat until none joins
        while grew:
            grew = False
            for pid, (ppid, _, _) in table.items():
                if ppid in mine and pid not in mine:
                    mine.add(pid)
                    grew = True
        for pid in mine & table.keys():  # the run itself may have ended meanwhile
            _ppid, seconds, cmdline = table[pid]
            cpu[pid] = seconds
            if cmdline:  # a zombie's is empty: keep what the process was
                part_of[pid] = _part(pid, proc.pid, cmdline)
        time.sleep(0.05)
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # 1: some of the sample's faults were rejected
        raise SystemExit(f"epoi run exited with {proc.returncode}")
    parts: dict[str, float] = defaultdict(float)
    for pid, seconds in cpu.items():
        parts[part_of.get(pid, "other")] += seconds
    shutil.rmtree(env["EPOI_HOME"], ignore_errors=True)
    return wall, dict(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    path = make_input(args.policies, args.out)
    _segments, policies = count(path)
    print(f"epoi run on {policies:,} policies ({PY})")
    for n in range(1, args.rounds + 1):
        wall, parts = one_run(path, args.out)
        total = sum(parts.values())
        print(f"round {n}: {wall:.2f} s wall ({policies / wall:,.0f} policies/s), "
              f"{total:.1f} s CPU = {total / policies * 1e6:.0f} µs a policy")
        for part in ("run", "validation helper", "first-pass workers", "other"):
            seconds = parts.get(part, 0.0)
            print(f"  {part:20s} {seconds:6.1f} s CPU  {seconds / policies * 1e6:5.0f} µs a policy")


if __name__ == "__main__":
    main()
