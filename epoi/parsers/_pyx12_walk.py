"""pyx12's validation loop for one interchange (``walk``): pyx12's reader, walker and error
handler, run as ``x12n_document`` runs them but with the departures the engine's docstring
lists (``_pyx12``), and the facts of each set pyx12 does not keep (policies, vehicles, the
policy each segment belongs to)."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import pyx12.error_handler
import pyx12.map_if
import pyx12.map_index
import pyx12.params
import pyx12.x12file
from pyx12.map_if._segment import apply_segment_errors
from pyx12.map_walker import apply_walk_errors, walk_tree

from ._maps import CONTROL_MAP_FILE, MAP_PATH
from ._reader import InterchangeText

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
    the policy open when the error was found (``policy``, kept up to date by ``walk``: the
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
class SetFacts:
    """What the run saw of one transaction set besides pyx12's errors."""

    policies: int = 0
    vehicles: int = 0
    policy_at: dict[int, int] = field(default_factory=dict)  # segment position -> policy index
    policy_numbers: dict[int, str] = field(default_factory=dict)
    policy_hl: dict[int, int] = field(default_factory=dict)  # policy index -> position of its HL


@dataclass
class Run:
    errh: _ErrorTree
    isa_fields: list[str]
    outside_segments: int = 0  # segments outside any group/set (TA1 024)
    unmapped_groups: set[int] = field(default_factory=set)  # index of GS with no map
    set_facts: dict[int, SetFacts] = field(default_factory=dict)  # id(err_st) -> facts


def isa_fields(chunk: InterchangeText) -> list[str]:
    return chunk.segments[0].split(chunk.delimiters.element)


def walk(chunk: InterchangeText) -> Run:
    """pyx12's ``x12n_document`` loop for one interchange, without its HTML/XML/997 output,
    with the departures listed in the engine's docstring (``_pyx12``)."""
    maps = _maps()
    errh = _ErrorTree()
    run = Run(errh, isa_fields(chunk))
    src = _Reader(io.StringIO(chunk.text()))
    control = maps.control
    node = control.getnodebypath("/ISA_LOOP/ISA")
    walker = walk_tree()
    icvn: str | None = None
    current_map = control
    in_group = in_set = skip_group = False
    facts: SetFacts | None = None
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
            facts = run.set_facts[id(errh.cur_st_node)] = SetFacts()
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


def _note_set_facts(facts: SetFacts, seg: Any, position: int, policy: int) -> int:
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
