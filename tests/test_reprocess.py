"""``epoi reprocess``: a submission run again from its archived original is idempotent (a
finished one changes nothing, acks keep their control numbers, its own interchanges are not
duplicates of themselves), one that failed half-way is completed, an altered archive is
refused, and ``--carrier`` scopes it like ``status``."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from _helpers import RUN_TABLES, register_carriers, row_counts
from epoi.cli import main
from epoi.errors import InputError
from epoi.pipeline import Pipeline, reprocess, run, summarize
from epoi.sample import FaultOptions, generate
from epoi.store import (
    Store,
    Submission,
    UnitState,
    WorkUnit,
)

TABLES = (*RUN_TABLES, "ack_sequences")


@pytest.fixture
def world(sample_world) -> list[Path]:
    """Three carriers' files with a few faulty records (business errors, error returns)."""
    return sample_world(24, seed=5, policies_per_set=8,
                        faults=FaultOptions(bad_check_digits=0.1, missing_dates=0.1))


def _snapshot(store: Store) -> dict[str, object]:
    """Row counts, and everything that would show a new ack, number or state."""
    with store.engine.connect() as conn:
        counts = row_counts(conn, TABLES)
        acks = conn.execute(sa.text("SELECT submission_id, kind, control_number, path FROM acks "
                                    "ORDER BY id")).all()  # fmt: skip
        returns = conn.execute(sa.text("SELECT set_id, control_number FROM error_returns "
                                       "ORDER BY id")).all()  # fmt: skip
        sequences = conn.execute(sa.text("SELECT key, last_number FROM ack_sequences "
                                         "ORDER BY key")).all()  # fmt: skip
        ta1 = conn.execute(sa.text("SELECT submission_id, control_number, ta1_ack_code, "
                                   "ta1_note_code FROM interchanges "
                                   "ORDER BY id")).all()  # fmt: skip
        states = conn.execute(sa.text("SELECT id, state, error_code FROM submissions "
                                      "ORDER BY id")).all()  # fmt: skip
        units = conn.execute(sa.text("SELECT key, state FROM work_units ORDER BY id")).all()
    return {"counts": counts, "acks": acks, "returns": returns, "sequences": sequences,
            "ta1": ta1, "states": states, "units": units}  # fmt: skip


def _ack_files(settings) -> list[str]:
    root = settings.home / "acks"
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def _run(paths, store, settings, clock):
    return run(paths, store=store, settings=settings, clock=clock, idle_timeout=0.2, chunk_size=4)


def _reprocess(sid, store, settings, clock):
    return reprocess(sid, store=store, settings=settings, clock=clock, idle_timeout=0.2,
                     chunk_size=4)  # fmt: skip


def test_reprocessing_a_finished_submission_twice_changes_nothing(world, store, settings, clock):
    first = _run(world, store, settings, clock)
    assert first.rejected > 0 and first.error_returns > 0 and first.business_errors > 0
    before, files = _snapshot(store), _ack_files(settings)
    expected = summarize(store, [2])
    for _ in range(2):
        clock.advance(hours=1)
        summary = _reprocess(2, store, settings, clock)
        assert _snapshot(store) == before  # no rows, acks, numbers, TA1s or states changed
        assert _ack_files(settings) == files
        assert summary.submissions == [2] and summary.failed_units == 0
        assert summary.interchanges_rejected == 0  # its own interchanges are not 025
        with store.session(readonly=True) as s:
            assert str(s.get_one(Submission, 2).state) == "matched"
        assert summary == expected  # the submission's own summary, as stored
    assert summary.policies > 0 and summary.acks > 0


