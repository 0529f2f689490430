"""One large file validated on several cores, with the same verdict as one process.

Segments are never sent between processes (pickling them costs more than validating them).
Instead the parent cuts the file into byte ranges at policy boundaries (the start of an
``HL`` segment with HL03 = 4, found with a plain regex search over a memory map) and each
worker process reads its own range from the file:

* a worker first validates the file's envelope head (ISA, GS) and the heading of the set
  its range lies in (ST up to the set's first policy), so its walker stands where the
  parent's will stand at a policy boundary; it then validates its range and stops at the
  first envelope segment (SE, GE, ...) or at the start of the next range;
* at each boundary both sides close the previous policy's loops and *freeze* what decides
  the rest of the walk (open loops with their relevant counts, HL numbering and ancestors,
  see ``_Engine._freeze``).  The parent validates the first range itself, then takes each
  worker's result only when the worker's frozen start equals its own frozen state there;
  otherwise (a fault before the boundary that changes the walk) it validates the rest of
  the file itself.  Either way the verdict is the one process's.

Issues come back with positions relative to the worker's reading and are moved to the file's
positions; counts, issues (capped per set as in one process) and the walk are stitched in
file order.  Only files of at least ``MIN_PARALLEL_BYTES`` on disk are split.
"""

from __future__ import annotations

import mmap
import multiprocessing
import os
import re
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from .._orphans import exit_with_parent
from ..errors import InputError
from ..schemas.verdict import FileError, FileVerdict, Issue
from ._compiled import compiled_811_map
from ._fast import _Engine
from ._options import ValidationOptions, resolve_workers
from ._reader import ISA_LENGTH, SegmentReader, parse_isa_delimiters
from ._segment import Delimiters

__all__ = ["MIN_PARALLEL_BYTES", "resolve_workers", "validate_file"]

MIN_PARALLEL_BYTES = 20 * 1024 * 1024
_ENVELOPE_IDS = (b"ISA", b"IEA", b"GS", b"GE", b"ST", b"SE")


class _Ranges:
    """A read-only stream over consecutive byte ranges of one file ((start, end), end None
    for the end of the file)."""

    def __init__(self, path: str, ranges: list[tuple[int, int | None]]) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 - closed by close()
        self._ranges = list(ranges)
        self._left: int | None = 0
        self._next()

    def _next(self) -> bool:
        if not self._ranges:
            return False
        start, end = self._ranges.pop(0)
        self._fh.seek(start)
        self._left = None if end is None else max(end - start, 0)
        return True

    def read(self, n: int = -1) -> bytes:
        while True:
            want = n if self._left is None else min(n, self._left)
            data = self._fh.read(want) if want else b""
            if self._left is not None:
                self._left -= len(data)
            if data or not self._next():
                return data

    def close(self) -> None:
        self._fh.close()


@dataclass
class _Range:
    """One worker's byte range: ``start`` is an ST segment ("set": whole sets) or a policy
    HL ("policy": the rest of one set from there); ``end`` the next range's start."""

    kind: str
    start: int
    end: int | None
    heading: tuple[int, int] = (0, 0)  # policy ranges: the set's ST and first policy HL


@dataclass
class _Plan:
    delimiters: Delimiters
    head_end: int  # end of the envelope head: the first ST of the file
    ranges: list[_Range] = field(default_factory=list)


