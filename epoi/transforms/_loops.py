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


def _matches(segment: Segment, seg_id: str, qualifier: tuple[int, str] | None) -> bool:
    if segment.id != seg_id:
        return False
    return qualifier is None or segment.get(qualifier[0]).strip() == qualifier[1]


def extract(segments: Sequence[Segment], kind: LoopKind, profile: Profile) -> Loop:
    fields: dict[str, Found] = {}
    for rule in profile.rules_for(kind):
        for segment in segments:
            if _matches(segment, rule.segment, rule.qualifier):
                # The first matching segment wins, even when this element is empty there:
                # the location of "missing" is then that segment.
                fields[rule.field] = Found(segment.get(rule.element), segment, rule.element_name)
                break
    return Loop(tuple(segments), fields)


def split(block: PolicyBlock, profile: Profile) -> PolicyLoops:
    """The policy loop's segments come as: HL (policy), its own segments, its insured
    loops (each opened by NM1*IL), then vehicle HL loops, each to the next vehicle HL."""
    own: list[Segment] = []
    insureds: list[list[Segment]] = []
    vehicles: list[list[Segment]] = []
    for segment in block.policy:
        if segment.id == "HL" and segment.get(3).strip() == profile.vehicle_level:
            vehicles.append([segment])
        elif vehicles:
            vehicles[-1].append(segment)
        elif _matches(segment, profile.insured_segment, profile.insured_qualifier):
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
