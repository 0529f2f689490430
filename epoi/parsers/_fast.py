"""The fast validation engine: one streaming pass, the compiled 811 map, a ``FileVerdict``.

Same verdicts as the pyx12 engine (``_pyx12.validate``) on accept/reject and the AK5/AK9
codes, ~30x faster: the envelope (ISA/IEA, GS/GE, ST/SE) is checked here with the standard
TA1 (note codes), AK9 (715), AK5 (718) codes, the transaction set with the compiled map
(``_compiled``): loop walk (AK3 720 codes) and element checks (AK4 723 codes, computed by
pyx12 itself for the rare segment that fails the fast checks).  Where the two engines differ
on purpose, ``tests/fixtures/fast/DIFFERENCES.md`` says why (``tests/test_differential.py``
holds both engines to that list).

Speed (``_Engine.run``): the reader hands over whole chunks of raw segment texts; per map
segment a dict maps the next segment id (and qualifier) to a memoised step; a segment that
opens or closes no loop is counted and checked inline, its elements with one compiled
``fullmatch`` of the raw text (``_compiled.segment_matcher``); only a segment that fails it
is checked element by element, and only a failing one is handed to pyx12 for its codes.

Memory is flat in the file size: per transaction set only the walker's loop stack, the HL
ancestor stack and at most ``max_errors_per_set`` issues are kept.  It never raises on bad
input: what cannot be read becomes ``FileVerdict.error`` plus TA1 023/AK9 3/AK5 2 for the
envelopes left open.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ..errors import InputError
from ..schemas.verdict import (
    AckCode,
    FileError,
    FileVerdict,
    GroupAckCode,
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
from ._compiled import (
    CompiledMap,
    LoopRule,
    SegmentRule,
    compiled_811_map,
    fast_valid,
)
from ._options import ValidationOptions
from ._reader import SegmentReader
from ._segment import Delimiters

__all__ = ["validate"]

_HL_PARENT_LEVEL = {"1": "", "2": "1", "4": "2", "5": "4"}
_HL_DEPTH = 32  # ancestors kept; this profile nests 4 levels
_ENVELOPE = frozenset(("ISA", "IEA", "GS", "GE", "ST", "SE"))
_MEMO_LIMIT = 100_000  # memoised steps per engine: bounded even for hostile qualifiers
_ENV = object()  # hot-loop mark: an envelope segment, handled by a method
_UNSET = object()
_MISSING = "missing"  # key prefix in a frame's counts: a required child already reported


class _Qual(dict[str, Any]):
    """Steps of one segment id keyed by its qualifier element (at ``pos``)."""

    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        super().__init__()
        self.pos = pos


# --- mutable builders, turned into the frozen verdict models at the end -------------------
@dataclass(slots=True)
class _Frame:
    loop: LoopRule
    counts: dict[Any, int] = field(default_factory=dict)  # child rule -> occurrences


@dataclass(slots=True)
class _Set:
    control_number: str
    start: int  # file position of ST
    id_code: str
    codes: set[str] = field(default_factory=set)
    issues: list[Issue] = field(default_factory=list)
    truncated: int = 0
    segment_errors: int = 0
    segments: int = 1
    policies: int = 0
    vehicles: int = 0
    current: SegmentRule | None = None
    frames: list[_Frame] = field(default_factory=list)
    hl_count: int = 0
    hl_stack: list[tuple[str, str]] = field(default_factory=list)  # (HL01, HL03) ancestors
    policy_number: str | None = None
    policy_hl: int = 0  # position in the set (ST = 1) of the open policy's HL; 0: none
    rejected: set[int] = field(default_factory=set)  # policy_hl of policies in error
    closed: bool = False


@dataclass(slots=True)
class _Group:
    control_number: str
    functional_id: str
    version: str
    sender: str
    receiver: str
    codes: set[str] = field(default_factory=set)
    sets: list[_Set] = field(default_factory=list)
    set_ids: set[str] = field(default_factory=set)
    included: int = 0
    closed: bool = False
    unsupported: bool = False


@dataclass(slots=True)
class _Interchange:
    fields: list[str]
    delimiters: Delimiters
    # TA1 findings by kind, kept apart so the note code is picked in pyx12's order (_ta1)
    duplicate: bool = False  # 025
    cut_short: bool = False  # 022: the next ISA came before an IEA
    structure: list[str] = field(default_factory=list)  # 024 unterminated group, 001, 021, 023
    elements: list[str] = field(default_factory=list)  # ISA then IEA element codes
    outside: bool = False  # 024: segments outside any set
    profile: list[str] = field(default_factory=list)  # 007, 008, 006
    groups: list[_Group] = field(default_factory=list)
    group_ids: set[str] = field(default_factory=set)
    closed: bool = False

    def ta1(self) -> Ta1:
        if _get(self.fields, 12) != "00401":
            return Ta1(ack_code="R", note_code="017")  # another version: not read further
        codes = (["025"] if self.duplicate else []) + (["022"] if self.cut_short else [])
        codes += self.structure + self.elements + (["024"] if self.outside else []) + self.profile
        return ta1_for(codes)


class _Engine:
    def __init__(self, cmap: CompiledMap, options: ValidationOptions) -> None:
        self.m = cmap
        self.options = options
        self.cap = options.max_errors_per_set
        self.interchanges: list[_Interchange] = []
        self.isa_ids: set[str] = set()
        self.ix: _Interchange | None = None
        self.group: _Group | None = None
        self.set: _Set | None = None
        self.delimiters = Delimiters()
        self.position = 0
        # hot-loop tables (see run): per map segment, the steps by segment id
        self._envelope_marks = {sid: _ENV for sid in _ENVELOPE}
        self._outside_table: dict[str, Any] = dict(self._envelope_marks)
        self._matchers: dict[int, Any] = {}
        self._next: list[dict[str, Any] | None] = [None] * len(cmap.segments)
        self._memo_size = 0
        # parallel runs (_parallel): where the walk is handed over, and a worker's limits
        self.handoff_at: int | None = None
        self.handoff: tuple[Any, ...] | None = None
        self.speculate_hl = False
        self.stop_at_envelope_after: int | None = None
        self.stop_ids: frozenset[str] = _ENVELOPE  # the envelope ids a worker stops at
        self.stopped_at: tuple[int, str] | None = None

    # --- issues -------------------------------------------------------------------------
    def _issue(self, st: _Set, issue: Issue) -> None:
        if len(st.issues) < self.cap:
            st.issues.append(issue)
        else:
            st.truncated += 1

    @staticmethod
    def _scope(st: _Set, seg_id: str, loop: LoopRule | None) -> int | None:
        """The policy an error belongs to (guide §3, scope of a rejection): the open policy
        when the error is in a loop of its HL subtree and not on an HL (an HL error breaks
        the hierarchy); None (the set's error) otherwise.  Errors found while the walk
        closes a policy's loops come before the next HL opens another, so they are that
        policy's."""
        if st.policy_hl and seg_id != "HL" and loop is not None and loop.in_policy:
            st.rejected.add(st.policy_hl)
            return st.policy_hl
        st.segment_errors += 1
        return None

    def _seg_issue(self, st: _Set, code: str, seg_id: str, position: int, loop: LoopRule | None,
                   detail: str = "") -> None:
        scope = self._scope(st, seg_id, loop)
        text = AK3_TEXT.get(code, "segment error")
        self._issue(st, Issue(
            code=code, ack="AK3", message=f"{seg_id}: {text}{detail}", segment_id=seg_id,
            segment_position=position - st.start + 1, loop_id=_loop_id(loop),
            policy_number=st.policy_number, policy_position=scope,
        ))

    def _ele_issue(self, st: _Set, code: str, rule: SegmentRule, position: int, ref: str,
                   element_position: int | None, component: int | None, data_element: str | None,
                   name: str | None) -> None:
        scope = self._scope(st, rule.id, rule.loop)
        text = AK4_TEXT.get(code, "data element error")
        label = f"{ref} ({name})" if name else ref
        self._issue(st, Issue(
            code=code, ack="AK4", message=f"{label}: {text}", segment_id=rule.id,
            segment_position=position - st.start + 1, loop_id=_loop_id(rule.loop), element=ref,
            element_position=element_position, component_position=component,
            data_element=data_element, policy_number=st.policy_number, policy_position=scope,
        ))

    # --- segments -----------------------------------------------------------------------
    def _outside(self, position: int) -> None:
        # A segment outside any transaction set (or a trailer without its header): invalid
        # interchange content, as the pyx12 engine reports it.
        target = self.ix or (self.interchanges[-1] if self.interchanges else None)
        if target is not None:
            target.outside = True

    def _step(self, current: SegmentRule, f: list[str]) -> tuple[Any, ...]:
        """The memoised transition from ``current`` for ``f`` with what the hot loop needs:
        (pops or None when nothing opens or closes, pushes, target, skipped, whole-segment
        matcher, extra value checks, syntax checks, use limit, kind: 1 HL, 2 REF*IG, 0)."""
        pops, pushes, target, skipped = self.m.transition(current, f)
        f0 = f[0]
        kind = 1 if f0 == "HL" else 2 if f0 == "REF" and len(f) > 1 and f[1] == "IG" else 0
        if target is None:
            return (None, (), None, (), None, (), (), 0, kind)
        matcher = self._matchers.get(target.index, _UNSET)
        if matcher is _UNSET:
            matcher = self._matchers[target.index] = self.m.matcher(
                target, self.delimiters.element, self.delimiters.component)
        limit = 0 if target.usage == "N" else target.max_use
        return (pops if (pops or pushes or skipped) else None, pushes, target, skipped, matcher,
                target.extras, target.syntax_checks, limit, kind)

    def _remember(self, table: dict[Any, Any], key: Any, step: tuple[Any, ...]) -> None:
        if self._memo_size < _MEMO_LIMIT:  # bounded even for hostile qualifiers
            table[key] = step
            self._memo_size += 1

    def _table(self, current: SegmentRule) -> dict[str, Any]:
        """The per-map-segment dict of steps keyed by segment id (a ``_Qual`` for ids the
        map tells apart by a qualifier element), seeded with the envelope ids."""
        table = self._next[current.index]
        if table is None:
            table = self._next[current.index] = dict(self._envelope_marks)
            for sid, pos in self.m.qualifier_position.items():
                if sid not in table:
                    table[sid] = _Qual(pos)
        return table

    def run(self, reader: SegmentReader) -> None:
        """Validate every segment ``reader`` yields: the hot loop.  It resumes from the
        engine's state (``position``, open set), so several readers over consecutive byte
        ranges of one file may be run in turn (see ``_parallel``).

        Per segment in the common case: one split, one or two dict look-ups (memoised
        transition), one count, one regex ``fullmatch`` of the raw text; everything else
        (envelope, HL, errors, loops opening or closing) leaves the loop for a method."""
        handlers = {sid: getattr(self, "_" + sid.lower()) for sid in _ENVELOPE}
        n = self.position
        st = self.set
        current = st.current if st is not None else None
        table: dict[str, Any] = self._outside_table if current is None else self._table(current)
        counts: dict[Any, int] = st.frames[-1].counts if st is not None and st.frames else {}
        stop_after = self.stop_at_envelope_after
        try:
            for batch in reader.batches():
                d = reader.delimiters
                sep = d.element
                if (sep, d.segment) != (self.delimiters.element, self.delimiters.segment):
                    self._new_delimiters(Delimiters(sep, self.delimiters.component, d.segment))
                for p in batch:
                    n += 1
                    f = p.split(sep)
                    f0 = f[0]
                    e = table.get(f0)
                    if e.__class__ is not tuple:
                        if e is _ENV:
                            if st is not None:
                                st.current = current
                            if stop_after is not None and n > stop_after and f0 in self.stop_ids:
                                # a worker's range ends at the first envelope segment
                                self.stopped_at = (n, f0)
                                n -= 1
                                return
                            if f0 == "ISA":
                                comp = p[104] if len(p) > 104 else ":"
                                if (sep, comp) != (self.delimiters.element,
                                                   self.delimiters.component):
                                    self._new_delimiters(Delimiters(sep, comp, d.segment))
                            handlers[f0](f, n)
                            st = self.set
                            if st is None:
                                current = None
                                table = self._outside_table
                            else:
                                current = st.current
                                assert current is not None
                                table = self._table(current)
                                counts = st.frames[-1].counts
                            continue
                        if st is None:
                            self._outside(n)
                            continue
                        assert current is not None
                        if e is None:
                            e = self._step(current, f)
                            self._remember(table, f0, e)
                        else:
                            q = f[e.pos] if e.pos < len(f) else ""
                            hit = e.get(q)
                            if hit is None:
                                hit = self._step(current, f)
                                self._remember(e, q, hit)
                            e = hit
                    assert st is not None and current is not None
                    if e[0] is not None:
                        # loops close or open: the general path
                        st.current = current
                        self._apply(st, e, f, p, n)
                        current = st.current
                        table = self._next[current.index] or self._table(current)
                        counts = st.frames[-1].counts
                        continue
                    _pops, _pushes, target, _skipped, match, extras, syntax, limit, kind = e
                    if kind == 1:
                        # numbering, parents and counts are checked on every HL, found in the
                        # map or not
                        self._hl(st, f, n)
                    if target is None:
                        self._seg_issue(st, "1", f0, n, current.loop)
                        continue
                    c = counts.get(target, 0) + 1
                    counts[target] = c
                    if current is not target:
                        current = target
                        table = self._next[target.index] or self._table(target)
                    if c > limit:
                        self._seg_issue(st, "2" if target.usage == "N" else "5", f0, n,
                                        target.loop)
                    if kind == 2 and len(f) > 2:
                        st.policy_number = f[2]  # the record key (cli.md), not personal data
                    if f[-1] == "" and len(f) > 1:
                        # trailing element separators (pyx12 "SEG1" -> AK3 8)
                        self._seg_issue(st, "8", f0, n, target.loop, " (trailing separators)")
                    if match is not None and match(p) is not None:
                        for seq, ok in extras:
                            if seq < len(f) and f[seq] and not ok(f[seq]):
                                break
                        else:
                            for check in syntax:
                                if not check(f):
                                    break
                            else:
                                continue
                    self._check_elements(st, target, f, n)
        finally:
            if st is not None and current is not None:
                st.current = current
            self.position = n

    def _check_elements(self, st: _Set, target: SegmentRule, f: list[str], n: int) -> None:
        if not fast_valid(target, f, self.delimiters.component):
            errors = self.m.pyx12_element_errors(target, f, self.delimiters)
            if errors:
                self._element_errors(st, target, errors, n)

    def _apply(self, st: _Set, e: tuple[Any, ...], f: list[str], p: str, n: int,
               phase: str = "all") -> None:
        """One step that closes or opens loops.  ``phase`` splits it at the point where the
        loops of the previous policy are closed ("pops": up to there, "rest": from there):
        a parallel run hands the walk over at that point (``_parallel``)."""
        pops, pushes, target, skipped, match, extras, syntax, limit, kind = e
        f0 = f[0]
        frames = st.frames
        if phase != "rest":
            if target is None:
                if kind == 1:
                    self._hl(st, f, n)
                self._seg_issue(st, "1", f0, n, st.current.loop if st.current else None)
                return
            for _ in range(pops):
                self._close_frame(st, frames.pop(), n)
            if skipped:
                self._skipped(st, frames[-1], skipped, n)
            if n == self.handoff_at:
                self.handoff = self._freeze(st, f, pushes)
            if phase == "pops":
                return
        assert target is not None
        if kind == 1:
            self._hl(st, f, n)
        for loop in pushes:
            counts = frames[-1].counts
            c = counts.get(loop, 0) + 1
            counts[loop] = c
            if c > loop.max_repeat:
                self._seg_issue(st, "4", f0, n, loop)
            frames.append(_Frame(loop))
        counts = frames[-1].counts
        c = counts.get(target, 0) + 1
        counts[target] = c
        st.current = target
        if c > limit:
            self._seg_issue(st, "2" if target.usage == "N" else "5", f0, n, target.loop)
        if kind == 2 and len(f) > 2:
            st.policy_number = f[2]
        if f[-1] == "" and len(f) > 1:
            self._seg_issue(st, "8", f0, n, target.loop, " (trailing separators)")
        if match is not None and match(p) is not None:
            for seq, ok in extras:
                if seq < len(f) and f[seq] and not ok(f[seq]):
                    break
            else:
                for check in syntax:
                    if not check(f):
                        break
                else:
                    return
        self._check_elements(st, target, f, n)

    # --- hand-over between processes (see _parallel) --------------------------------------
    def step_for(self, p: str) -> tuple[Any, ...] | None:
        """The step of raw segment ``p`` from the open set's current segment, or None."""
        st = self.set
        if st is None or st.current is None:
            return None
        f = p.split(self.delimiters.element)
        if f[0] in _ENVELOPE:
            return None
        return self._step(st.current, f)

    def _freeze(self, st: _Set, f: list[str], pushes: tuple[LoopRule, ...]) -> tuple[Any, ...]:
        """What decides the rest of the walk, at the hand-over point of a policy HL (loops of
        the previous policy closed, this one's not yet opened): open loops with their counts
        as far as they can still matter, HL numbering and ancestors.  Two runs that reach
        the same frozen state continue identically."""
        if self.speculate_hl:
            # a worker guesses that the HLs before its range were numbered right; the
            # comparison with the real state proves it or discards the worker's result
            st.hl_count = (_int(f[1]) or 1) - 1 if len(f) > 1 else st.hl_count
        frames = []
        for i, frame in enumerate(st.frames):
            counts = dict(frame.counts)
            if i == len(st.frames) - 1:
                for loop in pushes[:1]:
                    counts[loop] = counts.get(loop, 0) + 1
            frames.append((frame.loop.index, tuple(sorted(
                (_key(k), _relevant_count(k, v)) for k, v in counts.items()))))
        # the HL ancestors as this HL's parent check will see them (_hl)
        stack = st.hl_stack
        parent = f[2] if len(f) > 2 else ""
        i = len(stack) - 1
        while i >= 0 and stack[i][0] != parent:
            i -= 1
        ancestors = tuple(stack[: i + 1] if parent and i >= 0 else stack)
        return (tuple(frames), tuple(x.index for x in pushes), st.hl_count, ancestors,
                st.id_code, self.delimiters)

    def export_walk(self) -> tuple[Any, ...]:
        """The open set's walk state, exactly, as plain data (crosses a process boundary)."""
        st = self.set
        assert st is not None and st.current is not None
        return (st.current.index,
                [(fr.loop.index, [(_key(k), v) for k, v in fr.counts.items()]) for fr in st.frames],
                st.hl_count, list(st.hl_stack), st.policy_number)

    def import_walk(self, walk: tuple[Any, ...]) -> None:
        st = self.set
        assert st is not None
        current, frames, st.hl_count, hl_stack, st.policy_number = walk
        st.current = self.m.segments[current]
        st.hl_stack = list(hl_stack)
        st.frames = []
        for loop_index, counts in frames:
            frame = _Frame(self.m.loops[loop_index])
            frame.counts = {self._unkey(k): v for k, v in counts}
            st.frames.append(frame)

    def _unkey(self, key: tuple[Any, ...]) -> Any:
        rule = self.m.loops[key[-1]] if key[-2] == "L" else self.m.segments[key[-1]]
        return (_MISSING, rule) if key[0] == "M" else rule

    def _new_delimiters(self, delimiters: Delimiters) -> None:
        # matchers and steps hold delimiter-specific regexes: start them afresh
        self.delimiters = delimiters
        self._matchers = {}
        self._next = [None] * len(self.m.segments)
        self._memo_size = 0

    def _element_errors(
        self, st: _Set, rule: SegmentRule, errors: list[Any], position: int
    ) -> None:
        for e in errors:
            node = getattr(e, "map_node", None)
            component = None
            if node is not None:
                parent = node.parent
                if parent is not None and parent.is_composite():
                    element_position, component = parent.seq, node.seq
                else:
                    element_position = node.seq
                ref = node.id or e.refdes or rule.id
                data_element = node.data_ele
                name = node.name
            else:
                try:
                    element_position = int(str(e.refdes)[:2])
                except (TypeError, ValueError):
                    element_position = None
                ref = f"{rule.id}{element_position:02d}" if element_position else rule.id
                data_element, name = None, None
            self._ele_issue(st, e.err_cde, rule, position, ref, element_position, component,
                            data_element, name)

    def _hl(self, st: _Set, f: list[str], position: int) -> None:
        rule = self.m.hl
        st.hl_count += 1
        hl_id = f[1] if len(f) > 1 else ""
        parent = f[2] if len(f) > 2 else ""
        level = f[3] if len(f) > 3 else ""
        if level == "4":
            st.policies += 1
            st.policy_number = None
            st.policy_hl = position - st.start + 1
        elif level == "5":
            st.vehicles += 1
        elif level in ("1", "2"):
            st.policy_hl = 0
        if _int(hl_id) != st.hl_count:
            self._ele_issue(st, "7", rule, position, "HL01", 1, None, "628",
                            "Hierarchical ID Number (out of sequence)")
        stack = st.hl_stack
        if parent:
            # the nearest ancestor with that id; those above it are closed
            i = len(stack) - 1
            while i >= 0 and stack[i][0] != parent:
                i -= 1
            if i < 0:
                self._ele_issue(st, "7", rule, position, "HL02", 2, None, "734",
                                "Hierarchical Parent ID Number (no such parent)")
                parent_level = None
            else:
                del stack[i + 1:]
                parent_level = stack[i][1]
            want = _HL_PARENT_LEVEL.get(level)
            if parent_level is not None and want is not None and parent_level != want:
                self._ele_issue(
                    st, "7", rule, position, "HL02", 2, None, "734",
                    f"Hierarchical Parent ID Number (level {level} under level {parent_level})",
                )
        else:
            stack.clear()
        stack.append((hl_id, level))
        if len(stack) > _HL_DEPTH:  # hostile parent chains must not grow memory
            del stack[0]

    def _skipped(self, st: _Set, frame: _Frame, skipped: tuple[Any, ...], position: int) -> None:
        # Required segments or loops the walk stepped over: reported where the walk noticed
        # (the position of the segment it matched), as pyx12's walker does, and only once.
        counts = frame.counts
        for child in skipped:
            if counts.get(child, 0) == 0 and (_MISSING, child) not in counts:
                counts[(_MISSING, child)] = 1
                self._missing(st, frame, child, position)

    def _missing(self, st: _Set, frame: _Frame, child: Any, position: int) -> None:
        if isinstance(child, LoopRule):
            first = child.first_segment()
            self._seg_issue(st, "3", first.id if first else child.id, position, child)
        else:
            self._seg_issue(st, "3", child.id, position, frame.loop)

    def _close_frame(
        self, st: _Set, frame: _Frame, position: int, include_se: bool = False
    ) -> None:
        counts = frame.counts
        for child in frame.loop.required:
            if (child not in counts and (_MISSING, child) not in counts
                    and (child.id != "SE" or include_se)):
                self._missing(st, frame, child, position)

    # --- envelope -----------------------------------------------------------------------
    def export_sets(self) -> list[_Set]:
        """The closed sets of the open group, made plain for another process."""
        g = self.group
        out = []
        for st in g.sets if g is not None else []:
            st.current = None
            st.frames = []
            out.append(st)
        return out

    def adopt_sets(self, sets: list[_Set], offset: int) -> None:
        """Append closed sets validated by another process to the open group (file
        positions moved by ``offset``); duplicate control numbers are judged here."""
        g = self.group
        assert g is not None
        for st in sets:
            st.start += offset
            st.codes.discard("23")
            if st.control_number in g.set_ids:
                st.codes.add("23")
            g.set_ids.add(st.control_number)
            g.sets.append(st)

    def _isa(self, f: list[str], position: int) -> None:
        if self.ix is not None and not self.ix.closed:
            self._close_interchange("022")  # cut short by the next ISA: no IEA
        ix = _Interchange(fields=f, delimiters=self.delimiters)
        self.ix = ix
        self.interchanges.append(ix)
        for e in self.m.element_errors(self.m.isa, f, self.delimiters):
            node = getattr(e, "map_node", None)
            pos = node.seq if node is not None else None
            code = ISA_ELEMENT_NOTE.get(pos or 0)
            if code:
                ix.elements.append(code)
        control = f[13] if len(f) > 13 else ""
        if control in self.isa_ids:
            ix.duplicate = True
        self.isa_ids.add(control)
        o = self.options
        if _get(f, 7).strip() != o.receiver_qualifier:
            ix.profile.append("007")
        if _get(f, 8).strip() != o.receiver_id:
            ix.profile.append("008")
        sender = (_get(f, 5).strip(), _get(f, 6).strip())
        if o.known_senders is not None and sender not in o.known_senders:
            ix.profile.append("006")

    def _iea(self, f: list[str], position: int) -> None:
        ix = self.ix
        if ix is None or ix.closed:
            self._outside(position)
            return
        if self.group is not None and not self.group.closed:
            ix.structure.append("024")  # a group left open (pyx12: unterminated loop)
            self._close_group("3")
        if _get(f, 2) != _get(ix.fields, 13):
            ix.structure.append("001")
        if _int(_get(f, 1)) != len(ix.groups):
            ix.structure.append("021")
        for e in self.m.element_errors(self.m.iea, f, self.delimiters):
            node = getattr(e, "map_node", None)
            if node is not None:
                ix.elements.append(IEA_ELEMENT_NOTE.get(node.seq, "024"))
        ix.closed = True
        self.ix = None

    def _gs(self, f: list[str], position: int) -> None:
        ix = self.ix
        if ix is None:
            self._outside(position)
            return
        if self.group is not None and not self.group.closed:
            ix.structure.append("024")  # the previous group was never closed by a GE
            self._close_group("3")
        g = _Group(control_number=_get(f, 6), functional_id=_get(f, 1), version=_get(f, 8),
                   sender=_get(f, 2).strip(), receiver=_get(f, 3).strip())
        if g.control_number in ix.group_ids:
            g.codes.add("6")
        ix.group_ids.add(g.control_number)
        for e in self.m.element_errors(self.m.gs, f, self.delimiters):
            node = getattr(e, "map_node", None)
            if node is not None:  # AK9 has no code for "too many elements" (pyx12 drops it)
                g.codes.add(GS_ELEMENT_CODE.get(node.seq, "1"))
                if node.seq in (1, 8):
                    g.unsupported = True  # functional id or version without a map
        ix.groups.append(g)
        self.group = g

    def _ge(self, f: list[str], position: int) -> None:
        g = self.group
        if g is None or g.closed:
            self._outside(position)
            return
        if self.set is not None:
            # the GE closes a set that has no SE: AK5 2, and the walk reports what the set
            # still misses, the SE included (as pyx12's walker does)
            self.set.segments = position - self.set.start
            self._close_set("2", check_missing=True)
        if _get(f, 2) != g.control_number:
            g.codes.add("4")
        included = _int(_get(f, 1))
        g.included = included if included is not None else 0
        if included != len(g.sets):
            g.codes.add("5")
        for e in self.m.element_errors(self.m.ge, f, self.delimiters):
            node = getattr(e, "map_node", None)
            if node is not None:
                g.codes.add(GE_ELEMENT_CODE.get(node.seq, "1"))
        g.closed = True
        self.group = None

    def _st(self, f: list[str], position: int) -> None:
        g = self.group
        if g is None:
            self._outside(position)
            return
        if self.set is not None:
            self._close_set("2")
        st = _Set(control_number=_get(f, 2), start=position, id_code=_get(f, 1))
        if st.control_number in g.set_ids:
            st.codes.add("23")
        g.set_ids.add(st.control_number)
        st_errors = self.m.element_errors(self.m.st, f, self.delimiters)
        root = _Frame(self.m.st_loop)
        root.counts[self.m.st] = 1
        st.frames = [root]
        st.current = self.m.st
        g.sets.append(st)
        self.set = st
        # ST01/ST02 errors are AK5 codes 6/7 (ST01 must be 811: the map's code list);
        # "too many elements" is an ordinary AK4 3.
        for e in st_errors:
            node = getattr(e, "map_node", None)
            if node is not None:
                st.codes.add(ST_ELEMENT_CODE.get(node.seq, "6"))
            else:
                self._element_errors(st, self.m.st, [e], position)

    def _se(self, f: list[str], position: int) -> None:
        st = self.set
        if st is None:
            self._outside(position)
            return
        st.segments = position - st.start + 1  # ST to SE, both counted
        self._walk_to_se(st, f, position)
        for e in self.m.element_errors(self.m.se, f, self.delimiters):
            node = getattr(e, "map_node", None)
            if node is not None:
                st.codes.add(ST_ELEMENT_CODE.get(node.seq, "6"))
            else:
                self._element_errors(st, self.m.se, [e], position)
        if _get(f, 2) != st.control_number:
            st.codes.add("3")
        if _int(_get(f, 1)) != st.segments:
            st.codes.add("4")
        self._close_set(None)

    def _walk_to_se(self, st: _Set, f: list[str], position: int) -> None:
        # SE closes every loop still open; its element errors are AK5 codes (pyx12), so
        # only the walk of the hot loop is done here.
        assert st.current is not None
        pops, _pushes, target, skipped = self.m.transition(st.current, f)
        if target is None:
            self._seg_issue(st, "1", "SE", position, st.current.loop)
            return
        for _ in range(pops):
            self._close_frame(st, st.frames.pop(), position)
        if skipped:
            self._skipped(st, st.frames[-1], skipped, position)
        st.current = target
        st.frames[-1].counts[target] = 1

    def _close_set(self, code: str | None, *, check_missing: bool = False) -> None:
        st = self.set
        assert st is not None
        if code:
            st.codes.add(code)
        end = st.start + st.segments
        # a set cut short by ST or end of file is reported by its AK5 code alone (pyx12)
        if code is None or check_missing:
            while st.frames:
                self._close_frame(st, st.frames.pop(), end, include_se=check_missing)
        st.frames.clear()
        st.closed = True
        self.set = None

    def _close_group(self, code: str | None) -> None:
        g = self.group
        assert g is not None
        if self.set is not None:
            self._close_set("2")
        if code:
            g.codes.add(code)
        g.closed = True
        self.group = None

    def _close_interchange(self, note: str) -> None:
        if self.group is not None:
            self._close_group("3")
        if self.ix is not None:
            if note == "022":
                self.ix.cut_short = True
            else:
                self.ix.structure.append(note)
            self.ix.closed = True
            self.ix = None

    def finish(self) -> None:
        if self.set is not None:
            self._close_set("2")
        if self.group is not None:
            self._close_group("3")
        if self.ix is not None:
            self._close_interchange("023")

    # --- verdict ------------------------------------------------------------------------
    def verdict(self, name: str, error: FileError | None) -> FileVerdict:
        out = [self._ix_verdict(ix) for ix in self.interchanges]
        accepted = error is None and bool(out) and all(
            ix.ta1.ack_code == "A"
            and all(g.ack_code in ("A", "E") for g in ix.groups)
            for ix in out
        )
        return FileVerdict(file=name, accepted=accepted, error=error, interchanges=out)

    def _ix_verdict(self, ix: _Interchange) -> InterchangeVerdict:
        f, d = ix.fields, ix.delimiters
        ta1 = ix.ta1()
        return InterchangeVerdict(
            control_number=_get(f, 13).strip(), sender_qualifier=_get(f, 5).strip(),
            sender_id=_get(f, 6).strip(), receiver_qualifier=_get(f, 7).strip(),
            receiver_id=_get(f, 8).strip(), version=_get(f, 12), test=_get(f, 15) == "T",
            ack_requested=_get(f, 14) == "1", element_separator=d.element,
            component_separator=d.component, segment_terminator=d.segment, ta1=ta1,
            # an interchange of another version (TA1 017) is not read further (pyx12 has no
            # 00401 reading of it)
            groups=[] if _get(f, 12) != "00401" else [self._group_verdict(g) for g in ix.groups],
            date=_get(f, 9), time=_get(f, 10),
        )

    def _group_verdict(self, g: _Group) -> GroupVerdict:
        # A group whose functional id or version is not supported (AK9 1/2) is not read
        # further: its sets get no AK2/AK5 (pyx12 has no map for it).
        sets = [] if g.unsupported else [self._set_verdict(s) for s in g.sets]
        accepted = sum(1 for s in sets if s.ack_code in ("A", "E"))
        codes = sorted(g.codes)
        ack: GroupAckCode
        if codes or accepted == 0:
            ack = "R"
        elif accepted == len(sets):
            ack = "E" if any(s.ack_code == "E" for s in sets) else "A"
        else:
            ack = "P"
        return GroupVerdict(
            control_number=g.control_number, functional_id=g.functional_id, version=g.version,
            sender=g.sender, receiver=g.receiver, ack_code=ack, error_codes=codes[:5],
            sets_included=g.included, sets_received=len(g.sets), sets_accepted=accepted,
            transaction_sets=sets,
        )

    def _set_verdict(self, st: _Set) -> TransactionSetVerdict:
        codes = set(st.codes)
        if st.segment_errors or (codes and st.rejected):
            # a set rejected for any reason: the errors inside its policies are its own too
            codes.add("5")
        # Errors inside policies alone: the set is accepted with errors noted (AK5 E), those
        # policies are rejected (guide §3).  With any error of the set's own, it is rejected.
        ack: AckCode = "R" if codes else "E" if st.rejected else "A"
        issues = st.issues
        if ack == "R" and st.rejected:
            issues = [unscoped(i) for i in issues]
        return TransactionSetVerdict(
            control_number=st.control_number, id_code=st.id_code,
            ack_code=ack, error_codes=sorted(codes)[:5] if codes else ["5"] if st.rejected else [],
            policies=st.policies, vehicles=st.vehicles, errors=issues,
            errors_truncated=st.truncated,
            rejected_policies=sorted(st.rejected) if ack == "E" else [],
        )


def unscoped(issue: Issue) -> Issue:
    """The issue of a rejected set: the whole set is rejected, not the policy it is in."""
    if issue.policy_position is None:
        return issue
    return issue.model_copy(update={"policy_position": None})


def _key(k: Any) -> tuple[Any, ...]:
    # a frame count's key as plain data: ("L"|"S", index), or ("M", "L"|"S", index) for the
    # mark of a required child already reported missing
    if isinstance(k, tuple):
        inner = k[1]
        return ("M", "L" if isinstance(inner, LoopRule) else "S", inner.index)
    return ("L" if isinstance(k, LoopRule) else "S", k.index)


def _relevant_count(k: Any, v: int) -> int:
    # what a count can still change: whether it is zero (missing checks) and, for a bounded
    # rule, whether it is over the bound; unbounded repeats only count as "seen"
    if isinstance(k, tuple):
        return 1
    limit = k.max_repeat if isinstance(k, LoopRule) else (0 if k.usage == "N" else k.max_use)
    return min(v, limit + 1) if limit < 1 << 20 else min(v, 1)


def _get(f: list[str], n: int) -> str:
    return f[n] if n < len(f) else ""


def _int(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _loop_id(loop: LoopRule | None) -> str | None:
    if loop is None or getattr(loop.node, "type", None) in ("wrapper", "explicit"):
        return None
    return loop.id


def validate(
    stream: BinaryIO,
    *,
    name: str,
    options: ValidationOptions = ValidationOptions(),
    chunk_size: int = 1 << 20,
) -> FileVerdict:
    """Validate one X12 file; never raises on bad input (see the module doc)."""
    engine = _Engine(compiled_811_map(), options)
    reader = SegmentReader(
        stream, chunk_size=chunk_size, max_segment_length=options.max_segment_length
    )
    error: FileError | None = None
    try:
        engine.run(reader)
    except InputError as exc:
        error = FileError(code=exc.code, message=exc.message,
                          segment_position=exc.location.segment_position)
    engine.finish()
    return engine.verdict(name, error)
