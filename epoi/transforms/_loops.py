"""Cutting a ``PolicyBlock`` into the loops of the profile and reading the field table
(``Profile.rules``) over them.  Each value keeps the segment it came from, so that a
business edit can say where the fault is."""

from __future__ import annotations

from collections.abc import Sequence
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


@dataclass(frozen=True, slots=True)
class Loop:
    segments: tuple[Segment, ...]
    fields: dict[str, Found]

    @property
    def first(self) -> Segment | None:
        return self.segments[0] if self.segments else None

    def value(self, name: str) -> str:
        """The field as sent, stripped; "" when absent."""
        found = self.fields.get(name)
        return found.value.strip() if found else ""


@dataclass(frozen=True, slots=True)
class PolicyLoops:
    insurer: Loop
    state: Loop
    policy: Loop  # the policy level's own segments (HL, LX, REF, SI, DTM ...)
    insureds: tuple[Loop, ...]
    vehicles: tuple[Loop, ...]


# One rule compiled: (its index in the profile's rules of the loop, qualifier element,
# qualifier code or None, element, field, element name).
_Compiled = tuple[int, int, "str | None", int, str, str]


_Table = tuple[dict[str, tuple[_Compiled, ...]], tuple[str, ...]]
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
    by_id: dict[str, list[_Compiled]] = {}
    for n, r in enumerate(rules):
        q_el, q_code = r.qualifier if r.qualifier is not None else (0, None)
        by_id.setdefault(r.segment, []).append(
            (n, q_el, q_code, r.element, r.field, r.element_name)
        )
    table = ({k: tuple(v) for k, v in by_id.items()}, tuple(r.field for r in rules))
    if len(_TABLES) > 64:
        _TABLES.clear()
    _TABLES[(id(profile), kind)] = (profile, table)
    return table


def extract(segments: Sequence[Segment], kind: LoopKind, profile: Profile) -> Loop:
    """Each rule takes the first segment it matches, even when its element is empty there
    (the location of "missing" is then that segment); when two rules fill the same field,
    the later rule that matched anything wins."""
    table, fields_of = _compiled(profile, kind)
    found: list[Found | None] = [None] * len(fields_of)
    for segment in segments:
        rules = table.get(segment.fields[0])
        if rules is None:
            continue
        f = segment.fields
        n_f = len(f)
        for n, q_el, q_code, element, _field, element_name in rules:
            if found[n] is not None:
                continue
            if q_code is not None and (f[q_el].strip() if q_el < n_f else "") != q_code:
                continue
            found[n] = Found(f[element] if element < n_f else "", segment, element_name)
    fields: dict[str, Found] = {}
    for name, hit in zip(fields_of, found, strict=True):
        if hit is not None:
            fields[name] = hit
    return Loop(tuple(segments), fields)


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
        insurer=extract(block.insurer, "insurer", profile),
        state=extract(block.state, "state", profile),
        policy=extract(own, "policy", profile),
        insureds=tuple(extract(s, "insured", profile) for s in insureds),
        vehicles=tuple(extract(s, "vehicle", profile) for s in vehicles),
    )