def test_a_submission_whose_normalize_unit_failed_is_completed(world, store, settings, clock):
    settings = settings.model_copy(update={"max_attempts": 1})
    pipeline = Pipeline(store, settings, clock, chunk_size=4)
    _results, parse_units = pipeline.submit(world[:1])
    pipeline.parse(parse_units[0])
    with store.session() as s:  # one chunk's payload is unreadable: that unit fails for good
        s.execute(sa.update(WorkUnit).where(WorkUnit.kind == "normalize",
                                            WorkUnit.key.like("%chunk-1"))
                  .values(payload="{not json"))  # fmt: skip
    broken = _run([], store, settings, clock)
    assert broken.failed_units == 1
    half = _snapshot(store)
    with store.session(readonly=True) as s:
        planned = s.get_one(Submission, 1).policy_count
        assert str(s.get_one(Submission, 1).state) == "acknowledged"

    summary = _reprocess(1, store, settings, clock)
    assert summary.failed_units == 0 and summary.policies == planned > 0
    done = _snapshot(store)
    with store.session(readonly=True) as s:
        assert str(s.get_one(Submission, 1).state) == "matched"
        assert set(s.scalars(sa.select(WorkUnit.state))) == {UnitState.DONE}
        assert s.scalar(sa.select(sa.func.count()).where(WorkUnit.payload.is_not(None))) == 0
        accepted_sets = s.scalar(sa.text("SELECT count(*) FROM transaction_sets "
                                         "WHERE ack_code <> 'R'"))  # fmt: skip
    # The TA1/997 were kept; the missing error return of the chunk's set was written now.
    assert done["acks"] == half["acks"]
    assert done["counts"]["error_returns"] == accepted_sets
    assert done["counts"]["work_units"] > half["counts"]["work_units"]  # its match unit
    clock.advance(hours=1)
    _reprocess(1, store, settings, clock)
    assert _snapshot(store) == done


def test_an_altered_archive_is_refused_with_a_code(world, store, settings, clock):
    _run(world[:1], store, settings, clock)
    with store.session(readonly=True) as s:
        archived = settings.home / s.get_one(Submission, 1).archive_path
    before = _snapshot(store)
    archived.chmod(0o644)
    data = bytearray(archived.read_bytes())
    data[-3] ^= 0x01
    archived.write_bytes(bytes(data))
    with pytest.raises(InputError) as caught:
        _reprocess(1, store, settings, clock)
    assert caught.value.code == "ARCHIVE-MISMATCH"
    assert _snapshot(store) == before  # nothing was re-queued from the altered bytes


def test_cli_reprocess_exit_codes_and_carrier_scope(sample_world, store, settings, monkeypatch):
    paths = sample_world(24, seed=5, policies_per_set=8)  # no faults: nothing rejected
    monkeypatch.setenv("EPOI_HOME", str(settings.home))
    monkeypatch.setenv("EPOI_DATABASE_URL", store.url)
    cli = CliRunner()
    ran = cli.invoke(main, ["run", *map(str, paths), "--json"])
    assert ran.exit_code == 0, ran.output
    before = _snapshot(store)

    again = cli.invoke(main, ["reprocess", "1", "--json"])
    assert again.exit_code == 0, again.output
    doc = json.loads(again.output)
    assert doc["submissions"] == [1] and doc["policies"] > 0 and doc["rejected"] == 0
    assert _snapshot(store) == before
    text = cli.invoke(main, ["reprocess", "1"])
    assert text.exit_code == 0 and "reprocessed" in text.output and "acks written" in text.output

    with store.session(readonly=True) as s:
        owner = s.scalar(sa.text("SELECT c.naic FROM carriers c JOIN submissions s "
                                 "ON s.carrier_id = c.id WHERE s.id = 1"))  # fmt: skip
        other = s.scalar(sa.text("SELECT naic FROM carriers WHERE naic <> :n LIMIT 1"),
                         {"n": owner})  # fmt: skip
    mine = cli.invoke(main, ["reprocess", "1", "--carrier", owner])
    assert mine.exit_code == 0, mine.output
    theirs = cli.invoke(main, ["reprocess", "1", "--carrier", other])
    missing = cli.invoke(main, ["reprocess", "99"])
    assert theirs.exit_code == missing.exit_code == 2
    assert "no submission 1" in theirs.output and "no submission 99" in missing.output

    with store.session(readonly=True) as s:
        archived = settings.home / s.get_one(Submission, 1).archive_path
    os.chmod(archived, 0o644)
    archived.write_bytes(archived.read_bytes().replace(b"ISA", b"ISB", 1))
    tampered = cli.invoke(main, ["reprocess", "1"])
    assert tampered.exit_code == 1 and "ARCHIVE-MISMATCH" in tampered.output
    assert _snapshot(store) == before


