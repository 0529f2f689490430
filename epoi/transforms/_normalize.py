"""``normalize``: one policy block in, one normalised record with its business edits out.
``check``: the same business edits, for ``epoi validate``, without the report."""

from __future__ import annotations

from dataclasses import dataclass

from ..parsers import PolicyBlock
from ..schemas.policy import BusinessError, NormalizedRecord, Status
from ._build import ReportFacts, build_report, report_facts
from ._context import EditContext
from ._edits import run_edits
from ._loops import split

__all__ = ["Checked", "check", "normalize", "normalize_again"]

# the validated construction, without ``BaseModel.__init__``'s frame in between
_VALIDATE = NormalizedRecord.__pydantic_validator__.validate_python


def normalize(block: PolicyBlock, *, context: EditContext) -> NormalizedRecord:
    """Map the block to the state schema (``context.profile`` says how) and run the business
    edits (guide §4).  Pure: the clock, the carrier's NAIC and the store's knowledge come in
    through ``context``."""
    loops = split(block, context.profile)
    report = build_report(block, loops, context.profile)
    errors = tuple(run_edits(block, loops, report, context))
    status = NormalizedRecord.status_for(errors) if errors else "accepted"
    record: NormalizedRecord = _VALIDATE({"report": report, "errors": errors, "status": status})
    return record


def normalize_again(record: NormalizedRecord, block: PolicyBlock, *,
                    context: EditContext) -> NormalizedRecord:
    """``normalize(block, context=context)`` for a block ``record`` was normalised from with
    another ``context.prior`` (E110/E111 answered otherwise): the report does not depend on
    the prior, so only the business edits run again."""
    loops = split(block, context.profile)
    errors = tuple(run_edits(block, loops, record.report, context))
    status = NormalizedRecord.status_for(errors) if errors else "accepted"
    again: NormalizedRecord = _VALIDATE({"report": record.report, "errors": errors,
                                         "status": status})
    return again


@dataclass(frozen=True, slots=True)
class Checked:
    """What ``normalize``'s record says of a policy, less the report: its business errors,
    its status and, in ``report``, its policy number and set (what ``merged_sets`` reads)."""

    report: ReportFacts
    errors: tuple[BusinessError, ...]
    status: Status


def check(block: PolicyBlock, *, context: EditContext) -> Checked:
    """``normalize``'s errors and status for the block, the same, without building and
    validating the report (``epoi validate`` prints findings, not reports)."""
    loops = split(block, context.profile)
    facts = report_facts(block, loops, context.profile)
    errors = tuple(run_edits(block, loops, facts, context))
    return Checked(facts, errors, NormalizedRecord.status_for(errors) if errors else "accepted")
