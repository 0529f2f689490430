"""Business edits folded into a file's verdict, for ``epoi validate`` (cli.md): each
transaction set lists its E-codes beside its 997 errors, in file order, and counts the
records it rejected and warned.

Records arrive as a stream in file order, so the sets are merged one at a time: at most
one set's issues (capped) are held, however large the file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from ..schemas.policy import BusinessError
from ..schemas.verdict import FileVerdict, GroupVerdict, InterchangeVerdict, TransactionSetVerdict

__all__ = ["merge_business_edits", "merged_sets"]

SetInFile = tuple[InterchangeVerdict, GroupVerdict, TransactionSetVerdict]


class _Key(Protocol):
    @property
    def interchange(self) -> str: ...
    @property
    def group(self) -> str: ...
    @property
    def transaction_set(self) -> str: ...


class _Report(Protocol):
    @property
    def policy_number(self) -> str | None: ...
    @property
    def key(self) -> _Key: ...


class Record(Protocol):
    """What the merge reads of a record: a ``NormalizedRecord``, or ``transforms.Checked``."""

    @property
    def report(self) -> _Report: ...
    @property
    def errors(self) -> tuple[BusinessError, ...]: ...
    @property
    def status(self) -> str: ...


def merged_sets(
    verdict: FileVerdict, records: Iterable[Record], *, max_errors_per_set: int
) -> Iterator[SetInFile]:
    """Every transaction set of the verdict, in file order, with its records' business
    errors merged in (at most ``max_errors_per_set`` issues kept per set, the rest counted).

    ``records`` must be in file order (as ``iter_policies`` yields them): a set's records
    are contiguous, so each set takes the records that carry its key and no more."""
    it = iter(records)
    pending = next(it, None)
    for ic in verdict.interchanges:
        for g in ic.groups:
            for ts in g.transaction_sets:
                key = (ic.control_number, g.control_number, ts.control_number)
                issues = list(ts.errors)
                truncated, rejected, warnings = ts.errors_truncated, 0, 0
                while pending is not None and _key(pending) == key:
                    rejected += pending.status == "rejected"
                    warnings += pending.status == "warned"
                    for error in pending.errors:
                        if len(issues) < max_errors_per_set:
                            issues.append(error.as_issue(pending.report.policy_number))
                        else:
                            truncated += 1
                    pending = next(it, None)
                if rejected or warnings or len(issues) != len(ts.errors):
                    issues.sort(key=lambda i: i.segment_position or 0)
                    ts = ts.model_copy(update={
                        "errors": issues, "errors_truncated": truncated,
                        "rejected": ts.rejected + rejected, "warnings": ts.warnings + warnings,
                    })
                yield ic, g, ts


def _key(record: Record) -> tuple[str, str, str]:
    k = record.report.key
    return k.interchange, k.group, k.transaction_set


def merge_business_edits(
    verdict: FileVerdict, records: Iterable[Record], *, max_errors_per_set: int
) -> FileVerdict:
    """The whole verdict with the business edits merged, as one object (``epoi validate``
    streams ``merged_sets`` instead, to keep memory flat)."""
    sets = (ts for _, _, ts in merged_sets(verdict, records, max_errors_per_set=max_errors_per_set))
    return verdict.model_copy(update={"interchanges": [
        ic.model_copy(update={"groups": [
            g.model_copy(update={"transaction_sets": [next(sets) for _ in g.transaction_sets]})
            for g in ic.groups
        ]})
        for ic in verdict.interchanges
    ]})
