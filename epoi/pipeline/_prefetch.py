"""The normalize units' first pass, done ahead in worker processes (``_Prefetch``) while
the pipeline's own process parses, writes and matches; and what that pass needs of the
store: each block's edit context and the NAIC its insurer must report.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime
from multiprocessing import get_context
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from .. import _logging
from .._orphans import batch_worker_init
from ..config import Settings
from ..intake import Chunk
from ..parsers import Delimiters
from ..schemas.policy import NormalizedRecord, PolicyReport
from ..store import (
    Carrier,
    PriorReport,
    RecordRows,
    Store,
    Submission,
    TransactionSet,
    UnitState,
    prior_reports,
    record_rows,
    unit_by_key,
)
from ..transforms import EditContext, PriorInfo, echo, normalize
from ._priors import ACCEPTED, answer_priors, facts_of
from ._returns import merge_part, return_delimiters, return_part

_log = _logging.get_logger("epoi.pipeline")

# What handing work to the worker processes raises when they cannot do it: the pool broke (a
# worker was killed) or was shut down, or a process could not be started (no processes,
# memory or file descriptors left).  This process then does every unit itself.
_CANNOT_START = (BrokenProcessPool, RuntimeError, OSError)


def _expected_naic(session: Session, sub: Submission) -> Callable[[str], str | None]:
    """The NAIC a block's insurer must report (E001): the named carrier's, else the
    registered carrier's of the block's ISA06."""
    if sub.carrier_id is not None:
        naic = session.get_one(Carrier, sub.carrier_id).naic
        return lambda _sender: naic
    by_sender = {c.isa_id: c.naic for c in session.scalars(select(Carrier))}
    return lambda sender: by_sender.get(sender.strip())


def _context(
    settings: Settings, sub: Submission, today: date, naic_of: Callable[[str], str | None],
    chunk: Chunk,
) -> EditContext:
    """The edit context of a chunk's blocks: a chunk is one set, of one sender."""
    base = EditContext.from_settings(settings, received_at=sub.received_at, today=today)
    return dataclasses.replace(base, expected_naic=naic_of(chunk.sender_id))


@dataclasses.dataclass(frozen=True, slots=True)
class FirstPass:
    """A worker's pass over a normalize unit, in the form the pipeline's process writes without
    building its accepted records: what answering E110/E111 reads of each record and what
    each was answered with (``_priors``), the rows to insert (``store.record_rows``), the
    chunk's part of its set's error return as stored (``_returns.return_part``: its rejected
    and warned records' echoes, rendered here), the records to match (indexes of the
    accepted production ones) and the match hook's cascade of them worked out ahead
    (``preparer``; None without one). The records themselves stay in the worker: where the
    pipeline's process needs them after all, it normalises the chunk again with the same
    answers (``_priors.renormalize``)."""

    facts: list[PriorReport]
    answered: list[PriorInfo]
    rows: RecordRows
    part: str
    to_match: list[int]
    prepared: Any

    def with_redone(self, redone: dict[int, NormalizedRecord], answered: list[PriorInfo], *,
                    sqlite: bool) -> FirstPass:
        """This pass with the records that the pipeline's process normalised again (its
        E110/E111 answers changed since the worker read the store) in place of the
        worker's.  ``part`` is left as it is: see ``return_part_of``."""
        if not redone:
            return self
        submission_id, set_id, unit_id = self.rows.reports[0][1:4]
        facts = list(self.facts)
        reports = list(self.rows.reports)
        children: list[list[tuple[Any, ...]]] = [
            [row for row in rows if row[0] not in redone]
            for rows in (self.rows.insureds, self.rows.vehicles, self.rows.errors)]
        for n, rec in redone.items():
            facts[n] = facts_of(rec, submission_id, set_id)
            one = record_rows([rec], submission_id=submission_id, set_id=set_id,
                              unit_id=unit_id, sqlite=sqlite)
            reports[n] = one.reports[0]
            for kept, new in zip(children, (one.insureds, one.vehicles, one.errors),
                                 strict=True):
                kept += [(n, *row[1:]) for row in new]
        for kept in children:
            kept.sort(key=lambda row: (row[0], row[1]))
        was = set(self.to_match)
        to_match = [n for n in range(len(facts)) if (
            n in was if n not in redone
            else redone[n].status in ACCEPTED and not redone[n].report.test)]
        return dataclasses.replace(
            self, facts=facts, answered=answered, to_match=to_match,
            rows=RecordRows(reports, *children))


# The match hook's ``preparer``: (connection, reports, today) -> what the hook takes back.
MatchPreparer = Callable[[Connection, Sequence[PolicyReport], date], Any]

_CHILD_STORE: dict[str, Store] = {}


