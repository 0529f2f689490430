"""The second pass cut into batches of whole transaction sets, for ``iter_policies`` on
several processes (``epoi validate``, issue 14) with the same policy blocks as one pass.

The parent finds where each ISA, GS and ST segment starts (``bytes.find`` over a memory map,
each hit checked to stand at a segment start) and matches them to the verdict by their order,
as ``iter_policies`` does.  A batch is consecutive sets of one group; a process reads it as
the group's ISA and GS segments followed by the file's bytes from the batch's first ST to the
next batch's, and runs ``iter_policies`` over that with a verdict holding only those sets.
Positions inside a set (which is all the transforms use) are the file's.

Whenever the scan and the verdict disagree in any way (a file error, an interchange with other
delimiters, an envelope segment the reader would not see as one), there is no plan and the
caller makes the one pass itself: a plan is an optimisation, never a second interpretation.
"""

from __future__ import annotations

import mmap
from collections.abc import Iterator
from dataclasses import dataclass

from ..schemas.verdict import FileVerdict
from ._options import PolicyBlock
from ._policies import iter_policies
from ._reader import ISA_LENGTH, parse_isa_delimiters

__all__ = ["SetBatch", "iter_batch_policies", "plan_set_batches"]

_BLANKS = b" \t\r\n\x0b\x0c"
_BOM = b"\xef\xbb\xbf"
# iter_policies reads with its default segment limit; a larger setting could let validation
# pass a segment that stops the one pass there, so such settings get no plan
_POLICY_READER_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class SetBatch:
    """Consecutive transaction sets of one group: ``verdict`` holds only them (in their
    interchange and group); ``head`` is the ISA and GS segments' bytes; ``body`` the byte
    range of the file from the first set's ST (end None: to the end of the file)."""

    verdict: FileVerdict
    head: bytes
    body: tuple[int, int | None]

    @property
    def sets(self) -> int:
        return len(self.verdict.interchanges[0].groups[0].transaction_sets)


@dataclass(frozen=True, slots=True)
class _SetAt:
    interchange: int
    group: int
    index: int  # in its group
    start: int  # byte offset of its ST
    isa: int  # byte offset of its interchange's ISA
    gs: int  # byte offset of its group's GS


class _HeadThenRange:
    """A binary stream: ``head``, then the file's bytes in ``[start, end)``."""

    def __init__(self, path: str, head: bytes, start: int, end: int | None) -> None:
        self._head = head
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._fh.seek(start)
        self._left = None if end is None else end - start

    def read(self, n: int = -1) -> bytes:
        if self._head:
            out, self._head = self._head, b""
            return out
        if self._left is None:
            return self._fh.read(n)
        want = self._left if n < 0 else min(n, self._left)
        data = self._fh.read(want) if want > 0 else b""
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._fh.close()


def iter_batch_policies(path: str, batch: SetBatch, *, name: str) -> Iterator[PolicyBlock]:
    """The policy blocks of the batch's sets, as ``iter_policies`` yields them for the whole
    file (``set_start`` and segment positions count from the batch's own reading)."""
    stream = _HeadThenRange(path, batch.head, *batch.body)
    try:
        yield from iter_policies(stream, batch.verdict, name=name)  # type: ignore[arg-type]
    finally:
        stream.close()


def plan_set_batches(path: str, verdict: FileVerdict, *, target_bytes: int,
                     max_segment_length: int) -> list[SetBatch] | None:
    """Every set of ``verdict`` in file order, in batches of about ``target_bytes`` (whole
    sets, one group each); None when the file cannot be cut so (see the module's note)."""
    if verdict.error is not None or max_segment_length > _POLICY_READER_LIMIT:
        return None
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        found = _locate_sets(mm, verdict)
        if found is None:
            return None
        size = len(mm)
        term = verdict.interchanges[0].segment_terminator.encode("latin-1")
        batches: list[SetBatch] = []
        i = 0
        while i < len(found):
            first = found[i]
            j = i + 1
            while (j < len(found) and found[j].gs == first.gs
                   and found[j].start - first.start < target_bytes):
                j += 1
            end = found[j].start if j < len(found) else None
            gs_end = mm.find(term, first.gs)
            if gs_end < 0 or end is not None and end > size:
                return None
            head = bytes(mm[first.isa:first.isa + ISA_LENGTH]) + bytes(
                mm[first.gs:gs_end + len(term)])
            batches.append(SetBatch(_sub_verdict(verdict, first, j - i), head,
                                    (first.start, end)))
            i = j
        return batches


