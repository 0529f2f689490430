"""The pyx12 811 map compiled once into plain Python structures the fast engine can run.

The map stays the single source of truth: it is loaded with pyx12's own loader and every
rule here (usage, repeats, element types, lengths, codes, syntax rules, loop entry by first
segment and qualifier) is read from its nodes.  Two speed tricks keep the result exact:

* element checks are *sufficient* conditions for validity (a value that passes is valid for
  pyx12 too); a segment that fails any of them is handed to pyx12's own
  ``segment_if.is_valid_errors``, so the error codes are pyx12's;
* the loop walk is memoised: the next map segment depends only on the current map segment,
  the segment id and its qualifier value, so each transition is searched once per map.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import pyx12.map_if
import pyx12.params
import pyx12.segment
from pyx12.map_if import composite_if, element_if, loop_if, segment_if

from ._element_checks import (
    both,
    external_predicate,
    fast_predicate,
    max_count,
    never,
    shape_of,
    shape_regex,
    syntax_check,
    syntax_ok,
    valid_date,
)

MAP_FILE = "811.4010.xml"
_DEFAULT_MAP_PATH = Path(__file__).with_name("maps")

__all__ = [
    "CompiledMap", "ElementRule", "LoopRule", "SegmentRule", "compiled_811_map", "fast_valid",
    "segment_matcher",
]

@dataclass(slots=True)
class ElementRule:
    """One simple element of a segment (X12 position ``seq``)."""

    seq: int
    ref: str  # e.g. "VEH02"
    data_element: str
    usage: str
    data_type: str
    min_len: int
    max_len: int
    codes: frozenset[str] | None
    fast_ok: Any  # callable(value) -> bool: True only when pyx12 would accept the value
    # The same check split for the whole-segment regex: ``shape`` is what a valid value
    # looks like (see shape_regex; None: not expressible, pyx12 decides) and ``extra`` a
    # value check the regex cannot make (calendar dates, external code lists).
    shape: tuple[Any, ...] | None = None
    extra: Any = None


@dataclass(slots=True, eq=False)
class SegmentRule:
    index: int
    id: str
    name: str
    usage: str
    max_use: int
    loop: LoopRule
    node: segment_if
    elements: tuple[ElementRule, ...]
    n_children: int
    has_composite: bool
    syntax: list[Any]
    qualifier: tuple[int, frozenset[str]] | None  # (element position, codes) used to match
    # (position, required, fast check) per element, for the fast path
    checks: tuple[tuple[int, bool, Any], ...] = ()
    min_fields: int = 0  # highest position of a required element
    fast: bool = True  # False: always ask pyx12 (composites)
    # (position, value check) run on the fields after the regex matched, and the map's
    # syntax rules as checks on the fields
    extras: tuple[tuple[int, Any], ...] = ()
    syntax_checks: tuple[Any, ...] = ()

    def matches(self, fields: list[str]) -> bool:
        if fields[0] != self.id:
            return False
        if self.qualifier is None:
            return True
        pos, codes = self.qualifier
        return (fields[pos] if pos < len(fields) else "") in codes


@dataclass(slots=True, eq=False)
class LoopRule:
    id: str
    usage: str
    max_repeat: int
    node: Any
    parent: LoopRule | None
    children: list[LoopRule | SegmentRule] = field(default_factory=list)
    index_in_parent: int = 0
    depth: int = 0
    index: int = 0  # position in CompiledMap.loops
    required: tuple[Any, ...] = ()  # the children of usage R, checked when the loop closes
    # inside a policy's HL subtree (the policy level and the loops under it): an error here
    # rejects the policy alone (guide §3, scope of a rejection)
    in_policy: bool = False

    def first_segment(self) -> SegmentRule | None:
        first = self.children[0] if self.children else None
        if isinstance(first, LoopRule):
            return first.first_segment()
        return first


def segment_matcher(rule: SegmentRule, charset: str, element: str, component: str) -> Any:
    """One compiled ``fullmatch`` for the raw text of a valid ``rule`` segment, or None when
    the rule needs pyx12 every time.  A match, then ``rule.extras`` and ``rule.syntax_checks``
    passing, means exactly what ``fast_valid`` returning True means; anything else goes the
    detailed way.  Trailing separators are left to the caller (``f[-1] == ""``)."""
    if not rule.fast:
        return None
    by_seq = {e.seq: e for e in rule.elements}
    exclude = element + component
    sep = re.escape(element)
    tail = ""
    for seq in range(rule.n_children, 0, -1):
        e = by_seq.get(seq)
        if e is None:
            return None
        if e.usage == "N":
            value = ""
        elif e.shape is None:
            return None
        else:
            value = f"(?:{shape_regex(e.shape, charset, exclude)})"
            if e.usage != "R":
                value += "?"
        tail = f"{sep}{value}{tail}"
        if seq > rule.min_fields:
            tail = f"(?:{tail})?"
    return re.compile(re.escape(rule.id) + tail, re.S).fullmatch


def fast_valid(rule: SegmentRule, fields: list[str], component: str) -> bool:
    """True only when pyx12 would find no element or syntax error in the segment.

    A value holding the component separator is a composite to pyx12 (an error where the
    map has a simple element), so it always goes to pyx12."""
    n = len(fields) - 1
    if not (rule.fast and rule.min_fields <= n <= rule.n_children):
        return False
    for seq, required, ok in rule.checks:
        if seq > n:
            break
        v = fields[seq]
        if not v:
            if required:
                return False
        elif component in v or not ok(v):
            return False
    for syn in rule.syntax:
        if not syntax_ok(syn, fields):
            return False
    return True


class CompiledMap:
    """The 811 map as rule objects, with a memoised loop walker."""

    def __init__(self, root: Any) -> None:
        self.root = root
        self.param = root.param
        self.charset = self.param.get("charset") or "B"
        self.segments: list[SegmentRule] = []
        self._matchers: dict[tuple[int, str, str], Any] = {}
        self.loops: list[LoopRule] = []
        isa_loop = next(c for c in _children(root) if isinstance(c, loop_if))
        self.isa_loop = self._loop(isa_loop, None, 0)
        self.gs_loop = self._find_loop(self.isa_loop, "GS_LOOP")
        self.st_loop = self._find_loop(self.isa_loop, "ST_LOOP")
        self.isa = self._seg_in(self.isa_loop, "ISA")
        self.iea = self._seg_in(self.isa_loop, "IEA")
        self.gs = self._seg_in(self.gs_loop, "GS")
        self.ge = self._seg_in(self.gs_loop, "GE")
        self.st = self._seg_in(self.st_loop, "ST")
        self.hl = next(s for s in self.segments if s.id == "HL")
        self.se = self._seg_in(self.st_loop, "SE")
        self._transitions: dict[tuple[Any, ...], Transition] = {}
        # For each segment id, the element positions any map node uses to tell them apart.
        self.qualifier_positions: dict[str, tuple[int, ...]] = {}
        for seg in self.segments:
            if seg.qualifier is not None:
                pos = set(self.qualifier_positions.get(seg.id, ()))
                pos.add(seg.qualifier[0])
                self.qualifier_positions[seg.id] = tuple(sorted(pos))
        # Every map node of this profile tells segments apart by one element at most; a map
        # with several would fall back to the full key.
        self.qualifier_position: dict[str, int] = {
            k: v[0] for k, v in self.qualifier_positions.items() if len(v) == 1
        }
        if any(len(v) > 1 for v in self.qualifier_positions.values()):
            raise ValueError("map uses several qualifier positions for one segment id")
        self.policy_loops = _policy_loops(self.loops)
        for loop in self.loops:
            loop.in_policy = loop.id in self.policy_loops

    # --- compilation -------------------------------------------------------------------
    def _find_loop(self, loop: LoopRule, loop_id: str) -> LoopRule:
        for child in loop.children:
            if isinstance(child, LoopRule):
                if child.id == loop_id:
                    return child
                try:
                    return self._find_loop(child, loop_id)
                except KeyError:
                    pass
        raise KeyError(loop_id)

    @staticmethod
    def _seg_in(loop: LoopRule, seg_id: str) -> SegmentRule:
        return next(c for c in loop.children if isinstance(c, SegmentRule) and c.id == seg_id)

    def _loop(self, node: Any, parent: LoopRule | None, index: int) -> LoopRule:
        rule = LoopRule(
            id=node.id, usage=node.usage or "S", max_repeat=max_count(node.repeat), node=node,
            parent=parent, index_in_parent=index, depth=0 if parent is None else parent.depth + 1,
            index=len(self.loops),
        )
        self.loops.append(rule)
        for i, child in enumerate(_children(node)):
            if isinstance(child, loop_if):
                rule.children.append(self._loop(child, rule, i))
            elif isinstance(child, segment_if):
                rule.children.append(self._segment(child, rule))
        rule.required = tuple(c for c in rule.children if c.usage == "R")
        return rule

    def _segment(self, node: segment_if, loop: LoopRule) -> SegmentRule:
        elements: list[ElementRule] = []
        has_composite = False
        for seq, child in enumerate(node.children, start=1):
            if isinstance(child, composite_if):
                has_composite = True
                continue
            if not isinstance(child, element_if):
                continue
            dtype = child.get_data_type() or ""
            min_len, max_len = child.min_len, child.max_len
            codes = child._valid_codes_set if child.valid_codes else None
            predicate: Any
            shape, extra = shape_of(dtype, min_len, max_len)
            if child.external_codes is not None:
                # external code lists (pyx12's codes.xml in MAP_PATH): the value must pass
                # the type/length checks and be in the list; both answers are cached.
                codes = None
                predicate = external_predicate(
                    fast_predicate(dtype, min_len, max_len, None, self.charset),
                    self.root.ext_codes, child.external_codes,
                )
                ext, list_name = self.root.ext_codes, child.external_codes
                extra = both(extra, lru_cache(maxsize=4096)(
                    lambda v, ext=ext, list_name=list_name: bool(ext.isValid(list_name, v))))
            elif child.rec is not None:
                predicate = never  # regex rules: pyx12 decides
                shape = None
            else:
                predicate = fast_predicate(dtype, min_len, max_len, codes, self.charset)
                if codes is not None:
                    # codes must also satisfy length/type for pyx12; keep only those that do
                    ok_codes = frozenset(
                        c for c in codes
                        if min_len <= len(c) <= max_len and not c.endswith(" ")
                    )
                    predicate = ok_codes.__contains__
                    shape, extra = ("codes", ok_codes), None
            elements.append(ElementRule(
                seq=seq, ref=child.id or f"{node.id}{seq:02d}", data_element=child.data_ele or "",
                usage=child.usage or "S", data_type=dtype, min_len=min_len, max_len=max_len,
                codes=codes, fast_ok=predicate, shape=shape, extra=extra,
            ))
        # pyx12 checks a 1251 value (date/time period) against the format its 1250 sibling
        # names; the fast path knows the CCYYMMDD one and asks pyx12 about any other.
        formats = [c for e in elements if e.data_element == "1250" for c in (e.codes or ())]
        for e in elements:
            if e.data_element == "1251":
                if formats == ["D8"]:
                    shape = e.fast_ok
                    e.fast_ok = lambda v, shape=shape: bool(shape(v)) and valid_date(v, "D8")
                    e.extra = both(e.extra, lambda v: valid_date(v, "D8"))
                else:
                    e.fast_ok = never
                    e.shape = None
        qualifier = None
        try:
            key = node._resolve_unique_key_field(node.id, with_qual=False)
        except Exception:  # pragma: no cover - defensive: unusual map shapes
            key = None
        if key is not None and key[2] is None:
            qualifier = (key[1], frozenset(key[0]._valid_codes_set))
        rule = SegmentRule(
            index=len(self.segments), id=node.id, name=node.name or node.id,
            usage=node.usage or "S",
            max_use=max_count(node.max_use), loop=loop, node=node, elements=tuple(elements),
            n_children=len(node.children), has_composite=has_composite, syntax=list(node.syntax),
            qualifier=qualifier,
        )
        rule.checks = tuple(
            (e.seq, e.usage == "R", never if e.usage == "N" else e.fast_ok) for e in elements
        )
        rule.min_fields = max((e.seq for e in elements if e.usage == "R"), default=0)
        rule.fast = not has_composite
        rule.extras = tuple((e.seq, e.extra) for e in elements
                            if e.extra is not None and e.usage != "N")
        rule.syntax_checks = tuple(syntax_check(syn) for syn in rule.syntax)
        self.segments.append(rule)
        return rule

    # --- element validation -------------------------------------------------------------
    def matcher(self, rule: SegmentRule, element: str, component: str) -> Any:
        """``segment_matcher`` for these delimiters, built once per process."""
        key = (rule.index, element, component)
        try:
            return self._matchers[key]
        except KeyError:
            pass
        found = segment_matcher(rule, self.charset, element, component)
        if len(self._matchers) < 10_000:  # bounded: delimiters come from the files
            self._matchers[key] = found
        return found

    def element_errors(self, rule: SegmentRule, fields: list[str], delimiters: Any) -> list[Any]:
        """pyx12's element/syntax errors of one segment; [] on the fast path."""
        if fast_valid(rule, fields, delimiters.component):
            return []
        return self.pyx12_element_errors(rule, fields, delimiters)

    def pyx12_element_errors(
        self, rule: SegmentRule, fields: list[str], delimiters: Any
    ) -> list[Any]:
        text = delimiters.element.join(fields)
        seg = pyx12.segment.Segment(text, delimiters.segment, delimiters.element,
                                    delimiters.component)
        _ok, errors = rule.node.is_valid_errors(seg)
        return errors

    # --- the loop walker ------------------------------------------------------------------
    def transition(self, current: SegmentRule, fields: list[str]) -> Transition:
        """From map segment ``current``, where does data segment ``fields`` go?

        Returns (loops to close, counted from the innermost; loops to open, outermost first;
        the matched segment or None when nothing in the transaction set matches; the
        required children the walk stepped over in the loop where it matched)."""
        f0 = fields[0]
        pos = self.qualifier_position.get(f0)
        if pos is None:
            key: tuple[Any, ...] = (current.index, f0)
        else:
            key = (current.index, f0, fields[pos] if pos < len(fields) else "")
        hit = self._transitions.get(key)
        if hit is None:
            hit = self._search(current, fields)
            if len(self._transitions) < 100_000:  # bounded even for hostile qualifiers
                self._transitions[key] = hit
        return hit

    def _search(self, current: SegmentRule, fields: list[str]) -> Transition:
        # Scan the current loop from the current segment on, then each enclosing loop from
        # the child we are in on (which lets that loop repeat), as pyx12's walker does.
        loop: LoopRule | None = current.loop
        start = current.loop.children.index(current)
        pops = 0
        while loop is not None:
            children = loop.children
            for i in range(start, len(children)):
                child = children[i]
                if isinstance(child, SegmentRule):
                    if child.matches(fields):
                        if child is children[0] and loop is not self.st_loop:
                            # the first segment of the loop we are in: the loop repeats
                            return pops + 1, (loop,), child, ()
                        return pops, (), child, _required(children[start + 1 : i])
                else:
                    chain = _entry_chain(child, fields)
                    if chain is not None:
                        return (pops, chain, chain[-1].first_segment(),
                                _required(children[start + 1 : i]))
            if loop is self.st_loop:
                break
            parent = loop.parent
            start = loop.index_in_parent
            loop = parent
            pops += 1
        return 0, (), None, ()


