"""The reference validation engine: pyx12's own validation, run with epoi's 811 map.

``validate(source, name=..., options=...) -> FileVerdict``

What pyx12 does is kept as it is; this module only feeds it and translates its error tree
(``pyx12.error_handler``) into a :class:`FileVerdict`, with the codes pyx12's own 997
visitor (``pyx12.error_997``) would put in the TA1, AK9, AK5, AK3 and AK4.  The fast engine
is compared against this one, so the rules below say where and why it departs from a plain
``x12n_document`` run:

* pyx12's reader takes the delimiters of the first ISA for the whole file, so the file is
  split into interchanges first and each is validated on its own.  What pyx12 would find
  across them is added back: a repeated ISA13 is TA1 ``025``; an interchange cut short by
  the next ISA (no IEA) is TA1 ``022`` (pyx12 would report ``023`` at the end of the file,
  on the wrong interchange).
* Segments outside any transaction set (between ISA and GS, between GE and IEA, ST..SE
  without GS) are TA1 ``024``: pyx12 finds them but has no set to put the error in and
  drops it.
* A group whose GS01/GS08 has no map (pyx12 raises "Map not found") is checked against the
  envelope map only: its GS element errors give the AK9 codes (``1``/``2``), its sets are
  skipped.  An ISA12 other than ``00401`` is TA1 ``017`` (pyx12 has no 00401 reading of it).
* ST is taken as the start of a set whatever its ST01 (pyx12 matches ST by ST01 and loses
  the set otherwise): ST01 other than 811 is an element error, AK5 ``6``.
* A set or group with error codes is never acknowledged ``A`` (pyx12 leaves ST/SE and GS/GE
  element errors out of its ack code); a set closed by GE without an SE gets AK5 ``2`` and a
  group closed by IEA without a GE gets AK9 ``3`` (pyx12 only says so at the end of the
  file).
* Profile rules that are not syntax: ISA07/ISA08 must be the state's receiver (TA1
  ``007``/``008``) and, when ``options.known_senders`` is given, ISA05/ISA06 a known carrier
  (TA1 ``006``).

Messages never contain element values: pyx12's own messages (and its log lines, silenced
here) quote them, so every message is written anew from codes and positions.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyx12.error_handler
import pyx12.errors
import pyx12.map_if
import pyx12.map_index
import pyx12.params
import pyx12.x12file
from pyx12.map_if._segment import apply_segment_errors
from pyx12.map_walker import apply_walk_errors, walk_tree

from ..schemas.verdict import (
    FileError,
    FileVerdict,
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    Ta1,
    TransactionSetVerdict,
)
from ._compiled import compiled_811_map
from ._maps import CONTROL_MAP_FILE, MAP_PATH
from ._ta1 import ta1_for
from ._options import ValidationOptions

__all__ = ["validate"]

# pyx12 logs every error with the offending element value (names, licence numbers, dates of
# birth): keep its records away from epoi's handlers.
_pyx12_log = logging.getLogger("pyx12")
_pyx12_log.addHandler(logging.NullHandler())
_pyx12_log.propagate = False

ISA_LENGTH = 106
# Offsets of the 16 element separators in a well-formed ISA; ISA16 sits at 104 and the
# segment terminator at 105.
_ISA_SEPARATOR_OFFSETS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
_BLANKS = " \t\r\n\x0b\x0c"
_SNIFF = 1024
_NON_TEXT_SHARE = 0.30

# pyx12/error_997.py: element position -> TA1 note code, AK9 and AK5 code.
_ISA_ELEMENT_NOTE = {
    1: "010",
    2: "011",
    3: "012",
    4: "013",
    5: "005",
    6: "006",
    7: "007",
    8: "008",
    9: "014",
    10: "015",
    11: "016",
    12: "017",
    13: "018",
    14: "019",
    15: "020",
    16: "027",
}
_IEA_ELEMENT_NOTE = {1: "021", 2: "018"}
_GS_ELEMENT_CODE = {6: "6", 8: "2"}
_GE_ELEMENT_CODE = {2: "6"}
_ST_ELEMENT_CODE = {1: "6", 2: "7"}
_AK3_CODES = ("1", "2", "3", "4", "5", "6", "7", "8")
_AK4_CODES = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "10")

_TA1_TEXT = {
    "001": "IEA02 does not match ISA13",
    "005": "ISA05 is not a valid interchange ID qualifier",
    "006": "ISA05/ISA06 is not a known carrier",
    "007": "ISA07 is not the state's receiver ID qualifier",
    "008": "ISA08 is not the state's receiver ID",
    "014": "ISA09 is not a valid date",
    "015": "ISA10 is not a valid time",
    "016": "ISA11 is not a valid standards identifier",
    "017": "ISA12 is not version 00401",
    "018": "interchange control number is not valid",
    "019": "ISA14 is not a valid acknowledgment request",
    "020": "ISA15 is not a valid usage indicator",
    "021": "IEA01 does not match the number of functional groups",
    "022": "interchange has no IEA before the next ISA",
    "023": "file ends before the interchange's IEA",
    "024": "segments outside a functional group or transaction set",
    "025": "ISA13 repeats an earlier interchange in this file",
}
_AK3_TEXT = {
    "1": "segment not recognised here",
    "2": "unexpected segment",
    "3": "mandatory segment missing",
    "4": "loop occurs more often than allowed",
    "5": "segment occurs more often than allowed",
    "6": "segment not in the transaction set",
    "7": "segment not in proper sequence",
    "8": "segment has data element errors",
}
_AK4_TEXT = {
    "1": "mandatory element missing",
    "2": "conditional element missing",
    "3": "too many elements",
    "4": "element too short",
    "5": "element too long",
    "6": "invalid character in element",
    "7": "invalid code value",
    "8": "invalid date",
    "9": "invalid time",
    "10": "element not used in this profile",
}


# --- maps --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Maps:
    """pyx12's map objects for ``MAP_PATH``; they hold no per-run state (counts live in the
    walker), so one set serves every run."""

    control: Any
    index: Any
    by_file: dict[str, Any] = field(default_factory=dict)

    def transaction(self, map_file: str) -> Any:
        m = self.by_file.get(map_file)
        if m is None:
            m = self.by_file[map_file] = pyx12.map_if.load_map_file(
                map_file, pyx12.params.params(), str(MAP_PATH)
            )
        return m


@lru_cache(maxsize=1)
def _maps() -> _Maps:
    path = str(MAP_PATH)
    return _Maps(
        control=pyx12.map_if.load_map_file(CONTROL_MAP_FILE, pyx12.params.params(), path),
        index=pyx12.map_index.map_index(path),
    )


# --- reading the file --------------------------------------------------------------------


def _read(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return Path(source).read_bytes()


def _isa_is_well_formed(isa: str) -> bool:
    if len(isa) != ISA_LENGTH or not isa.startswith("ISA"):
        return False
    sep, term, comp = isa[3], isa[105], isa[104]
    if sep.isalnum() or sep in " \r\n" or term.isalnum() or term == " ":
        return False
    if term == sep or comp == sep or comp == term or comp.isalnum():
        return False
    if any(isa[i] != sep for i in _ISA_SEPARATOR_OFFSETS):
        return False
    return isa.count(sep) == len(_ISA_SEPARATOR_OFFSETS)


@dataclass
class _Chunk:
    """One interchange's text as pyx12 will read it, and how it ended."""

    text: str
    first_segment: int  # 1-based position of its ISA in the file
    ending: str  # "iea", "next_isa" or "eof"


