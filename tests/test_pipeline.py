"""The pipeline on the embedded queue, over SQLite and PostgreSQL stores: the run stores every
record once, the same file twice adds no rows, a redelivered unit changes nothing, lost
messages are recovered from the store, test interchanges stay out of production."""

from __future__ import annotations

import errno
import json
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from _helpers import RUN_TABLES, register_carriers, row_counts
from epoi.cli import main
from epoi.config import Settings
from epoi.pipeline import Pipeline, run
from epoi.queues import Envelope
from epoi.sample import FaultOptions, generate
from epoi.store import (
    CarrierEnvironment,
    InsuredRow,
    PolicyReportRow,
    Store,
    Submission,
    UnitState,
    VehicleRow,
    WorkUnit,
    add_carrier,
)

TABLES = RUN_TABLES


@pytest.fixture
def world(sample_world) -> list[Path]:
    """Three carriers' files (a few faulty records among them), carriers registered."""
    return sample_world(40, seed=3, policies_per_set=15,
                        faults=FaultOptions(bad_check_digits=0.05, missing_dates=0.05))


def _rows(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        return row_counts(conn, TABLES)


def _run(paths, store, settings, clock, **kw):
    return run(paths, store=store, settings=settings, clock=clock, idle_timeout=0.2,
               chunk_size=4, **kw)  # fmt: skip


def test_a_run_stores_every_record_once_and_answers_every_set(world, store, settings, clock):
    summary = _run(world, store, settings, clock)
    assert summary.files == 3 and summary.policies == 40
    assert summary.accepted + summary.warned + summary.rejected == 40
    assert summary.rejected > 0  # the injected faults
    with store.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(PolicyReportRow)) == 40
        states = set(s.scalars(sa.select(Submission.state)))
        assert {str(x) for x in states} == {"matched"}
        assert set(s.scalars(sa.select(WorkUnit.state))) == {UnitState.DONE}
        assert s.scalar(sa.select(sa.func.count()).where(WorkUnit.payload.is_not(None))) == 0
        n_sets = s.scalar(sa.text("SELECT count(*) FROM transaction_sets WHERE ack_code <> 'R'"))
        # Vehicles of accepted records are up for matching; rejected ones are not.
        pending = s.scalar(
            sa.select(sa.func.count()).select_from(VehicleRow)
            .join(PolicyReportRow, VehicleRow.policy_report_id == PolicyReportRow.id)
            .where(PolicyReportRow.status != "rejected")
        )
        assert s.scalar(
            sa.select(sa.func.count()).where(VehicleRow.match_state == "pending")
        ) == pending
    assert summary.error_returns == n_sets >= 3
    assert summary.acks == 6  # a TA1 (ISA14 = 1) and a 997 per file
    # Every error return is a file with the control number it is recorded with.
    for f in (settings.home / "acks").rglob("*.811.*.x12"):
        icn = f.name.split(".")[2]
        assert f"*{icn}*" in f.read_text(encoding="latin-1").split("~")[0] + "*"


def test_the_same_file_twice_adds_no_rows(world, store, settings, clock):
    _run(world, store, settings, clock)
    before = _rows(store)
    again = _run(world, store, settings, clock)
    assert again.duplicates == 3 and again.policies == 0
    assert _rows(store) == before


def test_a_redelivered_unit_changes_nothing(world, store, settings, clock):
    pipeline = Pipeline(store, settings, clock, chunk_size=4)
    _results, parse_units = pipeline.submit(world[:1])
    normalize_units = pipeline.parse(parse_units[0])
    assert len(normalize_units) >= 2
    first = normalize_units[0]
    match_units = pipeline.normalize(first)
    after_one = _rows(store)
    # The same message again (redelivery after the commit) and the parse again: nothing is
    # done twice, and each hands over again its follow-ups still queued (the attempt that
    # committed may have failed before it returned them).
    assert match_units and pipeline.normalize(first) == match_units
    assert pipeline.parse(parse_units[0]) == normalize_units[1:]
    assert _rows(store) == after_one
    for env in normalize_units[1:]:
        match_units += pipeline.normalize(env)
    for env in match_units:
        pipeline.match(env)
    done = _rows(store)
    for env in [*parse_units, *normalize_units, *match_units]:
        handler = {"parse": pipeline.parse, "normalize": pipeline.normalize,
                   "match": pipeline.match}[env.kind]  # fmt: skip
        assert handler(env) == []
    assert _rows(store) == done
    assert done["error_returns"] == done["transaction_sets"]


