"""Repository functions of the units of work, each inside a caller's session.

A unit is keyed on its natural key, so a unit queued twice is queued once; its state moves
queued -> done or failed, and an operator's replay or reprocess makes it queued again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, func, null, select, update
from sqlalchemy.orm import Session

from ._records import UnitKind, UnitState, WorkUnit
from ._repo import _insert, _rowcount


@dataclass(frozen=True, slots=True)
class UnitRecord:
    key: str
    kind: UnitKind
    submission_id: int
    set_id: int | None = None
    policies: int = 0
    payload: str | None = None


def add_units(session: Session, units: Sequence[UnitRecord], *, now: datetime,
              state: UnitState = UnitState.QUEUED) -> None:
    """Record units as queued (or ``state``: a unit done in the transaction that records it);
    a unit whose key exists already is left as it is."""
    rows = [
        {
            "key": u.key,
            "kind": u.kind,
            "submission_id": u.submission_id,
            "set_id": u.set_id,
            "state": state,
            "attempts": 0,
            "policies": u.policies,
            "payload": u.payload,
            "created_at": now,
            "updated_at": now,
        }
        for u in units
    ]
    if rows:
        session.execute(
            _insert(session, WorkUnit.__table__).on_conflict_do_nothing(index_elements=["key"]),
            rows,
        )


# A declarative class's __table__ is its Table; the stubs only promise a FromClause.
_UNITS = cast(Table, WorkUnit.__table__)


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit as the stages read it: a plain row, not an ORM object (every stage reads its
    unit once or twice per message; the ORM's identity map and change tracking cost more
    than the query)."""

    id: int
    key: str
    kind: UnitKind
    submission_id: int
    set_id: int | None
    state: UnitState
    attempts: int
    error_code: str | None
    policies: int
    payload: str | None


_UNIT_COLUMNS = tuple(_UNITS.c[name] for name in Unit.__slots__)


def unit_by_key(
    session: Session, key: str, *, lock: bool = False, payload: bool = True
) -> Unit | None:
    """The unit; ``lock`` takes its row lock (PostgreSQL) so that two workers handed the same
    unit do it one after the other, the second finding it done.  ``payload=False``: without
    its payload (None), for a stage that has read it already."""
    columns = _UNIT_COLUMNS if payload else tuple(
        null() if c.name == "payload" else c for c in _UNIT_COLUMNS)
    stmt = select(*columns).where(_UNITS.c.key == key)
    if lock:
        stmt = stmt.with_for_update()
    row = session.execute(stmt).one_or_none()
    return None if row is None else Unit(*row)


def finish_unit(
    session: Session, unit_id: int, *, now: datetime, return_part: str | None = None
) -> None:
    """Mark a unit done and drop its payload (the archive keeps the bytes); a normalize
    unit keeps its ``return_part`` for its set's error return.  On the table, not the ORM
    class: no unit is held as an ORM object to keep in step (``Unit``)."""
    session.execute(
        update(_UNITS)
        .where(_UNITS.c.id == unit_id)
        .values(state=UnitState.DONE, payload=None, error_code=None, updated_at=now,
                return_part=return_part)  # fmt: skip
    )


def set_return_parts(session: Session, set_id: int) -> list[str | None]:
    """The ``return_part`` of each normalize unit of the set, in no particular order (None:
    a unit not done, or done before the parts were kept)."""
    return list(session.scalars(
        select(_UNITS.c.return_part).where(
            _UNITS.c.set_id == set_id, _UNITS.c.kind == UnitKind.NORMALIZE)
    ))  # fmt: skip


def clear_return_parts(session: Session, set_id: int) -> None:
    """Drop the set's parts once its error return is written: it is kept with the return."""
    session.execute(
        update(_UNITS)
        .where(_UNITS.c.set_id == set_id, _UNITS.c.return_part.is_not(None))
        .values(return_part=None)
    )


