"""The TA1 note of an interchange with several errors, chosen the same way by both engines."""

from __future__ import annotations

from collections.abc import Iterable

from ..schemas.verdict import Ta1

# pyx12 (error_997.__get_isa_errors) moves each of these to the front as it finds them, so
# the last rejecting code found is the note; the other codes keep their order behind it.
TA1_REJECT_FIRST = frozenset(
    "004 005 007 010 011 012 013 014 015 016 017 018 022 023 024 025 026 027".split()
)


def ta1_for(codes: Iterable[str]) -> Ta1:
    """TA1 A/000 when there is no code; otherwise R with the note pyx12 would give."""
    ordered: list[str] = []
    for code in codes:
        if code in ordered:
            continue
        if code in TA1_REJECT_FIRST:
            ordered.insert(0, code)
        else:
            ordered.append(code)
    return Ta1(ack_code="R", note_code=ordered[0]) if ordered else Ta1()