def _plan(path: str, parts: int) -> _Plan | None:
    """Cut points near ``size * i / parts``: the next ST when one comes before the next cut
    (files of many sets), else the next policy HL (one large set)."""
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = len(mm)
        head = bytes(mm[:4096]).decode("latin-1").lstrip(" \t\r\n\x0b\x0c")
        head = head[3:] if head.startswith("\xef\xbb\xbf") else head
        if len(head) < ISA_LENGTH:
            return None
        d = parse_isa_delimiters(head)
        if d is None:
            return None
        term, sep = d.segment.encode("latin-1"), d.element.encode("latin-1")
        t, s = re.escape(term), re.escape(sep)
        value = rb"[^" + t + s + rb"]*"
        policy = re.compile(
            t + rb"[\r\n]*(HL" + s + value + s + value + s + rb"4(?:" + s + rb"|" + t + rb"))")
        st = re.compile(t + rb"[\r\n]*(ST(?:" + s + rb"|" + t + rb"))")
        first_st = st.search(mm)
        if first_st is None:
            return None
        plan = _Plan(delimiters=d, head_end=first_st.start(1))
        last = plan.head_end
        for i in range(1, parts):
            target = size * i // parts
            limit = size * (i + 1) // parts
            m = st.search(mm, target, min(limit, target + (1 << 23)))  # a few MB, not half the file
            if m is not None and m.start(1) > last:
                plan.ranges.append(_Range("set", m.start(1), None))
                last = m.start(1)
                continue
            m = policy.search(mm, target, limit)
            if m is None or m.start(1) <= last:
                continue
            start = m.start(1)
            # the set it lies in: the nearest ST before it (scanned backwards: a few pages)
            at = mm.rfind(b"ST" + sep, 0, start)
            while at > 0 and not _after_terminator(mm, at, term):
                at = mm.rfind(b"ST" + sep, 0, at)
            if at <= 0 or at < plan.head_end:
                continue
            set_start = at
            first_policy = policy.search(mm, set_start - len(term))
            if first_policy is None or first_policy.start(1) > start:
                continue
            plan.ranges.append(_Range("policy", start, None, (set_start, first_policy.start(1))))
            last = start
        for a, b in pairwise(plan.ranges):
            a.end = b.start
        return plan if plan.ranges else None


def _after_terminator(mm: Any, at: int, term: bytes) -> bool:
    j = at
    while j > 0 and mm[j - 1:j] in (b"\r", b"\n") and mm[j - 1:j] != term:
        j -= 1
    return mm[j - len(term):j] == term


def _segment_at(path: str, at: int, term: str) -> tuple[str, int]:
    """The raw segment starting at byte ``at`` and the offset just after its terminator."""
    with open(path, "rb") as fh:
        fh.seek(at)
        data = fh.read(8192).decode("latin-1")
    end = data.find(term)
    if end < 0:
        return data, at + len(data)
    return data[:end], at + end + len(term)


def _envelope_after(path: str, at: int, d: Delimiters, ids: tuple[bytes, ...],
                    max_segment: int) -> int | None:
    """The offset of the first segment after ``at`` whose id is one of ``ids``.  Searched
    window by window, each window's pages dropped after it (the scan must not count as
    memory); windows overlap by more than a segment may be long (longer ones fail the
    reader first)."""
    term, sep = d.segment.encode("latin-1"), d.element.encode("latin-1")
    t = re.escape(term)
    rx = re.compile(
        t + rb"[\r\n]*((?:" + b"|".join(ids) + rb")(?:" + re.escape(sep) + rb"|" + t + rb"))")
    window = 1 << 24
    overlap = max_segment + 16
    with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        size = len(mm)
        pos = max(at - len(term), 0)
        while pos < size:
            end = min(size, pos + window + overlap)
            m = rx.search(mm, pos, end)
            if m is not None:
                return m.start(1)
            drop = pos - pos % mmap.PAGESIZE
            mm.madvise(mmap.MADV_DONTNEED, drop, min(size, pos + window) - drop)
            pos += window
        return None


@dataclass
class _Piece:
    """What a worker sends back (plain data, ``_Set`` records and ``Issue`` models)."""

    error: str | None = None
    start_state: Any = None
    end_state: Any = None
    base: int = 0  # worker position of its range's first segment
    base_in_set: int = 0  # policy ranges: the same, counted from the set's ST (ST = 0)
    stopped: tuple[int, str] | None = None  # worker position and id of an envelope segment
    end_position: int = 0  # worker position of the next range's first segment
    walk: Any = None
    sets: list[Any] = field(default_factory=list)  # set ranges: the closed sets
    outside: bool = False  # set ranges: segments outside any set (TA1 024)
    issues: list[Issue] = field(default_factory=list)
    truncated: int = 0
    segment_errors: int = 0
    rejected: list[int] = field(default_factory=list)  # in-set positions of policies in error
    policy_hl: int = 0  # the open policy's HL where the range ends (in-set position)
    policies: int = 0
    vehicles: int = 0


_SET_STOPS = frozenset(("ISA", "IEA", "GS", "GE"))
_STOP_IDS = {"set": (b"ISA", b"IEA", b"GS", b"GE"), "policy": _ENVELOPE_IDS}