def test_units_whose_messages_were_lost_are_recovered_from_the_store(
    world, store, settings, clock
):
    # Parse without a broker: the normalize units exist only in the store, as after a crash
    # that lost the fetched messages.
    pipeline = Pipeline(store, settings, clock, chunk_size=4)
    _results, parse_units = pipeline.submit(world)
    pipeline.parse(parse_units[0])
    queued = pipeline.queued()
    assert {e.kind for e in queued} == {"parse", "normalize"}
    summary = _run([], store, settings, clock)
    assert summary.recovered_units == len(queued)
    assert summary.policies == 40
    assert pipeline.queued() == []


def test_a_parse_that_failed_after_its_commit_is_finished_by_the_same_run(
    world, store, settings, clock
):
    # The parse commits its normalize units, then fails before it hands them over (here the
    # progress display; a worker process that could not start did the same).  Its retry finds
    # the parse done and must hand the units over again: before, it returned nothing and the
    # run ended, exit 0, without that file's policies.
    failed: list[int] = []

    def progress(event: str, n: int) -> None:
        if event == "planned" and not failed:
            failed.append(n)
            raise RuntimeError("the display went away")

    summary = _run(world, store, settings, clock, progress=progress)
    assert failed and failed[0] > 0
    assert summary.policies == 40 and summary.unfinished == 0
    assert Pipeline(store, settings, clock).queued() == []
    with store.session(readonly=True) as s:
        assert set(s.scalars(sa.select(WorkUnit.state))) == {UnitState.DONE}


def test_a_run_that_lost_messages_says_so_and_the_next_run_finishes(
    world, store, settings, clock, monkeypatch
):
    # The parse's follow-ups never reach the queue (a message lost): the run must not report
    # the work done; the store still holds the units, and the next run takes them up.
    parse = Pipeline.parse

    def parse_and_lose(self: Pipeline, envelope: Envelope) -> list[Envelope]:
        parse(self, envelope)
        return []

    monkeypatch.setattr(Pipeline, "parse", parse_and_lose)
    summary = _run(world, store, settings, clock)
    monkeypatch.undo()
    queued = Pipeline(store, settings, clock).queued()
    assert summary.unfinished == len(queued) > 0 and summary.policies == 0
    assert summary.anything_rejected  # exit 1: not a clean run
    again = _run([], store, settings, clock)
    assert again.recovered_units == len(queued)
    assert again.policies == 40 and again.unfinished == 0


def test_worker_processes_that_cannot_start_leave_every_unit_to_the_run(
    world, store, settings, clock, monkeypatch
):
    # No process can be started (out of processes, memory or file descriptors): the first
    # pass is done in the run's own process, and no unit fails or waits for it.
    from concurrent.futures import ProcessPoolExecutor

    import epoi.pipeline._prefetch as prefetch

    refused: list[object] = []

    class NoProcesses(ProcessPoolExecutor):
        def submit(self, fn, /, *args, **kwargs):
            refused.append(fn)
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")

    monkeypatch.setattr(prefetch, "ProcessPoolExecutor", NoProcesses)
    two = settings.model_copy(update={"workers": 2, "first_pass_min_policies": 0})
    summary = _run(world, store, two, clock)
    assert refused
    assert summary.policies == 40 and summary.failed_units == summary.unfinished == 0
    with store.session(readonly=True) as s:
        assert set(s.scalars(sa.select(WorkUnit.attempts))) == {0}  # no failed attempt
        assert set(s.scalars(sa.select(WorkUnit.error_code))) == {None}


def test_test_interchanges_are_stored_flagged_and_kept_out_of_production(
    world, store, settings, clock, tmp_path
):
    data = world[0].read_bytes()
    assert data[102:103] == b"P"  # ISA15 (fixed-width ISA)
    test_file = tmp_path / "test.x12"
    test_file.write_bytes(data[:102] + b"T" + data[103:])
    summary = _run([test_file], store, settings, clock)
    assert summary.test_policies == summary.policies > 0
    with store.session(readonly=True) as s:
        assert set(s.scalars(sa.select(PolicyReportRow.test))) == {True}
        assert s.scalar(sa.select(sa.func.count()).where(VehicleRow.match_state.is_not(None))) == 0
        assert s.scalar(sa.select(sa.func.count()).where(WorkUnit.kind == "match")) == 0
    # The same policies in production afterwards are not duplicates of the test ones (E110).
    # (Another ISA13: a test interchange claims its control number like any other.)
    prod_file = tmp_path / "prod.x12"
    prod_file.write_bytes(data.replace(data[90:99], b"000000778"))
    prod = _run([prod_file], store, settings, clock)
    with store.session(readonly=True) as s:
        assert s.scalar(sa.text("SELECT count(*) FROM business_errors WHERE code = 'E110'")) == 0
    assert prod.policies == summary.policies


