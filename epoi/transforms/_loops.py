"""Cutting a ``PolicyBlock`` into the loops of the profile and reading the field table
(``Profile.rules``) over them.  Each value keeps the segment it came from, so that a
business edit can say where the fault is."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

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
        cls, segments: tuple[Segment, ...], rules: tuple[_Read, ...],
        hits: list[Segment | None], values: dict[str, str],
    ) -> Loop:
        loop = cls.__new__(cls)
        loop.segments, loop.values, loop._fields = segments, values, None
        loop._hits, loop._rules = hits, rules
        return loop

    @property
    def fields(self) -> dict[str, Found]:
        """Field name -> the element as sent (not stripped), its segment and element name."""
        if self._fields is None:
            # in rule order: when two rules fill a field, the later one that matched wins
            self._fields = {
                name: Found(seg.fields[element] if element < len(seg.fields) else "", seg, el)
                for (element, name, el), seg in zip(self._rules, self._hits, strict=True)
                if seg is not None
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
        for (_, field, element_name), seg in zip(
            reversed(self._rules), reversed(self._hits), strict=True
        ):
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


@dataclass(frozen=True, slots=True)
class PolicyLoops:
    insurer: Loop
    state: Loop
    policy: Loop  # the policy level's own segments (HL, LX, REF, SI, DTM ...)
    insureds: tuple[Loop, ...]
    vehicles: tuple[Loop, ...]


# A loop's rules compiled (``_compiled``): by segment id, (the rule's index in the loop's
# rules, qualifier element, qualifier code or None); and by index, what each rule reads:
# (element, field, element name).
_Match = tuple[int, int, "str | None"]
_Read = tuple[int, str, str]
_Table = tuple[dict[str, tuple[_Match, ...]], tuple[_Read, ...]]
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
    by_id: dict[str, list[_Match]] = {}
    for n, r in enumerate(rules):
        q_el, q_code = r.qualifier if r.qualifier is not None else (0, None)
        by_id.setdefault(r.segment, []).append((n, q_el, q_code))
    table = (
        {k: tuple(v) for k, v in by_id.items()},
        tuple((r.element, r.field, r.element_name) for r in rules),
    )
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[(id(profile), kind)] = (profile, table)
    return table


def extract(segments: Sequence[Segment], kind: LoopKind, profile: Profile) -> Loop:
    """Each rule takes the first segment it matches, even when its element is empty there
    (the location of "missing" is then that segment); when two rules fill the same field,
    the later rule that matched anything wins."""
    table, rules = _compiled(profile, kind)
    hits: list[Segment | None] = [None] * len(rules)
    for segment in segments:
        f = segment.fields
        matches = table.get(f[0])
        if matches is None:
            continue
        n_f = len(f)
        for n, q_el, q_code in matches:
            if hits[n] is None and (
                q_code is None or (f[q_el].strip() if q_el < n_f else "") == q_code
            ):
                hits[n] = segment
    values: dict[str, str] = {}
    for (element, name, _), seg in zip(rules, hits, strict=True):
        if seg is not None:
            f = seg.fields
            values[name] = f[element].strip() if element < len(f) else ""
    return Loop._read(tuple(segments), rules, hits, values)


# (id(profile), kind) -> (profile, segments, loop): the last insurer and state loop read.
# Every policy of a set carries the same insurer and state segments (the very objects, and
# often the same tuple), so each is read once per set, not once per policy.  A memo: the
# loop is what ``extract`` gives for those segments, whichever block asks.
_SHARED: dict[tuple[int, str], tuple[Profile, tuple[Segment, ...], Loop]] = {}


def _shared(segments: tuple[Segment, ...], kind: LoopKind, profile: Profile) -> Loop:
    key = (id(profile), kind)
    hit = _SHARED.get(key)
    if hit is not None and hit[0] is profile:
        seen = hit[1]
        if seen is segments or (
            len(seen) == len(segments) and all(map(operator.is_, seen, segments))
        ):
            return hit[2]
    loop = extract(segments, kind, profile)
    if len(_SHARED) > 64:
        _SHARED.clear()
    _SHARED[key] = (profile, loop.segments, loop)
    return loop


def split(block: PolicyBlock, profile: Profile) -> PolicyLoops:
    """The policy loop's segments come as: HL (policy), its own segments, its insured
    loops (each opened by NM1*IL), then vehicle HL loops, each to the next vehicle HL."""
    own: list[Segment] = []
    insureds: list[list[Segment]] = []
    vehicles: list[list[Segment]] = []
    vehicle_level = profile.vehicle_level
    insured_id = profile.insured_segment
    q_el, q_code = profile.insured_qualifier
    for segment in block.policy:
        f = segment.fields
        seg_id = f[0]
        if seg_id == "HL" and (f[3].strip() if len(f) > 3 else "") == vehicle_level:
            vehicles.append([segment])
        elif vehicles:
            vehicles[-1].append(segment)
        elif seg_id == insured_id and (f[q_el].strip() if q_el < len(f) else "") == q_code:
            insureds.append([segment])
        elif insureds:
            insureds[-1].append(segment)
        else:
            own.append(segment)
    return PolicyLoops(
        insurer=_shared(tuple(block.insurer), "insurer", profile),
        state=_shared(tuple(block.state), "state", profile),
        policy=extract(own, "policy", profile),
        insureds=tuple(extract(s, "insured", profile) for s in insureds),
        vehicles=tuple(extract(s, "vehicle", profile) for s in vehicles),
    )
