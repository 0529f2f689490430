"""The X12 acknowledgement codes both engines give, and the one wording of each.

Texts are the standard descriptions (TA1 note codes, 720 for AK3, 723 for AK4); messages are
built from these and from positions, never from element values, which may be personal data.
The element tables say which TA1 note, AK9 or AK5 code an envelope element error gives, as
pyx12's 997 visitor (``pyx12.error_997``) gives them; both engines use them so that the same
error gets the same code and reads the same whichever engine found it.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..schemas.verdict import Ta1

__all__ = [
    "AK3_TEXT",
    "AK4_TEXT",
    "GE_ELEMENT_CODE",
    "GS_ELEMENT_CODE",
    "IEA_ELEMENT_NOTE",
    "ISA_ELEMENT_NOTE",
    "ST_ELEMENT_CODE",
    "TA1_REJECT_FIRST",
    "TA1_TEXT",
    "ta1_for",
]

TA1_TEXT = {
    "001": "interchange control number in header and trailer do not match",
    "005": "invalid interchange sender id qualifier",
    "006": "invalid interchange sender id",
    "007": "invalid interchange receiver id qualifier",
    "008": "invalid interchange receiver id",
    "010": "invalid authorization information qualifier",
    "011": "invalid authorization information value",
    "012": "invalid security information qualifier",
    "013": "invalid security information value",
    "014": "invalid interchange date value",
    "015": "invalid interchange time value",
    "016": "invalid interchange standards identifier value",
    "017": "invalid interchange version id value",
    "018": "invalid interchange control number value",
    "019": "invalid acknowledgment requested value",
    "020": "invalid test indicator value",
    "021": "invalid number of included groups value",
    "022": "invalid control structure",
    "023": "improper (premature) end-of-file",
    "024": "invalid interchange content",
    "025": "duplicate interchange control number",
    "027": "invalid component element separator",
}
AK3_TEXT = {
    "1": "unrecognized segment id",
    "2": "unexpected segment",
    "3": "mandatory segment missing",
    "4": "loop occurs over maximum times",
    "5": "segment exceeds maximum use",
    "6": "segment not in defined transaction set",
    "7": "segment not in proper sequence",
    "8": "segment has data element errors",
}
AK4_TEXT = {
    "1": "mandatory data element missing",
    "2": "conditional required data element missing",
    "3": "too many data elements",
    "4": "data element too short",
    "5": "data element too long",
    "6": "invalid character in data element",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "exclusion condition violated",
}

# Envelope element position -> code (pyx12/error_997.py).
ISA_ELEMENT_NOTE = {
    1: "010", 2: "011", 3: "012", 4: "013", 5: "005", 6: "006", 7: "007", 8: "008",
    9: "014", 10: "015", 11: "016", 12: "017", 13: "018", 14: "019", 15: "020", 16: "027",
}  # fmt: skip
IEA_ELEMENT_NOTE = {1: "021", 2: "018"}
GS_ELEMENT_CODE = {6: "6", 8: "2"}  # AK9; other GS element errors: "1"
GE_ELEMENT_CODE = {2: "6"}  # AK9; other GE element errors: "1"
ST_ELEMENT_CODE = {1: "6", 2: "7"}  # AK5, for ST and SE alike

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
