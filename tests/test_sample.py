"""epoi sample: determinism, envelope arithmetic, VIN validity, ground truth agreeing with the
files, the registration file's columns, faults injected exactly where recorded, and pyx12
accepting what the default options produce."""

from __future__ import annotations

import csv
import json
import os
import re
import shlex
import sqlite3
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from epoi.cli import main
from epoi.errors import ConfigError
from epoi.sample import (
    GROUND_TRUTH_COLUMNS,
    REGISTRATION_COLUMNS,
    FaultOptions,
    SampleSummary,
    generate,
)
from epoi.schemas.vin import check_digit_ok, has_valid_characters, year_code_matches

TODAY = date(2026, 11, 27)
REPO = Path(__file__).resolve().parents[1]
# The registration file's columns, as cli.md lists them.
CLI_MD_COLUMNS = {
    "plate", "vin", "make", "model_year", "owner_last", "owner_first", "owner_org", "owner_dl",
    "owner_dl_state", "owner_dob", "owner_fein", "street", "city", "state", "zip", "expires",
    "status",
}
REQUIRED_DATES = {"NBS": {"007"}, "RWL": {"007", "036"}, "CHG": {"007"}, "XLC": {"007", "177"},
                  "REI": {"007"}}


# -- a reader independent of epoi's parsers ------------------------------------------------


@dataclass
class Vehicle:
    vin: str
    year: int
    make: str
    change: str = ""


@dataclass
class PolicyRec:
    number: str
    transaction: str
    policy_type: str
    hl04: str = ""
    dates: dict[str, str] = field(default_factory=dict)
    names: list[list[str]] = field(default_factory=list)
    vehicles: list[Vehicle] = field(default_factory=list)


@dataclass
class SetRec:
    st02: str
    se01: int
    true_count: int
    policies: list[PolicyRec] = field(default_factory=list)


@dataclass
class FileRec:
    name: str
    isa: str
    isa13: str
    gs06: str
    ge01: int
    ge02: str
    iea01: int
    iea02: str
    sets: list[SetRec] = field(default_factory=list)


def read_file(path: Path) -> FileRec:
    raw = path.read_bytes().decode("ascii")
    assert raw.startswith("ISA")
    isa_text = raw[:106]
    segs = [s.lstrip("\r\n").split("*") for s in raw.split("~")]
    assert segs[-1] == [""] and raw.rstrip("\r\n").endswith("~")
    segs = segs[:-1]
    isa, gs, ge, iea = segs[0], segs[1], segs[-2], segs[-1]
    assert (isa[0], gs[0], ge[0], iea[0]) == ("ISA", "GS", "GE", "IEA")
    rec = FileRec(path.name, isa_text, isa[13], gs[6], int(ge[1]), ge[2], int(iea[1]), iea[2])
    current: SetRec | None = None
    policy: PolicyRec | None = None
    count = 0
    hl_ids: dict[str, str] = {}
    expected_hl = 0
    level = ""
    for seg in segs[2:-2]:
        sid = seg[0]
        count += 1
        if sid == "ST":
            assert current is None
            current, count, hl_ids, expected_hl = SetRec(seg[2], 0, 0), 1, {}, 0
        elif sid == "SE":
            assert current is not None and seg[2] == current.st02
            current.se01, current.true_count = int(seg[1]), count
            rec.sets.append(current)
            current = None
        elif sid == "HL":
            expected_hl += 1
            assert seg[1] == str(expected_hl), "HL ids run 1, 2, 3 ... within a set"
            level = seg[3]
            hl_ids[seg[1]] = level
            parent_level = {"1": None, "2": "1", "4": "2", "5": "4"}[level]
            assert (hl_ids.get(seg[2]) if seg[2] else None) == parent_level
            if level == "4":
                policy = PolicyRec("", "", "", hl04=seg[4])
                current.policies.append(policy)  # type: ignore[union-attr]
                policy_hl = seg[1]
            elif level == "5":
                assert seg[2] == policy_hl and seg[4] == "0"
        elif sid == "LX":
            # Policies are numbered within the set, vehicles within their policy.
            assert policy is not None and current is not None
            expected_lx = len(current.policies) if level == "4" else len(policy.vehicles) + 1
            assert seg[1] == str(expected_lx)
        elif level == "4" and policy is not None:
            if sid == "REF" and seg[1] == "IG":
                policy.number = seg[2]
            elif sid == "SI":
                policy.transaction, policy.policy_type = seg[3], seg[5]
            elif sid == "DTM":
                assert seg[1] not in policy.dates
                policy.dates[seg[1]] = seg[2]
            elif sid == "NM1":
                policy.names.append(seg)
        elif level == "5" and policy is not None:
            if sid == "VEH":
                policy.vehicles.append(Vehicle(seg[2], int(seg[3]), seg[5]))
            elif sid == "SI":
                policy.vehicles[-1].change = seg[3]
    assert current is None
    for s in rec.sets:
        for p in s.policies:
            # HL04 of a policy says whether vehicle levels follow; only fleets have none.
            assert p.hl04 == ("1" if p.vehicles else "0")
            assert bool(p.vehicles) == (p.policy_type != "CF")
    return rec


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    """Default options (a small rate of VIN typos), several files and sets per carrier."""
    return generate(900, tmp_path_factory.mktemp("clean"), today=TODAY, seed=5, carriers=4,
                    policies_per_file=120, policies_per_set=50, faults=FaultOptions(vin_typos=0.03))


