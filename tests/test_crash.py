"""``kill -9`` anywhere in ``epoi run``, then another ``epoi run``: every record is stored
exactly once, and the store ends the same as after one clean run.

Twenty runs in one data directory are killed (SIGKILL) after a random delay (seeded), each
given every file so far: kills land in start-up and migration, in the submit, parse,
normalize and match stages and in recovery.  A last run completes.  The result is compared
with a clean run of the same files in another data directory: same rows, same natural keys,
same statuses and business-error codes, same acks; nothing left queued.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from _helpers import RUN_TABLES, subprocess_env, write_carriers_csv
from epoi.sample import FaultOptions, generate

# Twenty kill -9 runs of `epoi run` in subprocesses (~30 s): the chaos tier.
pytestmark = pytest.mark.chaos

KILLS = 20
SEED = 20261127
TABLES = RUN_TABLES


def _env(home: Path, **epoi: str) -> dict[str, str]:
    return subprocess_env(EPOI_HOME=str(home), **epoi)


def _epoi(home: Path, *args: str, **epoi: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "epoi", *args], env=_env(home, **epoi), capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    out = tmp_path_factory.mktemp("crash-edi")
    summary = generate(
        96, out, today=date(2026, 11, 27), seed=11, policies_per_file=12, policies_per_set=4,
        faults=FaultOptions(bad_check_digits=0.03, missing_dates=0.03),
    )  # fmt: skip
    return sorted(summary.files), write_carriers_csv(summary.carriers, out / "carriers.csv")


def _descendants(pid: int) -> dict[int, str]:
    """The processes below ``pid`` (read from /proc), each with its start time, so that a
    pid used again later by another process is not taken for it."""
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
        started[int(entry.name)] = fields[19]
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found[child] = started[child]
            todo.append(child)
    return found


def _still_running(processes: dict[int, str]) -> set[int]:
    running = set()
    for pid, start in processes.items():
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == start and fields[0] != "Z":
            running.add(pid)
    return running


def _snapshot(home: Path) -> dict[str, object]:
    db = sqlite3.connect(home / "epoi.db")
    try:
        q = lambda sql: db.execute(sql).fetchall()  # noqa: E731
        counts = {t: q(f"SELECT count(*) FROM {t}")[0][0] for t in TABLES}
        return {
            "counts": counts,
            "reports": sorted(q("SELECT natural_key, status, test FROM policy_reports")),
            "unique_keys": q("SELECT count(DISTINCT natural_key) FROM policy_reports")[0][0],
            "errors": sorted(q(
                "SELECT p.natural_key, e.ordinal, e.code FROM business_errors e "
                "JOIN policy_reports p ON p.id = e.policy_report_id"
            )),  # fmt: skip
            "vehicles": sorted(q(
                "SELECT p.natural_key, v.ordinal, v.vin, v.match_state FROM vehicles v "
                "JOIN policy_reports p ON p.id = v.policy_report_id"
            )),  # fmt: skip
            "acks": sorted(q(
                "SELECT s.file_name, a.kind, a.answers_interchange, a.answers_group "
                "FROM acks a JOIN submissions s ON s.id = a.submission_id"
            )),  # fmt: skip
            "returns": sorted(q(
                "SELECT answers_interchange, answers_group, answers_set FROM error_returns"
            )),  # fmt: skip
            "states": sorted(q("SELECT file_name, state FROM submissions")),
            "units_not_done": q("SELECT count(*) FROM work_units WHERE state <> 'done'")[0][0],
            # <carrier>.<kind>.<ISA13>: each carrier's reply numbers are used once.
            "ack_names": [
                Path(p).name
                for (p,) in q("SELECT path FROM acks UNION ALL SELECT path FROM error_returns")
            ],
        }
    finally:
        db.close()


# The killed runs in one process, and with the normalize units' first pass done ahead in
# worker processes (every submission, however small): then the writes come from the
# workers' rows, and kills land while they hold units in flight.
@pytest.mark.parametrize("first_pass", [{}, {"EPOI_FIRST_PASS_MIN_POLICIES": "0"}],
                         ids=["one-process", "worker-processes"])
def test_kill_minus_9_anywhere_then_run_again_stores_everything_once(
    files, tmp_path: Path, first_pass: dict[str, str]
) -> None:
    paths, carriers = files
    names = [str(p) for p in paths]

    clean = tmp_path / "clean"
    assert _epoi(clean, "carriers", "import", str(carriers)).returncode == 0
    done = _epoi(clean, "run", *names, "--json")
    assert done.returncode in (0, 1), done.stderr
    expected = _snapshot(clean)
    assert expected["counts"]["policy_reports"] == 96
    assert expected["units_not_done"] == 0

    crashed = tmp_path / "crashed"
    assert _epoi(crashed, "carriers", "import", str(carriers)).returncode == 0
    rng = random.Random(SEED)
    killed = 0
    orphans: dict[int, str] = {}  # the killed runs' worker processes
    for i in range(KILLS):
        # Each run is given the files so far (those already received are skipped).
        upto = names[: min(len(names), 1 + i * len(names) // (KILLS // 2))]
        proc = subprocess.Popen(
            [sys.executable, "-m", "epoi", "run", *upto], env=_env(crashed, **first_pass),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        time.sleep(rng.uniform(0.05, 2.0))
        if proc.poll() is None:
            orphans |= _descendants(proc.pid)
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=30)
    assert killed >= KILLS // 2  # most runs really were killed mid-way
    # A killed run's worker processes end with it (epoi._orphans): none waits forever.
    if first_pass:
        assert orphans  # kills did land while workers ran
    deadline = time.monotonic() + 10
    while _still_running(orphans) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _still_running(orphans)

    final = _epoi(crashed, "run", *names, "--json", **first_pass)
    assert final.returncode in (0, 1), final.stderr
    again = _epoi(crashed, "run")  # nothing left: changes nothing
    assert again.returncode in (0, 1), again.stderr
    got = _snapshot(crashed)

    assert got["units_not_done"] == 0
    assert got["unique_keys"] == got["counts"]["policy_reports"] == 96
    numbers = [n.split(".")[0] + "." + n.split(".")[2] for n in got["ack_names"]]
    assert len(numbers) == len(set(numbers))
    for key in ("counts", "reports", "errors", "vehicles", "acks", "returns", "states"):
        assert got[key] == expected[key], key
