"""The normalize units' first pass, done ahead in worker processes (``_Prefetch``) while
the pipeline's own process parses, writes and matches; and what that pass needs of the
store: each block's edit context and the NAIC its insurer must report.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import date, datetime
from multiprocessing import get_context
from typing import Any

from pydantic import TypeAdapter, ValidationError
from sqlalchemy import Connection, select
from sqlalchemy.orm import Session

from .. import _logging
from .._gc import tune_for_batch
from ..config import Settings
from ..intake import Chunk
from ..schemas.policy import NormalizedRecord, PolicyReport
from ..store import (
    Carrier,
    Store,
    Submission,
    TransactionSet,
    UnitState,
    prior_reports,
    unit_by_key,
)
from ..transforms import EditContext, PriorInfo, normalize
from ._priors import ACCEPTED, answer_priors

_log = _logging.get_logger("epoi.pipeline")


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


# A worker's pass over a unit: its records, what each record's E110/E111 were answered
# with (``_priors.answer_priors``), and the match hook's cascade of its accepted production
# records worked out ahead (``MatchPreparer``; None without one).
FirstPass = tuple[list[NormalizedRecord], list[PriorInfo], Any]
# How a worker's records cross to the pipeline's process: one JSON document written and read
# by pydantic-core (about half the cost of pickling the models on the worker's side, less on
# this side too; pickle walks every model's state dict in Python).  Read back, each record is
# validated again: equal to the worker's, field by field.
_RECORDS = TypeAdapter(list[NormalizedRecord])
# The match hook's ``preparer``: (connection, reports, today) -> what the hook takes back.
MatchPreparer = Callable[[Connection, Sequence[PolicyReport], date], Any]

_CHILD_STORE: dict[str, Store] = {}


def _first_pass(url: str, settings: Settings, unit_key: str, today: date,
                preparer: MatchPreparer | None = None) -> tuple[bytes, list[PriorInfo], Any] | None:
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
        test = session.get_one(TransactionSet, unit.set_id).test
        chunk = Chunk(unit.payload or "")
        context = _context(settings, sub, today, _expected_naic(session, sub), chunk)
        set_id = unit.set_id
    records = [normalize(b, context=context) for b in chunk]
    policies = [(r.report.carrier_naic, r.report.policy_number) for r in records
                if r.report.policy_number]
    # One read of the store for both: the priors and the cascade see the same snapshot.
    prepared = None
    with store.session(readonly=True) as session:
        stored = prior_reports(session, policies, test=test)
        records, infos = answer_priors(chunk, records, context, stored, submission_id=sub.id,
                                       set_id=set_id)  # fmt: skip
        if preparer is not None and not test:
            reports = [r.report for r in records if r.status in ACCEPTED and not r.report.test]
            prepared = preparer(session.connection(), reports, today)
    return _RECORDS.dump_json(records), infos, prepared


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
            # Every worker's collector is set for batch work (``epoi._gc``) as it starts.
            self._pool = ProcessPoolExecutor(self.workers, mp_context=get_context("spawn"),
                                             initializer=tune_for_batch)
            try:
                for _ in range(self.workers):
                    self._pool.submit(_ready)
            except (BrokenProcessPool, RuntimeError):
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
        except (BrokenProcessPool, RuntimeError):
            self._stop()

    def _stop(self) -> None:
        """The workers died (killed, out of memory): this process does every unit from now
        on.  A unit never fails for the workers' sake."""
        _log.warning("prefetch_stopped", planned=len(self._planned))
        self._planned.clear()
        self._pool, self._broken = None, True

    def take(
        self, unit_key: str, today: date, chunk: Chunk
    ) -> FirstPass | None:
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
            done = future.result()
        except Exception:  # noqa: BLE001 - a worker that failed: this process does the unit
            _log.warning("prefetch_failed", unit=unit_key)
            return None
        if done is None or day != today:
            return None
        try:
            records = _RECORDS.validate_json(done[0])
        except ValidationError:  # never seen: a record the schema would not take back
            _log.warning("prefetch_unreadable", unit=unit_key)
            return None
        if len(records) != len(chunk):
            return None
        for n, rec in enumerate(records):
            if rec.report.key.policy_position != chunk.policy_position(n):
                return None
        self.used += 1
        return records, done[1], done[2]

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
            self._futures.clear()
            self._planned.clear()
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
