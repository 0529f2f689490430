"""The cost of a normalize unit's first pass (``epoi run``'s worker processes: normalising,
E110/E111, the rows, the cascade worked out ahead), in CPU seconds or, under valgrind, in
instructions: a count that does not drift with the machine's speed, for changes of a few
per cent that alternated wall-clock runs cannot tell apart.

Usage:  python benchmarks/first_pass.py [REV ...] [--units 3] [--policies 20000] [--out bench-out]
            [--callgrind]

Each REV (default: the working tree) is checked out in a temporary git worktree.  One home
is set up once (``bench-out/first-pass-<policies>``: the sample's carrier registered, its
registrations loaded, the file submitted, so its normalize units are queued and stay so:
the first pass only reads).  Without ``--callgrind``: the CPU seconds of the first ``--units``
units, best of 3.  With it: the instructions valgrind's callgrind counts for the whole
process minus those of the same process with no unit passed (start-up and imports), i.e.
the units' own, per tree.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = os.path.realpath(sys.executable)  # valgrind must start the interpreter, not a shim
sys.path.insert(0, str(HERE))
from ab import _drop_tree, _tree  # noqa: E402  (a revision in a temporary worktree)
from run import epoi_run_contender, make_input  # noqa: E402

# Run in the measured tree's interpreter: the units' first pass, timed.
_CHILD = r"""
import os, sys, time
from datetime import datetime, timezone
import sqlalchemy as sa
from epoi._gc import tune_for_batch
from epoi.config import Settings
from epoi.matching import pipeline_match_hook
from epoi.pipeline._prefetch import _first_pass
from epoi.store import Store
tune_for_batch()  # the collector as in epoi run's worker processes
settings = Settings()
url = settings.resolved_database_url
hook = pipeline_match_hook(settings, lambda: datetime.now(timezone.utc))
with Store(url).session(readonly=True) as s:
    keys = [k for (k,) in s.execute(sa.text(
        "SELECT key FROM work_units WHERE kind = 'normalize' ORDER BY id"))]
today = datetime.now(timezone.utc).date()
units, rounds = int(sys.argv[1]), int(sys.argv[2])
_first_pass(url, settings, keys[-1], today, hook.preparer)  # warm: imports, statements
best = None
for _ in range(rounds):
    start = time.process_time()
    for key in keys[:units]:
        assert _first_pass(url, settings, key, today, hook.preparer) is not None
    spent = time.process_time() - start
    best = spent if best is None else min(best, spent)
print(f"cpu {best:.3f}")
"""


def _home(policies: int, out: Path) -> Path:
    path = make_input(policies, out)
    home = out / f"first-pass-{policies}"
    if (home / "epoi.db").exists():
        return home.resolve()
    with tempfile.TemporaryDirectory(dir=out) as setup:  # carrier + registrations
        _name, _label, _argv, env = epoi_run_contender(path, Path(setup))
        shutil.rmtree(home, ignore_errors=True)
        shutil.move(env["EPOI_HOME"], home)
    subprocess.run([PY, "-m", "epoi", "submit", str(path)], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "EPOI_HOME": str(home)})
    return home.resolve()  # the children run in their trees


def _child(tree: Path, home: Path, units: int, rounds: int, callgrind: bool) -> float:
    env = {**os.environ, "EPOI_HOME": str(home), "PYTHONPATH": str(tree),
           "PYTHONHASHSEED": "0"}  # the same string hashes in every run: steadier counts
    argv = [PY, "-c", _CHILD, str(units), str(rounds)]
    with tempfile.TemporaryDirectory() as tmp:
        if callgrind:
            argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/cg.out", *argv]
        done = subprocess.run(argv, env=env, cwd=tree, check=False, capture_output=True,
                              text=True)
    found = (re.search(r"Collected : (\d+)", done.stderr) if callgrind
             else re.search(r"^cpu (\S+)$", done.stdout, re.MULTILINE))
    if done.returncode != 0 or found is None:
        raise SystemExit(f"the first pass in {tree} failed:\n{done.stderr[-2000:]}")
    return float(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("revs", nargs="*", help="git revisions (default: the working tree)")
    ap.add_argument("--units", type=int, default=3)
    ap.add_argument("--policies", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--callgrind", action="store_true")
    args = ap.parse_args()
    home = _home(args.policies, args.out)
    with tempfile.TemporaryDirectory() as scratch:
        for rev in args.revs or [None]:
            tree = _tree(rev, Path(scratch))
            name = rev or "working tree"
            if args.callgrind:
                ir = (_child(tree, home, args.units, 1, True)
                      - _child(tree, home, 0, 1, True))
                print(f"{name}: {ir / 1e6:,.0f} M instructions for {args.units} unit(s)",
                      flush=True)
            else:
                cpu = _child(tree, home, args.units, 3, False)
                print(f"{name}: {cpu:.3f} CPU s for {args.units} unit(s), best of 3",
                      flush=True)
            _drop_tree(tree)


if __name__ == "__main__":
    main()