@dataclass
class _Split:
    chunks: list[_Chunk]
    error: FileError | None = None


def _sniff(data: bytes) -> tuple[str | None, FileError | None]:
    """The file as text starting at its ISA, or the file error that stops everything."""
    text = data.decode("latin-1")
    if text.startswith("\xef\xbb\xbf"):  # UTF-8 byte order mark, decoded as latin-1
        text = text[3:]
    if not text.strip(_BLANKS):
        return None, FileError(code="FILE-EMPTY", message="the file is empty")
    if "\x00" in text:
        return None, FileError(code="FILE-BINARY", message="the file holds binary data (NUL bytes)")
    head = text[:_SNIFF]
    non_text = sum(1 for ch in head if not (" " <= ch <= "~" or ch in "\t\r\n"))
    stripped = text.lstrip(_BLANKS)
    if not stripped.startswith("ISA") and non_text > _NON_TEXT_SHARE * len(head):
        return None, FileError(code="FILE-BINARY", message="the file is not text")
    if not stripped.startswith("ISA"):
        return None, FileError(
            code="FILE-NO-ISA", message="the file does not begin with an ISA segment"
        )
    if not _isa_is_well_formed(stripped[:ISA_LENGTH]):
        return None, FileError(
            code="FILE-BAD-ISA",
            message="the ISA segment is not 106 characters with usable delimiters",
            segment_position=1,
        )
    return stripped, None


