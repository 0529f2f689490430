"""Business edits folded into a file's verdict, for ``epoi validate --json`` (cli.md):
each transaction set lists its E-codes beside its 997 errors, in file order, and counts
the records it rejected and warned."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..schemas.policy import NormalizedRecord
from ..schemas.verdict import FileVerdict, Issue, TransactionSetVerdict

__all__ = ["merge_business_edits"]


@dataclass
class _SetEdits:
    issues: list[Issue] = field(default_factory=list)
    truncated: int = 0
    rejected: int = 0
    warnings: int = 0


def merge_business_edits(
    verdict: FileVerdict, records: Iterable[NormalizedRecord], *, max_errors_per_set: int
) -> FileVerdict:
    """The verdict with every record's business errors added to its transaction set.

    ``records`` is consumed once, as a stream; at most ``max_errors_per_set`` issues are
    kept per set (the rest are counted), so memory stays flat on a file full of errors."""
    per_set: dict[tuple[str, str, str], _SetEdits] = {}
    for record in records:
        key = record.report.key
        edits = per_set.setdefault((key.interchange, key.group, key.transaction_set), _SetEdits())
        edits.rejected += record.status == "rejected"
        edits.warnings += record.status == "warned"
        for error in record.errors:
            if len(edits.issues) < max_errors_per_set:
                edits.issues.append(error.as_issue(record.report.policy_number))
            else:
                edits.truncated += 1
    if not per_set:
        return verdict

    def merged(ic: str, gs: str, ts: TransactionSetVerdict) -> TransactionSetVerdict:
        edits = per_set.get((ic, gs, ts.control_number))
        if edits is None:
            return ts
        room = max(max_errors_per_set - len(ts.errors), 0)
        issues = sorted(ts.errors + edits.issues[:room], key=lambda i: i.segment_position or 0)
        return ts.model_copy(update={
            "errors": issues,
            "errors_truncated": ts.errors_truncated + edits.truncated + max(len(edits.issues) - room, 0),
            "rejected": ts.rejected + edits.rejected,
            "warnings": ts.warnings + edits.warnings,
        })

    return verdict.model_copy(update={"interchanges": [
        ic.model_copy(update={"groups": [
            g.model_copy(update={"transaction_sets": [
                merged(ic.control_number, g.control_number, ts) for ts in g.transaction_sets
            ]})
            for g in ic.groups
        ]})
        for ic in verdict.interchanges
    ]})
