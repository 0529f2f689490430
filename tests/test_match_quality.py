"""Match quality against the ground truth of a seeded ``epoi sample`` world: VIN typos (one
or two characters, transpositions), name variants in the registration file, decoy near VINs
of other owners, registered twins of unregistered vehicles, uninsured vehicles, fleets.

The whole production path runs: the sample's 811 files validated and normalised, the
registration file bulk-loaded into a SQLite store, the accepted production reports matched
through the SQL-backed index (``match_units``).  Precision per step is correct matches over
matches made at that step; recall is correct matches over the reported vehicles that can be
matched (accepted records whose vehicle is registered; for a fleet policy, each registered
vehicle of the fleet).

``python tests/test_match_quality.py`` prints the table."""

from __future__ import annotations

import csv
import io
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from epoi.matching import (
    MatchCounts,
    build_near_vin_index,
    load_registrations,
    match_units,
    read_registrations,
)
from epoi.parsers import iter_policies, validate
from epoi.sample import FaultOptions, MatchingTraps, generate
from epoi.schemas.policy import NormalizedRecord
from epoi.store import Store, match_results
from epoi.transforms import EditContext, normalize

TODAY = date(2026, 11, 27)
POLICIES = 4_000
FAULTS = FaultOptions(vin_typos=0.06)
TRAPS = MatchingTraps(name_variants=0.15, decoys=0.05, twins=1.0)


@dataclass
class Quality:
    matched: Counter[int] = field(default_factory=Counter)  # per step
    correct: Counter[int] = field(default_factory=Counter)
    matchable: int = 0
    unregistered: int = 0  # reported, accepted, not registered: must never match
    wrong_for_unregistered: int = 0
    states: Counter[str] = field(default_factory=Counter)
    traps: Counter[str] = field(default_factory=Counter)  # matchable vehicles per trap kind
    traps_found: Counter[str] = field(default_factory=Counter)

    def precision(self, step: int | None = None) -> float:
        made = sum(self.matched.values()) if step is None else self.matched[step]
        good = sum(self.correct.values()) if step is None else self.correct[step]
        return good / made if made else 1.0

    def recall(self, step: int | None = None) -> float:
        good = sum(self.correct.values()) if step is None else self.correct[step]
        return good / self.matchable if self.matchable else 1.0

    def table(self) -> str:
        lines = ["step  matched  correct  precision  recall(share of matchable)"]
        for step in (1, 2, 3, 4):
            lines.append(f"{step:>4}  {self.matched[step]:>7}  {self.correct[step]:>7}  "
                         f"{self.precision(step):>9.4%}  {self.recall(step):>9.4%}")
        lines.append(f" all  {sum(self.matched.values()):>7}  {sum(self.correct.values()):>7}  "
                     f"{self.precision():>9.4%}  {self.recall():>9.4%}")
        lines.append(f"matchable {self.matchable}; unregistered reported {self.unregistered}"
                     f" (wrongly matched {self.wrong_for_unregistered}); states "
                     f"{dict(sorted(self.states.items()))}")
        lines.append("traps (matchable / found): " + ", ".join(
            f"{k} {self.traps[k]}/{self.traps_found[k]}" for k in sorted(self.traps)))
        return "\n".join(lines)


@dataclass
class World:
    quality: Quality
    counts: MatchCounts
    records: list[NormalizedRecord]


def _records(files: list[Path]) -> list[NormalizedRecord]:
    ctx = EditContext(received_at=datetime(2026, 11, 27, 12, tzinfo=UTC), today=TODAY)
    out: list[NormalizedRecord] = []
    for path in files:
        data = path.read_bytes()
        verdict = validate(io.BytesIO(data), name=path.name)
        out += [normalize(b, context=ctx) for b in
                iter_policies(io.BytesIO(data), verdict, name=path.name)]
    return out


def build_world(out: Path, *, policies: int = POLICIES, seed: int = 21) -> World:
    summary = generate(policies, out, today=TODAY, seed=seed, carriers=3, faults=FAULTS,
                       traps=TRAPS, policies_per_file=2_000, policies_per_set=500)
    store = Store(f"sqlite:///{out / 'quality.db'}")
    store.upgrade()
    try:
        with store.engine.begin() as conn, summary.registrations_file.open(newline="") as fh:
            load = load_registrations(conn, read_registrations(fh, name="registrations.csv"))
        assert not load.errors
        # Step 2 as `epoi registrations load` sets it up: from the near-VIN arrays.
        with store.engine.connect() as conn:
            assert build_near_vin_index(conn, out / "index") is not None
        records = _records(summary.files)
        counts = match_units(store, records, today=TODAY, window_days=30,
                             near_vin_dir=out / "index")
        with store.engine.connect() as conn:
            stored = [dict(r._mapping) for r in conn.execute(match_results.select())]
    finally:
        store.dispose()
    return World(_score(records, stored, summary.ground_truth_file), counts, records)