POLICY_LEVEL = "4"  # HL03 of a policy (guide §2, IIDB levels)


def _policy_loops(loops: list[LoopRule]) -> frozenset[str]:
    """The ids of the loops that make up a policy's HL subtree: the loop an HL with HL03 =
    ``POLICY_LEVEL`` opens, and every loop inside it."""
    out: set[str] = set()

    def add(loop: LoopRule) -> None:
        out.add(loop.id)
        for child in loop.children:
            if isinstance(child, LoopRule):
                add(child)

    for loop in loops:
        first = loop.children[0] if loop.children else None
        if (isinstance(first, SegmentRule) and first.id == "HL" and first.qualifier is not None
                and first.qualifier == (3, frozenset({POLICY_LEVEL}))):
            add(loop)
    return frozenset(out)


Transition = tuple[int, tuple[LoopRule, ...], SegmentRule | None, tuple[Any, ...]]


def _required(children: list[Any]) -> tuple[Any, ...]:
    return tuple(c for c in children if c.usage == "R")


def _entry_chain(loop: LoopRule, fields: list[str]) -> tuple[LoopRule, ...] | None:
    """The loops entered, outermost first, when ``fields`` opens ``loop``."""
    first = loop.children[0] if loop.children else None
    if isinstance(first, SegmentRule):
        return (loop,) if first.matches(fields) else None
    if isinstance(first, LoopRule):
        inner = _entry_chain(first, fields)
        return None if inner is None else (loop, *inner)
    return None


def _children(node: Any) -> list[Any]:
    pos_map = getattr(node, "pos_map", None) or {}
    return [c for k in sorted(pos_map) for c in pos_map[k]]


def _load_root() -> Any:
    try:
        from ._maps import load_811_map  # the map helper's loader, when present

        return load_811_map()
    except ImportError:
        return pyx12.map_if.load_map_file(MAP_FILE, pyx12.params.params(), str(_DEFAULT_MAP_PATH))


@lru_cache(maxsize=1)
def compiled_811_map() -> CompiledMap:
    """The 811 map, compiled once per process."""
    return CompiledMap(_load_root())