@pytest.fixture(scope="module")
def faulty(tmp_path_factory: pytest.TempPathFactory) -> SampleSummary:
    faults = FaultOptions(vin_typos=0.1, bad_check_digits=0.1, missing_dates=0.15, wrong_counts=0.3)
    return generate(900, tmp_path_factory.mktemp("faulty"), today=TODAY, seed=5, carriers=4,
                    policies_per_file=120, policies_per_set=50, faults=faults)


def all_bytes(d: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(d.iterdir())}


# -- determinism ------------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path: Path) -> None:
    a = generate(150, tmp_path / "a", today=TODAY, seed=42, carriers=2)
    b = generate(150, tmp_path / "b", today=TODAY, seed=42, carriers=2)
    c = generate(150, tmp_path / "c", today=TODAY, seed=43, carriers=2)
    assert all_bytes(a.out_dir) == all_bytes(b.out_dir)
    assert len(all_bytes(a.out_dir)) == len(a.files) + 3  # registrations, ground truth, carriers
    assert all_bytes(a.out_dir) != all_bytes(c.out_dir)


def test_faults_change_only_the_mistakes(clean: SampleSummary, faulty: SampleSummary) -> None:
    """Same seed, other fault rates: the same world (true VINs, registrations)."""
    truth_a = read_csv(clean.ground_truth_file)
    truth_b = [r for r in read_csv(faulty.ground_truth_file) if r["kind"] != "file"]
    key = ("kind", "policy_number", "transaction_type", "true_vin", "registered_plate")
    assert [tuple(r[k] for k in key) for r in truth_a] == [
        tuple(r[k] for k in key) for r in truth_b
    ]
    assert clean.registrations_file.read_bytes() == faulty.registrations_file.read_bytes()


def test_sample_edi_is_what_its_readme_says(tmp_path: Path) -> None:
    """sample_edi/ is regenerated byte for byte by the command its README gives."""
    readme = (REPO / "sample_edi" / "README.md").read_text(encoding="utf-8")
    m = re.search(r"epoi sample (--[^\n`]*)", readme)
    assert m, "README gives the command"
    args = m.group(1).replace("--out sample_edi", f"--out {tmp_path}").split()
    result = CliRunner().invoke(main, ["sample", *args])
    assert result.exit_code == 0, result.output
    committed = {n: b for n, b in all_bytes(REPO / "sample_edi").items() if n != "README.md"}
    assert committed == all_bytes(tmp_path)
    assert sum(len(b) for b in committed.values()) < 100_000


# -- the files --------------------------------------------------------------------------------


