"""The second pass: the policies of the accepted transaction sets, one ``PolicyBlock`` at a time.

A set is read when its verdict says AK5 ``A`` or ``E``, its group is not rejected (AK9 not
``R``) and its interchange is not rejected (TA1 not ``R``).  Interchanges, groups and sets are
matched to the verdict by their order in the file, which is how both engines list them.

Memory is flat: only the insurer (HL level 1) and state (HL level 2) loops of the current set
and the current policy (HL level 4 with its level 5 loops) are held.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, TypeVar

from ..errors import InputError
from ..schemas.verdict import (
    FileVerdict,
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    TransactionSetVerdict,
)
from ._options import PolicyBlock
from ._reader import SegmentReader
from ._segment import Segment

__all__ = ["iter_policies"]


@dataclass(slots=True)
class _SetContext:
    """What the policy blocks of one accepted set share."""

    interchange: str
    sender_id: str
    test: bool
    group: str
    transaction_set: str
    set_start: int
    report_date: str = ""
    submission_ref: str = ""
    insurer: list[Segment] = field(default_factory=list)
    state: list[Segment] = field(default_factory=list)
    policy: list[Segment] | None = None
    level: str = ""  # HL03 of the HL loop being read
    # the policies the verdict rejects alone, by the position of their HL in the set, with
    # their issues (AK5 E sets only)
    rejected: dict[int, list[Issue]] = field(default_factory=dict)

    def block(self, name: str) -> PolicyBlock | None:
        if self.policy is None:
            return None
        hl = self.policy[0].position - self.set_start + 1 if self.policy else 0
        errors = self.rejected.get(hl)
        out = PolicyBlock(
            file=name, interchange=self.interchange, sender_id=self.sender_id, test=self.test,
            group=self.group, transaction_set=self.transaction_set, set_start=self.set_start,
            report_date=self.report_date, submission_ref=self.submission_ref,
            insurer=tuple(self.insurer), state=tuple(self.state), policy=tuple(self.policy),
            syntax_rejected=errors is not None, syntax_errors=tuple(errors or ()),
        )
        self.policy = None
        return out


def _rejected(ts: TransactionSetVerdict) -> dict[int, list[Issue]]:
    out: dict[int, list[Issue]] = {p: [] for p in ts.rejected_policies}
    for issue in ts.errors:
        if issue.policy_position in out:
            out[issue.policy_position].append(issue)
    return out


_T = TypeVar("_T")


def _nth(items: Sequence[_T], n: int) -> _T | None:
    return items[n] if 0 <= n < len(items) else None


def iter_policies(
    stream: BinaryIO, verdict: FileVerdict, *, name: str, max_segment_length: int = 4096
) -> Iterator[PolicyBlock]:
    """Yield one ``PolicyBlock`` per policy (HL level 4) of every accepted set, in file order."""
    reader = SegmentReader(stream, max_segment_length=max_segment_length)
    ix_n = -1
    ix: InterchangeVerdict | None = None
    group_n = -1
    group: GroupVerdict | None = None
    set_n = -1
    ctx: _SetContext | None = None
    isa: list[str] = []
    try:
        for seg in reader:
            f = seg.fields
            sid = f[0]
            if ctx is not None:
                if sid == "SE":
                    block = ctx.block(name)
                    if block is not None:
                        yield block
                    ctx = None
                    continue
                if sid in ("ST", "GE", "IEA", "GS", "ISA"):
                    # a set cut short is never accepted; drop what was gathered
                    ctx = None
                else:
                    if sid == "HL":
                        level = f[3] if len(f) > 3 else ""
                        if level in ("1", "2", "4"):
                            block = ctx.block(name)
                            if block is not None:
                                yield block
                        ctx.level = level
                        if level == "1":
                            ctx.insurer = []
                            ctx.state = []
                        elif level == "2":
                            ctx.state = []
                        elif level == "4":
                            ctx.policy = []
                    elif sid == "BIG" and not ctx.level:
                        ctx.report_date = f[1] if len(f) > 1 else ""
                        ctx.submission_ref = f[2] if len(f) > 2 else ""
                    level = ctx.level
                    if level == "1":
                        ctx.insurer.append(seg)
                    elif level == "2":
                        ctx.state.append(seg)
                    elif level in ("4", "5") and ctx.policy is not None:
                        ctx.policy.append(seg)
                    continue
            if sid == "ISA":
                ix_n += 1
                ix = _nth(verdict.interchanges, ix_n)
                isa = f
                group_n = -1
                group = None
            elif sid == "GS":
                group_n += 1
                group = _nth(ix.groups, group_n) if ix is not None else None
                set_n = -1
            elif sid == "ST":
                set_n += 1
                ts: TransactionSetVerdict | None = (
                    _nth(group.transaction_sets, set_n) if group is not None else None
                )
                control = f[2] if len(f) > 2 else ""
                if (
                    ix is not None and ix.ta1.ack_code != "R"
                    and group is not None and group.ack_code != "R"
                    and ts is not None and ts.ack_code in ("A", "E")
                    and ts.control_number == control
                ):
                    ctx = _SetContext(
                        interchange=ix.control_number,
                        sender_id=(isa[6] if len(isa) > 6 else "").strip(),
                        test=(isa[15] if len(isa) > 15 else "") == "T",
                        group=group.control_number, transaction_set=control,
                        set_start=seg.position, rejected=_rejected(ts),
                    )
    except InputError:
        # The verdict already carries the file error; accepted sets ended before it.
        return