@dataclass
class _Cut:
    """Where one interchange's text ends and how."""

    end: int  # end of its text (after its last complete segment)
    resume: int  # where the next interchange may begin
    segments: int
    ending: str  # "iea", "next_isa", "eof" (ends between segments) or "partial"


def _cut(text: str, start: int) -> _Cut:
    """Read segments from the ISA at ``start`` with its own delimiters up to its IEA, the
    next ISA or the end of the text."""
    sep, term = text[start + 3], text[start + 105]
    pos = end = start + ISA_LENGTH
    segments = 1
    while True:
        while pos < len(text) and text[pos] in "\r\n":  # line breaks after terminators
            pos += 1
        nxt = text.find(term, pos)
        if nxt < 0:
            if text[pos:].strip(_BLANKS):
                return _Cut(end, len(text), segments, "partial")
            return _Cut(len(text), len(text), segments, "eof")
        head = text[pos : pos + 4]
        if head[:3] == "ISA" and not head[3:].isalnum():
            return _Cut(end, pos, segments, "next_isa")
        segments += 1
        end = pos = nxt + 1
        if head == "IEA" + sep:
            return _Cut(end, end, segments, "iea")


def _for_pyx12(chunk: str) -> str:
    """The interchange's text without the line breaks after its terminators when the
    terminator is itself CR or LF.  The guide (§1) makes the terminator the character after
    ISA16, optionally followed by CR, LF or CRLF that are ignored; pyx12's reader strips
    those before a segment, but a terminator of LF followed by another LF gives it an empty
    segment, which it takes for the end of the file (TA1 023)."""
    term = chunk[ISA_LENGTH - 1]
    if term not in "\r\n":
        return chunk
    return re.sub(re.escape(term) + "[\r\n]+", term, chunk)


def _split(text: str) -> _Split:
    """Cut the text into interchanges, each read with its own delimiters."""
    chunks: list[_Chunk] = []
    start = 0
    position = 1  # file position of the ISA of the interchange being cut
    saw_iea = False
    while True:
        if not _isa_is_well_formed(text[start : start + ISA_LENGTH]):
            return _Split(
                chunks,
                FileError(
                    code="FILE-BAD-ISA",
                    message="an ISA segment is not 106 characters with usable delimiters",
                    segment_position=position,
                ),
            )
        cut = _cut(text, start)
        ending = "eof" if cut.ending == "partial" else cut.ending
        chunks.append(_Chunk(_for_pyx12(text[start : cut.end]), position, ending))
        saw_iea = saw_iea or cut.ending == "iea"
        if cut.ending == "partial":
            return _Split(
                chunks,
                FileError(
                    code="FILE-TRUNCATED",
                    message="the file ends inside a segment",
                    segment_position=position + cut.segments,
                ),
            )
        if cut.ending == "eof":
            if saw_iea:
                return _Split(chunks)  # the last interchange lacks its IEA: TA1 023
            return _Split(
                chunks,
                FileError(
                    code="FILE-TRUNCATED",
                    message="the file ends before the first IEA",
                    segment_position=position + cut.segments - 1,
                ),
            )
        position += cut.segments
        rest = text[cut.resume :]
        start = cut.resume + len(rest) - len(rest.lstrip(_BLANKS))
        if start >= len(text):
            return _Split(chunks)
        if not text.startswith("ISA", start):
            return _Split(
                chunks,
                FileError(
                    code="FILE-NO-ISA",
                    message="data after an interchange does not begin with an ISA segment",
                    segment_position=position,
                ),
            )


