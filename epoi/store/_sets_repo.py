"""Repository functions of the functional groups and transaction sets, each inside a
caller's session.  Keyed on natural keys: a submission's groups and sets recorded twice
are recorded once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from ._records import FunctionalGroup, TransactionSet
from ._repo import _insert, _pairs


@dataclass(frozen=True, slots=True)
class GroupRecord:
    key: str
    interchange_id: int
    control_number: str
    sender_application: str
    ack_code: str
    error_codes: str


@dataclass(frozen=True, slots=True)
class SetRecord:
    key: str
    group_key: str
    control_number: str
    ack_code: str
    error_codes: str
    test: bool
    delimiters: str


def record_groups_and_sets(
    session: Session,
    submission_id: int,
    groups: Sequence[GroupRecord],
    sets: Sequence[SetRecord],
) -> dict[str, int]:
    """Record the groups and sets of a submission; returns set key -> set id."""
    if groups:
        session.execute(
            _insert(session, FunctionalGroup.__table__).on_conflict_do_nothing(
                index_elements=["key"]
            ),
            [{"submission_id": submission_id, **_fields(g)} for g in groups],
        )
    group_ids = _pairs(
        session.execute(
            select(FunctionalGroup.key, FunctionalGroup.id).where(
                FunctionalGroup.submission_id == submission_id
            )
        )
    )
    if sets:
        rows = []
        for s in sets:
            fields = _fields(s)
            fields.pop("group_key")
            rows.append(
                {
                    "submission_id": submission_id,
                    "group_id": group_ids[s.group_key],
                    "policies": 0,
                    "chunks_total": 0,
                    "chunks_done": 0,
                    "submission_ref": "",
                    "insurer_name": "",
                    "carrier_naic": "",
                    **fields,
                }
            )
        session.execute(
            _insert(session, TransactionSet.__table__).on_conflict_do_nothing(
                index_elements=["key"]
            ),
            rows,
        )
    return _pairs(
        session.execute(
            select(TransactionSet.key, TransactionSet.id).where(
                TransactionSet.submission_id == submission_id
            )
        )
    )


def _fields(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def update_set(session: Session, set_id: int, **values: Any) -> None:
    session.execute(update(TransactionSet).where(TransactionSet.id == set_id).values(**values))


def count_chunk_done(session: Session, set_id: int) -> tuple[int, int]:
    """Count one more normalize unit of the set done; returns (done, total).  The UPDATE takes
    the set's row lock (the database's write lock on SQLite), so exactly one unit sees
    ``done == total``: the one that writes the set's error return."""
    # A declarative class's __table__ is its Table; the stubs only promise a FromClause.
    table = cast(Table, TransactionSet.__table__)
    stmt = (
        update(table)
        .where(table.c.id == set_id)
        .values(chunks_done=table.c.chunks_done + 1)
        .returning(table.c.chunks_done, table.c.chunks_total)
    )
    done, total = session.execute(stmt).one()
    return done, total


def set_by_id(session: Session, set_id: int) -> TransactionSet:
    return session.get_one(TransactionSet, set_id)


def group_by_id(session: Session, group_id: int) -> FunctionalGroup:
    return session.get_one(FunctionalGroup, group_id)


def sets_of(session: Session, submission_id: int) -> list[TransactionSet]:
    stmt = (
        select(TransactionSet)
        .where(TransactionSet.submission_id == submission_id)
        .order_by(TransactionSet.id)
    )
    return list(session.scalars(stmt))