def test_a_resent_report_is_a_duplicate_of_the_one_accepted_before(world, store, settings, clock,
                                                                    tmp_path):  # fmt: skip
    first = _run(world[:1], store, settings, clock)
    data = world[0].read_text(encoding="latin-1")
    isa13 = data[90:99]
    resent = tmp_path / "resent.x12"
    resent.write_text(data.replace(isa13, "000000777"), encoding="latin-1")
    second = _run([resent], store, settings, clock)
    assert second.policies == first.policies
    with store.session(readonly=True) as s:
        flagged = s.scalar(sa.text(
            "SELECT count(DISTINCT p.id) FROM business_errors e JOIN policy_reports p "
            "ON p.id = e.policy_report_id WHERE e.code = 'E110' AND p.submission_id = 2"
        ))  # fmt: skip
        before_accepted = s.scalar(sa.text(
            "SELECT count(*) FROM policy_reports WHERE submission_id = 1 AND status <> 'rejected'"
            " AND transaction_type IS NOT NULL AND effective_date IS NOT NULL"
        ))  # fmt: skip
        # None of the first submission's records is flagged by the second.
        assert s.scalar(sa.text(
            "SELECT count(*) FROM business_errors e JOIN policy_reports p "
            "ON p.id = e.policy_report_id WHERE e.code = 'E110' AND p.submission_id = 1"
        )) == 0  # fmt: skip
    assert flagged == before_accepted > 0


def test_cli_run_status_and_acks(world, store, settings: Settings, tmp_path, monkeypatch):
    monkeypatch.setenv("EPOI_HOME", str(settings.home))
    monkeypatch.setenv("EPOI_DATABASE_URL", store.url)
    cli = CliRunner()
    result = cli.invoke(main, ["run", *map(str, world), "--json"])
    assert result.exit_code == 1, result.output  # the injected faults reject records
    doc = json.loads(result.output)
    assert doc["files"] == 3 and doc["policies"] == 40 and doc["rejected"] > 0
    status = json.loads(cli.invoke(main, ["status", "1", "--json"]).output)
    assert status["state"] == "matched"
    assert status["units"]["normalize"] == {"done": sum(t["chunks"] for t in
                                                        status["transaction_sets"])}  # fmt: skip
    out = tmp_path / "outbox"
    acks = cli.invoke(main, ["acks", "1", "--out", str(out), "--json"])
    assert acks.exit_code == 0, acks.output
    files = json.loads(acks.output)["files"]
    assert {f["kind"] for f in files} == {"TA1", "997", "811"}
    for f in files:
        text = Path(f["file"]).read_text(encoding="latin-1")
        assert text.startswith("ISA") and f"*{f['control_number']}*" in text[:110]
    missing = cli.invoke(main, ["status", "99"])
    assert missing.exit_code == 2


def test_a_unit_that_keeps_failing_is_failed_in_the_store_and_dead_lettered(
    world, store, settings, clock
):
    from epoi.queues import Broker, QueueConfig, dead_list

    settings = settings.model_copy(update={"max_attempts": 1})
    pipeline = Pipeline(store, settings, clock, chunk_size=4)
    _results, parse_units = pipeline.submit(world[:1])
    pipeline.parse(parse_units[0])
    with store.session() as s:  # one chunk's payload is unreadable
        s.execute(sa.update(WorkUnit)
                  .where(WorkUnit.kind == "normalize", WorkUnit.key.like("%chunk-1"))
                  .values(payload="{not json"))  # fmt: skip
    summary = _run([], store, settings, clock)
    assert summary.failed_units == 1 and summary.dead_lettered == 1
    with store.session(readonly=True) as s:
        failed = s.scalars(sa.select(WorkUnit).where(WorkUnit.state == UnitState.FAILED)).one()
        assert failed.key.endswith("chunk-1") and failed.attempts == 1
        assert failed.error_code
    assert Pipeline(store, settings, clock).queued() == []  # a run does not retry it forever
    with Broker(QueueConfig.from_settings(settings)) as broker:
        [letter] = dead_list(broker)
    assert letter.unit_id == failed.key