def note_unit_failure(
    session: Session, key: str, *, code: str, final: bool, now: datetime
) -> None:
    """Count a failed attempt; ``final`` (retries spent, or a permanent error) marks it
    failed, which ``epoi run`` does not re-queue (``epoi dead replay`` does)."""
    values: dict[str, Any] = {
        "attempts": WorkUnit.attempts + 1,
        "error_code": code[:32],
        "updated_at": now,
    }
    if final:
        values["state"] = UnitState.FAILED
    session.execute(
        update(WorkUnit)
        .where(WorkUnit.key == key, WorkUnit.state != UnitState.DONE)
        .values(**values)
    )


def reopen_units(session: Session, keys: Sequence[str], *, now: datetime) -> None:
    """Failed units an operator replays become queued again (their attempts are kept)."""
    if keys:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.key.in_(list(keys)), WorkUnit.state == UnitState.FAILED)
            .values(state=UnitState.QUEUED, updated_at=now)
        )


def refresh_payloads(session: Session, units: Sequence[UnitRecord], *, now: datetime) -> None:
    """A reprocess read the units' chunks from the archive again: the units not done yet
    take those payloads (a done unit keeps none: its records are stored)."""
    for u in units:
        session.execute(
            update(WorkUnit)
            .where(WorkUnit.key == u.key, WorkUnit.state != UnitState.DONE)
            .values(payload=u.payload, policies=u.policies, updated_at=now)
        )


def requeue_submission(
    session: Session, submission_id: int, parse_key: str, *, now: datetime
) -> int:
    """``epoi reprocess``: the submission's parse unit and its failed units become queued
    again (done ones stay done: their work is stored); returns how many were re-queued."""
    parse = session.execute(
        update(WorkUnit)
        .where(WorkUnit.key == parse_key, WorkUnit.state != UnitState.QUEUED)
        .values(state=UnitState.QUEUED, updated_at=now)
    )
    failed = session.execute(
        update(WorkUnit)
        .where(WorkUnit.submission_id == submission_id, WorkUnit.state == UnitState.FAILED)
        .values(state=UnitState.QUEUED, updated_at=now)
    )
    return _rowcount(parse) + _rowcount(failed)


def queued_units(session: Session) -> list[tuple[str, UnitKind]]:
    """(key, kind) of every unit still queued, oldest first: what a run re-queues."""
    stmt = (
        select(WorkUnit.key, WorkUnit.kind)
        .where(WorkUnit.state == UnitState.QUEUED)
        .order_by(WorkUnit.id)
    )
    return [(k, kind) for k, kind in session.execute(stmt)]


def units_left(session: Session, submission_id: int, kind: UnitKind) -> int:
    stmt = select(func.count()).select_from(_UNITS).where(
        _UNITS.c.submission_id == submission_id,
        _UNITS.c.kind == kind,
        _UNITS.c.state != UnitState.DONE,
    )
    return session.scalar(stmt) or 0


def units_left_by_kind(session: Session, submission_id: int) -> dict[UnitKind, int]:
    """Units of the submission not done yet, per kind (a kind with none left is absent):
    ``units_left`` of every kind in one query."""
    stmt = (
        select(_UNITS.c.kind, func.count())
        .where(_UNITS.c.submission_id == submission_id, _UNITS.c.state != UnitState.DONE)
        .group_by(_UNITS.c.kind)
    )
    return {kind: n for kind, n in session.execute(stmt)}


def unit_counts(session: Session, submission_id: int | None = None) -> dict[str, dict[str, int]]:
    """{kind: {state: count}}"""
    stmt = select(WorkUnit.kind, WorkUnit.state, func.count()).group_by(
        WorkUnit.kind, WorkUnit.state
    )
    if submission_id is not None:
        stmt = stmt.where(WorkUnit.submission_id == submission_id)
    out: dict[str, dict[str, int]] = {}
    for kind, state, n in session.execute(stmt):
        out.setdefault(str(kind), {})[str(state)] = n
    return out