def _score(records: list[NormalizedRecord], stored: list[dict], truth_file: Path) -> Quality:
    with truth_file.open(newline="", encoding="utf-8") as fh:
        truth = [r for r in csv.DictReader(fh) if r["kind"] in ("vehicle", "fleet_vehicle")]
    results: dict[str, list[dict]] = {}
    for r in stored:
        results.setdefault(r["report_key"], []).append(r)
    q = Quality()
    at = 0
    for record in records:
        report = record.report
        if report.vehicles:
            rows = truth[at:at + len(report.vehicles)]
        else:  # a fleet policy: its fleet_vehicle rows
            end = at
            while end < len(truth) and truth[end]["kind"] == "fleet_vehicle" and (
                    truth[end]["policy_number"], truth[end]["file"]) == (
                    report.policy_number, report.file):
                end += 1
            rows = truth[at:end]
        at += len(rows)
        assert all(r["policy_number"] == report.policy_number for r in rows)
        if record.status == "rejected":
            continue
        got = sorted(results.get(report.key.as_string(), []), key=lambda r: r["position"])
        for r in got:
            q.states[r["state"]] += 1
        if report.vehicles:
            for row, result in zip(rows, got, strict=True):
                traps = [d for d in row["detail"].split(";") if d.startswith("reg_name_")]
                traps += [f for f in row["fault"].split(";") if f.startswith("vin_typo")]
                if row["registered_plate"]:
                    q.matchable += 1
                    for t in traps:
                        q.traps[t] += 1
                else:
                    q.unregistered += 1
                if result["state"] != "matched":
                    continue
                step = result["step"]
                q.matched[step] += 1
                if result["plate"] == row["registered_plate"] and row["registered_plate"]:
                    q.correct[step] += 1
                    for t in traps:
                        q.traps_found[t] += 1
                elif not row["registered_plate"]:
                    q.wrong_for_unregistered += 1
        else:
            fleet = {r["registered_plate"] for r in rows if r["registered_plate"]}
            q.matchable += len(fleet)
            for result in got:
                if result["state"] == "matched":
                    q.matched[result["step"]] += 1
                    if result["plate"] in fleet:
                        q.correct[result["step"]] += 1
    assert at == len(truth), "every ground-truth row was compared"
    return q


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return build_world(tmp_path_factory.mktemp("quality"))


def test_precision_and_recall_against_the_ground_truth(world: World) -> None:
    q = world.quality
    print("\n" + q.table())
    assert q.matchable > 5_000
    assert q.precision() >= 0.999, q.table()
    for step in (1, 2, 3, 4):
        assert q.precision(step) >= 0.999, q.table()
    assert q.recall() >= 0.98, q.table()
    # An unregistered vehicle is never matched, even with a registered twin of its owner.
    assert q.wrong_for_unregistered == 0, q.table()


def test_the_world_has_every_trap(world: World) -> None:
    q = world.quality
    assert q.unregistered > 50  # each has a registered twin (TRAPS.twins = 1)
    for kind in ("reg_name_swapped", "reg_name_suffix", "reg_name_hyphen",
                 "vin_typo_substitute", "vin_typo_substitute2", "vin_typo_transpose"):
        assert q.traps[kind] > 0, kind
        # Each trap is seen through: the vehicle is matched to its own registration.
        assert q.traps_found[kind] >= 0.9 * q.traps[kind], (kind, q.table())
    assert world.counts.skipped_rejected > 0 and world.counts.reports > 3_000


def test_step_two_recovers_typos_and_fleets_match_at_step_three(world: World) -> None:
    q = world.quality
    assert q.correct[2] > 50
    assert q.correct[3] > 100  # the fleet policies' vehicles


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        w = build_world(Path(tmp), policies=int(sys.argv[1]) if len(sys.argv) > 1 else POLICIES)
    print(w.quality.table())
