from __future__ import annotations

import os
from dataclasses import dataclass, field


def resolve_workers(workers: int) -> int:
    """Settings.workers: 0 means one process per core."""
    return workers if workers > 0 else (os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """What validation needs to know beyond the bytes; passed in, never read from globals."""

    receiver_qualifier: str = "ZZ"
    receiver_id: str = "EPOISTATE"
    # (ISA05, ISA06) pairs of known carriers; None means "validate the file alone".
    known_senders: frozenset[tuple[str, str]] | None = None
    max_errors_per_set: int = 1000
    max_segment_length: int = 4096


@dataclass(frozen=True, slots=True)
class SetHeading:
    """What the policies of one accepted set share, up to its first HL."""

    file: str
    interchange: str  # ISA13
    sender_id: str  # ISA06
    test: bool  # ISA15 == "T"
    group: str  # GS06
    transaction_set: str  # ST02
    set_start: int  # file position of the ST segment
    report_date: str  # BIG01 as sent
    submission_ref: str  # BIG02


@dataclass(frozen=True, slots=True)
class PolicyBlock(SetHeading):
    """One policy (HL level 4 loop with its vehicle HL loops) of an accepted transaction set,
    with its set's heading and the loops the transforms need.  Segments keep their file
    positions; subtract ``set_start`` - 1 for the position within the transaction set
    (ST = 1)."""

    insurer: tuple = field(default=())  # segments of the HL level 1 loop
    state: tuple = field(default=())  # segments of the enclosing HL level 2 loop
    policy: tuple = field(default=())  # HL level 4 loop segments, then its level 5 loops in order
    # An element or segment error inside this policy's HL subtree (guide §3, scope of a
    # rejection): the policy is rejected, its neighbours go on.  ``syntax_errors`` are its
    # AK3/AK4 issues as far as the set's error limit kept them.
    syntax_rejected: bool = False
    syntax_errors: tuple = field(default=())
