"""Vehicles inserted with their match states.

A unit that matches its records in its own transaction (``epoi run``, ``epoi worker
--stage all``) knows each vehicle's match state before it inserts the vehicle rows, if the
match cascade is worked out first: by a worker process ahead of the unit (``FirstPass``), or
here in the unit's transaction, before the insert.  The rows then go in with their states
and the match is written from that cascade (the hook's ``write_prepared``), instead of
updating every vehicle row after the match: on PostgreSQL that update rewrote each row
(the pages a COPY fills leave no room for an in-place update) and was a sixth of the
database's work.  Whatever writes the match otherwise (the cascade no longer holds) writes
every one of those vehicles' states again."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date

from sqlalchemy.orm import Session

from ..schemas.policy import PolicyReport
from ..store import RecordRows
from ._prefetch import FirstPass


def _states(hook: object, prepared: object, keys: Sequence[str]
            ) -> dict[tuple[str, int], str] | None:
    """The states writing ``prepared`` gives the vehicles of the reports ``keys``, if the
    hook says (``vehicle_states``) and ``prepared`` is their cascade."""
    states = getattr(hook, "vehicle_states", None)
    found: dict[tuple[str, int], str] | None = (
        None if states is None else states(prepared, keys))
    return found


def with_match_states(worked: FirstPass, prepared: object,
                      hook: object) -> tuple[FirstPass, bool]:
    """A worker's pass with its vehicles' states from its cascade ``prepared``, and
    whether it has them."""
    found = _states(hook, prepared, [worked.facts[n].natural_key for n in worked.to_match])
    if found is None:
        return worked, False
    return dataclasses.replace(worked, rows=worked.rows.with_match_states(found)), True


def match_ahead(hook: object, session: Session, reports: Sequence[PolicyReport],
                keys: Sequence[str], rows: RecordRows, today: date,
                ) -> tuple[RecordRows, object | None, bool]:
    """The cascade of ``reports`` (natural keys ``keys``) worked out in ``session``'s
    transaction before their rows are inserted, if the hook can (``preparer``): the rows
    with their vehicles' states, the cascade (for ``write_prepared``), and whether the rows
    have them."""
    preparer = getattr(hook, "preparer", None)
    if preparer is None or not keys:
        return rows, None, False
    prepared = preparer(session.connection(), reports, today)
    found = _states(hook, prepared, keys)
    if found is None:
        return rows, prepared, False
    return rows.with_match_states(found), prepared, True
