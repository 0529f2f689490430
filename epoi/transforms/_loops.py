"""Cutting a ``PolicyBlock`` into the loops of the profile and reading the field table
(``Profile.rules``) over them.  Each value keeps the segment it came from, so that a
business edit can say where the fault is."""

from __future__ import annotations

import operator
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from ..parsers import PolicyBlock, Segment
from ._profile import LoopKind, Profile

__all__ = ["Found", "Loop", "PolicyLoops", "extract", "split"]


@dataclass(frozen=True, slots=True)
class Found:
    """One element as sent, with its segment and element name (e.g. ``VEH02``)."""

    value: str
    segment: Segment
    element: str


class Loop:
    """One loop's segments and what the profile's rules read there.  ``values`` holds each
    field as sent, stripped, for the report; ``fields`` adds where each came from (segment
    and element name), which the business edits want only to locate a finding, so a loop
    read by ``extract`` builds it on first use.  Not to be changed once made."""

    __slots__ = ("_fields", "_hits", "_rules", "segments", "values")

    def __init__(self, segments: Sequence[Segment], fields: Mapping[str, Found]) -> None:
        self.segments: tuple[Segment, ...] = tuple(segments)
        self.values: dict[str, str] = {name: f.value.strip() for name, f in fields.items()}
        self._fields: dict[str, Found] | None = dict(fields)
        self._hits: list[Segment | None] = []
        self._rules: tuple[_Read, ...] = ()

    @classmethod
    def _read(
        cls, segments: tuple[Segment, ...], table: _Table, hits: list[Segment | None],
        values: dict[str, str],
    ) -> Loop:
        """The loop once its segments were matched (``hits``: the segment of each group of
        rules, ``values`` of the fields one rule fills); the fields several rules fill are
        read now, from the later rule that matched."""
        for element, name, _, g in table.shared_fields:
            seg = hits[g]
            if seg is not None:
                values[name] = seg.fields[element].strip() if element < len(seg.fields) else ""
        loop = cls.__new__(cls)
        loop.segments, loop.values, loop._fields = segments, values, None
        loop._hits, loop._rules = hits, table.rules
        return loop

    @property
    def fields(self) -> dict[str, Found]:
        """Field name -> the element as sent (not stripped), its segment and element name."""
        if self._fields is None:
            # in rule order: when two rules fill a field, the later one that matched wins
            hits = self._hits
            self._fields = {
                name: Found(seg.fields[element] if element < len(seg.fields) else "", seg, el)
                for element, name, el, g in self._rules
                if (seg := hits[g]) is not None
            }
        return self._fields

    @property
    def first(self) -> Segment | None:
        return self.segments[0] if self.segments else None

    def value(self, name: str) -> str:
        """The field as sent, stripped; "" when absent."""
        return self.values.get(name, "")

    def has(self, name: str) -> bool:
        """A rule of the field matched a segment (its element may still be empty)."""
        return name in self.values

    def where(self, name: str) -> tuple[Segment | None, str | None]:
        """The segment and element name the field came from; when no rule matched, the
        loop's first segment (its HL) and no element.  Reads no other field's location."""
        if self._fields is not None:
            found = self._fields.get(name)
            return (found.segment, found.element) if found else (self.first, None)
        for _, field, element_name, g in reversed(self._rules):
            seg = self._hits[g]
            if seg is not None and field == name:  # the later rule wins, as in ``fields``
                return seg, element_name
        return self.first, None

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Loop):
            return NotImplemented
        return self.segments == other.segments and self.fields == other.fields

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Loop(segments={self.segments!r}, fields={self.fields!r})"


class PolicyLoops(NamedTuple):
    """A policy block cut into the profile's loops (a tuple: made once per policy)."""

    insurer: Loop
    state: Loop
    policy: Loop  # the policy level's own segments (HL, LX, REF, SI, DTM ...)
    insureds: tuple[Loop, ...]
    vehicles: tuple[Loop, ...]


