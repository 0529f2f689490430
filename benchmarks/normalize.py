"""Normalize benchmark: ``epoi.transforms.normalize`` (split, build_report, run_edits) over
every policy of one file, the blocks read beforehand as ``epoi validate`` reads them.

    python benchmarks/normalize.py bench-out/p20000/cascademut_20261206_001.x12
    python benchmarks/normalize.py FILE --against /work/wt/base    # before/after, interleaved

It prints the median of ``--repeat`` timings in µs per policy and a digest of the records'
JSON (the same digest in two trees: the same records, the same business edits).  With
``--against TREE`` it runs itself in ``--repeat`` pairs of child processes (``--inner`` timed
runs each), alternately on TREE's ``epoi`` and on this tree's, so that both see the same
machine load, and prints the medians, the best runs and their ratios.  The context is fixed
(received/today below, the sender's NAIC when ``--naic`` is given) so runs compare.  Times
are CPU time of the process (``time.process_time``): on a machine shared with other work,
wall time measures the neighbours as much as the code.  The blocks are read once, before
timing, and frozen out of the collector's sight; the records are dropped as they are made,
as ``epoi validate`` streams them.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import io
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _measure(path: str, repeat: int, naic: str | None) -> dict[str, object]:
    from epoi.parsers import iter_policies, validate
    from epoi.transforms import EditContext, normalize

    data = Path(path).read_bytes()
    verdict = validate(io.BytesIO(data), name=path, engine="fast")
    blocks = list(iter_policies(io.BytesIO(data), verdict, name=path))
    context = EditContext(received_at=datetime(2026, 12, 6, 9, 0, tzinfo=UTC),
                          today=date(2026, 12, 6), expected_naic=naic)
    gc.collect()
    gc.freeze()
    times = []
    for _ in range(repeat):
        start = time.process_time()
        for b in blocks:
            normalize(b, context=context)
        times.append(time.process_time() - start)
    digest = hashlib.sha256()
    for b in blocks:
        digest.update(normalize(b, context=context).model_dump_json().encode())
    per = [t / max(len(blocks), 1) * 1e6 for t in times]
    return {
        "policies": len(blocks),
        "us_per_policy": statistics.median(per),
        "us_runs": per,
        "runs_s": [round(t, 3) for t in times],
        "digest": digest.hexdigest()[:16],
    }


def _child(tree: Path, args: argparse.Namespace) -> dict[str, object]:
    cmd = [sys.executable, __file__, args.file, "--repeat", str(args.inner), "--json"]
    if args.naic:
        cmd += ["--naic", args.naic]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, object] = json.loads(out)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--naic", default=None, help="the carrier's NAIC (E001); default: none")
    p.add_argument("--against", type=Path, default=None, help="a tree to compare with")
    p.add_argument("--inner", type=int, default=1, help="with --against: runs per child")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    if args.against is None:
        sys.path.insert(0, os.environ.get("PYTHONPATH") or str(ROOT))
        result = _measure(args.file, args.repeat, args.naic)
        print(json.dumps(result) if args.json else
              f"{result['policies']} policies: {result['us_per_policy']:.1f} µs/policy "
              f"(runs {result['runs_s']} s), digest {result['digest']}")
        return
    base: list[float] = []
    head: list[float] = []
    digests = set()
    for n in range(args.repeat):
        for tree, into in ((args.against, base), (ROOT, head)):
            r = _child(tree, args)
            into.extend(float(x) for x in r["us_runs"])  # type: ignore[attr-defined]
            digests.add((str(tree), r["digest"]))
            print(f"run {n + 1} {tree}: {r['us_per_policy']:.1f} µs/policy, digest {r['digest']}",
                  file=sys.stderr)
    b, h = statistics.median(base), statistics.median(head)
    same = len({d for _, d in digests}) == 1
    print(f"{args.against}: {b:.1f} µs/policy; {ROOT}: {h:.1f} µs/policy; "
          f"{b / h:.2f}x (medians of {len(base)} runs; best runs {min(base):.1f} vs "
          f"{min(head):.1f}, {min(base) / min(head):.2f}x); "
          f"records {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
