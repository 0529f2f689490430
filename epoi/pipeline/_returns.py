"""A transaction set's error-return 811 (guide §3), written when the last unit of the set
is done: numbered from the carrier's ack sequences, written to the submission's outgoing
files and kept with its acks, in the transaction of that unit.

Each normalize unit stores its part of the return with itself (``work_units.return_part``:
its rejected and warned records, without insureds, and where each state first appears), so
the unit that finishes the set, on whichever worker, writes the return from the parts and
rebuilds no record from the report rows; the parts go once the return is written."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError
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
from ..transforms import ReturnEnvelope, ReturnSet, write_error_return

__all__ = ["RECORDS", "encode_part", "part_of", "return_part", "write_set_return"]

_log = _logging.get_logger("epoi.pipeline")

# Records as one JSON document, written and read by pydantic-core (a worker process's
# rejected and warned records cross to the pipeline's process in this form, too: pickle
# walks every model's state dict in Python).
RECORDS = TypeAdapter(list[NormalizedRecord])


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True)

    places: dict[str, int]  # jurisdiction -> first policy position in the chunk
    records: list[NormalizedRecord]  # rejected and warned, without insureds


def return_part(records: Sequence[NormalizedRecord]) -> tuple[dict[str, int],
                                                               list[NormalizedRecord]]:
    """A chunk's part of its set's error return: the first position of each jurisdiction,
    and its rejected and warned records without their insureds."""
    places: dict[str, int] = {}
    returned: list[NormalizedRecord] = []
    for r in records:
        j, pos = r.report.jurisdiction, r.report.key.policy_position
        if j and pos < places.get(j, pos + 1):
            places[j] = pos
        if r.status != "accepted":
            # The error return echoes no insured's personal data: not kept.
            report = r.report.model_copy(update={"insureds": ()})
            returned.append(r.model_copy(update={"report": report}))
    return places, returned


def encode_part(places: dict[str, int], returned: bytes) -> str:
    """The stored form of a part whose records are ``RECORDS.dump_json``'d already."""
    return f'{{"places":{json.dumps(places)},"records":{returned.decode()}}}'


def part_of(records: Sequence[NormalizedRecord]) -> str:
    """The stored form of a chunk's part of its set's error return."""
    places, returned = return_part(records)
    return encode_part(places, RECORDS.dump_json(returned))


def _from_parts(parts: Sequence[str | None]) -> tuple[list[str], list[NormalizedRecord]] | None:
    """The set's jurisdictions (in order of appearance) and its rejected and warned records
    in set order, from its units' parts; None when one is missing (a unit done before the
    parts were kept) or unreadable."""
    first: dict[str, int] = {}
    records: list[NormalizedRecord] = []
    for text in parts:
        if text is None:
            return None
        try:
            part = _Part.model_validate_json(text)
        except ValidationError:
            _log.warning("return_part_unreadable")
            return None
        for j, pos in part.places.items():
            if pos < first.get(j, pos + 1):
                first[j] = pos
        records += part.records
    records.sort(key=lambda r: r.report.key.policy_position)
    return sorted(first, key=first.__getitem__), records


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
    jurisdictions, records = (_from_parts(set_return_parts(session, ts.id))
                              or records_for_return(session, ts.id))
    rset = ReturnSet.from_records(
        records, transaction_set=ts.control_number, submission_ref=ts.submission_ref,
        insurer_name=ts.insurer_name, carrier_naic=ts.carrier_naic,
        jurisdictions=jurisdictions,
    )  # fmt: skip
    icn = next_control_numbers(session, f"{ic.sender_id}:interchange")[0]
    gcn = next_control_numbers(session, f"{ic.sender_id}:group")[0]
    element, component, segment = tuple(ts.delimiters)
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
            delimiters=Delimiters(element=element, component=component, segment=segment),
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
              echoed=len(records))  # fmt: skip
