"""The functions a py-spy profile spent its samples in: the top ones by inclusive share (the
function or anything it called) and by self share (the innermost Python frame).

Usage:  python benchmarks/spy_top.py FILE [FILE ...] [--top 30] [--role worker|main]

FILE is what ``py-spy record --format raw`` writes (``benchmarks/scaleout.py --profile``,
or ``py-spy record --subprocesses --format raw -- python -m epoi run ...``): one stack a
line, frames separated by ``;``, then its count.  With ``--subprocesses`` each stack starts
with its processes; ``--role worker`` keeps the stacks of ``epoi run``'s first-pass worker
processes (``multiprocessing.spawn``), ``--role main`` the others.  Samples are taken at
wall-clock rate, so a process that waits for a core (both cores busy) is sampled where it
waits: compare shares within one profile, not sample counts between runs.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")


def summarize(paths: list[Path], role: str | None) -> tuple[int, Counter[str], Counter[str]]:
    total, inclusive, own = 0, Counter[str](), Counter[str]()
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            processes = [f for f in frames if f.startswith("process ")]
            if role is not None:
                spawned = any("multiprocessing.spawn" in p or "spawn_main" in p
                              for p in processes)  # fmt: skip
                if spawned != (role == "worker"):
                    continue
            names = [_LINE.sub(")", f) for f in frames
                     if not f.startswith(("process ", "thread "))]  # fmt: skip
            n = int(count)
            total += n
            for name in set(names):
                inclusive[name] += n
            if names:
                own[names[-1]] += n
    return total, inclusive, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--role", choices=("worker", "main"))
    args = parser.parse_args()
    total, inclusive, own = summarize(args.files, args.role)
    print(f"{total} samples")
    for title, counts in (("inclusive", inclusive), ("self", own)):
        print(f"-- {title}")
        for name, n in counts.most_common(args.top):
            print(f"{100 * n / max(total, 1):6.1f}%  {name}")


if __name__ == "__main__":
    main()