# --- running pyx12 -----------------------------------------------------------------------


class _Reader(pyx12.x12file.X12Reader):
    """pyx12's reader, except for a GE or IEA whose header is not open: pyx12 pops its loop
    stack past the ISA and then indexes the empty stack.  Such a trailer is left to the
    walk, which reports it as content outside a group (TA1 024)."""

    def _parse_segment(self, seg_data: Any) -> None:
        seg_id = seg_data.get_seg_id()
        header = {"GE": "GS", "IEA": "ISA"}.get(seg_id or "")
        if header is not None and all(kind != header for kind, _id in self.loops):
            pyx12.x12file.X12Base._parse_segment(self, seg_data)
            return
        super()._parse_segment(seg_data)


class _ErrorTree(pyx12.error_handler.err_handler):
    """pyx12's error handler, remembering the map node behind every segment and element
    error so the verdict can name the loop and the element (e.g. ``2000D``, ``VEH02``), and
    the policy open when the error was found (``policy``, kept up to date by ``_walk``: the
    walk errors of an HL, found while the previous policy's loops close, are that policy's)."""

    policy = -1  # index of the open policy in its set (1, 2, ...), -1 for none

    def add_seg(
        self, map_node: Any, seg_data: Any, seg_count: int, cur_line: int, ls_id: str | None
    ) -> None:
        super().add_seg(map_node, seg_data, seg_count, cur_line, ls_id)
        self.cur_seg_node.map_node = map_node
        self.cur_seg_node.policy = self.policy

    def add_ele(self, map_node: Any) -> None:
        super().add_ele(map_node)
        self.cur_ele_node.map_node = map_node


@dataclass
class _SetFacts:
    """What the run saw of one transaction set besides pyx12's errors."""

    policies: int = 0
    vehicles: int = 0
    policy_at: dict[int, int] = field(default_factory=dict)  # segment position -> policy index
    policy_numbers: dict[int, str] = field(default_factory=dict)
    policy_hl: dict[int, int] = field(default_factory=dict)  # policy index -> position of its HL


@dataclass
class _Run:
    errh: _ErrorTree
    isa_fields: list[str]
    outside_segments: int = 0  # segments outside any group/set (TA1 024)
    unmapped_groups: set[int] = field(default_factory=set)  # index of GS with no map
    set_facts: dict[int, _SetFacts] = field(default_factory=dict)  # id(err_st) -> facts


def _isa_fields(chunk: _Chunk) -> list[str]:
    isa = chunk.text[: ISA_LENGTH - 1]
    return isa.split(isa[3])


