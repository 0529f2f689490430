"""The plan of a submission's work: its groups and sets recorded, and the normalize units of
its accepted sets queued in the store, each a chunk of policies read from the archive.

The policies are read from the archive in a second streaming pass and written out chunk by
chunk, so memory stays at about one chunk whatever the file's size."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ..parsers import RawPolicy, iter_raw_policies
from ..schemas.verdict import FileVerdict
from ..store import (
    GroupRecord,
    SetRecord,
    UnitKind,
    UnitRecord,
    add_units,
    interchanges_of,
    record_groups_and_sets,
    refresh_payloads,
    update_set,
)
from ._screen import sender_of
from ._units import chunk_key, encode_policies, group_key, set_key

__all__ = ["plan_units"]

_UNITS_PER_INSERT = 20  # units are added to the store in batches of this many


def plan_units(
    session: Session,
    submission_id: int,
    archived: Path,
    name: str,
    verdict: FileVerdict,
    *,
    chunk_size: int,
    max_segment_length: int,
    now: datetime,
    refresh: bool = False,
) -> int:
    """Record the groups and sets of the interchanges the TA1 did not reject, and queue
    the normalize units of the accepted sets; returns how many units were queued.

    ``refresh`` (a reprocess): groups, sets and units exist already and are kept (the
    inserts do nothing on their keys); a unit not done yet gets its payload again from
    the archive, so that a chunk that failed is redone from the original bytes."""
    layout = _layout(submission_id, verdict, _interchange_ids(session, submission_id))
    set_ids = record_groups_and_sets(session, submission_id, layout.groups, layout.sets)
    if not layout.accepted:
        return 0
    units = _UnitQueue(session, submission_id, set_ids, now, refresh=refresh)
    with archived.open("rb") as stream:
        policies = iter_raw_policies(stream, verdict, name=name,
                                     max_segment_length=max_segment_length)
        seen = _chunk_policies(policies, layout, chunk_size, units)
    # An accepted set with no policy still gets one (empty) unit: its error return is
    # written when that unit is done, like every other set's.
    for skey in layout.accepted:
        if skey not in units.per_set:
            units.emit(skey, [])
    units.flush(force=True)
    for skey in layout.accepted:
        first = seen.first.get(skey)
        update_set(
            session, set_ids[skey], policies=seen.policies.get(skey, 0),
            chunks_total=units.per_set[skey],
            submission_ref=(first.heading.submission_ref if first else "")[:30],
            **_insurer_of(first),
        )  # fmt: skip
    return units.planned


def _interchange_ids(session: Session, submission_id: int) -> dict[tuple[str, str, str], int]:
    """The recorded interchanges the TA1 did not reject, by (ISA05, ISA06, ISA13)."""
    return {
        (ic.sender_qualifier, ic.sender_id, ic.control_number): ic.id
        for ic in interchanges_of(session, submission_id)
        if ic.ta1_ack_code != "R"
    }


@dataclass
class _Layout:
    """The groups and sets to record, and which sets go on to be normalised."""

    groups: list[GroupRecord] = field(default_factory=list)
    sets: list[SetRecord] = field(default_factory=list)
    set_keys: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (ISA13, GS06, ST02)
    accepted: set[str] = field(default_factory=set)
    seen: set[str] = field(default_factory=set)

    def unique(self, key: str) -> str:
        # Control numbers repeated inside one file (a rejected copy): keep keys apart.
        n, out = 1, key
        while out in self.seen:
            n += 1
            out = f"{key}~{n}"
        self.seen.add(out)
        return out


def _layout(
    submission_id: int, verdict: FileVerdict, ic_ids: dict[tuple[str, str, str], int]
) -> _Layout:
    layout = _Layout()
    for ic in verdict.interchanges:
        if ic.ta1.ack_code == "R":
            continue
        qualifier, sender = sender_of(ic)
        ic_id = ic_ids.get((qualifier, sender, ic.control_number))
        if ic_id is None:
            continue
        delimiters = ic.element_separator + ic.component_separator + ic.segment_terminator
        for g in ic.groups:
            gkey = layout.unique(group_key(submission_id, ic.control_number, g.control_number))
            layout.groups.append(GroupRecord(
                key=gkey, interchange_id=ic_id, control_number=g.control_number,
                sender_application=g.sender[:15], ack_code=g.ack_code,
                error_codes=" ".join(g.error_codes)[:40],
            ))  # fmt: skip
            for ts in g.transaction_sets:
                skey = layout.unique(set_key(gkey, ts.control_number))
                layout.sets.append(SetRecord(
                    key=skey, group_key=gkey, control_number=ts.control_number,
                    ack_code=ts.ack_code, error_codes=" ".join(ts.error_codes)[:40],
                    test=ic.test, delimiters=delimiters,
                ))  # fmt: skip
                if ts.ack_code != "R":
                    layout.set_keys.setdefault((ic.control_number, g.control_number,
                                                ts.control_number), skey)  # fmt: skip
                    layout.accepted.add(skey)
    return layout


class _UnitQueue:
    """Normalize units added to the store a batch at a time, numbered per set."""

    def __init__(
        self, session: Session, submission_id: int, set_ids: dict[str, int], now: datetime,
        *, refresh: bool,
    ) -> None:
        self.session, self.submission_id, self.set_ids = session, submission_id, set_ids
        self.now, self.refresh = now, refresh
        self.per_set: dict[str, int] = {}  # set key -> chunks planned
        self.planned = 0
        self._pending: list[UnitRecord] = []

    def emit(self, skey: str, policies: list[RawPolicy]) -> None:
        chunk = self.per_set.get(skey, 0)
        self.per_set[skey] = chunk + 1
        self._pending.append(UnitRecord(
            key=chunk_key(skey, chunk), kind=UnitKind.NORMALIZE,
            submission_id=self.submission_id, set_id=self.set_ids[skey], policies=len(policies),
            payload=encode_policies(policies),
        ))  # fmt: skip
        self.planned += 1
        self.flush()

    def flush(self, force: bool = False) -> None:
        if self._pending and (force or len(self._pending) >= _UNITS_PER_INSERT):
            add_units(self.session, self._pending, now=self.now)
            if self.refresh:
                refresh_payloads(self.session, self._pending, now=self.now)
            self._pending.clear()


@dataclass
class _Seen:
    """Per accepted set: its first policy (for the set's heading) and how many it has."""

    first: dict[str, RawPolicy] = field(default_factory=dict)
    policies: dict[str, int] = field(default_factory=dict)


def _chunk_policies(
    policies: Iterable[RawPolicy], layout: _Layout, chunk_size: int, units: _UnitQueue
) -> _Seen:
    """Policies by set, in file order (a set is one contiguous run of blocks), cut into
    units of ``chunk_size``."""
    seen = _Seen()
    current: str | None = None
    buffer: list[RawPolicy] = []
    for policy in policies:
        h = policy.heading
        skey = layout.set_keys.get((h.interchange, h.group, h.transaction_set))
        if skey is None or skey not in layout.accepted:
            continue
        if skey != current:
            if current is not None and buffer:
                units.emit(current, buffer)
            current, buffer = skey, []
            seen.first.setdefault(skey, policy)
        buffer.append(policy)
        seen.policies[skey] = seen.policies.get(skey, 0) + 1
        if len(buffer) >= chunk_size:
            units.emit(skey, buffer)
            buffer = []
    if current is not None and buffer:
        units.emit(current, buffer)
    return seen


def _insurer_of(policy: RawPolicy | None) -> dict[str, str]:
    """The insurer's name and NAIC as sent (NM1*IN), for the error return's heading."""
    for seg in policy.insurer if policy else ():
        if seg.get(0) == "NM1" and seg.get(1) == "IN":
            return {"insurer_name": seg.get(3).strip()[:120],
                    "carrier_naic": seg.get(9).strip()[:9]}
    return {"insurer_name": "", "carrier_naic": ""}
