"""A transaction set's error-return 811 (guide §3), written when the last unit of the set
is done: numbered from the carrier's ack sequences, written to the submission's outgoing
files and kept with its acks, in the transaction of that unit.

Each normalize unit stores its part of the return with itself (``work_units.return_part``:
the echoes of its rejected and warned records, rendered where the records were normalised,
and where each state first appears), so the unit that finishes the set, on whichever
worker, puts the return together from the parts and builds no record; the parts go once
the return is written."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from .. import _logging
from ..config import Settings
from ..intake import OutgoingFiles
from ..parsers import Delimiters
from ..schemas.policy import NormalizedRecord
from ..store import (
    FunctionalGroup,
    Interchange,
    TransactionSet,
    add_error_return,
    clear_return_parts,
    next_control_numbers,
    records_for_return,
    set_return_parts,
)
from ..transforms import Echo, ReturnEnvelope, ReturnSet, echo, write_error_return

__all__ = ["merge_part", "return_delimiters", "return_part", "write_set_return"]

_log = _logging.get_logger("epoi.pipeline")


def return_delimiters(delimiters: str) -> Delimiters:
    """The delimiters of a set's return: those of the set as received (element, component,
    segment: ``TransactionSet.delimiters``)."""
    element, component, segment = tuple(delimiters)
    return Delimiters(element=element, component=component, segment=segment)


def return_part(records: Sequence[NormalizedRecord], delimiters: Delimiters) -> str:
    """A chunk's part of its set's error return, as stored: the first position of each
    jurisdiction, and the echoes of its rejected and warned records (never an insured's
    personal data: the return echoes none)."""
    places: dict[str, int] = {}
    for r in records:
        if r.report.jurisdiction:
            _keep_first(places, r.report.jurisdiction, r.report.key.policy_position)
    return json.dumps({"places": places, "echoes": [_row(e) for e in echo(records, delimiters)]})


def _keep_first(places: dict[str, int], jurisdiction: str, position: int) -> None:
    """``places`` with ``jurisdiction`` at ``position`` if it is the first seen there."""
    if position < places.get(jurisdiction, position + 1):
        places[jurisdiction] = position


def merge_part(part: str, drop: Collection[int], echoes: Iterable[Echo]) -> str:
    """``part`` with the echoes at the positions ``drop`` replaced by ``echoes``."""
    doc = json.loads(part)
    doc["echoes"] = [e for e in doc["echoes"] if e[1] not in drop] + [_row(e) for e in echoes]
    return json.dumps(doc)


def _row(e: Echo) -> list[object]:
    return [e.jurisdiction, e.position, e.insurer, e.policy, e.vehicles, e.insurer_name,
            e.carrier_naic]  # fmt: skip


def _echo(row: list[Any]) -> Echo:
    j, pos, insurer, policy, vehicles, name, naic = row
    return Echo(j, pos, tuple((code, message) for code, message in insurer), tuple(policy),
                tuple(tuple(v) for v in vehicles), name, naic)  # fmt: skip


def _from_parts(parts: Sequence[str | None], set_key: str
                ) -> tuple[list[str], list[Echo]] | None:
    """The set's jurisdictions (in order of appearance) and its echoes in set order, from
    its units' parts; None when one is missing (a unit done before the parts were kept) or
    unreadable."""
    first: dict[str, int] = {}
    echoes: list[Echo] = []
    for text in parts:
        if text is None:
            return None
        try:
            doc = json.loads(text)
            echoes += map(_echo, doc["echoes"])
        except (ValueError, TypeError, KeyError):
            _log.warning("return_part_unreadable", set=set_key)
            return None
        for j, pos in doc["places"].items():
            _keep_first(first, j, pos)
    echoes.sort(key=lambda e: e.position)
    return sorted(first, key=first.__getitem__), echoes


def write_set_return(
    session: Session,
    settings: Settings,
    ts: TransactionSet,
    now: datetime,
) -> None:
    """The set's error return, from its units' parts (or, failing those, from the report
    rows), in the transaction of the unit that finished the set."""
    group = session.get_one(FunctionalGroup, ts.group_id)
    ic = session.get_one(Interchange, group.interchange_id)
    delimiters = return_delimiters(ts.delimiters)
    from_parts = _from_parts(set_return_parts(session, ts.id), ts.key)
    if from_parts is None:
        jurisdictions, records = records_for_return(session, ts.id)
        from_parts = jurisdictions, echo(records, delimiters)
    jurisdictions, echoes = from_parts
    first = echoes[0] if echoes else None  # names the insurer if the set did not
    rset = ReturnSet(
        transaction_set=ts.control_number, submission_ref=ts.submission_ref,
        insurer_name=ts.insurer_name or (first.insurer_name if first else ""),
        carrier_naic=ts.carrier_naic or (first.carrier_naic if first else ""),
        jurisdictions=tuple(jurisdictions), echoes=tuple(echoes),
    )  # fmt: skip
    icn = next_control_numbers(session, f"{ic.sender_id}:interchange")[0]
    gcn = next_control_numbers(session, f"{ic.sender_id}:group")[0]
    text = write_error_return(
        [rset],
        envelope=ReturnEnvelope(
            sender_qualifier=settings.receiver_qualifier,
            sender_id=settings.receiver_id,
            receiver_qualifier=ic.sender_qualifier,
            receiver_id=ic.sender_id,
            sender_application=settings.receiver_application,
            receiver_application=group.sender_application or ic.sender_id,
            interchange_control_number=icn,
            group_control_number=gcn,
            created_at=now,
            test=ts.test,
            delimiters=delimiters,
        ),
    )
    # Written before the commit: a rollback gives the number back (and the file goes).
    with OutgoingFiles(settings.home, ts.submission_id) as out:
        path = out.write("811", ic.sender_id, icn, ts.test, text)
        add_error_return(
            session, ts.submission_id, set_id=ts.id, control_number=f"{icn:09d}",
            group_control_number=str(gcn), answers_interchange=ic.control_number,
            answers_group=group.control_number, answers_set=ts.control_number,
            path=out.relative(path), content=text, created_at=now,
        )  # fmt: skip
    clear_return_parts(session, ts.id)
    _log.info("error_return_written", submission=ts.submission_id, set=ts.key,
              echoed=len(echoes))  # fmt: skip