def test_a_submission_rejected_for_an_unknown_sender_goes_on_once_the_carrier_exists(
    tmp_path, store, settings, clock, monkeypatch
):
    """issue 11 §1: a carrier forgotten at first.  Its file is answered TA1 R 006 and the
    submission is rejected; `epoi run` on the same file skips it and says to reprocess it;
    once the carrier is registered, `epoi reprocess` accepts the interchange, answers it
    again (the TA1 R 006 sent stays on record) and takes it through every stage."""
    summary = generate(24, tmp_path / "edi", today=date(2026, 11, 27), seed=5,
                       policies_per_set=8, faults=FaultOptions(vin_typos=0.0))  # fmt: skip
    forgotten, *known = summary.carriers
    register_carriers(store, known, created_at=clock())
    [mine] = [f for f in summary.files if f.name.startswith(forgotten.sender_id.lower())]
    monkeypatch.setenv("EPOI_HOME", str(settings.home))
    monkeypatch.setenv("EPOI_DATABASE_URL", store.url)
    cli = CliRunner()
    ran = cli.invoke(main, ["run", *map(str, sorted(summary.files))])
    assert ran.exit_code == 1, ran.output
    assert (f"TA1 R 006: sender ZZ/{forgotten.sender_id} is not a registered carrier"
            in ran.output)  # fmt: skip
    with store.session(readonly=True) as s:
        sid = s.scalar(sa.text("SELECT submission_id FROM interchanges WHERE sender_id = :s"),
                       {"s": forgotten.sender_id})  # fmt: skip
        assert str(s.get_one(Submission, sid).state) == "rejected"
    rejected_ta1 = _snapshot(store)["acks"]
    assert [a for a in rejected_ta1 if a[0] == sid][0][1] == "TA1"

    added = cli.invoke(main, ["carriers", "add", "--name", forgotten.name, "--naic",
                              forgotten.naic, "--isa-qualifier", "ZZ", "--isa-id",
                              forgotten.sender_id, "--production"])  # fmt: skip
    assert added.exit_code == 0, added.output
    skipped = cli.invoke(main, ["run", str(mine)])
    assert f"already submitted as submission {sid}" in skipped.output
    assert f"`epoi reprocess {sid}`" in skipped.output

    redone = cli.invoke(main, ["reprocess", str(sid), "--json"])
    assert redone.exit_code == 0, redone.output
    doc = json.loads(redone.output)
    assert doc["interchanges_rejected"] == 0 and doc["problems"] == []
    assert doc["policies"] > 0 and doc["accepted"] + doc["warned"] == doc["policies"]
    after = _snapshot(store)
    with store.session(readonly=True) as s:
        assert str(s.get_one(Submission, sid).state) == "matched"
        assert s.get_one(Submission, sid).carrier_id is not None
    assert [r[2:] for r in after["ta1"] if r[0] == sid] == [("A", "000")]
    # The acks sent before are kept as they were; the new ones (a 997, and a TA1 A when
    # the carrier asks for one) come after them, numbered on.
    assert after["acks"][: len(rejected_ta1)] == rejected_ta1
    new = [a for a in after["acks"][len(rejected_ta1):]]
    assert {a[0] for a in new} == {sid} and "997" in {a[1] for a in new}
    assert min(int(a[2]) for a in new) > max(int(a[2]) for a in rejected_ta1 if a[0] == sid)
    for a in new:
        text = (settings.home / a[3]).read_text(encoding="latin-1")
        assert ("*R*006~" not in text) and ("TA1*" not in text or "*A*000~" in text)

    clock.advance(hours=1)
    assert cli.invoke(main, ["reprocess", str(sid)]).exit_code == 0
    assert _snapshot(store) == after  # and it stays done
    assert "TA1 006" in cli.invoke(main, ["reprocess", "--help"]).output
