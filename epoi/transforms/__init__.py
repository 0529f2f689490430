"""811 loops → the state schema, the business edits of companion guide §4, and the
error-return 811 of §3.  Knows nothing of the queues or the store: the store's knowledge
comes in through ``EditContext.prior``.

Public API:

- ``normalize(block, *, context) -> NormalizedRecord``; ``check(block, *, context) -> Checked``:
  the same errors and status without the report (``epoi validate``)
- ``EditContext`` (``EditContext.from_settings(...)``), ``PriorInfo``, ``nothing_known``
- ``write_error_return(sets, *, envelope) -> str`` with ``ReturnSet``, ``ReturnEnvelope``;
  ``echo(records, delimiters) -> list[Echo]``: records' echoes rendered ahead, chunk by chunk
- ``Profile``, ``FieldRule``, ``REFERENCE_PROFILE``: the field mapping as data;
  ``normalized_text(value)``: a text field as the report holds it (upper case, blanks
  collapsed; None when empty)
- ``merged_sets`` / ``merge_business_edits(verdict, records, *, max_errors_per_set)``: E-codes
  into a verdict, set by set (streaming) or as one object
- ``CATALOGUE``: code → severity, level, rule of every business edit
"""

from __future__ import annotations

from ._context import NOTHING_KNOWN, EditContext, PriorInfo, PriorLookup, nothing_known
from ._edits import CATALOGUE, EditRule
from ._error_return import Echo, ReturnEnvelope, ReturnSet, echo, write_error_return
from ._normalize import Checked, check, normalize, normalize_again
from ._profile import REFERENCE_PROFILE, FieldRule, Profile
from ._values import text as normalized_text
from ._verdict import merge_business_edits, merged_sets

__all__ = [
    "CATALOGUE",
    "Echo",
    "echo",
    "Checked",
    "NOTHING_KNOWN",
    "REFERENCE_PROFILE",
    "EditContext",
    "EditRule",
    "FieldRule",
    "PriorInfo",
    "PriorLookup",
    "Profile",
    "ReturnEnvelope",
    "ReturnSet",
    "check",
    "merge_business_edits",
    "merged_sets",
    "normalize",
    "normalize_again",
    "normalized_text",
    "nothing_known",
    "write_error_return",
]