def test_envelope_counts_and_control_numbers(clean: SampleSummary) -> None:
    assert len(clean.files) >= 8  # 900 policies, 4 carriers, 120 per file
    isa13s = set()
    for path in clean.files:
        f = read_file(path)
        assert len(f.isa) == 106 and f.isa.endswith("~") and f.isa[3] == "*"
        isa = f.isa[:-1].split("*")
        assert (isa[7], isa[8].rstrip(), isa[11], isa[12]) == ("ZZ", "EPOISTATE", "U", "00401")
        assert re.fullmatch(r"\d{9}", f.isa13) and f.isa13 == f.iea02
        assert f.ge02 == f.gs06 and int(f.gs06) == int(f.isa13)
        assert f.iea01 == 1 and f.ge01 == len(f.sets) >= 1
        assert [s.st02 for s in f.sets] == [f"{i:04d}" for i in range(1, len(f.sets) + 1)]
        for s in f.sets:
            assert s.se01 == s.true_count
            assert 1 <= len(s.policies) <= 50
        isa13s.add((isa[6], f.isa13))
    assert len(isa13s) == len(clean.files)


def test_policies_have_the_dates_their_type_requires(clean: SampleSummary) -> None:
    seen = Counter()
    for path in clean.files:
        for s in read_file(path).sets:
            for p in s.policies:
                seen[p.transaction] += 1
                assert REQUIRED_DATES[p.transaction] <= set(p.dates)
                assert ("177" in p.dates) == (p.transaction == "XLC")
                eff = p.dates["007"]
                assert p.dates.get("036", "99999999") > eff
                assert p.dates.get("177", eff) >= eff
                assert p.names and all(n[1] == "IL" and n[2] in "12" for n in p.names)
                if p.policy_type == "CF":
                    assert not p.vehicles
    assert set(seen) == {"NBS", "RWL", "CHG", "XLC", "REI"}
    assert seen["NBS"] + seen["RWL"] > 0.8 * sum(seen.values())


def test_vins_valid_unless_a_fault_is_recorded(clean: SampleSummary) -> None:
    truth = iter(r for r in read_csv(clean.ground_truth_file) if r["kind"] == "vehicle")
    typos = 0
    for path in clean.files:
        for s in read_file(path).sets:
            for p in s.policies:
                for v in p.vehicles:
                    row = next(truth)
                    assert (row["policy_number"], row["reported_vin"]) == (p.number, v.vin)
                    assert has_valid_characters(v.vin)
                    true_vin = row["true_vin"]
                    assert check_digit_ok(true_vin) and year_code_matches(true_vin, v.year)
                    if row["fault"]:
                        assert row["fault"].startswith("vin_typo_") and v.vin != true_vin
                        typos += 1
                    else:
                        assert v.vin == true_vin
    assert next(truth, None) is None, "no ground-truth row without a vehicle in the files"
    assert typos > 0


def test_ground_truth_matches_files_and_registrations(clean: SampleSummary) -> None:
    truth = read_csv(clean.ground_truth_file)
    assert tuple(truth[0].keys()) == GROUND_TRUTH_COLUMNS
    regs = read_csv(clean.registrations_file)
    by_plate = {r["plate"]: r for r in regs}
    assert len(by_plate) == len(regs), "plates are unique"
    assert len({r["vin"] for r in regs}) == len(regs), "VINs are unique"
    naics = {c.naic for c in clean.carriers}
    policies_in_files = {
        (read_file(p).name, s.st02, pol.number)
        for p in clean.files for s in read_file(p).sets for pol in s.policies
    }
    kinds = Counter(r["kind"] for r in truth)
    assert set(kinds) == {"vehicle", "fleet_vehicle", "uninsured"}
    for r in truth:
        if r["kind"] in ("vehicle", "fleet_vehicle"):
            assert r["carrier_naic"] in naics
            assert (r["file"], r["transaction_set"], r["policy_number"]) in policies_in_files
        if r["registered_plate"]:
            reg = by_plate[r["registered_plate"]]
            assert reg["vin"] == r["registered_vin"] == r["true_vin"]
        else:
            assert r["registered_vin"] == "" and r["true_vin"] not in {x["vin"] for x in regs}
    # Most reported vehicles are registered, a few are not; some registered nobody insures.
    vehicles = [r for r in truth if r["kind"] == "vehicle"]
    unregistered = sum(1 for r in vehicles if not r["registered_plate"])
    assert 0 < unregistered < 0.1 * len(vehicles)
    assert kinds["uninsured"] == clean.uninsured > 0
    reported_vins = {r["reported_vin"] for r in vehicles}
    for r in truth:
        if r["kind"] == "uninsured":
            assert r["registered_vin"] not in reported_vins


