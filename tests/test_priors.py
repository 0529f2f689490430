"""E110/E111 answered twice: by the worker that normalises ahead, from the store as it was
then, and by the pipeline's process from the store as it is when the unit is written
(``epoi/pipeline/_priors.py``).  Whatever the worker saw, the records are those a single
pass over the current store gives."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, date, datetime
from pathlib import Path

from epoi.intake import Chunk, encode_chunk
from epoi.parsers import iter_policies, validate
from epoi.pipeline._priors import answer_priors
from epoi.sample import generate
from epoi.store import PriorReport
from epoi.transforms import NOTHING_KNOWN, EditContext, normalize, normalize_again

CONTEXT = EditContext(received_at=datetime(2026, 11, 27, 12, tzinfo=UTC), today=date(2026, 11, 27))


def _chunk(tmp_path: Path) -> Chunk:
    summary = generate(12, tmp_path, today=date(2026, 11, 27), seed=5, carriers=1,
                       policies_per_set=12)
    data = Path(summary.files[0]).read_bytes()
    verdict = validate(io.BytesIO(data), name="f", engine="fast")
    return Chunk(encode_chunk(list(iter_policies(io.BytesIO(data), verdict, name="f"))[:8]))


def _earlier(chunk: Chunk, n: int, status: str = "accepted") -> PriorReport:
    """A report of policy ``n``'s number stored by an earlier submission."""
    rec = normalize(chunk[n], context=CONTEXT)
    r = rec.report
    return PriorReport(natural_key="earlier", submission_id=0, set_id=0, policy_position=3,
                       carrier_naic=r.carrier_naic, policy_number=r.policy_number,
                       transaction_type=r.transaction_type, effective_date=r.effective_date,
                       status=status)


def test_a_stale_worker_answer_is_corrected_and_a_current_one_kept(tmp_path):
    chunk = _chunk(tmp_path)
    first = [normalize(b, context=CONTEXT) for b in chunk]
    stored_now = [_earlier(chunk, 2), _earlier(chunk, 5, "rejected")]
    fresh, infos = answer_priors(chunk, first, CONTEXT, stored_now, submission_id=1, set_id=1)
    assert infos[2] != NOTHING_KNOWN and infos[5] != NOTHING_KNOWN and infos[0] == NOTHING_KNOWN
    assert fresh[2] != first[2]  # the same transaction accepted before: E110
    # The worker read the store before policy 2's earlier report was there.
    worker, seen = answer_priors(chunk, first, CONTEXT, stored_now[1:], submission_id=1,
                                 set_id=1)
    assert seen[2] == NOTHING_KNOWN and worker[2] == first[2]
    again, infos_again = answer_priors(chunk, worker, CONTEXT, stored_now, submission_id=1,
                                       set_id=1, answered=seen)
    assert again == fresh and infos_again == infos
    assert again[5] is worker[5]  # answered alike: kept, not normalised again
    # A worker that knew of a report the store no longer has (a rolled-back unit).
    again, _ = answer_priors(chunk, fresh, CONTEXT, [], submission_id=1, set_id=1,
                             answered=infos)
    assert again == first


def test_normalising_again_with_another_answer_is_normalising_with_it(tmp_path):
    """``normalize_again`` runs only the business edits again (the report does not depend
    on E110/E111's answer): the same record as ``normalize`` with that answer, whichever
    answer the record had before."""
    chunk = _chunk(tmp_path)
    stored = [_earlier(chunk, n, status) for n in range(len(chunk))
              for status in ("accepted", "rejected")]
    _, infos = answer_priors(chunk, [normalize(b, context=CONTEXT) for b in chunk], CONTEXT,
                             stored, submission_id=1, set_id=1)
    assert all(info != NOTHING_KNOWN for info in infos)
    changed = 0
    for block, info in zip(chunk, infos, strict=True):
        told = dataclasses.replace(CONTEXT, prior=lambda _n, _p, info=info: info)
        plain, answered = normalize(block, context=CONTEXT), normalize(block, context=told)
        changed += plain != answered
        assert normalize_again(plain, block, context=told) == answered
        assert normalize_again(answered, block, context=CONTEXT) == plain
    assert changed > 0  # E110/E111 found where an accepted report came before