def _walk(chunk: _Chunk) -> _Run:
    """pyx12's ``x12n_document`` loop for one interchange, without its HTML/XML/997 output,
    with the departures listed in the module docstring."""
    maps = _maps()
    errh = _ErrorTree()
    run = _Run(errh, _isa_fields(chunk))
    src = _Reader(io.StringIO(chunk.text))
    control = maps.control
    node = control.getnodebypath("/ISA_LOOP/ISA")
    walker = walk_tree()
    icvn: str | None = None
    current_map = control
    in_group = in_set = skip_group = False
    facts: _SetFacts | None = None
    policy = -1
    for seg in src:
        seg_id = seg.get_seg_id()
        orig_node = node
        if seg_id == "ISA":
            node = control.getnodebypath("/ISA_LOOP/ISA")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP", "/ISA_LOOP/ISA")
        elif seg_id == "GS":
            in_group, in_set = True, False
            map_file = maps.index.get_filename(icvn, seg.get_value("GS08"), seg.get_value("GS01"))
            skip_group = map_file is None
            current_map = control if map_file is None else maps.transaction(map_file)
            node = current_map.getnodebypath("/ISA_LOOP/GS_LOOP/GS")
            walker.forceWalkCounterToLoopStart("/ISA_LOOP/GS_LOOP", "/ISA_LOOP/GS_LOOP/GS")
        elif (
            (skip_group and seg_id not in ("GE", "IEA"))
            or (not in_set and seg_id not in ("ST", "GE", "IEA"))
            or (not in_group and seg_id in ("ST", "GE"))
        ):
            # Not validated: a set of a group without a map, or a segment outside any set.
            src.pop_errors()
            if not skip_group:
                run.outside_segments += 1
            continue
        elif seg_id == "ST":
            # Straight to the map's ST, as for ISA and GS: pyx12's walker matches ST by ST01,
            # and an ST01 other than 811 would leave the set's errors nowhere (or on the
            # previous set).  This way ST01 is an element error (AK5 6) of its own set.
            node = current_map.getnodebypath("/ISA_LOOP/GS_LOOP/ST_LOOP/ST")
            walker.forceWalkCounterToLoopStart(
                "/ISA_LOOP/GS_LOOP/ST_LOOP", "/ISA_LOOP/GS_LOOP/ST_LOOP/ST"
            )
        else:
            node, _pop, _push, walk_errors = walker.walk_errors(
                node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id()
            )
            apply_walk_errors(errh, walk_errors)
        if in_set and facts is not None and seg_id not in ("ST", "SE"):
            policy = _note_set_facts(facts, seg, src.get_seg_count(), policy)
            errh.policy = policy
        if node is None:
            node = orig_node
            continue
        if seg_id == "ISA":
            errh.add_isa_loop(seg, src)
            icvn = seg.get_value("ISA12")
            errh.handle_errors(src.pop_errors())
        elif seg_id == "IEA":
            errh.handle_errors(src.pop_errors())
            errh.close_isa_loop(node, seg, src)
        elif seg_id == "GS":
            errh.add_gs_loop(seg, src)
            if skip_group:
                run.unmapped_groups.add(id(errh.cur_gs_node))
            errh.handle_errors(src.pop_errors())
        elif seg_id == "GE":
            errh.handle_errors(src.pop_errors())
            _close_group(errh, node, seg, src)
            in_group = in_set = skip_group = False
        elif seg_id == "ST":
            errh.add_st_loop(seg, src)
            errh.handle_errors(src.pop_errors())
            facts = run.set_facts[id(errh.cur_st_node)] = _SetFacts()
            in_set, policy = True, -1
            errh.policy = policy
        elif seg_id == "SE":
            errh.handle_errors(src.pop_errors())
            errh.close_st_loop(node, seg, src)
            in_set = False
        else:
            errh.add_seg(node, seg, src.get_seg_count(), src.get_cur_line(), src.get_ls_id())
            errh.handle_errors(src.pop_errors())
        apply_segment_errors(node, seg, errh)
    src.cleanup()
    errh.handle_errors(src.pop_errors())
    return run


def _close_group(errh: _ErrorTree, node: Any, seg: Any, src: Any) -> None:
    """``errh.close_gs_loop``, which reads GE01 with ``int()``: a GE01 that is not a number
    is already an element error (AK9 code from the GE map), so count it as 0 sets."""
    try:
        errh.close_gs_loop(node, seg, src)
    except ValueError:
        errh.close_gs_loop(node, None, src)


def _note_set_facts(facts: _SetFacts, seg: Any, position: int, policy: int) -> int:
    seg_id = seg.get_seg_id()
    if seg_id == "HL":
        level = seg.get_value("HL03")
        if level == "4":
            facts.policies += 1
            policy = facts.policies
            facts.policy_hl[policy] = position
        elif level == "5":
            facts.vehicles += 1
        elif level in ("1", "2"):
            policy = -1
    elif seg_id == "REF" and policy > 0 and seg.get_value("REF01") == "IG":
        facts.policy_numbers.setdefault(policy, seg.get_value("REF02") or "")
    if policy > 0:
        facts.policy_at[position] = policy
    return policy


# --- from pyx12's error tree to the verdict ----------------------------------------------


def _first_seen(codes: list[str]) -> list[str]:
    out: list[str] = []
    for c in codes:
        if c not in out:
            out.append(c)
    return out