def test_registrations_have_the_cli_md_columns_and_sane_values(clean: SampleSummary) -> None:
    regs = read_csv(clean.registrations_file)
    assert set(regs[0].keys()) == CLI_MD_COLUMNS == set(REGISTRATION_COLUMNS)
    assert len(regs) == clean.registrations
    for r in regs:
        assert check_digit_ok(r["vin"]) and year_code_matches(r["vin"], int(r["model_year"]))
        assert re.fullmatch(r"[A-Z]{2,4}|BMW|KIA|GMC|RAM|ISU", r["make"])
        assert re.fullmatch(r"\d[A-Z]{3}\d{3}|\d[A-Z]\d{5}", r["plate"])
        assert bool(r["owner_org"]) != bool(r["owner_last"])
        if r["owner_org"]:
            assert re.fullmatch(r"\d{9}", r["owner_fein"])
        if r["owner_dl"]:
            assert re.fullmatch(r"[A-Z]\d{7}", r["owner_dl"]) and r["owner_dl_state"] == "CA"
        if r["owner_dob"]:
            assert date.fromisoformat(r["owner_dob"]) < TODAY
        assert re.fullmatch(r"\d{5}(-\d{4})?", r["zip"])
        date.fromisoformat(r["expires"])
        assert r["status"] in {"ACTIVE", "EXPIRED", "SUSPENDED", "CANCELLED"}


def test_insureds_look_real(clean: SampleSummary) -> None:
    names = [n for p in clean.files for s in read_file(p).sets for pol in s.policies
             for n in pol.names]
    people = [n for n in names if n[2] == "1"]
    orgs = [n for n in names if n[2] == "2"]
    assert len({n[3] for n in people}) > 100
    assert any("-" in n[3] for n in people) and any(len(n) > 7 and n[7] for n in people)
    assert orgs and all(n[8] == "FI" and re.fullmatch(r"\d{9}", n[9]) for n in orgs)
    assert all(len(n[3]) <= 35 for n in names)
    makes = {r["make"] for r in read_csv(clean.registrations_file)}
    assert {"HOND", "TOYT", "FORD", "CHEV", "NISS", "TESL"} <= makes


# -- faults -----------------------------------------------------------------------------------


def _distance(a: str, b: str) -> int:
    return sum(x != y for x, y in zip(a, b, strict=True))


