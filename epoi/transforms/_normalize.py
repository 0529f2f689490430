"""``normalize``: one policy block in, one normalised record with its business edits out."""

from __future__ import annotations

from ..parsers import PolicyBlock
from ..schemas.policy import NormalizedRecord
from ._build import build_report
from ._context import EditContext
from ._edits import run_edits
from ._loops import split

__all__ = ["normalize"]

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