def test_the_match_hook_gets_the_accepted_production_records_as_normalised(
    world, store, settings, clock
):
    from epoi.transforms import EditContext, normalize

    seen = []
    summary = _run(world[:1], store, settings, clock,
                   match_hook=lambda session, records: seen.extend(records))  # fmt: skip
    assert len(seen) == summary.accepted + summary.warned
    assert {r.status for r in seen} <= {"accepted", "warned"}
    # What the hook gets is what the transforms made: the store loses nothing matching needs.
    from epoi.parsers import ValidationOptions, iter_policies, validate

    with world[0].open("rb") as fh:
        verdict = validate(fh, name=str(world[0]), options=ValidationOptions())
    with world[0].open("rb") as fh:
        blocks = list(iter_policies(fh, verdict, name=str(world[0])))
    with store.session(readonly=True) as s:
        sub = s.scalars(sa.select(Submission)).one()
    ctx = EditContext.from_settings(settings, received_at=sub.received_at, today=clock().date())
    fresh = {r.report.key: r.report for b in blocks if (r := normalize(b, context=ctx))}
    assert seen and all(r.report == fresh[r.report.key] for r in seen)


def test_cli_carriers_import_is_repeatable_and_checks_its_rows(tmp_path, home):
    cli = CliRunner()
    repo = Path(__file__).resolve().parents[1]
    first = cli.invoke(main, ["carriers", "import", str(repo / "examples" / "carriers.csv")])
    assert first.exit_code == 0 and "3 added, 0 already registered" in first.output
    again = cli.invoke(main, ["carriers", "import", str(repo / "examples" / "carriers.csv")])
    assert again.exit_code == 0 and "0 added, 3 already registered" in again.output
    bad = tmp_path / "bad.csv"
    bad.write_text("name,naic,isa_qualifier,isa_id,environment\nX,11111,ZZ,XINS,staging\n")
    result = cli.invoke(main, ["carriers", "import", str(bad)])
    assert result.exit_code == 2 and "CARRIER-CSV" in result.output
    listed = json.loads(cli.invoke(main, ["carriers", "list", "--json"]).output)
    assert len(listed["carriers"]) == 3


@pytest.mark.services
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_finishing_a_unit_does_not_wait_on_rows_inserted_for_the_same_submission(
    world, store, settings, clock
):
    """Another worker's uncommitted insert that refers to the submission (a key-share lock)
    must not block a worker finishing a unit of it: that wait, with the carrier's ack
    sequence held the other way round, was a deadlock under the kill -9 chaos test."""
    from urllib.parse import quote

    pipeline = Pipeline(store, settings, clock, chunk_size=4)
    _results, parse_units = pipeline.submit(world[:1])
    normalize_units = pipeline.parse(parse_units[0])
    submission_id = int(parse_units[0].unit_id.split("/")[0].removeprefix("sub-"))
    # A second store whose sessions give up after 2 s of waiting for a lock.
    impatient = Store(store.url.replace("options=", "options=" + quote("-clock_timeout=2000 ")))
    try:
        waiting = Pipeline(impatient, settings, clock, chunk_size=4)
        with store.session() as other:
            other.execute(
                sa.insert(WorkUnit).values(
                    key=f"sub-{submission_id}/other-worker", kind="match",
                    submission_id=submission_id, state="queued", attempts=0, policies=0,
                    created_at=clock(), updated_at=clock(),
                )  # fmt: skip
            )
            for env in normalize_units:  # the last one counts the units left, locked
                waiting.normalize(env)
            other.rollback()
    finally:
        impatient.dispose()
    with store.session(readonly=True) as s:
        assert s.get_one(Submission, submission_id).state.value in ("normalised", "matched")


