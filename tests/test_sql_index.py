"""The store side of matching, on SQLite and PostgreSQL: the SQL-backed index answers like
the in-memory one, the bulk load upserts on plate and VIN and reports bad rows, the match
stage stores one result per vehicle, skips test and rejected records, re-tries pending
matches on a load and settles them after the window, and re-matches an owner-step match
when its registration is claimed later."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from epoi.matching import (
    InMemoryRegistrationIndex,
    NameProbe,
    NearVinProbe,
    SqlRegistrationIndex,
    build_near_vin_index,
    current_near_vin,
    load_registrations,
    match_many,
    match_units,
    read_registrations,
    retry_pending,
)
from epoi.matching._stage import owner_step_query
from epoi.parsers import iter_policies, validate
from epoi.sample import FaultOptions, MatchingTraps, generate
from epoi.schemas.policy import Insured, NormalizedRecord, PolicyReport, RecordKey, Vehicle
from epoi.schemas.registration import Registration
from epoi.schemas.vin import with_check_digit
from epoi.store import Store, match_reports, match_results
from epoi.transforms import EditContext, normalize

TODAY = date(2026, 11, 27)
HEADER = ("plate,vin,make,model_year,owner_last,owner_first,owner_org,owner_dl,owner_dl_state,"
          "owner_dob,owner_fein,street,city,state,zip,expires,status\n")
VIN_A = with_check_digit("1HGCM82633A004352")
VIN_B = with_check_digit("1HGCM82633A104352")
VIN_C = with_check_digit("2T1BURHE3JC012845")
VIN_FLEET1 = with_check_digit("1FUJGLDR3CL000001")
VIN_FLEET2 = with_check_digit("1FUJGLDR3CL000777")


def row(plate: str, vin: str, make: str = "HOND", year: int = 2003, last: str = "GARCIA",
        first: str = "MARIA", org: str = "", dl: str = "D1234567", dob: str = "1980-01-15",
        fein: str = "", expires: str = "2027-01-31", status: str = "ACTIVE") -> str:
    return (f"{plate},{vin},{make},{year},{last},{first},{org},{dl},{'CA' if dl else ''},"
            f"{dob},{fein},1 MAIN ST,SACRAMENTO,CA,95814,{expires},{status}\n")


def load(store: Store, text: str, name: str = "regs.csv"):  # type: ignore[no-untyped-def]
    with store.engine.begin() as conn:
        return load_registrations(conn, read_registrations(io.StringIO(text), name=name))


def report(*vehicles: Vehicle, number: str = "PA1", insureds: tuple[Insured, ...] = (),
           policy_type: str = "PV", test: bool = False, tt: str = "NBS",
           effective: date = date(2026, 11, 1)) -> PolicyReport:
    key = RecordKey(carrier_naic="12345", policy_number=number, transaction_type=tt,
                    effective_date=effective, sender_id="ACMEINS", interchange="1",
                    group="1", transaction_set="0001", policy_position=int(number[2:]) + 2)
    return PolicyReport(
        carrier_naic="12345", policy_number=number, transaction_type=tt,
        policy_type=policy_type, effective_date=effective,
        expiration_date=effective + timedelta(days=180),
        insureds=insureds or (Insured(kind="individual", last_name="GARCIA", first_name="MARIA",
                                      licence_number="D1234567", licence_state="CA"),),
        vehicles=vehicles, file="f.x12", sender_id="ACMEINS", interchange="1", group="1",
        transaction_set="0001", submission_ref="S1", test=test, key=key)


def car(vin: str | None, make: str = "HOND", year: int = 2003) -> Vehicle:
    return Vehicle(vin=vin, make=make, model_year=year)


def results(store: Store) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(
            select(match_results).order_by(match_results.c.report_key,
                                           match_results.c.position))]


# -- the index ---------------------------------------------------------------------------


def _sample_world(tmp: Path) -> tuple[list[Registration], list[PolicyReport]]:
    summary = generate(400, tmp, today=TODAY, seed=9, carriers=2,
                       faults=FaultOptions(vin_typos=0.1),
                       traps=MatchingTraps(name_variants=0.2, decoys=0.1, twins=1.0))
    with summary.registrations_file.open(newline="", encoding="utf-8") as fh:
        regs = [r for r in read_registrations(fh, name="r") if isinstance(r, Registration)]
    ctx = EditContext(received_at=datetime(2026, 11, 27, 12, tzinfo=UTC), today=TODAY)
    reports = []
    for path in summary.files:
        data = path.read_bytes()
        verdict = validate(io.BytesIO(data), name=path.name)
        reports += [normalize(b, context=ctx).report
                    for b in iter_policies(io.BytesIO(data), verdict, name=path.name)]
    return regs, reports


def _index_dir(store: Store, tmp_path: Path, arrays: bool) -> Path | None:
    """Where the near-VIN arrays of the latest load are, built now; None for the SQL path."""
    if not arrays:
        return None
    with store.engine.connect() as conn:
        built = build_near_vin_index(conn, tmp_path / "index")
        assert built is not None and current_near_vin(conn, tmp_path / "index") is not None
    return tmp_path / "index"


@pytest.mark.parametrize("arrays", [False, True], ids=["sql", "arrays"])
def test_sql_index_matches_exactly_like_the_in_memory_index(
    store: Store, tmp_path: Path, arrays: bool
) -> None:
    regs, reports = _sample_world(tmp_path)
    text = io.StringIO()
    text.write((tmp_path / "registrations.csv").read_text(encoding="utf-8"))
    report_ = load(store, text.getvalue())
    assert report_.loaded == len(regs) and not report_.errors
    index_dir = _index_dir(store, tmp_path, arrays)
    memory = match_many(reports, InMemoryRegistrationIndex(regs))
    with store.engine.connect() as conn:
        sql = match_many(reports, SqlRegistrationIndex(conn, index_dir))
    assert sql == memory
    steps = {r.step for r in sql if r.state == "matched"}
    assert {1, 2, 3} <= steps  # exact, typos, fleets


@pytest.mark.parametrize("arrays", [False, True], ids=["sql", "arrays"])
def test_near_vin_and_name_lookups_answer_per_probe(
    store: Store, tmp_path: Path, arrays: bool
) -> None:
    load(store, HEADER + row("7ABC123", VIN_A) + row("7ABC124", VIN_C, make="TOYT", year=2018)
         + row("DECOY01", VIN_B, last="SMITH", dl="S7654321"))
    typo = VIN_A[:5] + ("7" if VIN_A[5] != "7" else "8") + VIN_A[6:]
    index_dir = _index_dir(store, tmp_path, arrays)
    with store.engine.connect() as conn:
        index = SqlRegistrationIndex(conn, index_dir)
        # Three positions off, or one position short: never near.
        far = NearVinProbe(typo[:2] + "ZZ" + typo[4:], "HOND", 2003, ("GARCIA",))
        short = NearVinProbe(VIN_A[:-1], "HOND", 2003, ("GARCIA",))
        assert index.near_vin([far, short]) == {}
        by_name = NearVinProbe(typo, "HOND", 2003, ("GARCIA",))
        by_licence = NearVinProbe(typo, "HOND", 2003, ("NOBODY",), ("D1234567",))
        wrong_year = NearVinProbe(typo, "HOND", 2004, ("GARCIA",))
        found = index.near_vin([by_name, by_licence, wrong_year])
        assert [r.plate for r in found[by_name]] == ["7ABC123"]
        assert [r.plate for r in found[by_licence]] == ["7ABC123"]
        assert wrong_year not in found
        # The decoy is 2 positions from VIN_A but filed under another owner.
        near_decoy = NearVinProbe(VIN_B, "HOND", 2003, ("GARCIA",))
        assert [r.plate for r in index.near_vin([near_decoy])[near_decoy]] == ["7ABC123"]
        probe = NameProbe("GARCIA", "TOYT", 2018, date(1980, 1, 15))
        assert [r.plate for r in index.by_name([probe])[probe]] == ["7ABC124"]
        assert index.by_name([probe._replace(date_of_birth=date(1980, 1, 16))]) == {}
        assert set(index.by_vin([VIN_A, "NOPE"])) == {VIN_A}
        assert len(index.by_licence(["D1234567"])["D1234567"]) == 2


def test_near_vin_arrays_are_used_only_while_they_describe_the_latest_load(
    store: Store, tmp_path: Path
) -> None:
    load(store, HEADER + row("7ABC123", VIN_A))
    index_dir = tmp_path / "index"
    typo = VIN_A[:5] + ("7" if VIN_A[5] != "7" else "8") + VIN_A[6:]
    probe = NearVinProbe(typo, "HOND", 2003, ("GARCIA",))
    with store.engine.connect() as conn:
        first = build_near_vin_index(conn, index_dir)
        assert first is not None and sorted(p.name for p in first.iterdir()) == [
            "buckets.npy", "ids.npy", "keys.npy", "lengths.npy", "vins.npy"]
    # A second load replaces the plate's vehicle: the arrays of the first load are stale.
    load(store, HEADER + row("7ABC123", VIN_C, make="TOYT", year=2018)
         + row("7ABC999", VIN_A, last="SMITH", dl="S7654321"))
    with store.engine.connect() as conn:
        assert current_near_vin(conn, index_dir) is None  # not built yet: the SQL answers
        index = SqlRegistrationIndex(conn, index_dir)
        assert index.near_vin([probe]) == {}  # VIN_A is SMITH's now, not GARCIA's
        second = build_near_vin_index(conn, index_dir)
        assert second is not None and second != first and not first.exists()
        arrays = current_near_vin(conn, index_dir)
        assert arrays is not None and len(arrays.keys) == 4  # name + licence key each
        assert index.near_vin([probe]) == {}
        smith = probe._replace(name_keys=("SMITH",))
        assert [r.plate for r in index.near_vin([smith])[smith]] == ["7ABC999"]


# -- the load ----------------------------------------------------------------------------


def test_load_upserts_on_plate_and_on_vin(store: Store) -> None:
    first = load(store, HEADER + row("7ABC123", VIN_A) + row("7ABC124", VIN_C, make="TOYT",
                                                              year=2018))
    assert (first.loaded, first.replaced, first.rows) == (2, 0, 2)
    # Same plate, new VIN (a new car on the plate); same VIN, new plate (re-plated); new.
    second = load(store, HEADER + row("7ABC123", VIN_B, last="NGUYEN", dl="N1111111")
                  + row("8NEW000", VIN_C, make="TOYT", year=2018) + row("9XYZ999", VIN_FLEET1))
    assert (second.loaded, second.replaced) == (3, 2)
    with store.engine.connect() as conn:
        plates = dict(conn.exec_driver_sql("SELECT plate, vin FROM registrations").fetchall())
        index = SqlRegistrationIndex(conn)
        # The replaced registration's name keys went with it.
        gone = NearVinProbe(VIN_A, "HOND", 2003, ("GARCIA",))
        assert index.near_vin([gone]) == {}
        assert index.near_vin([NearVinProbe(VIN_A, "HOND", 2003, ("NGUYEN",))])
    assert plates == {"7ABC123": VIN_B, "8NEW000": VIN_C, "9XYZ999": VIN_FLEET1}


def test_bad_rows_are_reported_with_their_line_and_skipped(store: Store) -> None:
    text = (HEADER + row("7ABC123", VIN_A) + row("", VIN_B) + row("7ABC125", VIN_C, year=19)
            + "only,three,fields\n" + row("7ABC126", VIN_FLEET1, expires="2027-02-30"))
    result = load(store, text)
    assert result.loaded == 1 and result.rows == 5
    assert [(e.line, e.code) for e in result.errors] == [
        (3, "REG-PLATE"), (4, "REG-YEAR"), (5, "REG-FIELDS"), (6, "REG-EXPIRES")]
    assert all("GARCIA" not in e.message for e in result.errors)


def test_within_a_file_the_last_row_for_a_plate_or_vin_wins(store: Store) -> None:
    result = load(store, HEADER + row("7ABC123", VIN_A) + row("7ABC123", VIN_B, last="LEE")
                  + row("8ABC999", VIN_B, last="KIM"))
    assert result.loaded == 1
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT plate, owner_last FROM registrations").fetchall() \
            == [("8ABC999", "KIM")]


# -- the stage ---------------------------------------------------------------------------


def test_match_units_stores_one_result_per_vehicle_and_skips_test_and_rejected(
        store: Store) -> None:
    load(store, HEADER + row("7ABC123", VIN_A))
    good = report(car(VIN_A), car(VIN_C, "TOYT", 2018), number="PA1")
    test = report(car(VIN_A), number="PA2", test=True)
    rejected = NormalizedRecord(report=report(car(VIN_A), number="PA3"), status="rejected")
    counts = match_units(store, [good, test, rejected], today=TODAY, window_days=30)
    assert (counts.reports, counts.skipped_test, counts.skipped_rejected) == (1, 1, 1)
    got = results(store)
    assert [(r["vehicle_index"], r["state"], r["step"], r["plate"]) for r in got] == [
        (0, "matched", 1, "7ABC123"), (1, "pending", None, None)]
    assert got[0]["agreed"] == "vin,make,model_year,last_name,licence"
    # The same unit again (a redelivered message) changes nothing.
    match_units(store, [good], today=TODAY + timedelta(days=3), window_days=30)
    again = results(store)
    assert [(r["state"], r["plate"]) for r in again] == [(r["state"], r["plate"]) for r in got]
    with store.engine.connect() as conn:
        assert conn.execute(select(match_reports.c.first_tried)).scalars().all() == [TODAY]


def test_fleet_policy_matches_every_vehicle_of_the_fein(store: Store) -> None:
    load(store, HEADER + row("1FLT001", VIN_FLEET1, make="FRHT", year=2012, last="", first="",
                             org="ACME TRUCKING INC", dl="", dob="", fein="123456789")
         + row("1FLT002", VIN_FLEET2, make="FRHT", year=2012, last="", first="",
               org="ACME TRUCKING", dl="", dob="", fein="123456789"))
    fleet = report(number="PA7", policy_type="CF", insureds=(Insured(
        kind="organisation", organisation_name="ACME TRUCKING", fein="12-3456789"),))
    match_units(store, [fleet], today=TODAY, window_days=30)
    got = results(store)
    assert sorted((r["plate"], r["step"], r["fleet"]) for r in got) == [
        ("1FLT001", 3, True), ("1FLT002", 3, True)]


def test_a_load_retries_pending_and_settles_them_after_the_window(store: Store) -> None:
    load(store, HEADER + row("7ABC123", VIN_A))
    early = report(car(VIN_C, "TOYT", 2018), number="PA1")
    late = report(car(VIN_FLEET1, "FRHT", 2012), number="PA2")
    match_units(store, [early, late], today=TODAY, window_days=30)
    with store.engine.begin() as conn:  # PA2 was first tried 40 days ago
        conn.execute(update(match_reports).where(match_reports.c.report_key
                                                  == late.key.as_string())
                     .values(first_tried=TODAY - timedelta(days=40)))
    load(store, HEADER + row("7ABC124", VIN_C, make="TOYT", year=2018))
    with store.engine.begin() as conn:
        counts = retry_pending(conn, today=TODAY + timedelta(days=1), window_days=30)
    assert counts.reports == 2
    got = {r["policy_number"]: (r["state"], r["plate"]) for r in results(store)}
    assert got == {"PA1": ("matched", "7ABC124"), "PA2": ("unmatched", None)}


def test_an_owner_step_match_is_undone_when_its_registration_is_claimed_later(
        store: Store) -> None:
    # PA1's VIN is unusable (wrong check digit, as a pre-1981 or unchecked VIN would be):
    # step 3 takes the owner's only HOND 2003.  Then PA2 reports that car by its exact VIN:
    # the registration is claimed, PA1 is matched again and stays pending.
    load(store, HEADER + row("7ABC123", VIN_A))
    far = with_check_digit("1HGCM82633A999999")
    broken = far[:8] + ("1" if far[8] != "1" else "2") + far[9:]
    pa1 = report(car(broken), number="PA1")
    match_units(store, [pa1], today=TODAY, window_days=30)
    assert [(r["state"], r["step"]) for r in results(store)] == [("matched", 3)]
    counts = match_units(store, [report(car(VIN_A), number="PA2")], today=TODAY,
                         window_days=30)
    assert counts.rematched == 1
    got = {r["policy_number"]: (r["state"], r["step"]) for r in results(store)}
    assert got == {"PA1": ("pending", None), "PA2": ("matched", 1)}


def test_near_vin_arrays_find_every_entry_of_a_key_through_the_bucket_directory(
    tmp_path: Path,
) -> None:
    """Keys anywhere in int64 (extremes, 0, -1, runs of one key) are found in full, and
    absent keys find nothing, as a plain scan of the arrays would answer."""
    import numpy as np

    from epoi.matching._near_vin import WIDTH, NearVinArrays, _write_buckets

    rng = np.random.default_rng(5)
    info = np.iinfo(np.int64)
    keys = np.sort(np.concatenate([
        rng.integers(info.min, info.max, 5_000, dtype=np.int64, endpoint=True),
        np.array([info.min, info.min, -1, 0, 0, 0, 1, info.max], dtype=np.int64),
    ]))
    n = len(keys)
    vins = rng.integers(65, 70, (n, WIDTH), dtype=np.uint8)
    _write_buckets(tmp_path / "buckets.npy", keys)
    arrays = NearVinArrays(keys, vins, np.full(n, 17, dtype=np.uint8),
                           np.arange(n, dtype=np.int64),
                           np.load(tmp_path / "buckets.npy"))
    wanted = np.concatenate([keys[rng.integers(0, n, 300)], np.array([info.min, 0, info.max]),
                             rng.integers(info.min, info.max, 300, dtype=np.int64)])
    probe_vins = vins[rng.integers(0, n, len(wanted))]
    probe_vins[:50] = vins[np.searchsorted(keys, wanted[:50])]  # exact VINs: near for sure
    probe_ix, ids = arrays.near(wanted, np.arange(len(wanted)), probe_vins,
                                np.full(len(wanted), 17, dtype=np.uint8))
    expected = {(q, int(row)) for q, key in enumerate(wanted.tolist())
                for row in np.flatnonzero(keys == key)
                if np.count_nonzero(vins[row] != probe_vins[q]) <= 2}
    assert set(zip(probe_ix.tolist(), ids.tolist(), strict=True)) == expected
    assert len(expected) >= 50


def test_a_report_keeps_its_json_only_while_it_may_be_matched_again(store: Store) -> None:
    # Matched by its VIN: never read back, so stored without its JSON.  Its registration
    # then changes VIN: the report sent again is pending and gets its JSON, which the next
    # load's re-try reads to match it.
    load(store, HEADER + row("7ABC123", VIN_A))
    pa1 = report(car(VIN_A), number="PA1")
    match_units(store, [pa1], today=TODAY, window_days=30)

    def doc() -> str:
        with store.engine.connect() as conn:
            return conn.execute(select(match_reports.c.report)).scalar_one()

    assert doc() == ""
    load(store, HEADER + row("7ABC123", VIN_C, make="TOYT", year=2018), name="second.csv")
    match_units(store, [pa1], today=TODAY + timedelta(days=1), window_days=30)
    assert [(r["state"], r["plate"]) for r in results(store)] == [("pending", None)]
    assert PolicyReport.model_validate_json(doc()) == pa1
    load(store, HEADER + row("7ABC999", VIN_A), name="third.csv")
    with store.engine.begin() as conn:
        counts = retry_pending(conn, today=TODAY + timedelta(days=2), window_days=30)
    assert counts.reports == 1
    assert [(r["state"], r["plate"]) for r in results(store)] == [("matched", "7ABC999")]
    with store.engine.connect() as conn:  # the window still counts from the first try
        assert conn.execute(select(match_reports.c.first_tried)).scalars().all() == [TODAY]


def test_the_claims_check_reads_the_owner_step_index_not_every_result(tmp_path: Path) -> None:
    # Each unit asks which stored owner-step matches its step-1/2 VINs take a registration
    # from; SQLite answers from the small partial index only if the query repeats its
    # condition word for word (this fails if the two drift apart).  PostgreSQL plans by
    # cost: the rematch test above covers the query's answers on both.
    store = Store(f"sqlite:///{tmp_path / 'plan.db'}")
    try:
        store.upgrade()
        sql = owner_step_query("sqlite").format(marks="?, ?")
        with store.engine.connect() as conn:
            plan = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", (VIN_A, VIN_C)).all()
    finally:
        store.dispose()
    assert any("ix_match_results_owner_step_vin" in row[-1] for row in plan), plan
