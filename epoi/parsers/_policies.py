"""The second pass: the policies of the accepted transaction sets, one at a time.

A set is read when its verdict says AK5 ``A`` or ``E``, its group is not rejected (AK9 not
``R``) and its interchange is not rejected (TA1 not ``R``).  Interchanges, groups and sets are
matched to the verdict by their order in the file, which is how both engines list them.

``iter_raw_policies`` yields each policy as the file has it (``RawPolicy``: its segments'
texts, not split into elements), which is all the plan of a submission needs to hand the
policy on; ``iter_policies`` yields ``PolicyBlock``s, split.  Both walk the file once, a
batch of segment texts at a time (``SegmentReader.batches``), and look only at the segment
ids of a policy's own segments.

Memory is flat: only the insurer (HL level 1) and state (HL level 2) loops of the current set
and the current policy (HL level 4 with its level 5 loops) are held.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import count, repeat
from typing import BinaryIO, TypeVar

from ..errors import InputError
from ..schemas.verdict import (
    FileVerdict,
    GroupVerdict,
    InterchangeVerdict,
    Issue,
    TransactionSetVerdict,
)
from ._options import PolicyBlock, SetHeading
from ._reader import SegmentReader
from ._segment import Segment

__all__ = ["RawPolicy", "SetHeading", "iter_policies", "iter_raw_policies"]

_new = tuple.__new__  # Segment(f, n) without the named tuple's Python-level __new__
# The first two characters of every segment id the walk must look at inside a policy: HL,
# SE and the envelope's (ST, GE, IEA, GS, ISA).
_MARKS = frozenset(("HL", "SE", "ST", "GE", "IE", "GS", "IS"))
# Inside a set, these end it: a set cut short is never accepted, what was gathered is dropped.
_ENVELOPE = frozenset(("ST", "GE", "IEA", "GS", "ISA"))


@dataclass(frozen=True, slots=True)
class RawPolicy:
    """One policy of an accepted set as the file has it: the texts of its segments (HL
    level 4, its own segments, its level 5 loops), which follow each other in the file from
    position ``start`` unless ``positions`` says otherwise."""

    heading: SetHeading
    insurer: tuple[Segment, ...]  # the HL level 1 loop, shared by the policies under it
    state: tuple[Segment, ...]  # the enclosing HL level 2 loop, shared likewise
    start: int
    texts: tuple[str, ...]
    separator: str  # the element separator of the texts
    positions: tuple[int, ...] | None = None  # when segments between them were dropped
    syntax_errors: tuple[Issue, ...] | None = None  # rejected for a syntax error inside it

    def block(self) -> PolicyBlock:
        """The policy split into segments."""
        # Segment((text.split(sep), position)) for each text, iterated in C (map, zip):
        # this runs for every segment of every policy ``epoi validate`` reads again
        fields = map(str.split, self.texts, repeat(self.separator))
        pairs = (zip(fields, count(self.start)) if self.positions is None
                 else zip(fields, self.positions, strict=True))
        h = self.heading
        return PolicyBlock(
            file=h.file, interchange=h.interchange, sender_id=h.sender_id, test=h.test,
            group=h.group, transaction_set=h.transaction_set, set_start=h.set_start,
            report_date=h.report_date, submission_ref=h.submission_ref,
            insurer=self.insurer, state=self.state,
            policy=tuple(map(_new, repeat(Segment), pairs)),
            syntax_rejected=self.syntax_errors is not None,
            syntax_errors=self.syntax_errors or (),
        )  # fmt: skip


def iter_policies(
    stream: BinaryIO, verdict: FileVerdict, *, name: str, max_segment_length: int = 4096
) -> Iterator[PolicyBlock]:
    """Yield one ``PolicyBlock`` per policy (HL level 4) of every accepted set, in file order
    (``iter_raw_policies``' policies, split: each block is ``RawPolicy.block``'s, made
    without the ``RawPolicy`` in between)."""
    return _walk(stream, verdict, name, max_segment_length, _Set.take_block)


@dataclass(slots=True)
class _Set:
    """The accepted set being read."""

    heading: SetHeading
    separator: str
    # the policies the verdict rejects alone, by the position of their HL in the set, with
    # their issues (AK5 E sets only)
    rejected: dict[int, list[Issue]]
    report_date: str = ""
    submission_ref: str = ""
    insurer: list[Segment] = field(default_factory=list)
    state: list[Segment] = field(default_factory=list)
    # the loops as the policies hold them, made once per loop (a new HL 1 or 2 starts a new
    # list: the list itself says whether its tuple is the one made)
    insurer_loop: tuple[Segment, ...] = ()
    state_loop: tuple[Segment, ...] = ()
    loops_of: tuple[object, object] = (None, None)
    level: str = ""  # HL03 of the HL loop being read
    start: int = 0  # position of the current policy's HL; 0: no policy open
    texts: list[str] = field(default_factory=list)
    positions: list[int] | None = None  # set when a segment inside the policy was dropped
    headed: bool = False

    def open_policy(self, text: str, n: int) -> None:
        if not self.headed:
            # BIG comes before the first HL: the heading is complete now.
            h = self.heading
            self.heading = SetHeading(
                file=h.file, interchange=h.interchange, sender_id=h.sender_id, test=h.test,
                group=h.group, transaction_set=h.transaction_set, set_start=h.set_start,
                report_date=self.report_date, submission_ref=self.submission_ref,
            )  # fmt: skip
            self.headed = True
        if self.loops_of[0] is not self.insurer:
            self.insurer_loop = tuple(self.insurer)
        if self.loops_of[1] is not self.state:
            self.state_loop = tuple(self.state)
        self.loops_of = (self.insurer, self.state)
        self.start, self.texts, self.positions = n, [text], None

    def take(self) -> RawPolicy | None:
        """The policy being read, closed; None when none is open."""
        if not self.start:
            return None
        hl = self.start - self.heading.set_start + 1
        errors = self.rejected.get(hl)
        out = RawPolicy(
            heading=self.heading, insurer=self.insurer_loop, state=self.state_loop,
            start=self.start, texts=tuple(self.texts), separator=self.separator,
            positions=tuple(self.positions) if self.positions is not None else None,
            syntax_errors=tuple(errors) if errors is not None else None,
        )  # fmt: skip
        self.start, self.texts = 0, []
        return out

    def take_block(self) -> PolicyBlock | None:
        """The policy being read, closed and split (``take().block()``); None when none is
        open."""
        if not self.start:
            return None
        h = self.heading
        errors = self.rejected.get(self.start - h.set_start + 1)
        fields = map(str.split, self.texts, repeat(self.separator))
        pairs = (zip(fields, count(self.start)) if self.positions is None
                 else zip(fields, self.positions, strict=True))
        out = PolicyBlock(
            file=h.file, interchange=h.interchange, sender_id=h.sender_id, test=h.test,
            group=h.group, transaction_set=h.transaction_set, set_start=h.set_start,
            report_date=h.report_date, submission_ref=h.submission_ref,
            insurer=self.insurer_loop, state=self.state_loop,
            policy=tuple(map(_new, repeat(Segment), pairs)),
            syntax_rejected=errors is not None,
            syntax_errors=tuple(errors) if errors else (),
        )  # fmt: skip
        self.start, self.texts = 0, []
        return out

    def skip(self) -> None:
        """A segment of no loop that is read: the open policy's segments no longer follow
        each other."""
        if self.start and self.positions is None:
            self.positions = list(range(self.start, self.start + len(self.texts)))


def _rejected(ts: TransactionSetVerdict) -> dict[int, list[Issue]]:
    out: dict[int, list[Issue]] = {p: [] for p in ts.rejected_policies}
    for issue in ts.errors:
        if issue.policy_position in out:
            out[issue.policy_position].append(issue)
    return out


_T = TypeVar("_T")
_P = TypeVar("_P", RawPolicy, PolicyBlock)


def _nth(items: Sequence[_T], n: int) -> _T | None:
    return items[n] if 0 <= n < len(items) else None


def iter_raw_policies(
    stream: BinaryIO, verdict: FileVerdict, *, name: str, max_segment_length: int = 4096
) -> Iterator[RawPolicy]:
    """Yield one ``RawPolicy`` per policy (HL level 4) of every accepted set, in file order."""
    return _walk(stream, verdict, name, max_segment_length, _Set.take)


def _walk(
    stream: BinaryIO, verdict: FileVerdict, name: str, max_segment_length: int,
    take: Callable[[_Set], _P | None],
) -> Iterator[_P]:
    """The file's accepted policies, each as ``take`` closes it (a ``RawPolicy`` or a
    ``PolicyBlock``)."""
    reader = SegmentReader(stream, max_segment_length=max_segment_length)
    ix_n = -1
    ix: InterchangeVerdict | None = None
    group_n = -1
    group: GroupVerdict | None = None
    set_n = -1
    ctx: _Set | None = None
    isa: list[str] = []
    n = 0  # the position of the segment in hand
    # the open policy's texts while its segments follow each other at level 4 or 5: the
    # fast path below appends to it
    collecting: list[str] | None = None
    try:
        for batch in reader.batches():
            sep = reader.delimiters.element
            for text in batch:
                n += 1
                if collecting is not None:
                    # Inside a policy's loops most segments are just its own: kept as they
                    # are, unless their id may be one that ends or opens a loop or a set.
                    if text[:2] not in _MARKS:
                        collecting.append(text)
                        continue
                    collecting = None
                sid = text.partition(sep)[0]
                if ctx is not None:
                    if sid == "HL":
                        f = text.split(sep, 4)
                        level = f[3] if len(f) > 3 else ""
                        if level in ("1", "2", "4"):
                            raw = take(ctx)
                            if raw is not None:
                                yield raw
                        ctx.level = level
                        if level == "1":
                            ctx.insurer = [Segment(text.split(sep), n)]
                            ctx.state = []
                        elif level == "2":
                            ctx.state = [Segment(text.split(sep), n)]
                        elif level == "4":
                            ctx.open_policy(text, n)
                            collecting = ctx.texts
                        elif level == "5" and ctx.start:
                            _append(ctx, text, n)
                            collecting = ctx.texts if ctx.positions is None else None
                        else:
                            ctx.skip()
                        continue
                    if sid == "SE":
                        raw = take(ctx)
                        if raw is not None:
                            yield raw
                        ctx = None
                        continue
                    if sid not in _ENVELOPE:
                        level = ctx.level
                        if level in ("4", "5") and ctx.start:
                            _append(ctx, text, n)
                            collecting = ctx.texts if ctx.positions is None else None
                        elif level == "1":
                            ctx.insurer.append(Segment(text.split(sep), n))
                        elif level == "2":
                            ctx.state.append(Segment(text.split(sep), n))
                        elif not level and sid == "BIG":
                            f = text.split(sep)
                            ctx.report_date = f[1] if len(f) > 1 else ""
                            ctx.submission_ref = f[2] if len(f) > 2 else ""
                        else:
                            ctx.skip()
                        continue
                    ctx = None  # a set cut short is never accepted: drop what was gathered
                if sid == "ISA":
                    ix_n += 1
                    ix = _nth(verdict.interchanges, ix_n)
                    isa = text.split(sep)
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
                    f = text.split(sep)
                    control = f[2] if len(f) > 2 else ""
                    if (
                        ix is not None and ix.ta1.ack_code != "R"
                        and group is not None and group.ack_code != "R"
                        and ts is not None and ts.ack_code in ("A", "E")
                        and ts.control_number == control
                    ):
                        ctx = _Set(
                            heading=SetHeading(
                                file=name, interchange=ix.control_number,
                                sender_id=(isa[6] if len(isa) > 6 else "").strip(),
                                test=(isa[15] if len(isa) > 15 else "") == "T",
                                group=group.control_number, transaction_set=control,
                                set_start=n, report_date="", submission_ref="",
                            ),
                            separator=sep, rejected=_rejected(ts),
                        )  # fmt: skip
    except InputError:
        # The verdict already carries the file error; accepted sets ended before it.
        return


def _append(ctx: _Set, text: str, n: int) -> None:
    ctx.texts.append(text)
    if ctx.positions is not None:
        ctx.positions.append(n)