def test_a_policy_with_a_syntax_error_is_rejected_alone_and_its_neighbours_go_on(
    tmp_path, store, settings, clock
):
    """Guide §3, scope of a rejection: the 997 accepts the set with errors noted (AK5 E), the
    policy in error is stored as rejected (E100 here: a segment no business code names) and
    echoed in the error return; its neighbours are stored and matched as usual."""
    from epoi.store import BusinessErrorRow, ErrorReturn, TransactionSet

    src = Path(__file__).parent / "fixtures" / "scope" / "policy_unknown_segment.x12"
    path = tmp_path / "one.x12"
    path.write_bytes(src.read_bytes())
    with store.session() as session:
        add_carrier(session, name="Acme", naic="12345", isa_qualifier="ZZ", isa_id="ACMEINS",
                    environment=CarrierEnvironment.PRODUCTION, created_at=clock())
    summary = _run([path], store, settings, clock)
    assert summary.policies == 3 and summary.rejected == 1
    with store.session(readonly=True) as s:
        assert [(t.ack_code, t.error_codes) for t in s.scalars(sa.select(TransactionSet))] == [
            ("E", "5")]
        rows = {r.policy_number: r for r in s.scalars(sa.select(PolicyReportRow))}
        assert {n: r.status for n, r in rows.items()} == {
            "PA0000001": "accepted", "PA0000002": "rejected", "CF0000003": "accepted"}
        codes = s.scalars(sa.select(BusinessErrorRow.code).where(
            BusinessErrorRow.policy_report_id == rows["PA0000002"].id)).all()
        assert codes == ["E100"]
        (ret,) = s.scalars(sa.select(ErrorReturn.content)).all()
        pending = s.scalars(sa.select(VehicleRow.policy_report_id).where(
            VehicleRow.match_state == "pending")).all()
    assert "REF*IG*PA0000002~SI*ZZ*TT*NBS*PT*PV~SI*ZZ*EC*E100~" in ret
    assert "PA0000001" not in ret and "CF0000003" not in ret
    assert rows["PA0000002"].id not in pending and rows["PA0000001"].id in pending
    ack_997 = next((settings.home / "acks").rglob("*.997.*.x12")).read_text(encoding="latin-1")
    assert "AK3*PER*27**1~AK5*E*5~AK9*E*1*1*1~" in ack_997


def test_the_run_says_why_and_a_rejected_set_rejects_the_run(tmp_path, store, settings, clock,
                                                             monkeypatch):  # fmt: skip
    """issue 11 §2: a 997 R set makes the run exit 1 and a submission whose every set was
    rejected ends rejected; each problem is printed with its code and reason."""
    bad = generate(10, tmp_path / "bad", today=date(2026, 11, 27), seed=3, carriers=1,
                   policies_per_set=5, faults=FaultOptions(vin_typos=0.0, wrong_counts=1.0))
    [c] = bad.carriers
    register_carriers(store, [c], created_at=clock())
    monkeypatch.setenv("EPOI_HOME", str(settings.home))
    monkeypatch.setenv("EPOI_DATABASE_URL", store.url)
    cli = CliRunner()
    ran = cli.invoke(main, ["run", *map(str, bad.files)])
    assert ran.exit_code == 1, ran.output  # every SE01 is wrong: both sets AK5 R 4
    assert "sets rejected 2" in ran.output
    assert ran.output.count("997 R: set ") == 2
    assert "AK5 4 number of included segments does not match actual count" in ran.output
    status = json.loads(cli.invoke(main, ["status", "1", "--json"]).output)
    assert status["state"] == "rejected"

    empty = tmp_path / "empty.x12"
    empty.write_bytes(b"")
    second = cli.invoke(main, ["run", str(empty), "--json"])
    assert second.exit_code == 1
    doc = json.loads(second.output)
    [problem] = doc["problems"]
    assert (problem["submission_id"], problem["code"]) == (2, "FILE-EMPTY") and problem["reason"]
    text = cli.invoke(main, ["reprocess", "2"])
    assert "empty.x12: FILE-EMPTY: " in text.output and "dead list" not in text.output


def _outputs(store: Store, home: Path) -> tuple[dict[str, str], list[tuple]]:
    """Every ack and error return file by name, and every vehicle's match state."""
    acks = sorted((home / "acks").rglob("*.x12"))
    files = {f.name: f.read_text(encoding="latin-1") for f in acks}
    with store.engine.connect() as conn:
        states = conn.execute(sa.text(
            "SELECT p.natural_key, v.ordinal, v.match_state FROM vehicles v "
            "JOIN policy_reports p ON p.id = v.policy_report_id ORDER BY 1, 2")).all()
    return files, [tuple(r) for r in states]


def _world_store(tmp_path: Path, name: str, clock) -> Store:
    """A SQLite store of its own with the world's carriers registered and its registrations
    loaded (the same seed gives the same world)."""
    from epoi.matching import load_registrations, read_registrations

    st = Store(f"sqlite:///{tmp_path / (name + '.db')}")
    st.upgrade()
    same = generate(40, tmp_path / "same", today=date(2026, 11, 27), seed=3,
                    policies_per_set=15,
                    faults=FaultOptions(bad_check_digits=0.05, missing_dates=0.05))
    with st.session() as session:
        for c in same.carriers:
            add_carrier(session, name=c.name, naic=c.naic, isa_qualifier="ZZ",
                        isa_id=c.sender_id, environment=CarrierEnvironment.PRODUCTION,
                        created_at=clock())
    with st.engine.begin() as conn, same.registrations_file.open(newline="") as fh:
        assert not load_registrations(conn, read_registrations(fh, name="r.csv")).errors
    return st