# A loop's rules compiled (``_compiled``).  Rules of one segment id with one qualifier form a
# group: they match the same segments, so the first of those fills all of them at once (one
# qualifier test for the six NM1*IL rules, not six).  By segment id, its groups:
# (group, qualifier element, qualifier code or None, (element, field) of each rule whose
# field no other rule fills).  By rule, in the profile's order: (element, field, element
# name, group).  The rules of a field that several rules fill, in order: read after the
# pass, so that the later rule that matched wins whatever the segments' order.
_Group = tuple[int, int, "str | None", tuple[tuple[int, str], ...]]
_Read = tuple[int, str, str, int]


@dataclass(frozen=True, slots=True)
class _Table:
    by_id: dict[str, tuple[_Group, ...]]
    rules: tuple[_Read, ...]
    shared_fields: tuple[_Read, ...]
    groups: int


# (id(profile), kind) -> (profile, table): a Profile holds mappings, so it is not hashable;
# the profile is kept with its table so that its id cannot be reused while cached.
_TABLES: dict[tuple[int, str], tuple[Profile, _Table]] = {}


def _compiled(profile: Profile, kind: LoopKind) -> _Table:
    """The loop's rules by segment id, compiled once per profile: extracting a loop is then
    one pass over its segments instead of one pass per rule."""
    hit = _TABLES.get((id(profile), kind))
    if hit is not None and hit[0] is profile:
        return hit[1]
    rules = profile.rules_for(kind)
    fills = Counter(r.field for r in rules)
    group_of: dict[tuple[str, int, str | None], int] = {}
    reads: list[_Read] = []
    for r in rules:
        q_el, q_code = r.qualifier if r.qualifier is not None else (0, None)
        g = group_of.setdefault((r.segment, q_el, q_code), len(group_of))
        reads.append((r.element, r.field, r.element_name, g))
    by_id: dict[str, list[_Group]] = {}
    for (seg_id, q_el, q_code), g in group_of.items():
        own = tuple((e, f) for e, f, _, rg in reads if rg == g and fills[f] == 1)
        by_id.setdefault(seg_id, []).append((g, q_el, q_code, own))
    table = _Table(
        by_id={k: tuple(v) for k, v in by_id.items()},
        rules=tuple(reads),
        shared_fields=tuple(r for r in reads if fills[r[1]] > 1),
        groups=len(group_of),
    )
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[(id(profile), kind)] = (profile, table)
    return table


def _read(segments: tuple[Segment, ...], table: _Table) -> Loop:
    hits: list[Segment | None] = [None] * table.groups
    values: dict[str, str] = {}
    by_id = table.by_id
    for segment in segments:
        f = segment.fields
        groups = by_id.get(f[0])
        if groups is None:
            continue
        n_f = len(f)
        for g, q_el, q_code, own in groups:
            if hits[g] is None and (
                q_code is None or (f[q_el].strip() if q_el < n_f else "") == q_code
            ):
                hits[g] = segment
                for element, name in own:
                    values[name] = f[element].strip() if element < n_f else ""
    return Loop._read(segments, table, hits, values)


def extract(segments: Sequence[Segment], kind: LoopKind, profile: Profile) -> Loop:
    """Each rule takes the first segment it matches, even when its element is empty there
    (the location of "missing" is then that segment); when two rules fill the same field,
    the later rule that matched anything wins."""
    return _read(tuple(segments), _compiled(profile, kind))


def _same(loop: Loop, segments: tuple[Segment, ...]) -> bool:
    seen = loop.segments
    return seen is segments or (
        len(seen) == len(segments) and all(map(operator.is_, seen, segments))
    )


