"""TA1 and 997 writers: pure functions from a validation verdict to acknowledgement text.

The reply is addressed back to the carrier with the carrier's own delimiters and its test or
production indicator; only where a value it echoes holds the carrier's component separator
(a malformed GS06, say) does it say another one in its ISA16.  Control numbers and the
creation time are passed in: the caller keeps a per-carrier sequence in the database, and
nothing here reads a clock or a global.

We do not use pyx12's 997 writer: it copies ISA12 into GS08, writes the bad data value into
AK4-04 (personal data must not leave in an ack) and reads the clock.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from ..errors import ConfigError, EpoiError, InputError, Location
from ..schemas.verdict import FileVerdict, GroupVerdict, InterchangeVerdict, Issue
from ._reader import ISA_LENGTH  # with its segment terminator

__all__ = [
    "AckDocument",
    "AckEnvelope",
    "ack_file_name",
    "write_997",
    "write_acks",
    "write_ta1",
]

MAX_CONTROL_NUMBER = 999_999_999  # ISA13 and GS06 are N0 of at most 9 digits
MAX_AK5_CODES = 5  # AK502..AK506
MAX_AK9_CODES = 5  # AK905..AK909
MAX_AK4_PER_AK3 = 99
MAX_AK3_POSITION = 999_999  # the AK4 repeat inside one AK3 loop (997, 004010)

AckKind = Literal["TA1", "997"]


@dataclass(frozen=True, slots=True)
class AckEnvelope:
    """The state's side of one reply interchange.

    ``test`` None mirrors the received interchange's ISA15 (the normal case); a bool forces it.
    """

    sender_qualifier: str  # ISA05 of the reply: settings.receiver_qualifier
    sender_id: str  # ISA06 of the reply: settings.receiver_id
    application_code: str  # GS02 of the reply: settings.receiver_application
    interchange_control_number: int  # ISA13/IEA02 of the reply
    group_control_number: int  # GS06/GE02 of the reply (unused by a TA1-only interchange)
    created: datetime  # ISA09/ISA10, GS04/GS05
    test: bool | None = None


class AckDocument(NamedTuple):
    """One acknowledgement interchange as written by :func:`write_acks`."""

    kind: AckKind
    interchange_control_number: int  # of the reply
    received_control_number: str  # ISA13 of the interchange it answers
    group_control_number: str | None  # GS06 of the group a 997 answers; None for a TA1
    text: str


# --- segments -------------------------------------------------------------------------


class _Writer:
    """Joins elements with the received interchange's delimiters (or ``component`` as the
    component separator) and counts segments, so SE01 cannot drift from what was written."""

    def __init__(self, ic: InterchangeVerdict, component: str | None = None) -> None:
        self.el = ic.element_separator
        self.comp = component or ic.component_separator
        self.term = ic.segment_terminator
        self._forbidden = {self.el, self.comp, self.term}
        self._location = Location(interchange=ic.control_number)
        if len(self._forbidden) != 3 or any(len(d) != 1 for d in self._forbidden):
            raise InputError(
                "ACK-DELIMITER",
                "the verdict's delimiters must be three different single characters",
                self._location,
            )
        self.parts: list[str] = []
        self.count = 0

    def seg(self, *elements: str | tuple[str, ...]) -> None:
        """One segment; a tuple element is a composite, joined with the component separator."""
        seg_id = str(elements[0])
        els: list[str] = []
        for e in elements:
            parts = e if isinstance(e, tuple) else (e,)
            for part in parts:
                if self._forbidden.intersection(part):
                    raise (_ComponentClash if self._clashes_on_component(part) else InputError)(
                        "ACK-DELIMITER",
                        f"a value for the {seg_id} segment of the reply contains one of the "
                        "received interchange's delimiters",
                        self._location,
                    )
            els.append(self.comp.join(parts))
        # Drop empty trailing elements: X12 forbids trailing separators.
        while len(els) > 1 and els[-1] == "":
            els.pop()
        self.parts.append(self.el.join(els) + self.term)
        self.count += 1

    def isa(self, ic: InterchangeVerdict, env: AckEnvelope) -> None:
        test = ic.test if env.test is None else env.test
        elements = [
            "ISA",
            "00",
            " " * 10,
            "00",
            " " * 10,
            _fixed(env.sender_qualifier, 2, "ISA05", ic, ConfigError),
            _fixed(env.sender_id, 15, "ISA06", ic, ConfigError),
            # The reply goes back to whoever sent the interchange.
            _fixed(ic.sender_qualifier, 2, "ISA07", ic, InputError),
            _fixed(ic.sender_id, 15, "ISA08", ic, InputError),
            env.created.strftime("%y%m%d"),
            env.created.strftime("%H%M"),
            "U",
            "00401",
            _control_number(env.interchange_control_number, "ISA13", ic),
            "0",  # never ask for a TA1 to an acknowledgement
            "T" if test else "P",
        ]
        for e in elements[1:]:
            if self._clashes_on_component(e):
                raise _ComponentClash(
                    "ACK-DELIMITER",
                    "an ISA value of the reply contains the received component separator",
                    self._location,
                )
            if self._forbidden.intersection(e):
                raise ConfigError(
                    "ACK-DELIMITER",
                    "an ISA value of the reply contains one of the received delimiters",
                    self._location,
                )
        text = self.el.join(elements) + self.el + self.comp + self.term
        assert len(text) == ISA_LENGTH, len(text)  # guaranteed by _fixed
        self.parts.append(text)

    def text(self) -> str:
        return "".join(self.parts)

    def _clashes_on_component(self, value: str) -> bool:
        return self.comp in value and self.el not in value and self.term not in value


class _ComponentClash(InputError):
    """A value the reply echoes contains the component separator (a simple element of the
    received interchange may: only its element separator and segment terminator cannot
    occur in one).  ``_with_spare_component`` writes the reply with another one."""


# Component separators a reply may use instead of the received one (its ISA16 says which):
# characters rarely seen in data, and never the received element separator or terminator.
_SPARE_COMPONENTS = ("^", ">", "|", "!", "\\")


def _with_spare_component(ic: InterchangeVerdict, write: Callable[[str | None], str]) -> str:
    """``write(None)``: the reply in the received delimiters; if a value it echoes holds the
    received component separator, the reply with the first spare one that no value holds."""
    try:
        return write(None)
    except _ComponentClash as clash:
        last: InputError = clash
    for comp in _SPARE_COMPONENTS:
        if comp in (ic.element_separator, ic.segment_terminator, ic.component_separator):
            continue
        try:
            return write(comp)
        except _ComponentClash as clash:
            last = clash
    raise InputError(last.code, last.message, last.location)


def _fixed(
    value: str, width: int, name: str, ic: InterchangeVerdict, error: type[EpoiError]
) -> str:
    if len(value) > width or not value.strip():
        raise error(
            "ACK-ENVELOPE",
            f"{name} of the reply must be 1 to {width} characters",
            Location(interchange=ic.control_number),
        )
    return value.ljust(width)


def _control_number(n: int, name: str, ic: InterchangeVerdict) -> str:
    if not 1 <= n <= MAX_CONTROL_NUMBER:
        raise ConfigError(
            "ACK-CONTROL-NUMBER",
            f"{name} of the reply must be 1 to {MAX_CONTROL_NUMBER}, got {n}",
            Location(interchange=ic.control_number),
        )
    return f"{n:09d}"


def _unique(codes: Iterable[str], limit: int) -> list[str]:
    """Codes in first-seen order without repeats, cut to the number of elements the segment
    has room for (the verdict JSON keeps them all)."""
    seen: list[str] = []
    for c in codes:
        if c and c not in seen:
            seen.append(c)
    return seen[:limit]


# --- TA1 ------------------------------------------------------------------------------


def write_ta1(ic: InterchangeVerdict, env: AckEnvelope) -> str:
    """An interchange holding only the TA1 for ``ic``: ISA, TA1, IEA (IEA01 = 0 groups)."""
    if not ic.date or not ic.time:
        raise InputError(
            "ACK-TA1",
            "the verdict lacks the received ISA09/ISA10 that TA1-02/TA1-03 echo",
            Location(interchange=ic.control_number),
        )

    def write(component: str | None) -> str:
        w = _Writer(ic, component)
        w.isa(ic, env)
        w.seg("TA1", ic.control_number, ic.date, ic.time, ic.ta1.ack_code, ic.ta1.note_code)
        w.seg("IEA", "0", _control_number(env.interchange_control_number, "IEA02", ic))
        return w.text()

    return _with_spare_component(ic, write)


# --- 997 ------------------------------------------------------------------------------


def write_997(ic: InterchangeVerdict, group: GroupVerdict, env: AckEnvelope) -> str:
    """An interchange holding the 997 for one functional group of ``ic``.

    Only issues with ``ack`` AK3/AK4 appear; business edits (E-codes) go in the error-return
    811.  AK4-04 (the bad value) is never written: it may be personal data.
    """

    def write(component: str | None) -> str:
        icn = _control_number(env.interchange_control_number, "ISA13", ic)
        gcn = _control_number(env.group_control_number, "GS06", ic).lstrip("0")
        w = _Writer(ic, component)
        w.isa(ic, env)
        w.seg(
            "GS",
            "FA",
            env.application_code,
            group.sender,
            env.created.strftime("%Y%m%d"),
            env.created.strftime("%H%M"),
            gcn,
            "X",
            "004010",  # the 997's own version, not ISA12 (pyx12's writer gets this wrong)
        )
        before = w.count
        w.seg("ST", "997", "0001")
        w.seg("AK1", group.functional_id, group.control_number)
        for ts in group.transaction_sets:
            w.seg("AK2", ts.id_code, ts.control_number)
            for segment in _segment_errors(ts.errors, ic):
                segment.write(w)
            w.seg("AK5", ts.ack_code, *_unique(ts.error_codes, MAX_AK5_CODES))
        w.seg(
            "AK9",
            group.ack_code,
            str(group.sets_included),
            str(group.sets_received),
            str(group.sets_accepted),
            *_unique(group.error_codes, MAX_AK9_CODES),
        )
        w.seg("SE", str(w.count - before + 1), "0001")
        w.seg("GE", "1", gcn)
        w.seg("IEA", "1", icn)
        return w.text()

    return _with_spare_component(ic, write)


@dataclass
class _SegmentError:
    """The AK3 loop(s) of one segment: its AK3 codes, then its element errors."""

    segment_id: str
    position: int
    loop_id: str
    ak3_codes: list[str]
    ak4: list[tuple[tuple[str, ...], str, str]]  # (AK401 composite, AK402, AK403)

    def write(self, w: _Writer) -> None:
        codes = _unique(self.ak3_codes, len(self.ak3_codes))
        # Element errors hang under an AK3 saying "segment has data element errors" (8);
        # add it when the verdict did not, and keep it last so the AK4s follow it.
        if self.ak4:
            codes = [c for c in codes if c != "8"] + ["8"]
        # AK3-02 is N0 1-6: a position past 999999 (a set of a million segments) cannot be
        # said; the last expressible one keeps the ack valid, the verdict keeps the true one.
        pos = str(min(self.position, MAX_AK3_POSITION))
        for i, code in enumerate(codes):
            w.seg("AK3", self.segment_id, pos, self.loop_id, code)
            if i == len(codes) - 1:
                for ak401, ak402, ak403 in self.ak4[:MAX_AK4_PER_AK3]:
                    w.seg("AK4", ak401, ak402, ak403)


def _ak303(loop_id: str | None) -> str:
    """AK3-03 is data element 447 (AN 1-4), the LS01 of a bounded loop.  Implementation-guide
    loop names such as ``2000C`` do not fit it and pyx12's own 997 map rejects them, so a loop
    id that does not fit is left out of the ack (the verdict JSON keeps it)."""
    if loop_id and 1 <= len(loop_id) <= 4:
        return loop_id
    return ""


_SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}")


def _segment_errors(issues: Iterable[Issue], ic: InterchangeVerdict) -> list[_SegmentError]:
    """Group the AK3/AK4 issues by segment, in segment order (stable for one position)."""
    by_segment: dict[tuple[int, str], _SegmentError] = {}
    for issue in issues:
        if issue.ack is None:
            continue  # a business edit: error-return 811, not 997
        if issue.segment_position is None:
            raise InputError(
                "ACK-ISSUE",
                f"{issue.ack} issue {issue.code} has no segment position",
                Location(interchange=ic.control_number),
            )
        segment_id = issue.segment_id
        if segment_id is None or not _SEGMENT_ID.fullmatch(segment_id):
            # AK3-01 is an identifier of 2-3 characters: a garbled id ("", "81~") cannot be
            # echoed; the set's AK5 still rejects it, and the verdict JSON keeps the issue.
            continue
        key = (issue.segment_position, segment_id)
        seg = by_segment.get(key)
        if seg is None:
            seg = by_segment[key] = _SegmentError(
                segment_id, issue.segment_position, _ak303(issue.loop_id), [], []
            )
        if issue.ack == "AK3":
            seg.ak3_codes.append(issue.code)
            continue
        if issue.element_position is None:
            raise InputError(
                "ACK-ISSUE",
                f"AK4 issue {issue.code} on {issue.segment_id} has no element position",
                Location(interchange=ic.control_number, segment_id=issue.segment_id),
            )
        ak401: tuple[str, ...] = (str(issue.element_position),)
        if issue.component_position is not None:
            ak401 += (str(issue.component_position),)
        seg.ak4.append((ak401, issue.data_element or "", issue.code))
    return sorted(by_segment.values(), key=lambda s: s.position)


# --- a whole file ---------------------------------------------------------------------


def write_acks(
    verdict: FileVerdict,
    next_number: Callable[[str, str], int],
    *,
    sender_qualifier: str,
    sender_id: str,
    application_code: str,
    created: datetime,
) -> Iterator[AckDocument]:
    """Every TA1 and 997 a file's verdict calls for, in file order.

    A TA1 when the carrier asked for one (ISA14 = 1) or the interchange is not accepted; a 997
    per group of every interchange that was not rejected.  ``next_number(carrier, counter)``
    hands out the reply's control numbers from the caller's per-carrier sequences: ``carrier``
    is the received ISA06 (trimmed), ``counter`` is ``"interchange"`` or ``"group"``.
    An interchange whose sender could not be read cannot be answered and is skipped: an empty
    ISA05/ISA06, or one longer than its fixed width (the ISA's separators were misplaced, so
    the value read is not the sender's; a reply addressed to it would go nowhere).
    """
    for ic in verdict.interchanges:
        if not answerable(ic):
            continue
        carrier = ic.sender_id.strip()

        def env(carrier: str, group_number: int = 0) -> AckEnvelope:
            return AckEnvelope(
                sender_qualifier=sender_qualifier,
                sender_id=sender_id,
                application_code=application_code,
                interchange_control_number=next_number(carrier, "interchange"),
                group_control_number=group_number,
                created=created,
            )

        if ic.ack_requested or ic.ta1.ack_code != "A":
            e = env(carrier)
            yield AckDocument("TA1", e.interchange_control_number, ic.control_number, None,
                              write_ta1(ic, e))
        if ic.ta1.ack_code == "R":
            continue
        for group in ic.groups:
            e = env(carrier, next_number(carrier, "group"))
            yield AckDocument("997", e.interchange_control_number, ic.control_number,
                              group.control_number, write_997(ic, group, e))


def answerable(ic: InterchangeVerdict) -> bool:
    """Whether the interchange's sender (ISA05/ISA06) was read: the address of any reply."""
    return (bool(ic.sender_id.strip()) and bool(ic.sender_qualifier.strip())
            and len(ic.sender_id) <= 15 and len(ic.sender_qualifier) <= 2)


_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def ack_file_name(kind: AckKind, carrier: str, interchange_control_number: int,
                  test: bool = False) -> str:
    """A file name for one acknowledgement: ``<carrier>.<kind>.<ISA13>[.test].x12``.  The
    carrier id is reduced to characters that are safe in any file system."""
    safe = _UNSAFE.sub("_", carrier.strip()) or "unknown"
    suffix = ".test" if test else ""
    return f"{safe}.{kind}.{interchange_control_number:09d}{suffix}.x12"