def _ta1(run: _Run, chunk: _Chunk, duplicate: bool, options: ValidationOptions) -> Ta1:
    """TA1 note code the way ``error_997.__get_isa_errors`` picks it, plus the profile's
    receiver and sender rules and the file-level findings pyx12 cannot see per chunk."""
    isa = run.errh.cur_isa_node
    codes: list[str] = []
    if duplicate:
        codes.append("025")
    if chunk.ending == "next_isa":
        codes.append("022")
    if isa is not None:
        isa_codes = [code for code, _text in isa.errors]
        if chunk.ending == "next_isa":
            # pyx12 saw the chunk end without an IEA; in the file it was the next ISA
            isa_codes = [c for c in isa_codes if c != "023"]
        codes += isa_codes
        for ele in isa.elements:
            refdes = getattr(getattr(ele, "map_node", None), "refdes", "") or ""
            table = _IEA_ELEMENT_NOTE if refdes.startswith("IEA") else _ISA_ELEMENT_NOTE
            if ele.errors and ele.ele_pos in table:
                codes.append(table[ele.ele_pos])
    if run.outside_segments:
        codes.append("024")
    f = run.isa_fields
    if len(f) == 17:
        if f[7].strip() != options.receiver_qualifier:
            codes.append("007")
        if f[8].strip() != options.receiver_id:
            codes.append("008")
        if (
            options.known_senders is not None
            and (f[5].strip(), f[6].strip()) not in options.known_senders
        ):
            codes.append("006")
    return ta1_for(codes)


def _element_codes(
    elements: list[Any],
    prefixes: tuple[str, str],
    tables: tuple[dict[int, str], dict[int, str]],
    default: str | None,
) -> list[str]:
    out: list[str] = []
    for ele in elements:
        if not ele.errors:
            continue
        refdes = getattr(getattr(ele, "map_node", None), "refdes", "") or ""
        table = tables[1] if refdes.startswith(prefixes[1]) else tables[0]
        code = table.get(ele.ele_pos, default)
        if code is not None:
            out.append(code)
    return out


def _loop_id(map_node: Any) -> str | None:
    """AK3-03: the loop the segment belongs to, or None in the heading, the detail wrapper
    and the envelope loops (those have a ``type`` in the map)."""
    parent = getattr(map_node, "parent", None)
    if parent is None or not parent.is_loop() or parent.type is not None:
        return None
    return parent.id


def _scope(err_seg: Any, facts: _SetFacts | None) -> int | None:
    """The position of the HL of the policy an error segment rejects alone (guide §3, scope
    of a rejection): an error in a loop of a policy's HL subtree, not on an HL (an HL error
    breaks the hierarchy); None when the error is the set's."""
    policy = getattr(err_seg, "policy", -1)
    if facts is None or policy < 1 or (err_seg.seg_id or "") == "HL":
        return None
    parent = getattr(getattr(err_seg, "map_node", None), "parent", None)
    if parent is None or not parent.is_loop() or parent.id not in compiled_811_map().policy_loops:
        return None
    return facts.policy_hl.get(policy)


