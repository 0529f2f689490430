"""How fast ``epoi run`` could go if the first pass (normalising, E110/E111, the rows, the
cascade worked out ahead: the worker processes' part) cost nothing: the ceiling that native
code for that part could reach, with the run's own process (parse and plan, the SQLite
writes, the error returns, the queue) as it is.

Usage:  python benchmarks/ceiling.py [--policies 200000] [--rounds 2] [--out bench-out]

Round by round, on a fresh home each (the sample's carrier registered, its registrations
loaded, not timed), ``epoi run FILE``:

* ``normal``: as it is, first passes in the worker processes;
* ``recorded``: the same, with every first pass a worker handed back pickled to disk (the
  pickle is what crosses from a worker anyway);
* ``free passes``: the run with no worker process, each unit's first pass read back from
  that disk instead (its unpickling is the run's own process's, as it is now); its wall time
  is what the run's own process needs by itself.

Every run of a round starts from an identical home, so the record ids, the unit keys and the
day are the same and the recorded passes fit (the run checks them as it checks a worker's:
a pass that does not fit is done in the process, which the count of used passes shows).
Times: wall seconds and CPU seconds (user + system of the run and what it waited for).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from run import epoi_run_contender, make_input  # noqa: E402

# Runs ``epoi run`` in this interpreter with the prefetch recorded or replayed (argv[1]).
_CHILD = r"""
import os, pickle, runpy, sys
from pathlib import Path
import epoi.pipeline._prefetch as pf

mode, cache = sys.argv[1], Path(sys.argv[2])
Prefetch = pf._Prefetch
take = Prefetch.take

def _file(key):
    return cache / (key.replace("/", "~") + ".pickle")

if mode == "recorded":
    def recording_take(self, unit_key, today, chunk):
        done = take(self, unit_key, today, chunk)
        if done is not None:
            _file(unit_key).write_bytes(pickle.dumps(done, protocol=pickle.HIGHEST_PROTOCOL))
        return done
    Prefetch.take = recording_take
elif mode == "free":
    def replayed_take(self, unit_key, today, chunk):
        path = _file(unit_key)
        if not path.exists():
            return None
        done = pickle.loads(path.read_bytes())
        if len(done.facts) != len(chunk) or any(
                f.policy_position != chunk.policy_position(n) for n, f in enumerate(done.facts)):
            return None
        self.used += 1
        return done
    Prefetch.take = replayed_take
    Prefetch.warm = Prefetch.plan = lambda self, *a, **k: None  # no worker process at all
    close = Prefetch.close
    def reporting_close(self):
        print(f"ceiling: {self.used} first passes read back", file=sys.stderr)
        close(self)
    Prefetch.close = reporting_close
sys.argv = ["epoi", "run", *sys.argv[3:]]
runpy.run_module("epoi", run_name="__main__")
"""


def _timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    # stderr to a file, not a pipe: a child that writes more than a pipe holds would wait
    # for a reader while this process waits for it to exit.
    with tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        err.seek(0)
        stderr = err.read()
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: records rejected, as sampled
        raise SystemExit(f"epoi run failed: {stderr[-2000:]}")
    return wall, usage.ru_utime + usage.ru_stime, stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--policies", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    args = ap.parse_args()
    path = make_input(args.policies, args.out).resolve()
    results: dict[str, list[tuple[float, float]]] = {"normal": [], "recorded": [],
                                                     "free passes": []}
    with tempfile.TemporaryDirectory(prefix="epoi-ceiling-") as tmp:
        scratch = Path(tmp)
        # One home set up by the tree (carrier, registrations), copied before each run.
        _tag, _label, _cmd, env = epoi_run_contender(path, scratch)
        template = Path(env["EPOI_HOME"])
        for n in range(args.rounds):
            cache = scratch / f"passes-{n}"
            cache.mkdir()
            for label, mode in (("normal", None), ("recorded", "recorded"),
                                ("free passes", "free")):
                home = scratch / "home"
                shutil.rmtree(home, ignore_errors=True)
                shutil.copytree(template, home)
                child_env = {**os.environ, "EPOI_HOME": str(home),
                             "PYTHONPATH": str(ROOT)}
                cmd = ([sys.executable, "-m", "epoi", "run", str(path)] if mode is None else
                       [sys.executable, "-c", _CHILD, mode, str(cache), str(path)])
                wall, cpu, stderr = _timed(cmd, child_env)
                results[label].append((wall, cpu))
                note = next((line for line in stderr.splitlines()
                             if line.startswith("ceiling:")), "")
                print(f"round {n + 1} {label:12s} {wall:6.2f} s, CPU {cpu:5.1f} s  {note}",
                      flush=True)
            shutil.rmtree(cache)
    print()
    for label, runs in results.items():
        best = min(runs)
        print(f"{label:12s} best {best[0]:6.2f} s ({args.policies / best[0]:,.0f} policies/s), "
              f"CPU {best[1]:.1f} s")


if __name__ == "__main__":
    main()
