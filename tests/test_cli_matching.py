"""The matching commands end to end: ``epoi registrations load``, ``epoi run
--registrations``, ``epoi matches``, ``epoi verify``, ``epoi renewals clear`` (every hold
reason the store can give) and ``epoi suspensions``."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from epoi.cli import main
from epoi.config import Settings
from epoi.matching import current_near_vin, match_units
from epoi.matching._near_vin import FORMAT, latest_load_token
from epoi.schemas.policy import Insured, PolicyReport, RecordKey, Vehicle
from epoi.schemas.vin import with_check_digit
from epoi.store import Store

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_edi"
HEADER = ("plate,vin,make,model_year,owner_last,owner_first,owner_org,owner_dl,owner_dl_state,"
          "owner_dob,owner_fein,street,city,state,zip,expires,status\n")
VIN_A = with_check_digit("1HGCM82633A004352")  # insured, expires 2026-12-01
VIN_B = with_check_digit("2T1BURHE3JC012845")  # cancelled 2026-09-01, no replacement
VIN_C = with_check_digit("5YJ3E1EA2KF000123")  # registered, never reported


def reg_row(plate: str, vin: str, make: str, year: int, last: str, dl: str) -> str:
    return (f"{plate},{vin},{make},{year},{last},ANA,,{dl},CA,1980-01-15,,1 MAIN ST,"
            f"SACRAMENTO,CA,95814,2027-01-31,ACTIVE\n")


REGISTRATIONS = (HEADER + reg_row("7AAA111", VIN_A, "HOND", 2003, "GARCIA", "G1111111")
                 + reg_row("7BBB222", VIN_B, "TOYT", 2018, "NGUYEN", "N2222222")
                 + reg_row("7CCC333", VIN_C, "TESL", 2019, "SMITH", "S3333333"))


def policy(n: int, tt: str, vin: str, make: str, year: int, last: str, dl: str, *,
           effective: date, expiration: date | None = None,
           cancellation: date | None = None, number: str | None = None) -> PolicyReport:
    number = number or f"PA{n:03d}"
    key = RecordKey(carrier_naic="12345", policy_number=number, transaction_type=tt,
                    effective_date=effective, sender_id="ACMEINS", interchange=str(n),
                    group="1", transaction_set="0001", policy_position=3)
    return PolicyReport(
        carrier_naic="12345", policy_number=number, transaction_type=tt, policy_type="PV",
        effective_date=effective, expiration_date=expiration, cancellation_date=cancellation,
        insureds=(Insured(kind="individual", last_name=last, first_name="ANA",
                          licence_number=dl, licence_state="CA"),),
        vehicles=(Vehicle(vin=vin, make=make, model_year=year),), file="f.x12",
        sender_id="ACMEINS", interchange=str(n), group="1", transaction_set="0001",
        submission_ref="S1", key=key)


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def world(home: Path, tmp_path: Path) -> Path:
    """Registrations loaded through the CLI, reports matched through the stage."""
    regs = tmp_path / "registrations.csv"
    regs.write_text(REGISTRATIONS, encoding="utf-8")
    code, out, err = invoke("registrations", "load", str(regs))
    assert code == 0, err
    assert "3 registrations loaded" in out
    store = Store(Settings(home=home).resolved_database_url)
    try:
        match_units(store, [
            policy(1, "NBS", VIN_A, "HOND", 2003, "GARCIA", "G1111111",
                   effective=date(2026, 6, 1), expiration=date(2026, 12, 1)),
            policy(2, "NBS", VIN_B, "TOYT", 2018, "NGUYEN", "N2222222",
                   effective=date(2026, 6, 1)),
            policy(3, "XLC", VIN_B, "TOYT", 2018, "NGUYEN", "N2222222",
                   effective=date(2026, 6, 1), cancellation=date(2026, 9, 1),
                   number="PA002"),
            # Nobody registered this one: it stays pending.
            policy(4, "NBS", with_check_digit("JTDKB20U093000001"), "TOYT", 2009, "LEE",
                   "L4444444", effective=date(2026, 10, 1)),
        ], today=date(2026, 11, 1), window_days=30)
    finally:
        store.dispose()
    return tmp_path


def test_registrations_load_reports_bad_rows_with_their_line_and_exits_1(
        home: Path, tmp_path: Path) -> None:
    regs = tmp_path / "bad.csv"
    regs.write_text(REGISTRATIONS + "8DDD444,NOTAVIN!,FORD,2015,X,Y,,,,,,,,,,2027-01-01,\n"
                    + "8EEE555,1FTFW1ET5DFC10312,FORD,15,X,Y,,,,,,,,,,2027-01-01,\n",
                    encoding="utf-8")
    code, out, err = invoke("registrations", "load", str(regs), "--json")
    assert code == 1
    doc = json.loads(out)
    assert doc["load"]["loaded"] == 3 and doc["load"]["bad_rows"] == 2
    assert "[REG-VIN] bad.csv:5:" in err and "[REG-YEAR] bad.csv:6:" in err


def test_registrations_load_skips_a_row_with_a_bad_byte_and_empties_a_bad_birth_date(
        home: Path, tmp_path: Path) -> None:
    """A byte that is not UTF-8 (line 51) costs its row, not the file; a date of birth in
    another layout is reported and left empty, its row loads (exit 1: a row was skipped)."""
    rows = [f"9Z{i:05d},{with_check_digit(f'1FTFW1ET5DF{i:06d}')},FORD,2015,ROE,ANA,,,,"
            f"1990-05-06,,,,,,2027-01-01,ACTIVE\n" for i in range(2, 52)]
    rows[-1] = rows[-1].replace("ROE", "M\u00fcLLER")  # line 51, written in Latin-1 below
    rows[10] = rows[10].replace("1990-05-06", "05/06/1990")  # line 12
    regs = tmp_path / "latin1.csv"
    regs.write_bytes((HEADER + "".join(rows)).encode("latin-1"))
    code, out, err = invoke("registrations", "load", str(regs), "--json")
    assert code == 1, err
    doc = json.loads(out)["load"]
    assert (doc["loaded"], doc["bad_rows"], doc["fields_left_empty"]) == (49, 1, 1)
    assert "[REG-ENCODING] latin1.csv:51: " in err and "[REG-DOB] latin1.csv:12: " in err
    assert "05/06" not in err and "LLER" not in err
    store = Store(Settings(home=home).resolved_database_url)
    try:
        with store.engine.connect() as conn:
            dob = conn.exec_driver_sql("SELECT owner_dob FROM registrations WHERE plate = "
                                       "'9Z00012'").scalar_one()
    finally:
        store.dispose()
    assert dob is None


def _states(home: Path) -> tuple[dict[str, int], int]:
    """Match results by state, and the reports matching keeps as JSON."""
    store = Store(Settings(home=home).resolved_database_url)
    try:
        with store.engine.connect() as conn:
            states = {state: n for state, n in conn.exec_driver_sql(
                "SELECT state, COUNT(*) FROM match_results GROUP BY state")}
            docs = conn.exec_driver_sql(
                "SELECT COUNT(*) FROM match_reports WHERE report <> ''").scalar_one()
    finally:
        store.dispose()
    return states, docs


def test_a_load_after_the_run_matches_the_pipelines_pending_reports_from_their_records(
        home: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The pipeline keeps no JSON copy of the reports it matches: the pending ones a later
    ``registrations load`` matches again are read from their record rows, and end as in a
    run that had the registrations from the start."""
    code, _, err = invoke("carriers", "import", str(REPO / "examples" / "carriers.csv"))
    assert code == 0, err
    files = sorted(str(p) for p in SAMPLE.glob("*.x12"))
    code, _, err = invoke("run", *files)
    assert code == 0, err
    before, docs = _states(home)
    assert set(before) == {"pending"} and before["pending"] > 90 and docs == 0
    code, out, err = invoke("registrations", "load", str(SAMPLE / "registrations.csv"))
    assert code == 0, err
    after, docs = _states(home)
    assert docs == 0
    other = tmp_path / "registrations-first"
    monkeypatch.setenv("EPOI_HOME", str(other))
    assert invoke("carriers", "import", str(REPO / "examples" / "carriers.csv"))[0] == 0
    code, _, err = invoke("run", *files, "--registrations", str(SAMPLE / "registrations.csv"))
    assert code == 0, err
    assert after == _states(other)[0] and after["matched"] > 100


