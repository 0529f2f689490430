"""``epoi validate`` on two processes prints byte for byte what one process prints
(epoi/cli/_second_pass.py, epoi/parsers/_batches.py): the second pass cut into batches of
whole sets, normalized by spawned workers, merged back in file order."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from _fast_gen import make_811
from epoi import parsers
from epoi.cli import _second_pass, main
from epoi.cli._second_pass import PassOptions, plan, second_pass
from epoi.config import Settings
from epoi.parsers import (
    PolicyBlock,
    iter_batch_policies,
    iter_policies,
    plan_set_batches,
    validate,
    validate_parallel,
)
from epoi.sample import FaultOptions, generate

FIXTURES = Path(__file__).parent / "fixtures"
NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batches of one set and no size floor, so that small files go through the workers."""
    monkeypatch.setattr(_second_pass, "MIN_POOL_BYTES", 0)
    monkeypatch.setattr(_second_pass, "_MIN_BATCH_BYTES", 1)


def _faulty_sample(tmp_path: Path) -> Path:
    generate(600, tmp_path / "s", today=date(2026, 11, 27), seed=11, carriers=1,
             policies_per_set=40,
             faults=FaultOptions(vin_typos=0.05, bad_check_digits=0.05, missing_dates=0.05,
                                 wrong_counts=0.2))
    (path,) = sorted((tmp_path / "s").glob("*.x12"))
    return path


def _several_envelopes(tmp_path: Path) -> Path:
    """Two interchanges of two groups each, a set that fails X12 validation among them."""
    a = make_811(5, vehicles_per_policy=2, sets=3, isa13="000000101", gs06="101")
    b = make_811(4, sets=2, isa13="000000102", gs06="201")
    broken = make_811(3, sets=2, isa13="000000103", gs06="301").replace("SE*", "SE*9", 1)
    path = tmp_path / "several.x12"
    path.write_text(a + "\n" + b + broken, encoding="latin-1")
    return path


def _invoke(paths: list[Path], tmp_path: Path, workers: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["validate", *args, *map(str, paths)],
        env={"EPOI_HOME": str(tmp_path / "home"), "EPOI_WORKERS": workers})
    return result.exit_code, result.output


@pytest.mark.parametrize("fmt", [("--json",), ()], ids=["json", "text"])
def test_two_processes_print_what_one_prints(tmp_path: Path, small_batches: None,
                                             monkeypatch: pytest.MonkeyPatch,
                                             fmt: tuple[str, ...]) -> None:
    path = _faulty_sample(tmp_path)
    verdict = validate(path.read_bytes(), name=str(path))
    batches = plan_set_batches(str(path), verdict, target_bytes=1, max_segment_length=4096)
    assert batches is not None and len(batches) > 10  # the workers do take part

    def validate_alone(*args: object, **kw: object) -> object:
        # the previous file's workers are gone before this file's validation forks its own
        assert multiprocessing.active_children() == []
        return validate_parallel(*args, **kw)

    monkeypatch.setattr(parsers, "validate_parallel", validate_alone)
    files = [path, _several_envelopes(tmp_path), path]
    one = _invoke(files, tmp_path, "1", *fmt)
    two = _invoke(files, tmp_path, "2", *fmt)
    assert one[0] == 1  # records rejected: the exit code comes back from the workers too
    assert two == one


def test_every_fixture_and_envelope_shape_renders_the_same(tmp_path: Path,
                                                           small_batches: None) -> None:
    files = [*sorted(FIXTURES.rglob("*.x12")), _several_envelopes(tmp_path),
             _faulty_sample(tmp_path)]
    used = 0
    for as_json in (True, False):
        opts = PassOptions(settings=Settings(), received_at=NOW, as_json=as_json)
        for f in files:
            verdict = validate(f.read_bytes(), name=str(f))
            used += plan(str(f), verdict, opts=opts, workers=2) is not None
            assert list(second_pass(str(f), verdict, name=str(f), opts=opts, workers=2)) == \
                list(second_pass(str(f), verdict, name=str(f), opts=opts, workers=1)), f
    assert used >= 8  # several files did go to the workers


def test_a_file_whose_envelopes_do_not_match_the_verdict_gets_no_plan(tmp_path: Path) -> None:
    path = _several_envelopes(tmp_path)
    verdict = validate(path.read_bytes(), name=str(path))
    assert plan_set_batches(str(path), verdict, target_bytes=1, max_segment_length=4096)
    # a verdict of another file, a file error, a segment limit iter_policies does not share
    other = validate(make_811(3).encode(), name="other")
    assert plan_set_batches(str(path), other, target_bytes=1, max_segment_length=4096) is None
    assert plan_set_batches(str(path), verdict, target_bytes=1, max_segment_length=9999) is None
    truncated = tmp_path / "truncated.x12"
    truncated.write_bytes(path.read_bytes()[:-40])
    cut = validate(truncated.read_bytes(), name=str(truncated))
    assert cut.error is not None
    assert plan_set_batches(str(truncated), cut, target_bytes=1, max_segment_length=4096) is None


def _relative(block: PolicyBlock) -> tuple[object, ...]:
    """A policy block with its segment positions counted from its set's ST."""
    def segs(segments: tuple) -> list[tuple[list[str], int]]:
        return [(s.fields, s.position - block.set_start) for s in segments]
    return (block.file, block.interchange, block.sender_id, block.test, block.group,
            block.transaction_set, block.report_date, block.submission_ref, segs(block.insurer),
            segs(block.state), segs(block.policy), block.syntax_rejected, block.syntax_errors)


def test_the_batches_yield_the_blocks_of_the_one_pass(tmp_path: Path) -> None:
    for path in (_several_envelopes(tmp_path), _faulty_sample(tmp_path)):
        verdict = validate(path.read_bytes(), name="f")
        batches = plan_set_batches(str(path), verdict, target_bytes=1, max_segment_length=4096)
        assert batches is not None
        assert sum(b.sets for b in batches) == sum(
            len(g.transaction_sets) for ic in verdict.interchanges for g in ic.groups)
        with path.open("rb") as fh:
            one = [_relative(b) for b in iter_policies(fh, verdict, name="f")]
        cut = [_relative(b) for batch in batches for b in iter_batch_policies(str(path), batch,
                                                                              name="f")]
        assert len(one) > 10
        assert cut == one
