"""Where submissions stand, as documents: what ``epoi status`` and ``epoi acks`` print and
what the HTTP service returns to a carrier, built in one place.  Everything is read in a
carrier's scope (``epoi.store._access``): another carrier's submission is "no submission N"."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from ..intake import PROFILE_NOTES, absolute_under_home
from ..store import (
    CarrierScope,
    Store,
    Submission,
    acks_of,
    error_returns_of,
    interchanges_of,
    record_counts,
    scoped_submission,
    sets_of,
    unit_counts,
)


def carrier_scope(store: Store, naic: str | None) -> CarrierScope:
    """The scope of ``--carrier NAIC`` (everything without one); an unknown NAIC is a
    usage error (exit 2)."""
    with store.session(readonly=True) as session:
        return CarrierScope.for_naic(session, naic)


def submission_in_scope(store: Store, scope: CarrierScope, submission_id: int) -> Submission:
    """The submission, if it exists and is the scope's to see; otherwise ``NotFoundError``
    with the same message either way."""
    with store.session(readonly=True) as session:
        return scoped_submission(session, scope, submission_id)


def submissions_in_scope(store: Store, scope: CarrierScope) -> list[Submission]:
    """The scope's submissions, oldest first."""
    with store.session(readonly=True) as session:
        stmt = scope.submissions(select(Submission).order_by(Submission.id))
        return list(session.scalars(stmt))


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


def status_overview(store: Store, scope: CarrierScope) -> dict[str, Any]:
    """``epoi status [--carrier NAIC] --json``: every submission of the scope as
    :func:`submission_doc`, with the units of work by kind and state and the record counts
    (a carrier's totals are those of its own submissions only)."""
    subs = submissions_in_scope(store, scope)
    with store.session(readonly=True) as session:
        units = unit_counts(session)
        totals = record_counts(session)
    docs = [submission_doc(store, s) for s in subs]
    if scope.is_carrier:
        units, totals = _sum_units(docs), _sum_counts(docs)
    return {"submissions": docs, "units": units, "counts": totals}


def _sum_units(docs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        for kind, by in d["units"].items():
            for state, n in by.items():
                out.setdefault(kind, {})[state] = out.get(kind, {}).get(state, 0) + n
    return out


def _sum_counts(docs: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in docs:
        for key, n in d["counts"].items():
            out[key] = out.get(key, 0) + n
    return out


@dataclass(frozen=True, slots=True)
class AckFile:
    """A TA1, 997 or error-return 811 of a submission as it was sent: the acks are files
    under home (``path``), the error returns are stored as text (``content``)."""

    kind: str
    control_number: str
    name: str
    path: Path | None = None
    content: str | None = None

    def read_bytes(self) -> bytes:
        if self.content is not None:
            return self.content.encode("latin-1")
        assert self.path is not None
        return self.path.read_bytes()


def ack_files(store: Store, scope: CarrierScope, submission_id: int, *,
              home: Path) -> list[AckFile]:  # fmt: skip
    """The acks then the error returns of a submission in scope (``epoi acks``, ``GET
    /v1/submissions/ID/acks``); an ack's relative path is under ``home``."""
    with store.session(readonly=True) as session:
        scoped_submission(session, scope, submission_id)
        files = []
        for a in acks_of(session, submission_id):
            path = absolute_under_home(a.path, home)
            files.append(AckFile(a.kind.value, a.control_number, path.name, path=path))
        for r in error_returns_of(session, submission_id):
            files.append(AckFile("811", r.control_number, Path(r.path).name, content=r.content))
    return files


def profile_rejections(store: Store, submission_id: int) -> set[str]:
    """The TA1 notes of a submission's interchanges rejected for the carrier profiles (TA1
    006, 020): a file rejected so is not submitted again but reprocessed once the carrier is
    registered or certified."""
    with store.session(readonly=True) as session:
        return {i.ta1_note_code for i in interchanges_of(session, submission_id)
                if i.ta1_ack_code == "R" and i.ta1_note_code in PROFILE_NOTES}  # fmt: skip