def test_records_in_hand_and_records_read_back_give_the_same_results(world, tmp_path, clock):
    """A match unit and an error return go on from the records the normalize unit has in
    hand; a unit redone after a crash (or on another worker) reads them from the store.
    Both ways, with the first pass of normalize (and the match cascade) done ahead in a
    worker process, and with that worker killed half-way, give the same error returns, byte
    for byte, and the same vehicle states; and so does matching in the normalize unit's own
    transaction (a worker that does both stages), which publishes no match unit.  A set's
    error return is written from its units' stored parts, and read back from the report
    rows where the parts are lost (units done before the parts were kept): the same bytes;
    no part outlives its set's return."""
    from epoi.matching import (
        MatchCounts,
        pipeline_match_hook,
    )

    outputs = []
    ways = (("in-hand", True, 0), ("read-back", False, 0), ("workers", True, 1),
            ("workers-killed", True, 1), ("inline", True, 1), ("parts-lost", True, 0))
    parts_seen: dict[str, int] = {}
    returned_seen: list[int] = []

    def parts(st: Store) -> int:
        """How many parts are stored; none holds an insured's name or licence number."""
        with st.session() as s:
            stored = s.scalars(sa.select(WorkUnit.return_part)
                               .where(WorkUnit.return_part.is_not(None))).all()
            licences = {v for v in s.scalars(sa.select(InsuredRow.licence_number)) if v}
        assert licences
        for part in stored:
            returned_seen.append(len(json.loads(part)["echoes"]))
            assert "name" not in part and not [v for v in licences if v in part]
        return len(stored)
    for name, keep, workers in ways:
        home = tmp_path / name
        st = _world_store(tmp_path, name, clock)
        cfg = Settings(home=home, database_url=st.url)
        counts = MatchCounts()
        pipeline = Pipeline(st, cfg, clock, chunk_size=4,
                            match_hook=pipeline_match_hook(cfg, clock, counts))
        if not keep:
            pipeline._handoff.MAX_UNITS = 0  # keeps nothing
        # The first pass of normalize in a worker process, planned by the parse.
        pipeline.use_processes(workers, min_policies=0)
        _results, parse_units = pipeline.submit(world)
        taken, killed = 0, False
        try:
            for env in parse_units:
                for n, n_env in enumerate(pipeline.parse(env)):
                    if name == "workers-killed" and n == 3 and not killed:
                        assert pipeline._prefetch is not None
                        for process in pipeline._prefetch._pool._processes.values():
                            process.kill()
                        killed = True
                    if name == "inline":
                        assert pipeline.normalize(n_env, match_inline=True) == []
                        continue
                    for m_env in pipeline.normalize(n_env):
                        taken += m_env.unit_id in pipeline._handoff._match
                        pipeline.match(m_env)
                    if name == "parts-lost":
                        with st.session() as s:
                            s.execute(sa.update(WorkUnit).values(return_part=None))
                    parts_seen[name] = max(parts_seen.get(name, 0), parts(st))
            if name == "inline":
                assert counts.prepared == counts.reports > 0
                with st.session(readonly=True) as s:
                    match_units = s.execute(sa.select(WorkUnit.state)
                                            .where(WorkUnit.kind == "match")).scalars().all()
                    lineage = {str(x) for x in s.scalars(sa.select(Submission.state))}
                assert match_units and set(match_units) == {UnitState.DONE}
                assert lineage == {"matched"}
            else:
                assert (taken > 0) is keep
            if name == "workers":
                # every unit's first pass, and its cascade, came from the worker
                assert pipeline._prefetch is not None and pipeline._prefetch.used >= 6
                assert counts.prepared == counts.reports > 0
            if name == "workers-killed":
                assert pipeline._prefetch is not None and pipeline._prefetch._broken
                assert 0 < counts.prepared < counts.reports
        finally:
            pipeline.close()
        assert parts(st) == 0  # every set's return is written: its parts are gone
        outputs.append(_outputs(st, home))
        st.dispose()
    assert parts_seen["in-hand"] > 0 and parts_seen["parts-lost"] == 0 and sum(returned_seen)
    ((files_a, states_a), (files_b, states_b), (files_c, states_c), (files_d, states_d),
     (files_e, states_e), (files_f, states_f)) = outputs
    assert files_a == files_b == files_c == files_d == files_e == files_f
    assert states_f == states_a
    assert len([f for f in files_a if ".811." in f]) >= 3
    assert states_c == states_d == states_e == states_a
    assert states_a == states_b and {s for *_k, s in states_a} >= {"matched", None}