def _first_pass(url: str, settings: Settings, unit_key: str, today: date,
                preparer: MatchPreparer | None = None) -> FirstPass | None:
    """In a worker process: the unit's policies normalised, E110/E111 answered and the
    match cascade worked out from the store as it is now (it is only read).  None when the
    unit is done or gone."""
    store = _CHILD_STORE.get(url)
    if store is None:
        store = _CHILD_STORE[url] = Store(url)
    with store.session(readonly=True) as session:
        unit = unit_by_key(session, unit_key)
        if unit is None or unit.state is UnitState.DONE or unit.set_id is None:
            return None
        sub = session.get_one(Submission, unit.submission_id)
        ts = session.get_one(TransactionSet, unit.set_id)
        test, delimiters = ts.test, return_delimiters(ts.delimiters)
        chunk = Chunk(unit.payload or "")
        context = _context(settings, sub, today, _expected_naic(session, sub), chunk)
        set_id, unit_id = unit.set_id, unit.id
    records = [normalize(b, context=context) for b in chunk]
    policies = [(r.report.carrier_naic, r.report.policy_number) for r in records
                if r.report.policy_number]
    # One read of the store for both: the priors and the cascade see the same snapshot.
    prepared = None
    with store.session(readonly=True) as session:
        stored = prior_reports(session, policies, test=test)
        records, infos = answer_priors(chunk, records, context, stored, submission_id=sub.id,
                                       set_id=set_id)  # fmt: skip
        to_match = [n for n, r in enumerate(records)
                    if r.status in ACCEPTED and not r.report.test]
        if preparer is not None and not test:
            prepared = preparer(session.connection(), [records[n].report for n in to_match],
                                today)
    rows = record_rows(records, submission_id=sub.id, set_id=set_id, unit_id=unit_id,
                       sqlite=store.dialect == "sqlite")
    return FirstPass([facts_of(r, sub.id, set_id) for r in records], infos, rows,
                     return_part(records, delimiters), to_match, prepared)


def return_part_of(done: FirstPass, redone: dict[int, NormalizedRecord],
                   delimiters: Delimiters) -> str:
    """A worker's pass's part of its set's error return (``_returns.return_part``), with the
    echoes of the records ``redone`` in the pipeline's process in place of the worker's."""
    if not redone:
        return done.part
    again = {done.facts[n].policy_position for n in redone}
    return merge_part(done.part, again, echo(redone.values(), delimiters))


def _ready() -> None:
    """A worker's first task: importing this module imported what a first pass needs."""


class _Prefetch:
    """The first pass of normalize units, done ahead in worker processes (``spawn``: a
    child shares no connection with this process) while this one writes and matches.  A
    unit taken out of the planned order, or whose result does not fit its blocks, is
    normalised here as before: the workers only save time, they decide nothing."""

    AHEAD = 3  # units in flight per worker: bounded memory, whatever the file's size

    def __init__(self, url: str, settings: Settings, clock: Callable[[], datetime],
                 workers: int, *,
                 min_policies: int, preparer: MatchPreparer | None = None) -> None:
        self.url, self.settings, self.clock = url, settings, clock
        self.preparer = preparer
        self.workers, self.min_policies = workers, min_policies
        self._pool: Any = None
        self._planned: deque[str] = deque()
        self._futures: OrderedDict[str, tuple[date, Future[Any]]] = OrderedDict()
        self._lock = threading.Lock()
        self._broken = False
        self.used = 0  # units whose first pass came from a worker
        self.redone = 0  # of their records, those normalised again (E110/E111 changed since)

    def warm(self) -> None:
        """Start the workers now (a worker spends a second importing epoi): a run calls
        this before it parses a large file, so that they are ready when its units are."""
        with self._lock:
            self._start()

    def plan(self, unit_keys: Sequence[str], policies: int) -> None:
        if policies < self.min_policies:
            return
        with self._lock:
            self._start()
            self._planned.extend(unit_keys)
            self._top_up()


    def _start(self) -> None:
        if self._pool is None and not self._broken:
            try:
                # Every worker's collector is set for batch work (``epoi._gc``) as it starts.
                self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                                 initializer=batch_worker_init,
                                                 initargs=(os.getpid(),))
                for _ in range(self.workers):
                    self._pool.submit(_ready)
            except _CANNOT_START:
                self._stop()

    def _top_up(self) -> None:
        if self._pool is None:
            return
        today = self.clock().date()
        try:
            while self._planned and len(self._futures) < self.AHEAD * self.workers:
                key = self._planned.popleft()
                future = self._pool.submit(_first_pass, self.url, self.settings, key, today,
                                           self.preparer)
                self._futures[key] = (today, future)
        except _CANNOT_START:
            self._stop()

    def _stop(self) -> None:
        """The workers died (killed, out of memory): this process does every unit from now
        on.  A unit never fails for the workers' sake."""
        _log.warning("prefetch_stopped", planned=len(self._planned))
        self._planned.clear()
        pool, self._pool, self._broken = self._pool, None, True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)  # the workers that did start

    def take(self, unit_key: str, today: date, chunk: Chunk) -> FirstPass | None:
        with self._lock:
            hit = self._futures.pop(unit_key, None)
            if hit is None and unit_key in self._planned:
                self._planned.remove(unit_key)  # taken early: done here
            if self._pool is not None:
                self._top_up()
        if hit is None:
            return None
        day, future = hit
        try:
            done: FirstPass | None = future.result()
        except Exception:  # noqa: BLE001 - a worker that failed: this process does the unit
            _log.warning("prefetch_failed", unit=unit_key)
            return None
        if done is None or day != today or len(done.facts) != len(chunk):
            return None
        for n, fact in enumerate(done.facts):
            if fact.policy_position != chunk.policy_position(n):
                return None
        self.used += 1
        return done

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._futures.clear()
            self._planned.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
