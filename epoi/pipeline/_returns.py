"""A transaction set's error-return 811 (guide §3), written when the last unit of the set
is done: numbered from the carrier's ack sequences, written to the submission's outgoing
files and kept with its acks, in the transaction of that unit."""

from __future__ import annotations

from datetime import datetime

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
    next_control_numbers,
    records_for_return,
)
from ..transforms import ReturnEnvelope, ReturnSet, write_error_return

__all__ = ["write_set_return"]

_log = _logging.get_logger("epoi.pipeline")


def write_set_return(
    session: Session,
    settings: Settings,
    ts: TransactionSet,
    now: datetime,
    in_hand: tuple[list[str], list[NormalizedRecord]] | None = None,
) -> None:
    """The set's error return, from the set's records ``in_hand`` (jurisdictions, records)
    when this process normalised every chunk of it, else read from the store."""
    group = session.get_one(FunctionalGroup, ts.group_id)
    ic = session.get_one(Interchange, group.interchange_id)
    jurisdictions, records = in_hand or records_for_return(session, ts.id)
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
    _log.info("error_return_written", submission=ts.submission_id, set=ts.key,
              echoed=len(records))  # fmt: skip
