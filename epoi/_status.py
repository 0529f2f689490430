"""The status of a submission as one document: what ``epoi status`` prints and what the HTTP
service returns to a carrier, built in one place."""

from __future__ import annotations

from typing import Any

from .store import (
    Store,
    Submission,
    acks_of,
    interchanges_of,
    record_counts,
    sets_of,
    unit_counts,
)


def submission_doc(store: Store, sub: Submission) -> dict[str, Any]:
    """Where one submission stands: its lineage state, interchanges and TA1s, sets, counts,
    units of work and acks (``epoi status SUBMISSION --json``, ``GET /v1/submissions/ID``)."""
    with store.session(readonly=True) as session:
        ics = interchanges_of(session, sub.id)
        sets = sets_of(session, sub.id)
        counts = record_counts(session, sub.id)
        units = unit_counts(session, sub.id)
        acks = acks_of(session, sub.id)
    return {
        "submission_id": sub.id,
        "file": sub.file_name,
        "received_at": sub.received_at.isoformat(),
        "sha256": sub.sha256,
        "state": sub.state.value,
        "error": {"code": sub.error_code, "message": sub.error_message} if sub.error_code else None,
        "interchanges": [
            {"control_number": i.control_number, "sender_id": i.sender_id, "test": i.test,
             "ta1": {"ack_code": i.ta1_ack_code, "note_code": i.ta1_note_code}}
            for i in ics
        ],  # fmt: skip
        "transaction_sets": [
            {"key": t.key, "control_number": t.control_number, "ack_code": t.ack_code,
             "policies": t.policies, "chunks": t.chunks_total, "chunks_done": t.chunks_done,
             "test": t.test}
            for t in sets
        ],  # fmt: skip
        "counts": counts,
        "units": units,
        "acks": len(acks),
    }