def _sent_again(path: Path, out: Path, control_number: str) -> Path:
    """The same policies in another interchange (ISA13/IEA02 changed): reported twice."""
    text = path.read_bytes().decode("latin-1")
    sep, term = text[3], text[105]
    segments = text.split(term)
    isa = segments[0].split(sep)
    isa[13] = control_number
    segments[0] = sep.join(isa)
    for n, seg in enumerate(segments):
        if seg.strip().startswith("IEA" + sep):
            iea = seg.split(sep)
            iea[2] = control_number
            segments[n] = sep.join(iea)
    out.write_bytes(term.join(segments).encode("latin-1"))
    return out


def test_a_worker_pass_answered_before_an_earlier_unit_was_stored_is_answered_again(
    world, tmp_path, clock
):
    """A worker process normalises a unit ahead, E110/E111 answered from the store as it is
    then; when the unit is written, an earlier unit has stored the same policies since.  The
    records whose answers changed are normalised again in the pipeline's process and their
    rows take the place of the worker's: the run stores, answers and matches exactly as one
    without worker processes."""
    from epoi.matching import (
        MatchCounts,
        pipeline_match_hook,
    )

    files = [world[0], _sent_again(world[0], tmp_path / "again.x12", "777000777")]
    outputs, redone = [], []
    for workers in (0, 1):
        st = _world_store(tmp_path, f"w{workers}", clock)
        cfg = Settings(home=tmp_path / f"home{workers}", database_url=st.url)
        counts = MatchCounts()
        pipeline = Pipeline(st, cfg, clock, chunk_size=100,
                            match_hook=pipeline_match_hook(cfg, clock, counts))
        pipeline.use_processes(workers, min_policies=0)
        try:
            _results, parse_units = pipeline.submit(files)
            units = [n_env for env in parse_units for n_env in pipeline.parse(env)]
            assert len(units) == 2
            if workers:
                # Both units' passes are done before the first unit is written.
                assert pipeline._prefetch is not None
                for _day, future in list(pipeline._prefetch._futures.values()):
                    future.result()
            for n_env in units:
                assert pipeline.normalize(n_env, match_inline=True) == []
            if workers:
                assert pipeline._prefetch is not None and pipeline._prefetch.used == 2
                redone.append(pipeline._prefetch.redone)
        finally:
            pipeline.close()
        with st.engine.connect() as conn:
            errors = sorted(conn.execute(sa.text(
                "SELECT p.natural_key, e.code FROM business_errors e "
                "JOIN policy_reports p ON p.id = e.policy_report_id")).all())
        outputs.append((_outputs(st, tmp_path / f"home{workers}"), errors))
        st.dispose()
    assert redone[0] > 0  # the second file's records, answered again
    assert any(code in ("E110", "E111") for _k, code in outputs[0][1])
    assert outputs[0] == outputs[1]


def test_vehicles_inserted_with_their_states_get_the_states_of_the_match_written(
    world, tmp_path, clock, monkeypatch
):
    """One process matching in the unit's transaction works the cascade out before the
    insert and inserts the vehicles with its states; when that cascade no longer holds at
    the write, the match is worked out again from the records and every vehicle gets the
    state that match wrote, whatever it was inserted with: the store ends as when the
    cascade holds."""
    from epoi.matching import MatchCounts, _hook, _stage, pipeline_match_hook

    real = _hook._PipelineHook.vehicle_states

    def stale(prepared, keys):  # states the match written after must all replace
        found = real(prepared, keys)
        return None if found is None else dict.fromkeys(found, "stale")

    outputs, prepared = [], []
    for holds in (True, False):
        if not holds:
            monkeypatch.setattr(_stage, "_still_holds", lambda *_a, **_k: False)
            monkeypatch.setattr(_hook._PipelineHook, "vehicle_states", staticmethod(stale))
        st = _world_store(tmp_path, f"holds{holds}", clock)
        cfg = Settings(home=tmp_path / f"home{holds}", database_url=st.url)
        counts = MatchCounts()
        pipeline = Pipeline(st, cfg, clock, chunk_size=10,
                            match_hook=pipeline_match_hook(cfg, clock, counts))
        try:
            _results, parse_units = pipeline.submit(world)
            units = [n_env for env in parse_units for n_env in pipeline.parse(env)]
            for n_env in units:
                assert pipeline.normalize(n_env, match_inline=True) == []
        finally:
            pipeline.close()
        with st.engine.connect() as conn:
            results = sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT report_key, position, state, step, vin FROM match_results")))
        outputs.append((_outputs(st, tmp_path / f"home{holds}"), results))
        prepared.append(counts.prepared)
        st.dispose()
    assert prepared[0] > 0 and prepared[1] == 0  # written from the cascade, then not
    states = [state for _k, _n, state in outputs[1][0][1]]
    assert "matched" in states and "stale" not in states
    assert outputs[0] == outputs[1]


