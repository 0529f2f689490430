"""Profile ``epoi run`` (cProfile) and print the top functions by cumulative time.

Usage:  python benchmarks/profile_run.py PROFILE [--top 10]

``PROFILE`` is what ``python -m cProfile -o PROFILE -m epoi run FILE`` wrote.  The wrappers
every call goes through (click, the worker loop, kombu's delivery) are left out: the rows
start at the stage handlers, so the top ten say where the run's time goes.
"""

from __future__ import annotations

import argparse
import pstats

# Frames that only pass the call on: not where time goes.
WRAPPERS = ("click/", "kombu/", "runpy", "epoi/__main__", "epoi/cli/", "queues/_worker.py",
            "pipeline/_run.py", "builtins.exec", "sqlalchemy generated", "<string>",
            "cProfile", "importlib", "builtins.__import__")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("profile")
    ap.add_argument("--top", type=int, default=10)
    args = ap.parse_args()
    stats = pstats.Stats(args.profile)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (path, line, func), (_cc, ncalls, _tt, cum, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        name = f"{path}:{line}({func})"
        handler_wrapper = path.endswith("pipeline/_stages.py") and func == "run"
        if handler_wrapper or any(w in name for w in WRAPPERS):
            continue  # the handler wrapper that records failures: its callees are the stages
        short = path.split("/epoi/", 1)[-1] if "/epoi/" in path else path.rsplit("/", 1)[-1]
        rows.append((cum, ncalls, f"{short}:{line}({func})" if path != "~" else func))
    rows.sort(reverse=True)
    print(f"total {total:.1f} s (profiled)")
    print(f"{'cumulative s':>12} {'share':>6} {'calls':>9}  function")
    for cum, ncalls, name in rows[: args.top]:
        print(f"{cum:12.2f} {cum / total:6.1%} {ncalls:9d}  {name}")


if __name__ == "__main__":
    main()
