"""X12 parsing and validation: pure, bytes in, typed results out.

Public API:

- ``read_segments(stream)``: the streaming tokenizer (any delimiters, several interchanges).
- ``validate(stream, name=..., options=..., engine="fast"|"pyx12") -> FileVerdict``.
- ``iter_policies(stream, verdict, name=...)``: the policy blocks of the accepted sets.
- ``write_ta1`` / ``write_997``: the acknowledgements for a verdict.
"""

from __future__ import annotations

from ._options import PolicyBlock, ValidationOptions
from ._segment import Delimiters, Segment

__all__ = ["Delimiters", "PolicyBlock", "Segment", "ValidationOptions"]
