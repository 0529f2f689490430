"""Validation on several processes (``epoi.parsers._parallel``): the verdict is exactly the
one process's, on clean and on damaged files, whether the file is cut at set boundaries or
inside one large set, and the workers' results are really used."""

from __future__ import annotations

import io
import os
import random
from datetime import date
from pathlib import Path

import pytest

import epoi.parsers._parallel as parallel
from epoi.parsers import ValidationOptions, validate, validate_parallel
from epoi.parsers._fast import _Engine
from epoi.parsers._fast import validate as validate_one
from epoi.sample import FaultOptions, generate
from test_differential import mutate


def _segments(path: Path) -> list[str]:
    return [s.strip("\r\n") for s in path.read_text("latin-1").split("~") if s.strip("\r\n")]


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[list[str]]]:
    out: dict[str, list[list[str]]] = {}
    # one large set per file (cut at policy HLs) and many small sets (cut at STs)
    for label, per_set in (("one set", 2000), ("many sets", 7)):
        d = tmp_path_factory.mktemp(label.replace(" ", "_"))
        generate(300, d, today=date(2026, 11, 27), seed=5, carriers=2, policies_per_file=150,
                 policies_per_set=per_set, faults=FaultOptions(vin_typos=0.02, missing_dates=0.1))
        out[label] = [_segments(f) for f in sorted(d.glob("*.x12"))]
    return out


@pytest.fixture
def adopted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Counts of worker results taken over by the parent, by kind of range."""
    seen = {"policy": 0, "set": 0}
    take_policies, take_sets = parallel._adopt_policies, _Engine.adopt_sets

    def policies(*args):  # type: ignore[no-untyped-def]
        seen["policy"] += 1
        return take_policies(*args)

    def sets(self, *args):  # type: ignore[no-untyped-def]
        seen["set"] += 1
        return take_sets(self, *args)

    monkeypatch.setattr(parallel, "_adopt_policies", policies)
    monkeypatch.setattr(_Engine, "adopt_sets", sets)
    return seen


def _both(tmp_path: Path, data: bytes, workers: int, options: ValidationOptions):  # type: ignore[no-untyped-def]
    path = tmp_path / "f.x12"
    path.write_bytes(data)
    one = validate_one(io.BytesIO(data), name=str(path), options=options)
    many = parallel.validate_file(str(path), name=str(path), options=options, workers=workers,
                                  min_bytes=0)
    return one, many


@pytest.mark.parametrize("label", ["one set", "many sets"])
def test_same_verdict_as_one_process_on_damaged_files(bases, adopted, tmp_path, label):
    rng = random.Random(label)
    accepted = rejected = 0
    for _ in range(40):
        segs = rng.choice(bases[label])
        for _ in range(rng.choice((0, 1, 2, 3))):
            segs, _m = mutate(rng, segs)
        data = ("~\n".join(segs) + "~\n").encode("latin-1")
        options = ValidationOptions(max_errors_per_set=rng.choice((2, 1000)))
        one, many = _both(tmp_path, data, rng.choice((2, 3)), options)
        assert many == one
        accepted += one.accepted
        rejected += not one.accepted
    assert accepted and rejected
    kind = "policy" if label == "one set" else "set"
    assert adopted[kind] >= 20  # the workers' results were used, not redone by the parent


def _plan(data: bytes, folder: Path, parts: int) -> parallel._Plan:
    path = folder / "plan.x12"
    path.write_bytes(data)
    plan = parallel._plan(str(path), parts)
    assert plan is not None
    return plan


def test_fault_right_at_a_cut_and_early_numbering_fault(bases, adopted, tmp_path):
    segs = bases["one set"][0]
    data = ("~\n".join(segs) + "~\n").encode("latin-1")
    plan = _plan(data, tmp_path, 2)
    assert [r.kind for r in plan.ranges] == ["policy"]
    cut = plan.ranges[0].start
    # a required segment missing in the policy just before the cut: reported by the parent
    # when it closes that policy at the cut, not by the worker
    before = data[:cut].rfind(b"LX*")
    damaged = data[:before] + data[data.index(b"~", before) + 2:]
    one, many = _both(tmp_path, damaged, 2, ValidationOptions())
    assert many == one and not one.accepted
    assert adopted["policy"] == 1
    assert any(i.code == "3" and i.segment_id == "LX"
               for i in one.interchanges[0].groups[0].transaction_sets[0].errors)
    # an HL missing before the cut: every later HL01 is out of sequence, the worker's guess
    # of the numbering is wrong, and the parent validates the range itself
    hl = data.index(b"HL*5*")
    renumbered = data[:hl] + data[data.index(b"~", hl) + 2:]
    one, many = _both(tmp_path, renumbered, 2, ValidationOptions())
    assert many == one and not one.accepted
    assert adopted["policy"] == 1  # not taken this time


def test_truncated_file_error_position_is_the_file_position(bases, tmp_path):
    segs = bases["many sets"][0]
    data = ("~\n".join(segs) + "~\n").encode("latin-1")
    cut = data[: len(data) * 4 // 5]
    one, many = _both(tmp_path, cut, 2, ValidationOptions())
    assert one.error is not None and one.error.code == "FILE-TRUNCATED"
    assert many == one


def test_small_files_and_streams_stay_in_one_process(bases, tmp_path, monkeypatch):
    def no_pool(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("no process pool for this input")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_pool)
    data = ("~\n".join(bases["one set"][0]) + "~\n").encode("latin-1")
    path = tmp_path / "small.x12"
    path.write_bytes(data)
    assert os.path.getsize(path) < parallel.MIN_PARALLEL_BYTES
    v = validate_parallel(path, name="small", workers=2)
    assert v == validate_one(io.BytesIO(data), name="small")
    assert validate(data, name="small") == v  # bytes: always one process
    assert parallel.resolve_workers(0) == (os.cpu_count() or 1)
    assert parallel.resolve_workers(3) == 3
