"""Carrier isolation: a carrier-facing command given ``--carrier A`` shows A's own
submissions, acks, records and match results, and nothing of carrier B's.  B's submission
ids are "no submission", exactly like ids that do not exist.

One sample run with two carriers (registrations loaded, so there are match results) feeds
every test; B's identifying values (NAIC, name, ISA sender, file names, file hashes, policy
numbers, VINs) are read from the store and must appear in none of A's outputs.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import select

from _helpers import cli_in, cli_ok, cli_sample
from epoi.config import Settings
from epoi.matching import pipeline_match_hook
from epoi.store import CarrierScope, PolicyReportRow, Store, Submission, VehicleRow, match_results


@dataclass(frozen=True)
class Carrier:
    naic: str
    name: str
    sender_id: str
    submissions: tuple[int, ...]
    markers: frozenset[str]  # values that identify this carrier's data


@dataclass(frozen=True)
class World:
    home: Path
    a: Carrier
    b: Carrier
    missing_id: int

    def cli(self, *args: str) -> Result:
        return cli_in(self.home, *args)


def _ok(result: Result) -> str:
    assert result.exit_code in (0, 1), result.output
    return result.output


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("isolation")
    home, sample = root / "home", root / "sample"
    info = cli_sample(home, sample, "--policies", "160", "--carriers", "2", "--seed", "5",
                      "--today", "2026-11-27", "--bad-check-digits", "0.03")  # fmt: skip
    cli_ok(home, "registrations", "load", info["registrations_file"])
    cli_ok(home, "run", *info["files"])
    _match_stored(home)

    store = Store(f"sqlite:///{home / 'epoi.db'}")
    carriers = []
    try:
        with store.session(readonly=True) as s:
            for c in info["carriers"]:
                subs = s.execute(
                    select(Submission.id, Submission.file_name, Submission.sha256)
                    .join(PolicyReportRow, PolicyReportRow.submission_id == Submission.id)
                    .where(PolicyReportRow.carrier_naic == c["naic"]).distinct()
                ).all()
                policies = set(s.scalars(select(PolicyReportRow.policy_number)
                                         .where(PolicyReportRow.carrier_naic == c["naic"])))
                vins = set(s.scalars(
                    select(VehicleRow.vin).join(PolicyReportRow,
                                                PolicyReportRow.id == VehicleRow.policy_report_id)
                    .where(PolicyReportRow.carrier_naic == c["naic"])))
                states = set(s.scalars(select(match_results.c.state).where(
                    match_results.c.carrier_naic == c["naic"]).distinct()))
                assert "matched" in states and states - {"matched"}, states
                markers = {c["naic"], c["name"], c["sender_id"]}
                markers |= {Path(f).name for _, f, _ in subs} | {h for _, _, h in subs}
                markers |= {p for p in policies if p} | {v for v in vins if v}
                carriers.append(Carrier(c["naic"], c["name"], c["sender_id"],
                                        tuple(sorted(i for i, _, _ in subs)),
                                        frozenset(markers)))
            missing = (s.scalar(select(Submission.id).order_by(Submission.id.desc())) or 0) + 100
    finally:
        store.dispose()
    a, b = carriers
    shared = a.markers & b.markers  # e.g. a VIN both carriers reported: identifies neither
    a = Carrier(a.naic, a.name, a.sender_id, a.submissions, a.markers - shared)
    b = Carrier(b.naic, b.name, b.sender_id, b.submissions, b.markers - shared)
    assert a.submissions and b.submissions
    return World(home, a, b, missing)


def _match_stored(home: Path) -> None:
    """What the pipeline's match stage does with the matching hook, over every stored
    report, in case `epoi run` does not match by itself: both carriers get match results."""
    settings = Settings(home=home, database_url=None)
    store = Store.from_settings(settings)
    hook = pipeline_match_hook(settings, lambda: datetime.now(UTC))
    try:
        with store.session() as session:
            hook(session, session.scalars(
                select(PolicyReportRow).where(PolicyReportRow.status != "rejected")).all())
    finally:
        store.dispose()


def _leaks(text: str, carrier: Carrier) -> list[str]:
    return sorted(m for m in carrier.markers if m in text)


def _same_not_found(w: World, other: Result, missing: Result, other_id: int) -> None:
    assert other.exit_code == missing.exit_code == 2
    assert other.output.replace(str(other_id), "N") == missing.output.replace(
        str(w.missing_id), "N")
    assert "no submission" in other.output


# -- the carrier sees its own -----------------------------------------------------------------


def test_status_lists_only_the_carriers_own_submissions(world: World) -> None:
    out = _ok(world.cli("status", "--carrier", world.a.naic, "--json"))
    doc = json.loads(out)
    assert [d["submission_id"] for d in doc["submissions"]] == list(world.a.submissions)
    assert doc["counts"]["policies"] == sum(d["counts"]["policies"] for d in doc["submissions"])
    assert _leaks(out, world.b) == []
    assert _leaks(_ok(world.cli("status", "--carrier", world.a.naic)), world.b) == []
    # without a carrier (the operator's view) B is there: the markers do find B's data
    assert _leaks(_ok(world.cli("status", "--json")), world.b)


def test_status_and_acks_of_the_carriers_own_submission(world: World, tmp_path: Path) -> None:
    sub = world.a.submissions[0]
    out = _ok(world.cli("status", str(sub), "--carrier", world.a.naic, "--json"))
    assert json.loads(out)["submission_id"] == sub and _leaks(out, world.b) == []
    out = _ok(world.cli("report", "submission", str(sub), "--carrier", world.a.naic,
                        "--format", "json"))
    assert json.loads(out)["submission_id"] == sub and _leaks(out, world.b) == []
    out_dir = tmp_path / "acks"
    out = _ok(world.cli("acks", str(sub), "--carrier", world.a.naic, "--out", str(out_dir),
                        "--json"))
    files = json.loads(out)["files"]
    assert {f["kind"] for f in files} >= {"997", "811"}
    for f in files:
        text = Path(f["file"]).read_text(encoding="latin-1")
        assert world.a.sender_id in text  # addressed to A
        assert _leaks(text, world.b) == []


# -- and nothing of the other -----------------------------------------------------------------


@pytest.mark.parametrize("command", ["status", "acks", "report submission"])
def test_another_carriers_submission_is_not_found_like_a_missing_one(
    world: World, command: str, tmp_path: Path
) -> None:
    args = command.split()
    extra = ["--out", str(tmp_path / "out")] if command == "acks" else []
    for sub in world.b.submissions:
        other = world.cli(*args, str(sub), "--carrier", world.a.naic, *extra)
        missing = world.cli(*args, str(world.missing_id), "--carrier", world.a.naic, *extra)
        _same_not_found(world, other, missing, sub)
        assert _leaks(other.output, world.b) == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_another_carriers_report_is_no_carrier_like_an_unknown_one(world: World) -> None:
    other = world.cli("report", "carrier", world.b.naic, "--carrier", world.a.naic)
    unknown = world.cli("report", "carrier", "00000", "--carrier", world.a.naic)
    assert other.exit_code == unknown.exit_code == 2
    assert other.output.replace(world.b.naic, "N") == unknown.output.replace("00000", "N")
    assert _leaks(other.output.replace(world.b.naic, ""), world.b) == []


@pytest.mark.parametrize("fmt", ["json", "csv", "html"])
@pytest.mark.parametrize("report", ["carrier", "summary", "unmatched", "timeliness"])
def test_reports_as_a_carrier_hold_nothing_of_another(world: World, report: str, fmt: str) -> None:
    args = ["report", report] + ([world.a.naic] if report == "carrier" else [])
    if fmt == "csv":  # one file per table: every file of the folder is read
        folder = world.home.parent / f"csv-{report}"
        _ok(world.cli(*args, "--carrier", world.a.naic, "--format", fmt, "--unmasked",
                      "--as", "isolation-test", "--out", str(folder)))
        out = "".join(p.read_text(encoding="utf-8") for p in sorted(folder.iterdir()))
        assert out.count("\n") > len(list(folder.iterdir())), "the tables have rows"
    else:
        out = _ok(world.cli(*args, "--carrier", world.a.naic, "--format", fmt, "--unmasked",
                            "--as", "isolation-test"))
    assert _leaks(out, world.b) == []
    if fmt == "json":
        doc = json.loads(out)
        sections = doc["sections"]
        if "late" in sections:
            assert {r["carrier_naic"] for r in sections["late"]["rows"]} <= {world.a.naic}
        if "submissions" in sections:
            assert [r["submission_id"] for r in sections["submissions"]["rows"]] == list(
                world.a.submissions)
    if report in ("carrier", "unmatched") and fmt == "json":
        assert _leaks(out, world.a), "A's own report shows A's data"


def test_scope_is_a_where_clause_on_the_query(world: World) -> None:
    """The scope restricts the SQL, not the printed output."""
    stmt = CarrierScope(carrier_id=7, naic="12345").submissions(select(Submission.id))
    sql = str(stmt.compile(compile_kwargs={"literal_binds": True}))
    assert re.search(r"WHERE submissions\.carrier_id = 7", sql)
    assert "WHERE" not in str(CarrierScope.everything().submissions(select(Submission.id)))
