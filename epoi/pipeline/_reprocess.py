"""``reprocess``: run one submission again from its archived original (``epoi reprocess``).

The submission's parse unit (and any unit of it that failed) is queued again in the store,
and the same drain as ``epoi run`` takes it from there.  Re-parsing a submission that was
acknowledged before keeps what was sent (TA1/997 and their control numbers, the
interchanges it claimed) and adds only what is missing: groups, sets, units and records are
written insert-on-conflict-do-nothing on their natural keys, and a done unit is not redone.
So a reprocess of a finished submission changes nothing, and one of a submission that failed
half-way completes it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy.orm import Session

from ..config import Settings
from ..errors import InputError, Location
from ..intake import DEFAULT_CHUNK_SIZE, absolute_under_home, parse_key
from ..store import (
    Store,
    SubmissionState,
    UnitKind,
    requeue_submission,
    submission_by_id,
    units_left,
)
from ._lineage import _advance, _has_units, _lock_submission
from ._run import RUN_IDLE_TIMEOUT, RunSummary, run, summarize
from ._stages import Clock, MatchHook, no_matching

__all__ = ["reprocess", "verify_archive"]

_READ = 1024 * 1024


def verify_archive(path: Path, sha256: str) -> None:
    """The archived original still hashes to what was recorded when it was received.  The
    archive is write-once: a mismatch means tampering or disk trouble, and nothing is run
    from such bytes (``ARCHIVE-MISMATCH``; an unreadable file is ``ARCHIVE-UNREADABLE``)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_READ):
                digest.update(chunk)
    except OSError as exc:
        raise InputError("ARCHIVE-UNREADABLE", f"the archived original is unreadable: "
                         f"{exc.strerror}", Location(file=str(path))) from exc  # fmt: skip
    if digest.hexdigest() != sha256:
        raise InputError(
            "ARCHIVE-MISMATCH",
            f"the archived original no longer has the sha256 recorded at intake "
            f"({sha256[:12]}...); it was altered after archiving",
            Location(file=str(path)),
        )


def reprocess(
    submission_id: int,
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    match_hook: MatchHook = no_matching,
    idle_timeout: float | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> RunSummary:
    """Check the archived original, re-queue the submission and drain the queues; the
    summary of that one submission.  ``LookupError`` when there is no such submission
    (callers scope and report that themselves); ``InputError`` on an altered archive."""
    with store.session(readonly=True) as session:
        sub = submission_by_id(session, submission_id)
        if sub is None:
            raise LookupError(f"no submission {submission_id}")
        path = absolute_under_home(sub.archive_path, settings.home)
        sha256 = sub.sha256
    verify_archive(path, sha256)
    with store.session() as session:
        requeue_submission(session, submission_id, parse_key(submission_id), now=clock())
    timeout = RUN_IDLE_TIMEOUT if idle_timeout is None else idle_timeout
    drained = run([], store=store, settings=settings, clock=clock, match_hook=match_hook,
                  chunk_size=chunk_size, idle_timeout=timeout)  # fmt: skip
    with store.session() as session:
        _settle(session, submission_id)
    summary = summarize(store, [submission_id])
    summary.dead_lettered = drained.dead_lettered
    return summary


def _settle(session: Session, submission_id: int) -> None:
    """Move the lineage on as the last normalize or match unit would have.  The re-parse
    set it back to acknowledged, and when every unit was done already no unit runs to move
    it on again: without this a finished submission would end up acknowledged."""
    _lock_submission(session, submission_id)
    if units_left(session, submission_id, UnitKind.NORMALIZE) or not _has_units(
        session, submission_id, UnitKind.NORMALIZE
    ):
        return
    _advance(session, submission_id, SubmissionState.ACKNOWLEDGED, SubmissionState.NORMALISED)
    if _has_units(session, submission_id, UnitKind.MATCH) and not units_left(
        session, submission_id, UnitKind.MATCH
    ):
        _advance(session, submission_id, SubmissionState.NORMALISED, SubmissionState.MATCHED)
