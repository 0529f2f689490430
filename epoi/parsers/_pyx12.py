"""The reference validation engine: pyx12's own validation, run with epoi's 811 map.

``validate(source, name=..., options=...) -> FileVerdict``

What pyx12 does is kept as it is; this module only feeds it and translates its error tree
(``pyx12.error_handler``) into a :class:`FileVerdict`, with the codes pyx12's own 997
visitor (``pyx12.error_997``) would put in the TA1, AK9, AK5, AK3 and AK4.  The fast engine
is compared against this one, so the rules below say where and why it departs from a plain
``x12n_document`` run:

* pyx12's reader takes the delimiters of the first ISA for the whole file, so the file is
  split into interchanges first, by the reader both engines share (``_reader``: the same
  file errors, delimiters and blank-line rules), and each is validated on its own.  What pyx12 would find
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

from ..errors import InputError
from ..schemas.verdict import (
    FileError,
    FileVerdict,
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    Ta1,
    TransactionSetVerdict,
)
from ._codes import (
    AK3_TEXT,
    AK4_TEXT,
    GE_ELEMENT_CODE,
    GS_ELEMENT_CODE,
    IEA_ELEMENT_NOTE,
    ISA_ELEMENT_NOTE,
    ST_ELEMENT_CODE,
    ta1_for,
)
from ._compiled import compiled_811_map
from ._maps import CONTROL_MAP_FILE, MAP_PATH
from ._options import ValidationOptions
from ._reader import InterchangeText, read_interchanges

__all__ = ["validate"]

# pyx12 logs every error with the offending element value (names, licence numbers, dates of
# birth): keep its records away from epoi's handlers.
_pyx12_log = logging.getLogger("pyx12")
_pyx12_log.addHandler(logging.NullHandler())
_pyx12_log.propagate = False

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


def _file_error(exc: InputError) -> FileError:
    return FileError(
        code=exc.code, message=exc.message, segment_position=exc.location.segment_position
    )


def _interchanges(
    data: bytes, options: ValidationOptions
) -> tuple[list[InterchangeText], FileError | None]:
    """The file cut into interchanges by the reader both engines share: pyx12's own reader
    takes the delimiters of the first ISA for the whole file, and stops at an empty segment
    or a blank line after a CR or LF terminator (the guide, §1, ignores those)."""
    chunks, exc = read_interchanges(
        io.BytesIO(data),
        chunk_size=max(len(data), 1),  # the file is in memory: a NUL anywhere is found first
        max_segment_length=options.max_segment_length,
    )
    if exc is not None:
        return chunks, _file_error(exc)
    if chunks and not any(c.ending == "iea" for c in chunks):
        # an IEA was read: the open interchange is TA1 023; none was: the file is cut short
        last = chunks[-1]
        return chunks, FileError(
            code="FILE-TRUNCATED",
            message="the file ends before the first IEA",
            segment_position=last.first_segment + len(last.segments) - 1,
        )
    return chunks, None


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


def _isa_fields(chunk: InterchangeText) -> list[str]:
    return chunk.segments[0].split(chunk.delimiters.element)


def _walk(chunk: InterchangeText) -> _Run:
    """pyx12's ``x12n_document`` loop for one interchange, without its HTML/XML/997 output,
    with the departures listed in the module docstring."""
    maps = _maps()
    errh = _ErrorTree()
    run = _Run(errh, _isa_fields(chunk))
    src = _Reader(io.StringIO(chunk.text()))
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


def _ta1(run: _Run, chunk: InterchangeText, duplicate: bool, options: ValidationOptions) -> Ta1:
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
            table = IEA_ELEMENT_NOTE if refdes.startswith("IEA") else ISA_ELEMENT_NOTE
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
        for code in _first_seen([c for c in codes if c in AK3_TEXT]):
            out.append(
                Issue(
                    code=code,
                    ack="AK3",
                    message=f"{seg_id}: {AK3_TEXT[code]}",
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
                if code not in AK4_TEXT:
                    continue
                out.append(
                    Issue(
                        code=code,
                        ack="AK4",
                        message=f"{element}: {AK4_TEXT[code]}",
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
        err_st.elements, ("ST", "SE"), (ST_ELEMENT_CODE, ST_ELEMENT_CODE), None
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
        err_gs.elements, ("GS", "GE"), (GS_ELEMENT_CODE, GE_ELEMENT_CODE), "1"
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
    chunk: InterchangeText,
    run: _Run | None,
    duplicate: bool,
    options: ValidationOptions,
    ta1: Ta1 | None = None,
) -> InterchangeVerdict:
    f = _isa_fields(chunk)
    d = chunk.delimiters
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
        element_separator=d.element,
        component_separator=d.component,
        segment_terminator=d.segment,
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
    chunks: list[InterchangeText], options: ValidationOptions
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
    chunks, error = _interchanges(_read(source), options)
    interchanges: list[InterchangeVerdict] = []
    for item in _validate_chunks(chunks, options):
        if isinstance(item, FileError):
            error = error or item
            break
        interchanges.append(item)
    accepted = error is None and bool(interchanges) and all(_accepted(ic) for ic in interchanges)
    return FileVerdict(file=name, accepted=accepted, error=error, interchanges=interchanges)