def _validate_range(path: str, plan: _Plan, i: int, options: ValidationOptions,
                    chunk_size: int) -> _Piece:
    r = plan.ranges[i]
    engine = _Engine(compiled_811_map(), options)

    def run(ranges: list[tuple[int, int | None]], **kw: Any) -> None:
        stream = _Ranges(path, ranges)
        try:
            engine.run(SegmentReader(stream, chunk_size=chunk_size,
                                     max_segment_length=options.max_segment_length, **kw))
        finally:
            stream.close()

    try:
        if r.kind == "set":
            run([(0, plan.head_end)], partial=True)
            if engine.group is None or engine.set is not None or engine.ix is None:
                return _Piece(error="no open group after the envelope head")
            base = engine.position + 1
            engine.stop_at_envelope_after = engine.position
            engine.stop_ids = _SET_STOPS
            run([(r.start, r.end)], resume=engine.delimiters, partial=r.end is not None)
            if engine.set is not None:
                return _Piece(error="a set is still open where the range ends")
            piece = _Piece(base=base, stopped=engine.stopped_at, sets=engine.export_sets(),
                           outside=engine.ix.outside, start_state=engine.delimiters,
                           end_position=engine.position + 1)
            return piece
        run([(0, plan.head_end), r.heading], partial=True)
        st = engine.set
        if st is None:
            return _Piece(error="no open set after the heading")
        before = (len(st.issues), st.truncated, st.segment_errors, st.policies, st.vehicles)
        base = engine.position + 1
        engine.handoff_at = base
        engine.speculate_hl = True
        engine.stop_at_envelope_after = engine.position
        run([(r.start, r.end)], resume=engine.delimiters, partial=r.end is not None)
        st = engine.set
        if engine.handoff is None or st is None:
            return _Piece(error="the range does not start with a policy")
        piece = _Piece(start_state=engine.handoff, base=base, base_in_set=base - st.start)
        if engine.stopped_at is not None:
            piece.stopped = engine.stopped_at
        elif r.end is not None:
            # close the last policy's loops at the next range's first segment, as the parent
            # does; a next range of whole sets starts with an ST, handled by the parent
            p, _ = _segment_at(path, r.end, engine.delimiters.segment)
            e = engine.step_for(p)
            if e is None or e[0] is None:
                return _Piece(error="the next range does not start with a policy")
            n = engine.position + 1
            engine.speculate_hl = False
            engine.handoff_at, engine.handoff = n, None
            engine._apply(st, e, p.split(engine.delimiters.element), p, n, phase="pops")
            piece.end_state, piece.end_position = engine.handoff, n
        else:
            return _Piece(error="the range ends without an envelope segment")
        piece.walk = engine.export_walk()
        piece.issues = st.issues[before[0]:]
        piece.truncated = st.truncated - before[1]
        piece.segment_errors = st.segment_errors - before[2]
        piece.rejected = sorted(st.rejected)
        piece.policy_hl = st.policy_hl
        piece.policies = st.policies - before[3]
        piece.vehicles = st.vehicles - before[4]
        return piece
    except InputError as exc:
        return _Piece(error=exc.code)


def _adopt_policies(engine: _Engine, piece: _Piece, n: int) -> int:
    """Take a policy range's result whose range starts at the parent's position ``n``;
    return the position offset (parent position = worker position + offset)."""
    st = engine.set
    assert st is not None
    offset = n - piece.base
    shift = (n - st.start) - piece.base_in_set  # worker's in-set positions to the file's
    for issue in piece.issues:
        if len(st.issues) < engine.cap:
            if shift and issue.segment_position is not None:
                moved: dict[str, int] = {"segment_position": issue.segment_position + shift}
                if issue.policy_position is not None:
                    moved["policy_position"] = issue.policy_position + shift
                issue = issue.model_copy(update=moved)
            st.issues.append(issue)
        else:
            st.truncated += 1
    st.truncated += piece.truncated
    st.segment_errors += piece.segment_errors
    st.rejected.update(p + shift for p in piece.rejected)
    st.policies += piece.policies
    st.vehicles += piece.vehicles
    engine.import_walk(piece.walk)
    st.policy_hl = piece.policy_hl + shift if piece.policy_hl else 0
    return offset