@dataclass(slots=True, eq=False)
class _Splitter:
    """A profile's tables and level codes, compiled once; and the insurer and state loops
    last read.  Every policy of a set carries the same insurer and state segments (the very
    objects, often the same tuple), so those loops are read once per set, not once per
    policy: a memo, the loop being what ``extract`` gives for those segments."""

    profile: Profile
    insurer: _Table
    state: _Table
    policy: _Table
    insured: _Table
    vehicle: _Table
    last_insurer: Loop | None = None
    last_state: Loop | None = None


# id(profile) -> its splitter (which keeps the profile, so that the id is not reused)
_SPLITTERS: dict[int, _Splitter] = {}


def _splitter(profile: Profile) -> _Splitter:
    sp = _SPLITTERS.get(id(profile))
    if sp is None or sp.profile is not profile:
        if len(_SPLITTERS) > 16:
            _SPLITTERS.clear()
        sp = _SPLITTERS[id(profile)] = _Splitter(
            profile,
            insurer=_compiled(profile, "insurer"),
            state=_compiled(profile, "state"),
            policy=_compiled(profile, "policy"),
            insured=_compiled(profile, "insured"),
            vehicle=_compiled(profile, "vehicle"),
        )
    return sp


def split(block: PolicyBlock, profile: Profile) -> PolicyLoops:
    """The policy loop's segments come as: HL (policy), its own segments, its insured
    loops (each opened by NM1*IL), then vehicle HL loops, each to the next vehicle HL.
    One pass: each segment goes to its loop and is matched against that loop's rules (the
    same matching as ``extract``, inlined)."""
    sp = _splitter(profile)
    insurer_segments, state_segments = tuple(block.insurer), tuple(block.state)
    insurer = sp.last_insurer
    if insurer is None or not _same(insurer, insurer_segments):
        insurer = sp.last_insurer = _read(insurer_segments, sp.insurer)
    state = sp.last_state
    if state is None or not _same(state, state_segments):
        state = sp.last_state = _read(state_segments, sp.state)

    vehicle_level, insured_id = profile.vehicle_level, profile.insured_segment
    q_el, q_code = profile.insured_qualifier
    policy: Loop | None = None
    insureds: list[Loop] = []
    vehicles: list[Loop] = []
    # the loop being read: its kind (policy, insured, vehicle), table and findings so far
    kind, table = 0, sp.policy
    by_id = table.by_id
    hits: list[Segment | None] = [None] * table.groups
    values: dict[str, str] = {}
    segments = tuple(block.policy)
    start = 0  # the loop's first segment (a loop is a slice of the policy's segments)
    for i, segment in enumerate(segments):
        f = segment.fields
        seg_id = f[0]
        n_f = len(f)
        if seg_id == "HL" and (f[3].strip() if n_f > 3 else "") == vehicle_level:
            opens = 2
        elif (
            seg_id == insured_id
            and kind != 2  # inside the vehicle loops, every segment is a vehicle's
            and (f[q_el].strip() if q_el < n_f else "") == q_code
        ):
            opens = 1
        else:
            opens = 0
        if opens:
            loop = Loop._read(segments[start:i], table, hits, values)
            if kind == 0:
                policy = loop
            else:
                (insureds if kind == 1 else vehicles).append(loop)
            kind, table = opens, sp.insured if opens == 1 else sp.vehicle
            by_id = table.by_id
            hits, values, start = [None] * table.groups, {}, i
        # ``_read``'s matching, inlined: this loop runs for every segment of every policy.
        groups = by_id.get(seg_id)
        if groups is None:
            continue
        for g, g_el, g_code, own in groups:
            if hits[g] is None and (
                g_code is None or (f[g_el].strip() if g_el < n_f else "") == g_code
            ):
                hits[g] = segment
                for element, name in own:
                    values[name] = f[element].strip() if element < n_f else ""
    loop = Loop._read(segments[start:], table, hits, values)
    if kind == 0:
        policy = loop
    else:
        (insureds if kind == 1 else vehicles).append(loop)
    assert policy is not None  # the first loop read is the policy's own
    return PolicyLoops(insurer, state, policy, tuple(insureds), tuple(vehicles))