def _issues(err_st: Any, facts: _SetFacts | None, scoped: bool) -> list[Issue]:
    """AK3/AK4 issues of one set, in the order pyx12's 997 visitor writes them; ``scoped``:
    the set is accepted, its errors inside policies name their policy."""
    out: list[Issue] = []
    for err_seg in err_st.children:
        position = err_seg.seg_count
        seg_id = err_seg.seg_id or ""
        map_node = getattr(err_seg, "map_node", None)
        loop = _loop_id(map_node)
        scope = _scope(err_seg, facts) if scoped else None
        policy_number = None
        if facts is not None and position in facts.policy_at:
            policy_number = facts.policy_numbers.get(facts.policy_at[position]) or None
        codes = [("8" if c == "SEG1" else c) for c, _s, _v in err_seg.errors]
        # pyx12's 997 writes an AK3 "8" above the AK4s of a segment; so does the ack writer,
        # from the AK4 issues, so it is not listed twice here.
        for code in _first_seen([c for c in codes if c in _AK3_CODES]):
            out.append(
                Issue(
                    code=code,
                    ack="AK3",
                    message=f"{seg_id}: {_AK3_TEXT[code]}",
                    policy_number=policy_number,
                    segment_position=position,
                    segment_id=seg_id,
                    loop_id=loop,
                    policy_position=scope,
                )
            )
        for ele in err_seg.elements:
            node = getattr(ele, "map_node", None)
            element = getattr(node, "refdes", None) or f"{seg_id}{ele.ele_pos:02d}"
            for code, _s, _v in ele.errors:
                if code not in _AK4_CODES:
                    continue
                out.append(
                    Issue(
                        code=code,
                        ack="AK4",
                        message=f"{element}: {_AK4_TEXT[code]}",
                        policy_number=policy_number,
                        segment_position=position,
                        segment_id=seg_id,
                        loop_id=loop,
                        element=element,
                        element_position=ele.ele_pos,
                        component_position=ele.subele_pos,
                        data_element=ele.ele_ref_num,
                        policy_position=scope,
                    )
                )
    return out


def _set_verdict(err_st: Any, run: _Run, options: ValidationOptions) -> TransactionSetVerdict:
    facts = run.set_facts.get(id(err_st))
    codes = [code for code, _t in err_st.errors]
    # Errors inside policies reject those policies alone; any other is the set's (guide §3).
    rejected: set[int] = set()
    for child in err_st.children:
        if child.err_count() > 0:
            scope = _scope(child, facts)
            if scope is None:
                codes.append("5")
            else:
                rejected.add(scope)
    codes += _element_codes(
        err_st.elements, ("ST", "SE"), (_ST_ELEMENT_CODE, _ST_ELEMENT_CODE), None
    )
    if not err_st.is_closed():
        codes.append("2")  # no SE before the GE (or the end of the file)
    if codes and rejected:
        codes.append("5")  # the set is rejected: the errors inside its policies are its own
    codes = sorted(set(codes), key=lambda c: (len(c), c))
    if codes:
        ack = "R"
    elif rejected:
        ack, codes = "E", ["5"]  # accepted, errors noted: the policies in error are rejected
    else:
        ack = "R" if err_st.ack_code != "A" else "A"
    issues = _issues(err_st, facts, scoped=ack == "E")
    limit = max(options.max_errors_per_set, 0)
    return TransactionSetVerdict(
        control_number=(err_st.trn_set_control_num or "").strip(),
        id_code=err_st.trn_set_id or "",
        ack_code=ack,
        error_codes=codes,
        policies=facts.policies if facts else 0,
        vehicles=facts.vehicles if facts else 0,
        errors=issues[:limit],
        errors_truncated=max(len(issues) - limit, 0),
        rejected_policies=sorted(rejected) if ack == "E" else [],
    )


def _group_verdict(err_gs: Any, run: _Run, options: ValidationOptions) -> GroupVerdict:
    seg = err_gs.seg_data
    sets = [_set_verdict(st, run, options) for st in err_gs.children]
    codes = [code for code, _t in err_gs.errors]
    codes += _element_codes(
        err_gs.elements, ("GS", "GE"), (_GS_ELEMENT_CODE, _GE_ELEMENT_CODE), "1"
    )
    if id(err_gs) in run.unmapped_groups and not codes:
        codes.append("1")  # a GS pyx12 has no map for, though its codes pass the envelope map
    if not err_gs.is_closed():
        codes.append("3")  # no GE before the IEA (pyx12 only says so at the end of the file)
    codes = sorted(set(codes), key=lambda c: (len(c), c))
    received = err_gs.st_count_recv if err_gs.is_closed() else len(err_gs.children)
    accepted = sum(1 for s in sets if s.ack_code in ("A", "E"))
    if id(err_gs) in run.unmapped_groups:
        accepted = 0
    rejected_sets = received - accepted
    if codes or rejected_sets:
        ack = "R"
    elif any(s.ack_code == "E" for s in sets):
        ack = "E"  # pyx12 counts the errors of an AK5 E set against the group too
    else:
        ack = "R" if err_gs.ack_code not in (None, "A") else "A"
    return GroupVerdict(
        control_number=(seg.get_value("GS06") or "").strip(),
        functional_id=seg.get_value("GS01") or "",
        version=seg.get_value("GS08") or "",
        sender=(seg.get_value("GS02") or "").strip(),
        receiver=(seg.get_value("GS03") or "").strip(),
        ack_code=ack,
        error_codes=codes,
        sets_included=err_gs.st_count_orig or 0,
        sets_received=received,
        sets_accepted=accepted,
        transaction_sets=sets,
    )


