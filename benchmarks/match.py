"""Matching benchmark: registration load, near-VIN lookups, the match stage and renewal
clearance against the store (SQLite, the embedded default).

    python benchmarks/match.py --registrations 1000000 --reports 200000
    python benchmarks/match.py --registrations 10000000 --reports 1000000 --renewals 1000000

One run, one size: a synthetic registration file (surnames with a long tail, so that a
common surname holds ~0.8 % of owners as in a real register; VINs built like
``epoi sample``'s), a set of policy reports drawn from it (exact VINs, one- or
two-character typos, unregistered vehicles of registered owners, vehicles nobody
registered) and a renewal list.  It prints one line per measurement (and ``--json`` the
figures).  Inputs are cached under ``bench-out/match-<size>/``; the database is rebuilt.
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import random
import resource
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from epoi.matching import (  # noqa: E402
    InMemoryRegistrationIndex,
    NearVinProbe,
    SqlRegistrationIndex,
    build_near_vin_index,
    clear_renewals,
    current_near_vin,
    load_registrations,
    match_many,
    match_units,
    read_registrations,
    read_renewals,
)
from epoi.matching._matcher import _probe_keys, owners_of  # noqa: E402
from epoi.sample import _people  # noqa: E402
from epoi.sample._outputs import REGISTRATION_COLUMNS  # noqa: E402
from epoi.sample._vehicles import VinFactory  # noqa: E402
from epoi.schemas.policy import Insured, PolicyReport, RecordKey, Vehicle  # noqa: E402
from epoi.schemas.registration import RowError  # noqa: E402
from epoi.schemas.vin import with_check_digit  # noqa: E402
from epoi.store import Store  # noqa: E402

TODAY = date(2026, 11, 27)
_SYLLABLES = ("KA", "LO", "MI", "RA", "TE", "SU", "NO", "VA", "DE", "GRA", "BER", "SON", "MAN",
              "TON", "LI", "ZA", "QUIN", "HAR", "WEL", "DOR", "FI", "NEZ", "OV", "SKI", "BA")


def _surnames(rng: random.Random, n: int = 150_000) -> tuple[list[str], list[float]]:
    """The sample's surnames first, then invented ones; weights 1/(rank + 12): the top name
    holds ~0.8 % of owners, as SMITH does in a US register."""
    names = list(dict.fromkeys(_people.LAST_NAMES))
    seen = set(names)
    while len(names) < n:
        name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))
        if name not in seen:
            seen.add(name)
            names.append(name)
    return names, [1 / (r + 12) for r in range(len(names))]


def write_inputs(out: Path, registrations: int, reports: int, renewals: int, seed: int) -> None:
    rng = random.Random(seed)
    names, weights = _surnames(rng)
    vins = VinFactory(rng)
    out.mkdir(parents=True, exist_ok=True)
    chosen = set(rng.sample(range(registrations), min(reports, registrations)))
    picked: list[list[str]] = []
    with open(out / "registrations.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(REGISTRATION_COLUMNS)
        batch = 100_000
        for start in range(0, registrations, batch):
            lasts = rng.choices(names, weights=weights, k=min(batch, registrations - start))
            for i, last in enumerate(lasts, start):
                vin, model_year, make = vins.vehicle(TODAY)
                first = rng.choice(_people.FIRST_NAMES)
                dl = f"{chr(65 + i % 26)}{i:07d}"[-8:] if rng.random() < 0.95 else ""
                dob = (TODAY - timedelta(days=rng.randint(6000, 30000))).isoformat()
                plate = f"P{i:09d}"
                expires = (TODAY + timedelta(days=rng.randint(-20, 365))).isoformat()
                row = [plate, vin, make, str(model_year), last, first, "", dl,
                       "CA" if dl else "", dob, "", "1 MAIN ST", "SACRAMENTO", "CA", "95814",
                       expires, "ACTIVE"]
                w.writerow(row)
                if i in chosen:
                    picked.append(row)
    rng.shuffle(picked)
    with open(out / "reports.jsonl", "w", encoding="utf-8") as fh:
        for n, row in enumerate(picked):
            plate, vin, make, year, last, first, _, dl, _, dob = row[:10]
            r = rng.random()
            kind = "exact"
            if r < 0.05:  # one or two characters wrong, check digit kept valid
                chars = list(vin)
                for p in rng.sample([p for p in range(17) if p != 8], rng.choice((1, 1, 2))):
                    chars[p] = rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ".replace(chars[p], ""))
                vin, kind = with_check_digit("".join(chars)), "typo"
            elif r < 0.08:  # the owner's other car, not registered
                vin, kind = vins.vehicle(TODAY)[0], "unregistered"
            fh.write(json.dumps({"n": n, "plate": plate, "vin": vin, "make": make,
                                 "year": int(year), "last": last, "first": first, "dl": dl,
                                 "dob": dob, "kind": kind}) + "\n")
    with open(out / "renewals.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(("plate", "due"))
        for _ in range(renewals):
            i = rng.randrange(registrations)
            w.writerow((f"P{i:09d}", (TODAY + timedelta(days=rng.randint(0, 60))).isoformat()))


def _report(doc: dict[str, Any]) -> PolicyReport:
    number = f"BP{doc['n']:09d}"
    key = RecordKey(carrier_naic="12345", policy_number=number, transaction_type="NBS",
                    effective_date=TODAY - timedelta(days=10), sender_id="BENCH",
                    interchange="1", group="1", transaction_set="0001",
                    policy_position=doc["n"] + 3)
    insured = Insured(kind="individual", last_name=doc["last"], first_name=doc["first"],
                      licence_number=doc["dl"] or None, licence_state="CA" if doc["dl"] else None,
                      date_of_birth=date.fromisoformat(doc["dob"]))
    return PolicyReport(
        carrier_naic="12345", policy_number=number, transaction_type="NBS", policy_type="PV",
        effective_date=TODAY - timedelta(days=10), expiration_date=TODAY + timedelta(days=170),
        insureds=(insured,), vehicles=(Vehicle(vin=doc["vin"], make=doc["make"],
                                               model_year=doc["year"]),),
        file="bench.x12", sender_id="BENCH", interchange="1", group="1", transaction_set="0001",
        submission_ref="B1", key=key)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registrations", type=int, default=1_000_000)
    ap.add_argument("--reports", type=int, default=200_000)
    ap.add_argument("--renewals", type=int, default=0, help="default: as many as reports")
    ap.add_argument("--probes", type=int, default=100_000, help="near-VIN lookups timed")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--steps", default="load,index,near,cascade,stage,renewals",
                    help="which measurements, comma-separated (a run must stay under ~10 "
                         "minutes: split the 10 M one, the later steps with --reuse-db)")
    ap.add_argument("--memory-index", action="store_true",
                    help="also time the in-memory index (needs ~350 bytes a registration)")
    ap.add_argument("--inputs-only", action="store_true",
                    help="write the inputs (cached) and stop: the 10 M set takes minutes")
    ap.add_argument("--reuse-db", action="store_true",
                    help="keep the database of an earlier run instead of loading again")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    renewals = args.renewals or args.reports
    out = Path("bench-out") / f"match-{args.registrations}-{args.reports}-{renewals}"
    figures: dict[str, Any] = {"registrations": args.registrations, "reports": args.reports,
                               "renewals": renewals}

    def note(name: str, seconds: float, count: int, unit: str) -> None:
        figures[name] = {"seconds": round(seconds, 2), "count": count,
                         "per_second": round(count / seconds) if seconds else None}
        print(f"{name:<34} {count:>10,} {unit:<13} {seconds:>8.1f} s "
              f"{count / seconds if seconds else 0:>12,.0f} /s", flush=True)

    if not (out / "renewals.csv").exists():
        t = time.perf_counter()
        write_inputs(out, args.registrations, args.reports, renewals, args.seed)
        print(f"inputs written in {time.perf_counter() - t:.0f} s: {out}", flush=True)
    if args.inputs_only:
        return
    db = out / "bench.db"
    if not (args.reuse_db and db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store(f"sqlite:///{db}")
    store.upgrade()

    # 1. registration load (an empty store: the first-load path)
    steps = set(args.steps.split(","))
    with store.engine.begin() as conn:
        loaded = conn.exec_driver_sql("SELECT COUNT(*) FROM registrations").scalar()
        if loaded and "stage" in steps:
            conn.exec_driver_sql("DELETE FROM match_results")
            conn.exec_driver_sql("DELETE FROM match_reports")
    if not loaded and "load" in steps:
        with store.engine.begin() as conn, open(out / "registrations.csv", newline="") as fh:
            load = load_registrations(conn, read_registrations(fh, name="registrations.csv"))
        note("registration load", load.seconds, load.rows, "rows")
        figures["load_phases"] = load.phases
        print("  phases: " + ", ".join(f"{k} {v:.1f} s" for k, v in load.phases.items()))

    index_dir = out / "index"
    if "index" in steps:
        # The near-VIN arrays of the load (``epoi registrations load`` builds them after it).
        with store.engine.connect() as conn:
            t = time.perf_counter()
            build_near_vin_index(conn, index_dir)
            arrays = current_near_vin(conn, index_dir)
            note("near-VIN index build", time.perf_counter() - t,
                 len(arrays.keys) if arrays is not None else 0, "entries")

    if not steps - {"load", "index"}:
        store.dispose()
        print(json.dumps(figures, indent=2) if args.json else "", end="")
        return
    needs_reports = bool(steps & {"near", "cascade", "stage"})
    docs = [json.loads(line) for line in open(out / "reports.jsonl", encoding="utf-8")
            ] if needs_reports else []
    reports = [_report(d) for d in docs]
    # A worker holds one unit of reports, the benchmark all of them: keep the collector from
    # walking a million pydantic objects again and again (measured: up to half the cascade).
    gc.freeze()
    kinds = {d["n"]: d for d in docs}

    # 2. near-VIN lookups (step 2 alone), batches of 2 000 probes as the cascade sends them
    probes = []
    for report in reports[: args.probes]:
        v = report.vehicles[0]
        owners = owners_of(report)
        probes.append(NearVinProbe(v.vin or "", v.make or "", v.model_year or 0,
                                   _probe_keys(owners), tuple(o.licence for o in owners
                                                              if o.licence)))
    with store.engine.connect() as conn:
        arrays = current_near_vin(conn, index_dir)
        index = SqlRegistrationIndex(conn, index_dir)  # the SQL path when arrays is None
        if "near" in steps:
            # The same probes through the name-key table (SQL) and through the arrays, each
            # twice: the first pass finds the pages on disk or not yet mapped (a worker just
            # started), the second as a long-running worker does.
            for name, where in (("SQL", None), ("arrays", index_dir)):
                if where is not None and arrays is None:
                    print("  (no near-VIN arrays of the latest load: run --steps index)")
                    continue
                lookups = SqlRegistrationIndex(conn, where)
                for run in ("first", "again"):
                    t = time.perf_counter()
                    found = 0
                    for start in range(0, len(probes), 2_000):
                        found += len(lookups.near_vin(probes[start:start + 2_000]))
                    note(f"near-VIN lookups ({name}, {run})", time.perf_counter() - t,
                         len(probes), "lookups")
                    figures[f"near_vin_found_{name}"] = found
                # The search alone: registration ids, before their rows are read.
                t = time.perf_counter()
                for start in range(0, len(probes), 2_000):
                    lookups.near_vin_ids(probes[start:start + 2_000])
                note(f"  of which the search ({name})", time.perf_counter() - t, len(probes),
                     "lookups")

        # 3. the cascade alone over all reports (index reads, no writes)
        results = []
        if "cascade" in steps:
            t = time.perf_counter()
            for start in range(0, len(reports), 2_000):
                results += match_many(reports[start:start + 2_000], index)
            note("match cascade (store)", time.perf_counter() - t, len(reports), "reports")
    correct = wrong = 0
    for report, result in zip(reports, results, strict=False):  # no results: cascade not run
        assert report.policy_number is not None  # _report gives every report one
        doc = kinds[int(report.policy_number[2:])]
        if result.state == "matched":
            if doc["kind"] != "unregistered" and result.plate == doc["plate"]:
                correct += 1
            else:
                wrong += 1
    figures["cascade_correct"], figures["cascade_wrong"] = correct, wrong
    if results:
        states = {s: sum(r.state == s for r in results) for s in ("matched", "pending",
                                                                    "ambiguous")}
        print(f"  matched correctly {correct:,}, wrongly {wrong:,}; states {states}",
              flush=True)
    del results
    gc.collect()

    if args.memory_index:
        t = time.perf_counter()
        with open(out / "registrations.csv", newline="") as fh:
            rows = read_registrations(fh, name="r")
            mem = InMemoryRegistrationIndex(r for r in rows if not isinstance(r, RowError))
        note("in-memory index build", time.perf_counter() - t, len(mem), "rows")
        t = time.perf_counter()
        for start in range(0, len(probes), 2_000):
            mem.near_vin(probes[start:start + 2_000])
        note("near-VIN lookups (in-memory)", time.perf_counter() - t, len(probes), "lookups")
        del mem
        gc.collect()

    if "stage" in steps:
        # 4. the match stage: cascade + results stored (one transaction per 2 000 reports)
        t = time.perf_counter()
        counts = match_units(store, reports, today=TODAY, window_days=30,
                             near_vin_dir=index_dir)
        note("match stage (stored)", time.perf_counter() - t, len(reports), "reports")
        figures["stage_states"] = dict(counts.states)

    if "renewals" in steps:
        # 5. renewal clearance (against the stage's stored results)
        with store.engine.connect() as conn, open(out / "renewals.csv", newline="") as fh:
            t = time.perf_counter()
            cleared = held = 0
            dues = read_renewals(fh, name="renewals.csv")
            for c in clear_renewals(conn, (r for r in dues if not isinstance(r, RowError))):
                if c.status == "cleared":
                    cleared += 1
                else:
                    held += 1
            note("renewal clearance", time.perf_counter() - t, cleared + held, "renewals")
            figures["renewals_cleared"], figures["renewals_held"] = cleared, held
    figures["peak_rss_mb"] = round(_rss_mb())
    figures["database_mb"] = round(db.stat().st_size / 2**20)
    print(f"peak RSS {figures['peak_rss_mb']} MB, database {figures['database_mb']} MB")
    store.dispose()
    if args.json:
        print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
