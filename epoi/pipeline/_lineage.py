"""Where a submission's lineage stands, moved on by the stages as their units finish
(received -> ... -> acknowledged -> normalised -> matched)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..store import Submission, SubmissionState, UnitKind, WorkUnit, update_submission


def _has_units(session: Session, submission_id: int, kind: UnitKind) -> bool:
    return session.scalar(
        select(WorkUnit.id).where(WorkUnit.submission_id == submission_id, WorkUnit.kind == kind)
        .limit(1)
    ) is not None


def _lock_submission(session: Session, submission_id: int) -> None:
    """Take the submission's row lock (PostgreSQL; SQLite's write lock is already held)
    before counting the units left.  Without it two workers finishing the last two units of
    a submission at the same time each see the other's unit as not done (neither has
    committed), and neither moves the lineage on: it would stay ``acknowledged`` for good.
    Taken last, after the unit, set and ack-sequence locks, in every stage.

    ``FOR NO KEY UPDATE``, not ``FOR UPDATE``: every row a stage inserts that refers to the
    submission takes a key-share lock on it, which ``FOR UPDATE`` would wait for.  A worker
    that inserted records and then waits for the carrier's ack sequence, while another holds
    that sequence and waits here, was a deadlock (seen under the kill -9 chaos test)."""
    session.execute(
        select(Submission.id).where(Submission.id == submission_id)
        .with_for_update(key_share=True)
    )


def _advance(
    session: Session, submission_id: int, before: SubmissionState, after: SubmissionState
) -> None:
    """Move the lineage on, only from the state expected (never back, never out of failed)."""
    sub = session.get_one(Submission, submission_id)
    if sub.state is before:
        update_submission(session, submission_id, state=after)
