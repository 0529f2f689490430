"""What the intake tells its caller about a submission and its interchanges, and the
counts it records from a verdict."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..schemas.verdict import FileVerdict, TransactionSetVerdict
from ..store import SubmissionState

__all__ = ["InterchangeOutcome", "SubmissionResult", "counts", "rejected_records"]


@dataclass(frozen=True, slots=True)
class InterchangeOutcome:
    control_number: str  # ISA13
    sender_qualifier: str
    sender_id: str
    test: bool
    ta1_ack_code: str
    ta1_note_code: str
    message: str | None = None  # why the intake rejected it, when it did


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    file: str  # as given
    submission_id: int
    sha256: str
    size: int
    archive_path: Path
    state: SubmissionState
    duplicate: bool = False  # the same bytes were submitted before (as submission_id)
    accepted: bool = False  # every interchange, group and set accepted
    rejected_records: int = 0  # records rejected by business edits, in accepted sets
    error_code: str | None = None
    error_message: str | None = None
    interchanges: list[InterchangeOutcome] = field(default_factory=list)
    acks: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing was rejected: what the CLI's exit code reports."""
        return self.accepted and not self.duplicate and not self.rejected_records

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "submission_id": self.submission_id,
            "sha256": self.sha256,
            "size": self.size,
            "archive_path": str(self.archive_path),
            "state": self.state.value,
            "duplicate": self.duplicate,
            "accepted": self.accepted,
            "rejected_records": self.rejected_records,
            "error": (
                {"code": self.error_code, "message": self.error_message}
                if self.error_code
                else None
            ),
            "interchanges": [
                {
                    "control_number": i.control_number,
                    "sender_qualifier": i.sender_qualifier,
                    "sender_id": i.sender_id,
                    "test": i.test,
                    "ta1": {"ack_code": i.ta1_ack_code, "note_code": i.ta1_note_code},
                    "message": i.message,
                }
                for i in self.interchanges
            ],
            "acks": [str(p) for p in self.acks],
        }


def _accepted_sets(verdict: FileVerdict) -> Iterator[TransactionSetVerdict]:
    """Sets the 997 accepted (AK5 A or E) in interchanges the TA1 did not reject.  The
    group's AK9 is not consulted: it is R as soon as any one of its sets is."""
    for ic in verdict.interchanges:
        if ic.ta1.ack_code != "R":
            for group in ic.groups:
                yield from (ts for ts in group.transaction_sets if ts.ack_code != "R")


def counts(verdict: FileVerdict) -> dict[str, int]:
    """The submission's counts: what was sent, and what of it goes on."""
    accepted = list(_accepted_sets(verdict))
    return {
        "interchange_count": len(verdict.interchanges),
        "transaction_set_count": sum(
            len(g.transaction_sets) for ic in verdict.interchanges for g in ic.groups
        ),
        "accepted_set_count": len(accepted),
        "policy_count": sum(ts.policies for ts in accepted),
        "vehicle_count": sum(ts.vehicles for ts in accepted),
    }


def rejected_records(verdict: FileVerdict) -> int:
    return sum(ts.rejected for ts in _accepted_sets(verdict))
