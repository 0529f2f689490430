"""``epoi reprocess``: a submission run again from its archived original is idempotent (a
finished one changes nothing, acks keep their control numbers, its own interchanges are not
duplicates of themselves), one that failed half-way is completed, an altered archive is
refused, and ``--carrier`` scopes it like ``status``."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from _helpers import RUN_TABLES, row_counts
from epoi.cli import main
from epoi.errors import InputError
from epoi.pipeline import Pipeline, reprocess, run, summarize
from epoi.sample import FaultOptions
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
                                   "ta1_note_code FROM interchanges ORDER BY id")).all()  # fmt: skip
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