def _matched_world(store: Store, tmp_path: Path, clock, name: str) -> tuple[dict, list, list]:
    """The match stage's outputs for the same world (40 policies, registrations loaded) on
    ``store``: ack and error-return files, vehicle states, match results."""
    from epoi.matching import load_registrations, pipeline_match_hook, read_registrations

    same = generate(40, tmp_path / "same", today=date(2026, 11, 27), seed=3,
                    policies_per_set=15,
                    faults=FaultOptions(bad_check_digits=0.05, missing_dates=0.05))  # fmt: skip
    register_carriers(store, same.carriers, created_at=clock())
    with store.engine.begin() as conn, same.registrations_file.open(newline="") as fh:
        assert not load_registrations(conn, read_registrations(fh, name="r.csv")).errors
    home = tmp_path / name
    cfg = Settings(home=home, database_url=store.url)
    pipeline = Pipeline(store, cfg, clock, chunk_size=4, match_hook=pipeline_match_hook(cfg, clock))
    _results, parse_units = pipeline.submit(sorted(same.files))
    for env in parse_units:
        for n_env in pipeline.parse(env):
            for m_env in pipeline.normalize(n_env):
                pipeline.match(m_env)
    files, states = _outputs(store, home)
    with store.engine.connect() as conn:
        results = conn.execute(sa.text(
            "SELECT report_key, position, vehicle_index, state, step, vin, candidates, fleet "
            "FROM match_results ORDER BY 1, 2")).all()  # fmt: skip
    return files, states, [tuple(r) for r in results]


@pytest.mark.services
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_postgresql_stores_what_sqlite_stores_through_the_match_stage(store, tmp_path, clock):
    """PostgreSQL writes records and match rows through COPY and sets the vehicles' match
    states in one UPDATE; SQLite row by row.  Both store the same."""
    sqlite = Store(f"sqlite:///{tmp_path / 'reference.db'}")
    sqlite.upgrade()
    try:
        reference = _matched_world(sqlite, tmp_path / "a", clock, "sqlite")
    finally:
        sqlite.dispose()
    files, states, results = _matched_world(store, tmp_path / "b", clock, "postgresql")
    assert files == reference[0]
    assert states == reference[1] and {s for *_k, s in states} >= {"matched", None}
    assert results == reference[2] and len(results) > 0


def test_units_taken_out_of_order_are_answered_as_in_order(world, tmp_path, clock):
    """Workers may take a later unit while an earlier one is still in another worker's
    hands: E110/E111 of its records must not depend on that (the earlier unit's policies are
    read from its payload, ``_inflight``).  The second file sends the first's policies again
    (E110 and E111 where they were reported before): its units normalised before the first
    file's, in reverse order, give the records, errors and statuses of the order of receipt."""
    files = [world[0], _sent_again(world[0], tmp_path / "again.x12", "777000777")]
    outputs = []
    for name in ("received", "reversed", "reversed-workers"):
        st = _world_store(tmp_path, name, clock)
        cfg = Settings(home=tmp_path / f"home-{name}", database_url=st.url)
        workers = name == "reversed-workers"
        # With a worker process: one unit a file, both first passes done ahead, so the
        # second file's unit is written from its pass while the first's is still queued.
        pipeline = Pipeline(st, cfg, clock, chunk_size=100 if workers else 4)
        pipeline.use_processes(1 if workers else 0, min_policies=0)
        try:
            _results, parse_units = pipeline.submit(files)
            units = [n_env for env in parse_units for n_env in pipeline.parse(env)]
            assert len(units) == 2 if workers else len(units) > 2
            for n_env in reversed(units) if name != "received" else units:
                pipeline.normalize(n_env, match_inline=workers)
            if workers:
                assert pipeline._prefetch is not None and pipeline._prefetch.used == 2
        finally:
            pipeline.close()
        with st.engine.connect() as conn:
            outputs.append(sorted(tuple(r) for r in conn.execute(sa.text(
                "SELECT p.natural_key, p.status, e.code FROM policy_reports p "
                "LEFT JOIN business_errors e ON p.id = e.policy_report_id"))))
        st.dispose()
    assert any(code in ("E110", "E111") for _k, _s, code in outputs[0])
    assert outputs[0] == outputs[1] == outputs[2]