def test_faults_are_injected_where_recorded(faulty: SampleSummary) -> None:
    truth = read_csv(faulty.ground_truth_file)
    file_faults = {(r["file"], r["transaction_set"], r["fault"]): r["detail"]
                   for r in truth if r["kind"] == "file"}
    vehicle_rows = iter(r for r in truth if r["kind"] == "vehicle")
    policy_faults = {(r["file"], r["policy_number"], r["transaction_type"]): r["fault"]
                     for r in truth if r["kind"] in ("vehicle", "fleet_vehicle")}
    seen = Counter()
    for path in faulty.files:
        f = read_file(path)
        ge_fault = file_faults.get((f.name, "", "wrong_ge_count"))
        assert (f.ge01 != len(f.sets)) == bool(ge_fault)
        if ge_fault:
            assert ge_fault == f"GE01={f.ge01} actual={len(f.sets)}"
            seen["ge"] += 1
        for s in f.sets:
            se_fault = file_faults.get((f.name, s.st02, "wrong_se_count"))
            assert (s.se01 != s.true_count) == bool(se_fault)
            if se_fault:
                assert se_fault == f"SE01={s.se01} actual={s.true_count}"
                seen["se"] += 1
            for p in s.policies:
                recorded = policy_faults.get((f.name, p.number, p.transaction), "")
                missing = set(REQUIRED_DATES[p.transaction]) - set(p.dates)
                assert {f"missing_date_{d}" for d in missing} == {
                    x for x in recorded.split(";") if x.startswith("missing_date_")
                }
                seen["dates"] += bool(missing)
                for v in p.vehicles:
                    row = next(vehicle_rows)
                    faults = set(filter(None, row["fault"].split(";")))
                    vin_faults = {x for x in faults if not x.startswith("missing_date_")}
                    if not vin_faults:
                        assert v.vin == row["true_vin"]
                    elif vin_faults == {"bad_check_digit"}:
                        assert not check_digit_ok(v.vin) and _distance(v.vin, row["true_vin"]) == 1
                        assert v.vin[:8] + v.vin[9:] == row["true_vin"][:8] + row["true_vin"][9:]
                        seen["check"] += 1
                    else:
                        (kind,) = vin_faults
                        assert kind in {
                            "vin_typo_substitute", "vin_typo_substitute2", "vin_typo_transpose"
                        }
                        assert (v.vin != row["true_vin"]
                                and 1 <= _distance(v.vin, row["true_vin"]) <= 2)
                        assert (sorted(v.vin) == sorted(row["true_vin"])
                                or kind != "vin_typo_transpose")
                        assert has_valid_characters(v.vin)
                        seen["typo"] += 1
                        seen["typo_passes_check"] += check_digit_ok(v.vin)
    assert all(seen[k] > 0 for k in ("ge", "se", "dates", "check", "typo", "typo_passes_check"))
    assert faulty.faults["wrong_se_count"] == seen["se"]


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), year=st.integers(1981, 2027))
def test_vin_faults_stay_close_to_the_true_vin(seed: int, year: int) -> None:
    import random

    from epoi.sample._faults import bad_check_digit, vin_typo
    from epoi.sample._vehicles import VinFactory

    rng = random.Random(seed)
    vin, model_year, _ = VinFactory(rng).vehicle(date(year, 1, 1))
    assert check_digit_ok(vin) and year_code_matches(vin, model_year)
    typed, kind = vin_typo(rng, vin)
    assert typed != vin and has_valid_characters(typed)
    if kind == "transpose":
        assert sorted(typed) == sorted(vin) and _distance(typed, vin) == 2
    else:
        assert _distance(typed, vin) == (1 if kind == "substitute" else 2)
    wrong = bad_check_digit(rng, vin)
    assert not check_digit_ok(wrong) and _distance(wrong, vin) == 1 and wrong[8] != vin[8]


def test_fault_rates_outside_0_1_are_refused() -> None:
    with pytest.raises(ConfigError):
        FaultOptions(vin_typos=1.5)
    with pytest.raises(ConfigError):
        FaultOptions(wrong_counts=-0.1)


# -- the command ------------------------------------------------------------------------------