def _interchange(
    chunk: _Chunk,
    run: _Run | None,
    duplicate: bool,
    options: ValidationOptions,
    ta1: Ta1 | None = None,
) -> InterchangeVerdict:
    f = _isa_fields(chunk)
    text = chunk.text
    groups: list[GroupVerdict] = []
    if run is not None:
        ta1 = _ta1(run, chunk, duplicate, options)
        isa_node = run.errh.cur_isa_node
        if isa_node is not None:
            groups = [_group_verdict(gs, run, options) for gs in isa_node.children]
    return InterchangeVerdict(
        control_number=f[13].strip(),
        sender_qualifier=f[5].strip(),
        sender_id=f[6].strip(),
        receiver_qualifier=f[7].strip(),
        receiver_id=f[8].strip(),
        date=f[9],
        time=f[10],
        version=f[12],
        test=f[15] == "T",
        ack_requested=f[14] == "1",
        element_separator=text[3],
        component_separator=text[104],
        segment_terminator=text[105],
        ta1=ta1 or Ta1(),
        groups=groups,
    )


def _accepted(ic: InterchangeVerdict) -> bool:
    if ic.ta1.ack_code != "A":
        return False
    return all(
        g.ack_code in ("A", "E") and all(s.ack_code in ("A", "E") for s in g.transaction_sets)
        for g in ic.groups
    )


def _validate_chunks(
    chunks: list[_Chunk], options: ValidationOptions
) -> Iterator[InterchangeVerdict | FileError]:
    seen: set[str] = set()
    for chunk in chunks:
        f = _isa_fields(chunk)
        control = f[13]
        duplicate = control in seen
        seen.add(control)
        if f[12] != "00401":
            # pyx12 reads 00501 with another envelope map and knows no other version.
            yield _interchange(chunk, None, duplicate, options, Ta1(ack_code="R", note_code="017"))
            continue
        try:
            run = _walk(chunk)
        except (
            pyx12.errors.X12Error,
            pyx12.errors.EngineError,
            AttributeError,
            TypeError,
            ValueError,
            IndexError,
            KeyError,
        ) as exc:
            # pyx12 gave up on this interchange; its message may quote data, so name the
            # exception class only.
            yield FileError(
                code="FILE-PYX12",
                message=f"pyx12 could not validate the interchange ({type(exc).__name__})",
                segment_position=chunk.first_segment,
            )
            return
        yield _interchange(chunk, run, duplicate, options)


def validate(source: str | Path | bytes, *, name: str, options: ValidationOptions) -> FileVerdict:
    """Validate one file with pyx12 and epoi's map.

    ``source`` is the file's bytes, or the path of the file (``str`` or ``Path``).  Never
    raises for bad input: a file that is not X12 gives ``FileVerdict.error`` with a code
    (``FILE-EMPTY``, ``FILE-BINARY``, ``FILE-NO-ISA``, ``FILE-BAD-ISA``, ``FILE-TRUNCATED``,
    ``FILE-PYX12``) and the interchanges read before the problem.
    """
    text, error = _sniff(_read(source))
    if text is None:
        return FileVerdict(file=name, accepted=False, error=error)
    split = _split(text)
    interchanges: list[InterchangeVerdict] = []
    error = split.error
    for item in _validate_chunks(split.chunks, options):
        if isinstance(item, FileError):
            error = error or item
            break
        interchanges.append(item)
    accepted = error is None and bool(interchanges) and all(_accepted(ic) for ic in interchanges)
    return FileVerdict(file=name, accepted=accepted, error=error, interchanges=interchanges)