def validate_file(path: str, *, name: str, options: ValidationOptions, workers: int,
                  chunk_size: int = 1 << 20, min_bytes: int = MIN_PARALLEL_BYTES) -> FileVerdict:
    """Validate the file at ``path`` with up to ``workers`` processes (0: one per core);
    the same verdict as ``_fast.validate`` on the same bytes.  Small files, one worker or a
    file that cannot be cut run in this process alone."""
    from ._fast import validate as validate_stream

    parts = resolve_workers(workers)
    plan = None
    if parts > 1 and os.path.getsize(path) >= min_bytes:
        plan = _plan(path, parts)
    if plan is None:
        with open(path, "rb") as stream:
            return validate_stream(stream, name=name, options=options, chunk_size=chunk_size)

    compiled_811_map()  # compiled once, inherited by the forked workers
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(plan.ranges), mp_context=context,
                             initializer=exit_with_parent, initargs=(os.getpid(),)) as pool:
        futures: list[Future[_Piece]] = [
            pool.submit(_validate_range, path, plan, i, options, chunk_size)
            for i in range(len(plan.ranges))
        ]
        try:
            return _stitch(path, name, options, plan, futures, chunk_size)
        finally:
            for f in futures:
                f.cancel()


def _stitch(path: str, name: str, options: ValidationOptions, plan: _Plan,
            futures: list[Future[_Piece]], chunk_size: int) -> FileVerdict:
    """The parent: its own first range, then each worker's result in file order where the
    walk agrees with the worker's start, its own validation where not."""
    engine = _Engine(compiled_811_map(), options)
    error: FileError | None = None
    reader_base = 0

    def run(start: int, end: int | None, **kw: Any) -> None:
        nonlocal reader_base
        reader_base = engine.position
        stream = _Ranges(path, [(start, end)])
        try:
            engine.run(SegmentReader(stream, chunk_size=chunk_size,
                                     max_segment_length=options.max_segment_length,
                                     partial=end is not None, **kw))
        finally:
            stream.close()

    try:
        run(0, plan.ranges[0].start)
        frozen = None  # a policy boundary's state when a worker already closed the loops
        for r, future in zip(plan.ranges, futures, strict=True):
            resume_at = _take(engine, r, future, frozen, path)
            frozen = None
            if isinstance(resume_at, tuple):  # a policy range ended at the next policy
                frozen = resume_at[1]
                continue
            if resume_at is not None:
                run(resume_at, r.end, resume=engine.delimiters)
    except InputError as exc:
        pos = exc.location.segment_position
        error = FileError(code=exc.code, message=exc.message,
                          segment_position=None if pos is None else pos + reader_base)
    engine.finish()
    return engine.verdict(name, error)


def _take(engine: _Engine, r: _Range, future: Future[_Piece], frozen: Any,
          path: str) -> int | tuple[None, Any] | None:
    """Take the worker's result for range ``r`` if it fits the parent's state at ``r.start``.
    Returns the byte offset from which the parent must read on (up to ``r.end``), None when
    the worker's result covers the range, or (None, frozen state) when it covers it and
    closed the loops of its last policy at the next range's start."""
    d = engine.delimiters
    n = engine.position + 1
    if r.kind == "set":
        piece = future.result()
        if (piece.error is not None or engine.set is not None or engine.group is None
                or engine.ix is None or piece.start_state != d):
            return r.start
        offset = n - piece.base
        engine.adopt_sets(piece.sets, offset)
        engine.ix.outside = engine.ix.outside or piece.outside
        if piece.stopped is not None:
            engine.position = piece.stopped[0] + offset - 1
            return _envelope_after(path, r.start, d, _STOP_IDS["set"],
                                   engine.options.max_segment_length)
        engine.position = piece.end_position + offset - 1
        return None
    st = engine.set
    if st is None:
        return r.start
    p, after = _segment_at(path, r.start, d.segment)
    e = engine.step_for(p)
    if e is None or e[0] is None:
        return r.start
    if frozen is None:
        # close the previous policy's loops here and freeze (the worker did the same)
        engine.handoff_at, engine.handoff = n, None
        engine._apply(st, e, p.split(d.element), p, n, phase="pops")
        frozen = engine.handoff
    piece = future.result()
    if piece.error is not None or piece.start_state != frozen:
        # the walk differs from the worker's guess: this HL and the range are ours
        engine._apply(st, e, p.split(d.element), p, n, phase="rest")
        engine.position = n
        return after
    offset = _adopt_policies(engine, piece, n)
    if piece.stopped is not None:
        engine.position = piece.stopped[0] + offset - 1
        return _envelope_after(path, r.start, d, _STOP_IDS["policy"],
                               engine.options.max_segment_length)
    engine.position = piece.end_position + offset - 1
    return None, piece.end_state