def test_cli_json_summary_and_usage_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    r = runner.invoke(main, ["sample", "--policies", "40", "--carriers", "2", "--out",
                             str(tmp_path / "o"), "--today", "2026-11-27", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["policies"] == 40 and len(doc["carriers"]) == 2
    assert doc["vehicles"] == sum(1 for row in read_csv(tmp_path / "o" / "ground_truth.csv")
                                  if row["kind"] == "vehicle")
    assert all(Path(f).exists() for f in doc["files"])
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "old_20200101_001.x12").write_text("ISA")
    r = runner.invoke(main, ["sample", "--policies", "10", "--out", str(tmp_path / "p"),
                             "--today", "2026-11-27"])
    assert r.exit_code == 0 and "10 policies" in r.output and "\x1b[" not in r.output
    assert "1 older .x12 file(s)" in r.output  # (CliRunner mixes stderr into output)
    r = runner.invoke(main, ["sample", "--policies", "10", "--out", str(tmp_path / "q"),
                             "--vin-typos", "2"])
    assert r.exit_code == 2
    r = runner.invoke(main, ["sample", "--policies", "2", "--carriers", "3", "--out",
                             str(tmp_path / "r")])
    assert r.exit_code == 2 and "SAMPLE-ARGS" in r.output


def test_the_commands_sample_prints_run_its_world(tmp_path: Path) -> None:
    """issue 11 §1: `epoi sample` writes the carriers of the world it makes and prints the
    commands that run it; run as printed, no interchange is rejected (no unknown sender, TA1
    006) and no record is rejected for a NAIC that is not its carrier's (E001)."""
    home, out = tmp_path / "home", tmp_path / "s"
    env = {**os.environ, "EPOI_HOME": str(home)}
    env.pop("EPOI_DATABASE_URL", None)
    made = subprocess.run([sys.executable, "-m", "epoi", "sample", "--policies", "300",
                           "--today", "2026-11-27", "--out", str(out)],
                          capture_output=True, text=True, env=env, check=False)
    assert made.returncode == 0, made.stderr
    lines = made.stdout.splitlines()
    commands = [ln.strip() for ln in lines[lines.index("run it with:") + 1:]]
    assert [c.split()[:2] for c in commands] == [["epoi", "carriers"], ["epoi", "run"]]
    assert read_csv(out / "carriers.csv")[0].keys() >= {"naic", "isa_id", "environment"}
    epoi = f"{shlex.quote(sys.executable)} -m epoi"
    done = [subprocess.run(c.replace("epoi", epoi, 1) + (" --json" if " run " in f" {c} " else ""),
                           shell=True, capture_output=True, text=True, env=env, check=False)
            for c in commands]
    assert done[0].returncode == 0 and "3 added" in done[0].stdout, done[0].stderr
    doc = json.loads(done[1].stdout)
    assert doc["files"] == 3 and doc["policies"] == 300 and doc["interchanges_rejected"] == 0
    # Records may be rejected for the injected VIN typos (E204), never for their carrier.
    assert done[1].returncode == (1 if doc["rejected"] else 0), done[1].stderr
    with sqlite3.connect(home / "epoi.db") as db:
        codes = {c for (c,) in db.execute("SELECT DISTINCT code FROM business_errors")}
    assert "E001" not in codes


# -- pyx12 -----------------------------------------------------------------------------------


def test_pyx12_accepts_default_files_and_rejects_wrong_counts(tmp_path: Path) -> None:
    from epoi.parsers import ValidationOptions
    from epoi.parsers._pyx12 import validate

    good = generate(40, tmp_path / "good", today=TODAY, seed=9, carriers=4,
                    policies_per_file=20, policies_per_set=8)
    # Four carriers cover the line-end styles: LF, CRLF and none.
    assert {b"\r\n" in f.read_bytes() for f in good.files} == {True, False}
    assert any(b"\n" not in f.read_bytes() for f in good.files)
    for f in good.files:
        verdict = validate(f, name=f.name, options=ValidationOptions())
        assert verdict.accepted, f.name
    bad = generate(40, tmp_path / "bad", today=TODAY, seed=9, carriers=2,
                   faults=FaultOptions(vin_typos=0, wrong_counts=1.0))
    for f in bad.files:
        assert not validate(f, name=f.name, options=ValidationOptions()).accepted


def test_follow_ups_are_consistent_with_the_policy_they_follow(clean: SampleSummary) -> None:
    """A cancellation, change or reinstatement of a policy reported earlier in the same
    stream carries dates that agree with that earlier report."""
    history: dict[tuple[str, str], list[PolicyRec]] = {}
    for path in clean.files:
        for s in read_file(path).sets:
            for p in s.policies:
                carrier = path.name.split("_")[0]
                history.setdefault((carrier, p.number), []).append(p)
    follow_ups = Counter()
    for reports in history.values():
        # Consecutive pairs: the shifted copy is one shorter by design.
        for earlier, later in zip(reports, reports[1:], strict=False):
            follow_ups[later.transaction] += 1
            assert later.policy_type == earlier.policy_type
            assert later.names == earlier.names
            if later.transaction == "XLC":
                assert later.dates["007"] == earlier.dates["007"]
                assert later.dates["177"] > later.dates["007"]
            elif later.transaction == "REI":
                assert earlier.transaction == "XLC" and later.dates["007"] >= earlier.dates["177"]
            else:
                assert later.transaction == "CHG" and later.dates["007"] > earlier.dates["007"]
                added = [v for v in later.vehicles if v.change == "VAD"]
                old = {v.vin for v in earlier.vehicles}
                assert all(v.vin not in old for v in added)
                assert {v.vin for v in later.vehicles if not v.change} <= old
    assert follow_ups["XLC"] and follow_ups["CHG"] and follow_ups["REI"]


def test_business_edits_find_exactly_the_recorded_faults(tmp_path: Path) -> None:
    """End to end through the fast engine and the business edits: the files are accepted at
    the X12 level, E204 falls on exactly the vehicles whose recorded fault broke the check
    digit, E103 on exactly the policies with a missing date, and nothing clean is rejected."""
    import io
    from datetime import datetime

    from epoi.parsers import iter_policies, validate
    from epoi.transforms import EditContext, normalize

    faults = FaultOptions(vin_typos=0.05, bad_check_digits=0.05, missing_dates=0.05)
    summary = generate(300, tmp_path, today=TODAY, seed=3, carriers=2, faults=faults)
    ctx = EditContext(received_at=datetime(2026, 11, 27, 12, tzinfo=UTC), today=TODAY)
    truth = iter(r for r in read_csv(summary.ground_truth_file) if r["kind"] == "vehicle")
    policy_faults = {(r["file"], r["policy_number"], r["transaction_type"]): r["fault"]
                     for r in read_csv(summary.ground_truth_file)}
    codes = Counter()
    for path in summary.files:
        data = path.read_bytes()
        verdict = validate(io.BytesIO(data), name=path.name)
        assert verdict.accepted, path.name
        ours = [p for s in read_file(path).sets for p in s.policies]
        blocks = list(iter_policies(io.BytesIO(data), verdict, name=path.name))
        assert len(blocks) == len(ours)
        for p, block in zip(ours, blocks, strict=True):
            found = normalize(block, context=ctx).errors
            codes.update(e.code for e in found)
            recorded = policy_faults[(path.name, p.number, p.transaction)]
            assert ("E103" in {e.code for e in found}) == ("missing_date_" in recorded)
            for i, v in enumerate(p.vehicles):
                row = next(truth)
                on_vehicle = {e.code for e in found if e.vehicle_index == i}
                assert ("E204" in on_vehicle) == (not check_digit_ok(v.vin))
                if not check_digit_ok(v.vin):
                    assert "bad_check_digit" in row["fault"] or "vin_typo" in row["fault"]
                if not row["fault"]:
                    assert not on_vehicle
            unexpected = {e.code for e in found} - {"E103", "E204", "E206", "E106", "E111", "E301"}
            assert not unexpected, unexpected
    assert codes["E204"] and codes["E103"]


def test_matching_recovers_the_ground_truth(tmp_path: Path) -> None:
    """The ground truth is what the matcher should find: an exact registered VIN matches its
    registration at step 1, a mistyped one at step 2 (near VIN), and a vehicle nobody
    registered never matches at step 1 or 2."""
    import io
    from datetime import datetime

    from epoi.matching import InMemoryRegistrationIndex, match_many, read_registrations
    from epoi.parsers import iter_policies, validate
    from epoi.schemas.registration import Registration
    from epoi.transforms import EditContext, normalize

    summary = generate(500, tmp_path, today=TODAY, seed=4, carriers=2,
                       faults=FaultOptions(vin_typos=0.08))
    ctx = EditContext(received_at=datetime(2026, 11, 27, 12, tzinfo=UTC), today=TODAY)
    with summary.registrations_file.open(encoding="utf-8", newline="") as fh:
        registrations = list(read_registrations(fh, name="registrations.csv"))
    assert len(registrations) == summary.registrations
    assert all(isinstance(r, Registration) for r in registrations), "every row is valid"
    index = InMemoryRegistrationIndex(registrations)  # type: ignore[arg-type]
    reports = [
        normalize(block, context=ctx).report
        for path in summary.files
        for block in iter_policies(io.BytesIO(path.read_bytes()),
                                   validate(io.BytesIO(path.read_bytes()), name=path.name),
                                   name=path.name)
    ]
    results = {(r.report_key, r.vehicle_index): r for r in match_many(reports, index)}
    truth = iter(r for r in read_csv(summary.ground_truth_file) if r["kind"] == "vehicle")
    steps = Counter()
    for report in reports:
        for i, _ in enumerate(report.vehicles):
            row = next(truth)
            result = results[(report.key.as_string(), i)]
            if not row["registered_plate"]:
                assert result.state != "matched" or result.step not in (1, 2)
                continue
            expected_step = 2 if row["fault"] else 1
            assert (result.state, result.step, result.plate) == (
                "matched", expected_step, row["registered_plate"]
            ), row
            steps[expected_step] += 1
    assert next(truth, None) is None
    assert steps[1] > 500 and steps[2] > 20
