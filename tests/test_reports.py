"""Reports: the query functions count what the store holds (hand-counted fixture, SQLite and
PostgreSQL), the three renderers carry the same numbers, masking and the access log."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from _report_tables import cell_text, html_tables
from _reports_data import AS_OF, BETA_DOB, BETA_FEIN, BETA_LICENCE, BETA_NAME, populate
from epoi.cli import main
from epoi.reports import (
    ReportOptions,
    carrier_report,
    csv_tables,
    mask_date_of_birth,
    mask_fein,
    mask_licence,
    mask_name,
    render_html,
    render_json,
    report_dict,
    submission_report,
    summary_report,
    timeliness_report,
    unmatched_report,
)
from epoi.store import CarrierScope, NotFoundError, Store

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def filled(store: Store) -> Store:
    populate(store)
    return store


def _opts(**kw: object) -> ReportOptions:
    return ReportOptions(clock=lambda: NOW, as_of=AS_OF, **kw)  # type: ignore[arg-type]


def _rows(doc: dict, section: str) -> list[dict]:
    return doc["sections"][section]["rows"]


# -- the numbers -----------------------------------------------------------------------------


def test_summary_counts_what_the_store_holds(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        doc = report_dict(summary_report(s, _opts()))

    assert _rows(doc, "volumes") == [
        {"day": "2026-11-20", "submissions": 1, "policies": 4, "vehicles": 6,
         "accepted": 1, "warned": 2, "rejected": 1},
        # submissions counts files (the test one too); records are production only
        {"day": "2026-11-25", "submissions": 3, "policies": 3, "vehicles": 3,
         "accepted": 2, "warned": 1, "rejected": 0},
    ]
    outcomes = {(r["level"], r["outcome"]): r["count"] for r in _rows(doc, "outcomes")}
    assert outcomes[("record", "accepted")] == 3
    assert outcomes[("record", "warned")] == 3
    assert outcomes[("record", "rejected")] == 1
    assert outcomes[("transaction set", "accepted")] == 2
    assert outcomes[("transaction set", "accepted with errors")] == 1
    assert outcomes[("file", "matched")] == 4

    errors = {r["code"]: (r["errors"], r["records"]) for r in _rows(doc, "errors")}
    assert errors == {"E109": (1, 1), "E204": (2, 1), "E301": (2, 2), "TA1-022": (1, 0),
                      "AK5-5": (1, 0)}

    steps = {r["outcome"]: (r["vehicles"], r["percent"]) for r in _rows(doc, "match_steps")}
    assert steps["step 1: VIN exact"] == (1, 14.3)  # the test record's match is not counted
    assert steps["step 2: near VIN"] == (1, 14.3)
    assert steps["step 3: licence or FEIN"] == (1, 14.3)
    assert steps["step 4: name and date of birth"] == (1, 14.3)
    assert steps["ambiguous"] == (1, 14.3)
    assert steps["pending"] == (2, 28.6)  # stored state; ageing settles the window
    assert steps["unmatched"] == (0, 0.0)

    ageing = {r["age"]: (r["pending"], r["unmatched"]) for r in _rows(doc, "ageing")}
    assert ageing["0-7 days"] == (1, 0)  # P2's second vehicle, first tried 11-20
    assert ageing["31-60 days"] == (0, 1)  # P6, first tried 10-01: past the 30-day window

    late = {r["carrier_naic"]: r for r in _rows(doc, "late")}
    assert late["11111"]["policies"] == 6
    assert late["11111"]["new_coverage_late"] == 1
    assert late["11111"]["changes_late"] == 1
    assert late["11111"]["late_percent"] == 33.3
    assert late["22222"]["new_coverage_late"] == 0
    figures = {r["measure"]: r["value"] for r in _rows(doc, "key_figures")}
    assert figures == {
        "submissions": 4, "policy reports": 7, "vehicles reported": 9, "accepted": 3,
        "warned": 3, "rejected": 1, "rejected percent": 14.3,
        "match results": 7, "matched": 4, "match rate percent": 57.1,
        "without a match": 3, "late reports (E301)": 2, "late percent": 28.6,
    }
    assert "clearance" not in doc["sections"]
    assert any("clearance" in n for n in doc["notes"])


def test_period_filters_on_the_day_of_receipt(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        opts = _opts(start=date(2026, 11, 21), end=date(2026, 11, 30))
        doc = report_dict(summary_report(s, opts))
    assert [r["day"] for r in _rows(doc, "volumes")] == ["2026-11-25"]
    assert {r["code"] for r in _rows(doc, "errors")} == {"E109", "TA1-022", "AK5-5"}
    assert doc["period_from"] == "2026-11-21"


def test_timeliness_buckets_days_from_effect_to_receipt(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        doc = report_dict(timeliness_report(s, _opts()))
    lags = {(r["carrier_naic"], r["transaction_type"]): r for r in _rows(doc, "lags")}
    nbs = lags[("11111", "NBS")]  # received 11-20: P1 19 days, P2 50 days, P4 10 days
    assert (nbs["reports"], nbs["days_0_30"], nbs["days_46_90"], nbs["late"]) == (3, 2, 1, 1)
    assert nbs["max_lag_days"] == 50
    xlc = lags[("11111", "XLC")]  # cancelled 09-01, received 11-20: 80 days
    assert (xlc["days_46_90"], xlc["late"], xlc["max_lag_days"]) == (1, 1, 80)


def test_carrier_report_holds_only_that_carrier(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        doc = report_dict(carrier_report(s, _opts(), "11111"))
    assert {r["carrier_naic"] for r in _rows(doc, "submissions")} == {"11111"}
    assert [r["submission_id"] for r in _rows(doc, "submissions")] == [1, 2]
    assert {r["code"] for r in _rows(doc, "errors")} == {"E204", "E301", "AK5-5"}
    assert "ambiguous" in {r["outcome"] for r in _rows(doc, "match_steps")}
    steps = {r["outcome"]: r["vehicles"] for r in _rows(doc, "match_steps")}
    assert steps["ambiguous"] == 0  # BETA's


def test_submission_report_lists_acks_and_findings(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        doc = report_dict(submission_report(s, _opts(), 1))
    assert [(a["kind"], a["control_number"]) for a in _rows(doc, "acks")] == [("TA1", "000000501")]
    findings = {r["policy_number"]: r["codes"] for r in _rows(doc, "findings")}
    assert findings == {"P2": "E301", "P3": "E301", "P4": "E204 E204"}
    assert _rows(doc, "submission")[0]["file_name"] == "acme-1.x12"


def test_submission_of_another_carrier_is_not_found_like_a_missing_one(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        acme = CarrierScope.for_naic(s, "11111")
        with pytest.raises(NotFoundError) as other:
            submission_report(s, _opts(scope=acme), 3)
        with pytest.raises(NotFoundError) as missing:
            submission_report(s, _opts(scope=acme), 999)
    assert str(other.value).replace("3", "N") == str(missing.value).replace("999", "N")


# -- masking ----------------------------------------------------------------------------------


def test_masks() -> None:
    assert mask_licence("D1234567") == "D12****7"
    assert mask_licence("A12") == "***"
    assert mask_date_of_birth(date(1980, 1, 15)) == "1980-**-**"
    assert mask_name("GARCIA") == "G*****"
    assert mask_fein("981234567") == "*****4567"
    assert mask_licence(None) == mask_date_of_birth(None) == ""


def test_unmatched_report_masks_unless_asked(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        masked = unmatched_report(s, _opts())
        plain = unmatched_report(s, _opts(masked=False))
    beta = next(v for v in masked.vehicles if v.carrier_naic == "22222")
    assert (beta.licence, beta.date_of_birth) == ("Q98****3", "1971-**-**")
    assert beta.insured == "Z***********"
    assert beta.state == "ambiguous"
    for text in (render_json(masked), *csv_tables(masked).values(), render_html(masked)):
        for secret in (BETA_LICENCE, BETA_DOB.isoformat(), BETA_NAME, BETA_FEIN):
            assert secret not in text
    unmasked = render_json(plain)
    assert BETA_LICENCE in unmasked and BETA_DOB.isoformat() in unmasked
    # oldest first; P6 is past its window
    assert [(v.policy_number, v.state, v.age_days) for v in masked.vehicles] == [
        ("P6", "unmatched", 57), ("P2", "pending", 7), ("B1", "ambiguous", 2)]


# -- formats carry the same numbers ----------------------------------------------------------


def _csv_sections(files: dict[str, str]) -> dict[str, list[dict[str, str]]]:
    """Every table file read with its own header row."""
    return {name.removesuffix(".csv"): list(csv.DictReader(io.StringIO(text)))
            for name, text in files.items() if name != "report.csv"}


@pytest.mark.parametrize("kind", ["summary", "carrier", "submission", "unmatched", "timeliness"])
def test_json_csv_and_html_carry_the_same_numbers(filled: Store, kind: str) -> None:
    with filled.session(readonly=True) as s:
        report = {
            "summary": lambda: summary_report(s, _opts()),
            "carrier": lambda: carrier_report(s, _opts(), "11111"),
            "submission": lambda: submission_report(s, _opts(), 1),
            "unmatched": lambda: unmatched_report(s, _opts()),
            "timeliness": lambda: timeliness_report(s, _opts()),
        }[kind]()
    doc = json.loads(render_json(report))
    from_csv = _csv_sections(csv_tables(report))
    tables = html_tables(render_html(report))
    assert doc["sections"], "a report has sections"
    for name, section in doc["sections"].items():
        rows = section["rows"]
        assert [
            {k: ("" if v is None else str(v)) for k, v in r.items()} for r in rows
        ] == from_csv.get(name, []), name
        html_rows = tables[name]
        assert html_rows[0] == [c.replace("_", " ") for c in section["columns"]]
        body = html_rows[1:] if rows else []
        assert body == [[cell_text(r[c]) for c in section["columns"]] for r in rows], name


def test_html_is_one_self_contained_file(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        html = render_html(summary_report(s, _opts()))
    assert "<svg" in html and "<script>" in html and "<style>" in html
    for outside in ("http://", "https://", "src=", "<link", "@import"):
        assert outside not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")


# -- the command: formats, --out, the access log ---------------------------------------------


@pytest.fixture
def cli_env(filled: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("EPOI_HOME", str(home))
    monkeypatch.setenv("EPOI_DATABASE_URL", filled.url)
    monkeypatch.setenv("USER", "auditor-jo")
    return home


def test_cli_writes_each_format(cli_env: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    for fmt in ("json", "html"):
        out = tmp_path / f"summary.{fmt}"
        result = runner.invoke(main, ["report", "summary", "--format", fmt, "--out", str(out)])
        assert result.exit_code == 0, result.output
        assert out.stat().st_size > 200
    doc = json.loads((tmp_path / "summary.json").read_text())
    assert doc["kind"] == "summary" and doc["masked"] is True
    assert not (cli_env / "access.log").exists()  # masked use is not logged


def test_csv_is_one_file_per_table_in_a_folder_a_zip_or_one_section(
        cli_env: Path, tmp_path: Path) -> None:
    """Sections have different columns: each is its own CSV with one header row, and
    report.csv says what the report is and which file holds which table."""
    runner = CliRunner()
    result = runner.invoke(main, ["report", "summary", "--format", "csv"])
    assert result.exit_code == 2 and "--section" in result.output and "--out" in result.output
    folder, archive = tmp_path / "summary", tmp_path / "summary.zip"
    for out in (folder, archive):
        result = runner.invoke(main, ["report", "summary", "--format", "csv", "--out", str(out)])
        assert result.exit_code == 0, result.output
    doc = json.loads(runner.invoke(main, ["report", "summary"]).output)
    names = {f"{name}.csv" for name in doc["sections"]} | {"report.csv"}
    assert {p.name for p in folder.iterdir()} == names
    with zipfile.ZipFile(archive) as z:
        assert set(z.namelist()) == names
        assert z.read("errors.csv").decode() == (folder / "errors.csv").read_text()
    for name, section in doc["sections"].items():
        rows = list(csv.reader(io.StringIO((folder / f"{name}.csv").read_text())))
        assert rows[0] == section["columns"] and len(rows) == 1 + len(section["rows"]), name
    about = dict(list(csv.reader(io.StringIO((folder / "report.csv").read_text())))[1:8])
    assert (about["kind"], about["masked"]) == ("summary", "True")
    result = runner.invoke(main, ["report", "summary", "--format", "csv", "--section", "errors"])
    assert result.exit_code == 0 and result.output == (folder / "errors.csv").read_text()
    result = runner.invoke(main, ["report", "summary", "--format", "csv", "--section", "nope"])
    assert result.exit_code == 2 and "errors" in result.output


def test_timestamps_are_to_the_second_and_notes_are_plain_text(filled: Store) -> None:
    clock = datetime(2026, 11, 27, 12, 0, 5, 123456, tzinfo=UTC)
    with filled.session(readonly=True) as s:
        summary = summary_report(s, ReportOptions(clock=lambda: clock, as_of=AS_OF))
        sub = submission_report(s, ReportOptions(clock=lambda: clock, as_of=AS_OF), 1)
    assert report_dict(summary)["generated_at"] == "2026-11-27T12:00:05+00:00"
    stamps = [r["received_at"] for r in report_dict(sub)["sections"]["submission"]["rows"]]
    stamps += [r["created_at"] for r in report_dict(sub)["sections"]["acks"]["rows"]]
    assert stamps and all("." not in t for t in stamps)
    assert summary.notes and not any("`" in n for n in summary.notes)
    assert "123456" not in render_html(summary)


def test_a_carrier_is_not_shown_the_states_renewal_clearance(filled: Store) -> None:
    with filled.session(readonly=True) as s:
        scoped = summary_report(s, _opts(scope=CarrierScope.for_naic(s, "11111")))
    assert scoped.clearance is None and scoped.clearance_runs is None
    assert any("not a carrier's" in n for n in scoped.notes)


def test_unmasked_use_is_logged_with_who_when_and_what(cli_env: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["report", "unmatched", "--unmasked", "--carrier", "22222"])
    assert result.exit_code == 0, result.output
    assert BETA_LICENCE in result.output
    result = runner.invoke(main, ["report", "submission", "3", "--unmasked", "--as", "inspector-7",
                                  "--format", "csv", "--section", "findings"])
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in (cli_env / "access.log").read_text().splitlines()]
    assert [(x["who"], x["report"], x["carrier"], x["submission"]) for x in lines] == [
        ("auditor-jo", "unmatched", "22222", None), ("inspector-7", "submission", None, 3)]
    assert all(datetime.fromisoformat(x["when"]).tzinfo is not None for x in lines)


def test_unmasked_not_found_is_not_logged_and_exits_2(cli_env: Path) -> None:
    result = CliRunner().invoke(main, ["report", "submission", "3", "--carrier", "11111",
                                       "--unmasked"])
    assert result.exit_code == 2
    assert "no submission 3" in result.output
    assert not (cli_env / "access.log").exists()


def test_unknown_carrier_is_a_usage_error(cli_env: Path) -> None:
    result = CliRunner().invoke(main, ["report", "carrier", "99999"])
    assert result.exit_code == 2
    result = CliRunner().invoke(main, ["report", "carrier", "22222", "--carrier", "11111"])
    assert result.exit_code == 2
    assert "22222" in result.output and "BETA" not in result.output
