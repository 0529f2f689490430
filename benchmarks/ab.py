"""Alternated runs of ``epoi run`` by two trees on the same input: the before and after of a
change on a machine whose speed drifts by ±10 % from one minute to the next.

Usage:  python benchmarks/ab.py REV_A [REV_B] [--policies 200000] [--pairs 3] [--out bench-out]
                                [--python-a PYTHON] [--python-b PYTHON]

``REV_B`` defaults to the working tree.  A revision is checked out in a temporary git
worktree.  ``--python-a`` / ``--python-b``: the interpreter each side runs on (default: this
one), e.g. the same tree on two builds of CPython (``ab.py HEAD HEAD --python-b
/opt/venv/bin/python``); each needs epoi's dependencies installed.  Every run gets a fresh
``EPOI_HOME`` in which the sample's carrier is registered and its registrations are loaded
by the same tree (not timed), then ``python -m epoi run FILE`` is timed: wall seconds, CPU
seconds (user + system, from ``wait4``: the run and the worker processes it waited for)
and peak RSS.  Runs alternate A, B, A, B, ...; the medians are printed last, and whether
the last pair stored the same (``compare_homes.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
sys.path.insert(0, str(HERE))
from run import make_input  # noqa: E402  (the same input files as benchmarks/run.py)


def _tree(rev: str | None, scratch: Path, side: str) -> Path:
    if rev is None:
        return ROOT
    path = scratch / f"tree-{side}-{rev}"  # a tree each, even for the same revision
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-f", str(path), rev],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def _drop_tree(tree: Path) -> None:
    """Remove a worktree ``_tree`` added (the working tree stays)."""
    if tree != ROOT:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                       check=False)


def _epoi(py: str, tree: Path, home: Path, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "EPOI_HOME": str(home), "PYTHONPATH": str(tree)}
    env.pop("EPOI_DATABASE_URL", None)
    return subprocess.Popen([py, "-m", "epoi", *args], cwd=tree, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _setup(py: str, tree: Path, home: Path, path: Path) -> None:
    shutil.rmtree(home, ignore_errors=True)
    info = json.loads((path.parent / "sample.json").read_text())
    for c in info["carriers"]:
        _check(_epoi(py, tree, home, "carriers", "add", "--name", c["name"], "--naic", c["naic"],
                     "--isa-qualifier", "ZZ", "--isa-id", c["sender_id"], "--production"))
    _check(_epoi(py, tree, home, "registrations", "load", str(path.parent / "registrations.csv")))


def _check(proc: subprocess.Popen[bytes]) -> None:
    _out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(err.decode(errors="replace"))


def _timed_run(py: str, tree: Path, home: Path, path: Path) -> tuple[float, float, float]:
    """Wall s, CPU s (user + system), peak RSS MB of ``epoi run`` and its workers."""
    start = time.perf_counter()
    proc = _epoi(py, tree, home, "run", str(path))
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1):  # 1: some record was rejected, as in every sample
        raise SystemExit(f"epoi run exited {proc.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rev_a")
    ap.add_argument("rev_b", nargs="?", default=None, help="default: the working tree")
    ap.add_argument("--policies", type=int, default=200_000)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--python-a", default=PY, help="side A's interpreter (default: this one)")
    ap.add_argument("--python-b", default=PY, help="side B's interpreter (default: this one)")
    args = ap.parse_args()
    pythons = {"A": args.python_a, "B": args.python_b}
    path = make_input(args.policies, args.out).resolve()
    scratch = Path(tempfile.mkdtemp(prefix="epoi-ab-"))
    trees: dict[str, Path] = {}
    try:
        trees["A"] = _tree(args.rev_a, scratch, "A")
        trees["B"] = _tree(args.rev_b, scratch, "B")
        names = {"A": args.rev_a, "B": args.rev_b or "working tree"}
        for side in ("A", "B"):
            if pythons[side] != PY:
                names[side] += f" on {pythons[side]}"
        figures: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": []}
        for n in range(args.pairs):
            for side in ("A", "B"):
                home = scratch / f"home-{side}"
                _setup(pythons[side], trees[side], home, path)
                got = _timed_run(pythons[side], trees[side], home, path)
                figures[side].append(got)
                print(f"pair {n + 1} {side} ({names[side]}): {got[0]:.2f} s, CPU {got[1]:.1f} s,"
                      f" {got[2]:.0f} MB", flush=True)
        for side in ("A", "B"):
            walls, cpus = [f[0] for f in figures[side]], [f[1] for f in figures[side]]
            print(f"{side} ({names[side]}): median {statistics.median(walls):.2f} s"
                  f" ({args.policies / statistics.median(walls):,.0f} policies/s),"
                  f" CPU {statistics.median(cpus):.1f} s")
        same = subprocess.run([PY, str(HERE / "compare_homes.py"), str(scratch / "home-A"),
                               str(scratch / "home-B")], check=False)
        print("the last pair stored the same" if same.returncode == 0
              else "the last pair stored DIFFERENT data")
    finally:
        for tree in trees.values():
            _drop_tree(tree)
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