def test_run_with_registrations_matches_the_sample(home: Path) -> None:
    code, out, err = invoke("carriers", "import", str(REPO / "examples" / "carriers.csv"))
    assert code == 0, err
    files = sorted(str(p) for p in SAMPLE.glob("*.x12"))
    code, out, err = invoke("run", *files, "--registrations", str(SAMPLE / "registrations.csv"),
                            "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["registrations"]["loaded"] == 119 and doc["registrations"]["bad_rows"] == 0
    states = doc["matching"]["states"]
    # The three vehicles nobody registered stay pending (one has a registered twin).
    assert states["matched"] > 100 and states["pending"] == 3
    # The load built the near-VIN arrays the match stage read step 2 from.
    store = Store(Settings(home=home).resolved_database_url)
    try:
        with store.engine.connect() as conn:
            token = latest_load_token(conn)
            assert current_near_vin(conn, home / "index") is not None
    finally:
        store.dispose()
    assert [p.name for p in (home / "index").iterdir()] == [f"near-vin-{token}-v{FORMAT}"]
    code, out, _ = invoke("matches", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert tuple(rows[0]) == ("carrier_naic", "policy_number", "reported_vin", "plate", "vin",
                              "step", "state")
    assert len(rows) == states["matched"] + states["pending"]
    with (SAMPLE / "ground_truth.csv").open(newline="", encoding="utf-8") as fh:
        truth = {(r["policy_number"], r["reported_vin"]): r["registered_plate"]
                 for r in csv.DictReader(fh) if r["kind"] == "vehicle"}
    for r in rows:
        if r["reported_vin"] and r["state"] == "matched":
            assert truth[(r["policy_number"], r["reported_vin"])] == r["plate"]
        if r["state"] == "pending":
            assert truth[(r["policy_number"], r["reported_vin"])] == "" and not r["plate"]
    code, out, _ = invoke("matches", "--format", "json")
    assert len(json.loads(out)["matches"]) == len(rows)
    # The sample's one XLC (policy BSF273169601, cancelled 2026-11-14, never opened in the
    # sample) is a suspension candidate once the 45-day window is over, as its help says;
    # its second vehicle's registration expired on 2026-12-08, so it is not.
    candidates = {}
    for day in ("2026-12-29", "2026-12-30"):
        code, out, err = invoke("suspensions", "--as-of", day, "--json")
        assert code == 0, err
        candidates[day] = [(c["plate"], c["cancelled_on"], c["policy_number"])
                           for c in json.loads(out)["candidates"]]
    assert candidates == {"2026-12-29": [],
                          "2026-12-30": [("1SEB058", "2026-11-14", "BSF273169601")]}


def test_the_run_summary_says_why_more_vehicles_are_matched_than_reported(home: Path) -> None:
    """issue 11 §7: "vehicles 95" then "vehicles matched 112": the fleet (CF) policies cover
    their holders' registered vehicles without listing them, and the matching line says so."""
    assert invoke("carriers", "import", str(REPO / "examples" / "carriers.csv"))[0] == 0
    files = sorted(str(p) for p in SAMPLE.glob("*.x12"))
    code, out, err = invoke("run", *files, "--registrations", str(SAMPLE / "registrations.csv"))
    assert code == 0, err  # the README's first command: nothing in sample_edi is rejected
    assert "vehicles 95, " in out  # listed in the 60 policies
    m = re.search(r"vehicles matched (\d+) of (\d+) \((\d+) listed in the policies \+ (\d+) "
                  r"registered to fleet policy holders, covered without being listed\) "
                  r"\(steps [^)]*\), pending (\d+), unmatched (\d+), ambiguous (\d+)", out)
    assert m, out
    matched, results, listed, fleet, *rest = map(int, m.groups())
    assert (matched, listed) == (112, 95) and fleet > 0
    assert results == listed + fleet == matched + sum(rest)


def test_verify_says_by_whom_and_exits_1_when_not_insured(world: Path) -> None:
    code, out, _ = invoke("verify", VIN_A.lower(), "--date", "2026-11-15", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["insured"] is True
    assert (doc["plate"], doc["carrier_naic"], doc["policy_number"]) == ("7AAA111", "12345",
                                                                         "PA001")
    assert doc["report"].split("|")[6] == "PA001" and doc["coverage_end"] == "2026-12-01"
    code, out, _ = invoke("verify", VIN_A, "--date", "2026-12-01")
    assert code == 1 and "NOT insured" in out  # expired: the end day is not covered
    code, out, _ = invoke("verify", VIN_B, "--date", "2026-09-01")
    assert code == 1
    code, out, _ = invoke("verify", VIN_B, "--date", "2026-08-31")
    assert code == 0 and "PA002" in out


def test_renewals_clear_gives_every_hold_reason(world: Path) -> None:
    renewals = world / "renewals.csv"
    renewals.write_text("plate,vin,due\n"
                        "7AAA111,,2026-11-15\n"   # cleared
                        f",{VIN_A},2026-12-15\n"  # expired on 2026-12-01 (by VIN)
                        "7BBB222,,2026-11-15\n"   # cancelled on 2026-09-01
                        "7CCC333,,2026-11-15\n"   # no matched report
                        "9ZZZ999,,2026-11-15\n"   # not registered
                        "7AAA111,,someday\n", encoding="utf-8")
    code, out, err = invoke("renewals", "clear", str(renewals), "--as-of", "2026-11-27")
    assert code == 1  # the bad row
    rows = list(csv.DictReader(io.StringIO(out)))
    got = [(r["plate"], r["status"], r["reason"], r["reason_date"]) for r in rows]
    assert got == [
        ("7AAA111", "cleared", "", ""),
        ("7AAA111", "held", "expired", "2026-12-01"),
        ("7BBB222", "held", "cancelled", "2026-09-01"),
        ("7CCC333", "held", "no_matched_report", ""),
        ("9ZZZ999", "held", "not_registered", ""),
    ]
    assert rows[0]["policy_number"] == "PA001" and rows[2]["reason_text"] == (
        "coverage cancelled on 2026-09-01")
    assert "renewals: 1 cleared, 4 held" in err and "[REN-DUE]" in err
    code, out, _ = invoke("renewals", "clear", str(renewals), "--json")
    doc = json.loads(out)
    assert [r["reason"] for r in doc["renewals"]] == [
        "", "expired", "cancelled", "no_matched_report", "not_registered"]
    assert doc["counts"]["held"] == 4 and doc["bad_rows"] == 1


def test_each_clearance_run_is_stored_once_and_the_summary_counts_it(world: Path) -> None:
    code, out, _ = invoke("report", "summary", "--format", "json")
    assert code == 0 and "clearance" not in json.loads(out)["sections"]
    renewals = world / "renewals.csv"
    renewals.write_text(f"plate,vin,due\n7AAA111,,2026-11-15\n,{VIN_A},2026-12-15\n"
                        "7BBB222,,2026-11-15\n7CCC333,,2026-11-15\n9ZZZ999,,2026-11-15\n"
                        "7AAA111,,2026-11-15\n", encoding="utf-8")  # a line twice
    for _ in range(2):  # the same list for the same day: one run, not two
        code, _, err = invoke("renewals", "clear", str(renewals), "--as-of", "2026-11-27")
        assert code == 0, err
    code, out, err = invoke("report", "summary", "--format", "json")
    assert code == 0, err
    doc = json.loads(out)
    figures = {r["measure"]: r["value"] for r in doc["sections"]["key_figures"]["rows"]}
    assert (figures["renewals cleared"], figures["renewals held"]) == (1, 4)
    outcomes = {r["outcome"]: r["renewals"] for r in doc["sections"]["clearance"]["rows"]
                if r["renewals"]}
    assert outcomes == {"cleared": 1, "held: coverage expired": 1,
                        "held: coverage cancelled": 1, "held: no matched report": 1,
                        "held: plate or VIN not in the registrations": 1}
    (run,) = doc["sections"]["clearance_runs"]["rows"]
    assert (run["file_name"], run["as_of"], run["renewals"], run["cleared"], run["held"]) == (
        "renewals.csv", "2026-11-27", 5, 1, 4)
    # The period is the runs' as-of day.
    code, out, _ = invoke("report", "summary", "--format", "json", "--to", "2026-11-26")
    assert "clearance" not in json.loads(out)["sections"]


def test_suspensions_lists_the_cancelled_vehicle_after_the_window(world: Path) -> None:
    code, out, err = invoke("suspensions", "--as-of", "2026-11-27", "--json")
    assert code == 0
    doc = json.loads(out)
    assert [(c["plate"], c["cancelled_on"], c["policy_number"]) for c in doc["candidates"]] \
        == [("7BBB222", "2026-09-01", "PA002")]
    # Inside the 45-day window it is not a candidate yet.
    code, out, _ = invoke("suspensions", "--as-of", "2026-10-10")
    assert list(csv.DictReader(io.StringIO(out))) == []
    day = date(2026, 9, 1) + timedelta(days=46)
    code, out, _ = invoke("suspensions", "--as-of", day.isoformat())
    assert [r["plate"] for r in csv.DictReader(io.StringIO(out))] == ["7BBB222"]


def test_matches_shows_a_pending_vehicle_unmatched_once_its_window_is_over(
        world: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # PA004's vehicle is registered nowhere; it was first tried on 2026-11-01.
    def state_of_pa004() -> str:
        code, out, _ = invoke("matches")
        assert code == 0
        (row,) = [r for r in csv.DictReader(io.StringIO(out)) if r["policy_number"] == "PA004"]
        assert row["plate"] == "" and row["step"] == ""
        return row["state"]

    monkeypatch.setenv("EPOI_PENDING_WINDOW_DAYS", "100000")
    assert state_of_pa004() == "pending"
    monkeypatch.setenv("EPOI_PENDING_WINDOW_DAYS", "5")
    assert state_of_pa004() == "unmatched"
