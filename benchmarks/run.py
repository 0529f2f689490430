"""epoi benchmark: one run, the same input files, every contender in its own process.

Usage:  python benchmarks/run.py [--policies 200000] [--small 10000] [--out bench-out]
            [--skip pyx12,...] [--json]

Input is made with ``epoi sample``.  Each contender runs as a child process so that its
peak RSS (from ``wait4``) is its own.  Figures are reported as ratios against baselines
measured in the same run (this machine is noisy): the naive ``str.split`` tokenizer is
the ceiling, pyx12's ``x12n_document`` with the project's map is the peer.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
PY = sys.executable

NAIVE = r"""
import sys
n = 0
with open(sys.argv[1], "rb") as fh:
    data = fh.read().decode("latin-1")
term = data[105]
for seg in data.split(term):
    seg.strip().split(data[3])
    n += 1
print(n)
"""

FAST = r"""
import sys
from epoi.config import Settings
from epoi.parsers import validate, validate_parallel
workers = Settings().workers
if workers != 1:
    v = validate_parallel(sys.argv[1], name=sys.argv[1], workers=workers)
else:
    with open(sys.argv[1], "rb") as fh:
        v = validate(fh, name=sys.argv[1])
print("valid" if v.accepted else "invalid")
"""

PYX12 = r"""
import logging, sys
import pyx12.params
from pyx12.x12n_document import x12n_document
from epoi.parsers._maps import MAP_PATH
logging.getLogger("pyx12").setLevel(logging.CRITICAL)
ok = x12n_document(pyx12.params.params(), sys.argv[1], None, None, map_path=str(MAP_PATH))
print("valid" if ok else "invalid")
"""


@dataclass
class Result:
    name: str
    input: str
    seconds: float
    cpu_seconds: float  # user + system, the child and the workers it waited for
    peak_rss_mb: float
    segments: int
    policies: int
    exit: int

    @property
    def seg_per_s(self) -> float:
        return self.segments / self.seconds if self.seconds else 0.0

    @property
    def pol_per_s(self) -> float:
        return self.policies / self.seconds if self.seconds else 0.0


def run_child(name: str, argv: list[str], *, input_name: str, segments: int, policies: int,
              env: dict[str, str] | None = None) -> Result:
    # stderr goes to a file: a pipe read only after the child ends could fill and block it
    with tempfile.TemporaryFile() as errfile:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=errfile,
                                env={**os.environ, **(env or {})})
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped: Popen must not wait again
        errfile.seek(0)
        err = errfile.read().decode(errors="replace")
    code = proc.returncode
    if code not in (0, 1):
        print(f"{name}: exit {code}\n{err[-2000:]}", file=sys.stderr)
    cpu = usage.ru_utime + usage.ru_stime
    return Result(name, input_name, seconds, cpu, usage.ru_maxrss / 1024, segments, policies, code)


def count(path: Path) -> tuple[int, int]:
    """Segments and policies of a file (a pass of its own, not timed)."""
    segs = pols = 0
    with path.open("rb") as fh:
        head = fh.read(106)
        term, sep = head[105:106], head[3:4]
        fh.seek(0)
        rest = b""
        marker = b"HL" + sep
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            chunk = rest + chunk
            parts = chunk.split(term)
            rest = parts.pop()
            segs += len(parts)
            pols += sum(1 for p in parts
                        if p.lstrip().startswith(marker) and p.split(sep)[3:4] == [b"4"])
        if rest.strip():
            segs += 1
    return segs, pols


def make_input(policies: int, out: Path) -> Path:
    """One file of `policies` policies from one carrier, made with ``epoi sample`` (with its
    registrations.csv and a ``sample.json`` summary: the carrier to register for ``epoi run``)."""
    target = out / f"p{policies}"
    if not (target / "sample.json").exists():
        done = subprocess.run([PY, "-m", "epoi", "sample", "--policies", str(policies),
                               "--carriers", "1", "--policies-per-file", str(policies),
                               "--seed", "1", "--out", str(target),
                               "--json"], check=True, stdout=subprocess.PIPE)
        (target / "sample.json").write_bytes(done.stdout)
    files = sorted(target.glob("*.x12"))
    if len(files) != 1:
        raise SystemExit(f"expected one .x12 file in {target}, found {len(files)}")
    return files[0]


def table(results: list[Result]) -> str:
    base = {r.input: r for r in results if r.name == "pyx12 x12n_document"}
    ceil = {r.input: r for r in results if r.name == "naive split (ceiling)"}
    rows = [("contender", "input", "seconds", "CPU s", "segments/s", "policies/s", "peak RSS MB",
             "× pyx12", "of ceiling")]
    for r in results:
        b, c = base.get(r.input), ceil.get(r.input)
        rows.append((
            r.name, r.input, f"{r.seconds:.2f}", f"{r.cpu_seconds:.1f}", f"{r.seg_per_s:,.0f}",
            f"{r.pol_per_s:,.0f}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.seg_per_s / b.seg_per_s:.1f}×" if b and b.seg_per_s else "-",
            f"{r.seg_per_s / c.seg_per_s:.1%}" if c and c.seg_per_s else "-",
        ))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(lines)


def epoi_run_contender(path: Path, out: Path) -> tuple[str, str, list[str], dict[str, str]]:
    """``epoi run`` over ``path``: submit, parse, normalize, match and store everything on the
    embedded default (SQLite + server-less queue), in a fresh ``EPOI_HOME`` in which the
    sample's carrier is registered and its registrations are loaded first (not timed), so
    that matching does real work."""
    import shutil

    info = json.loads((path.parent / "sample.json").read_text())
    home = out / f"epoi-run-{path.stem}"
    shutil.rmtree(home, ignore_errors=True)
    env = {"EPOI_HOME": str(home)}
    child_env = {**os.environ, **env}
    for c in info["carriers"]:
        subprocess.run([PY, "-m", "epoi", "carriers", "add", "--name", c["name"],
                        "--naic", c["naic"],
                        "--isa-qualifier", "ZZ", "--isa-id", c["sender_id"], "--production"],
                       check=True, stdout=subprocess.DEVNULL, env=child_env)
    subprocess.run([PY, "-m", "epoi", "registrations", "load",
                    str(path.parent / "registrations.csv")],
                   check=True, stdout=subprocess.DEVNULL, env=child_env)
    return ("run", "epoi run (embedded, registrations loaded)",
            [PY, "-m", "epoi", "run", str(path)], env)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policies", type=int, default=200_000, help="policies in the large file")
    ap.add_argument("--small", type=int, default=20_000,
                    help="policies in the small file (memory ratio)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--skip", default="",
                    help="comma list of contenders to skip: "
                         "naive,pyx12,engine,engine2,fast,fast2,epoi-pyx12,run")
    ap.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    args.out.mkdir(parents=True, exist_ok=True)

    results: list[Result] = []
    for policies in sorted({args.small, args.policies}):
        path = make_input(policies, args.out)
        segs, pols = count(path)
        label = f"{policies // 1000}k" if policies >= 1000 else str(policies)
        print(f"input {label}: {path} ({path.stat().st_size / 1e6:.0f} MB, {segs:,} segments, "
              f"{pols:,} policies)",
              file=sys.stderr)
        contenders = [
            ("naive", "naive split (ceiling)", [PY, "-c", NAIVE, str(path)], None),
            ("pyx12", "pyx12 x12n_document", [PY, "-c", PYX12, str(path)], None),
            ("engine", "fast engine, 1 process",
             [PY, "-c", FAST, str(path)], {"EPOI_WORKERS": "1"}),
            ("engine2", "fast engine, 2 workers",
             [PY, "-c", FAST, str(path)], {"EPOI_WORKERS": "2"}),
            ("fast", "epoi validate --json (1 process)",
             [PY, "-m", "epoi", "validate", "--json", str(path)], {"EPOI_WORKERS": "1"}),
            ("fast2", "epoi validate --json (2 workers)",
             [PY, "-m", "epoi", "validate", "--json", str(path)], {"EPOI_WORKERS": "2"}),
            ("epoi-pyx12", "epoi validate --engine pyx12",
             [PY, "-m", "epoi", "validate", "--engine", "pyx12", "--json", str(path)], None),
            *([epoi_run_contender(path, args.out)] if "run" not in skip else []),
        ]
        for key, name, argv, env in contenders:
            if key in skip:
                continue
            print(f"  running {name} ...", file=sys.stderr)
            results.append(run_child(name, argv, env=env, input_name=label, segments=segs,
                                     policies=pols))

    print(table(results))
    if args.json:
        print(json.dumps([asdict(r) | {"seg_per_s": r.seg_per_s, "pol_per_s": r.pol_per_s}
                          for r in results], indent=2))


if __name__ == "__main__":
    main()