def _sub_verdict(verdict: FileVerdict, first: _SetAt, count: int) -> FileVerdict:
    ic = verdict.interchanges[first.interchange]
    g = ic.groups[first.group]
    sets = g.transaction_sets[first.index:first.index + count]
    return verdict.model_copy(update={"interchanges": [ic.model_copy(update={
        "groups": [g.model_copy(update={"transaction_sets": sets})]})]})


def _locate_sets(mm: mmap.mmap, verdict: FileVerdict) -> list[_SetAt] | None:
    """Each set of the verdict with the offsets of its ST, ISA and GS; None unless the
    envelope segments found match the verdict's interchanges, groups and sets exactly."""
    if not verdict.interchanges:
        return None
    head = bytes(mm[:4096]).lstrip(_BLANKS)
    head = head[len(_BOM):] if head.startswith(_BOM) else head
    d = parse_isa_delimiters(head.decode("latin-1"))
    if d is None or any(ic.element_separator != d.element or ic.segment_terminator != d.segment
                        for ic in verdict.interchanges):
        return None
    term, sep = d.segment.encode("latin-1"), d.element.encode("latin-1")
    events = sorted(
        [(at, b"ISA") for at in _starts(mm, b"ISA" + sep, term, _BLANKS)]
        + [(at, b"GS") for at in _starts(mm, b"GS" + sep, term, b"\r\n")]
        + [(at, b"ST") for at in _starts(mm, b"ST" + sep, term, b"\r\n")]
    )
    out: list[_SetAt] = []
    ix = g = s = -1
    isa_at = gs_at = -1
    groups = sets = 0
    for at, sid in events:
        if sid == b"ISA":
            if ix >= 0 and g + 1 != groups or g >= 0 and s + 1 != sets:
                return None
            ix, g, s, isa_at = ix + 1, -1, -1, at
            if ix >= len(verdict.interchanges):
                return None
            groups, sets = len(verdict.interchanges[ix].groups), 0
        elif sid == b"GS":
            if ix < 0 or g >= 0 and s + 1 != sets:
                return None
            g, s, gs_at = g + 1, -1, at
            if g >= groups:
                return None
            sets = len(verdict.interchanges[ix].groups[g].transaction_sets)
        else:
            if g < 0:
                return None
            s += 1
            if s >= sets:
                return None
            ts = verdict.interchanges[ix].groups[g].transaction_sets[s]
            fields = bytes(mm[at:at + 64]).split(term, 1)[0].split(sep)
            if len(fields) < 3 or fields[2].decode("latin-1") != ts.control_number:
                return None
            out.append(_SetAt(ix, g, s, at, isa_at, gs_at))
    if ix + 1 != len(verdict.interchanges) or g + 1 != groups or g >= 0 and s + 1 != sets:
        return None
    return out


def _starts(mm: mmap.mmap, needle: bytes, term: bytes, skip: bytes) -> Iterator[int]:
    """Offsets of ``needle`` where a segment starts: at the file's start (after blanks or a
    byte order mark) or after a terminator and any of ``skip`` (as the reader strips them)."""
    skip = bytes(c for c in skip if c not in term)
    at = mm.find(needle)
    while at >= 0:
        j = at
        while j > 0 and mm[j - 1] in skip:
            j -= 1
        if j == 0 or mm[j - len(term):j] == term or (j == len(_BOM) and mm[:j] == _BOM):
            yield at
        at = mm.find(needle, at + 1)
