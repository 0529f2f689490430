"""``run``: the main job on one machine; ``serve``: a long-running worker; ``summarize``.

``run`` re-queues what the store holds as queued (crash recovery), submits the files, then
drains every stage queue in this process through the broker, like any worker would.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from .. import _logging
from ..config import Settings
from ..intake import DEFAULT_CHUNK_SIZE, SubmissionResult, submission_of_key
from ..parsers import resolve_workers
from ..queues import (
    Broker,
    Envelope,
    Handler,
    Kind,
    QueueConfig,
    Worker,
    WorkerStats,
    stop_on_signals,
)
from ..store import (
    Ack,
    Interchange,
    Store,
    Submission,
    TransactionSet,
    WorkUnit,
    record_counts,
)
from ._problems import Problem, problems_of
from ._stages import Clock, MatchHook, Pipeline, Progress, no_matching

__all__ = ["RunSummary", "run", "serve", "summarize"]

_log = _logging.get_logger("epoi.pipeline")

_STAGES: tuple[Kind, ...] = ("parse", "normalize", "match")
# A run stops this long after its queues went empty (the embedded transport polls its tables).
RUN_IDLE_TIMEOUT = 0.5
# On the server-less queue, which this process alone drains: every handler publishes its
# follow-ups before it acknowledges, so empty queues mean nothing is in flight.
SERVER_LESS_IDLE_TIMEOUT = 0.1
# A long-running worker looks this often for units the store holds as queued while their
# queues stand empty (``serve``).
RECOVER_INTERVAL = 30.0


@dataclass(slots=True)
class RunSummary:
    files: int = 0
    duplicates: int = 0
    recovered_units: int = 0  # re-queued from the store on start
    submissions: list[int] = field(default_factory=list)
    interchanges: int = 0
    interchanges_rejected: int = 0
    sets_rejected: int = 0  # 997 AK5 R
    policies: int = 0
    accepted: int = 0
    warned: int = 0
    rejected: int = 0
    test_policies: int = 0
    vehicles: int = 0
    business_errors: int = 0
    acks: int = 0  # TA1 and 997
    error_returns: int = 0
    failed_units: int = 0  # units that failed for good, and submissions that failed
    dead_lettered: int = 0
    unfinished: int = 0  # units still queued when the run ended (the next run takes them up)
    problems: list[Problem] = field(default_factory=list)  # why each of the above

    @property
    def anything_rejected(self) -> bool:
        return bool(self.rejected or self.interchanges_rejected or self.sets_rejected
                    or self.failed_units or self.unfinished)  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        doc = {name: getattr(self, name) for name in self.__slots__}
        doc["problems"] = [p.as_dict() for p in self.problems]
        return doc


def run(
    paths: Sequence[str | Path],
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    carrier: str | None = None,
    match_hook: MatchHook = no_matching,
    progress: Progress | None = None,
    on_submitted: Callable[[list[SubmissionResult]], None] | None = None,
    idle_timeout: float = RUN_IDLE_TIMEOUT,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> RunSummary:
    """Submit ``paths`` and process everything queued to the end; a summary of the
    submissions this run touched (the new ones and those whose units it recovered)."""
    pipeline = Pipeline(
        store, settings, clock, match_hook=match_hook, progress=progress, chunk_size=chunk_size
    )
    # Every core: the normalize units' first pass runs ahead in worker processes while this
    # one parses and writes; one worker a core, not one fewer, since this process waits for
    # SQLite and for the passes much of the time (2 cores, 200 k policies, alternated runs:
    # 31.9 s against 35.7 s on average, four runs each).  One process asked for: none.
    workers = resolve_workers(settings.workers)
    pipeline.use_processes(workers if workers > 1 else 0,
                           min_policies=settings.first_pass_min_policies)
    pipeline.expect(paths)
    settings.home.mkdir(parents=True, exist_ok=True)  # the embedded queue lives there
    if settings.broker_url is None:
        idle_timeout = min(idle_timeout, SERVER_LESS_IDLE_TIMEOUT)
    config = QueueConfig.from_settings(settings, idle_timeout=idle_timeout)
    try:
        summary = _drain(pipeline, paths, config, carrier, on_submitted)
    finally:
        pipeline.close()
    return summary


def _drain(
    pipeline: Pipeline,
    paths: Sequence[str | Path],
    config: QueueConfig,
    carrier: str | None,
    on_submitted: Callable[[list[SubmissionResult]], None] | None,
) -> RunSummary:
    store = pipeline.store
    with Broker(config) as broker:
        if broker.server_less:
            # The embedded queue belongs to this one process, and the store says what is left
            # to do: start from the store's list alone, in the order the units were created,
            # rather than after whatever an interrupted run left in the queue tables.
            recovered = pipeline.queued()
            _purge_stage_queues(broker)
        else:
            # On RabbitMQ other workers share the queues, and a message waiting there stands
            # for its unit: only the units no message stands for, as ``serve`` does.
            recovered = _lost_units(broker, pipeline, _STAGES)
        if recovered:
            broker.requeue(recovered)
            _log.info("run_recovered", units=len(recovered))
        results, parse_units = pipeline.submit(paths, carrier=carrier)
        if on_submitted:
            on_submitted(results)
        broker.publish_many(parse_units)
        handlers = pipeline.handlers()
        dead_lettered = Worker(broker, handlers).run(until_idle=True).dead_lettered
        if broker.server_less:
            # This process alone drains the embedded queue, and a handler whose unit comes
            # back done hands its follow-ups over again: a unit the store still holds as
            # queued now lost its message some other way.  The next run takes it up; this
            # one says so rather than report the work done.
            unfinished = len(pipeline.queued())
        else:
            more, dead, unfinished = _take_up_lost(broker, pipeline, handlers, recovered)
            recovered += more
            dead_lettered += dead
    touched = {r.submission_id for r in results if not r.duplicate}
    touched |= {submission_of_key(e.unit_id) for e in recovered}
    summary = summarize(store, sorted(touched))
    summary.files = len(results)
    summary.duplicates = sum(r.duplicate for r in results)
    summary.recovered_units = len(recovered)
    summary.dead_lettered = dead_lettered
    summary.unfinished = unfinished
    return summary


def _take_up_lost(
    broker: Broker, pipeline: Pipeline, handlers: Mapping[Kind, Handler],
    recovered: Sequence[Envelope],
) -> tuple[list[Envelope], int, int]:
    """On a shared broker, once the queues are drained: the units the store still holds as
    queued lost their messages (or are in another worker's hands: a second message finds its
    unit done).  Each is re-queued once by this run (``recovered``: already) and drained;
    returns those re-queued, how many were dead-lettered, and how many are still queued."""
    tried = {e.unit_id for e in recovered}
    requeued: list[Envelope] = []
    dead_lettered = 0
    while lost := _lost_units(broker, pipeline, _STAGES):
        again = [e for e in lost if e.unit_id not in tried]
        if not again:
            return requeued, dead_lettered, len(lost)
        broker.requeue(again)
        requeued += again
        tried.update(e.unit_id for e in again)
        dead_lettered += Worker(broker, handlers).run(until_idle=True).dead_lettered
    return requeued, dead_lettered, 0


def _purge_stage_queues(broker: Broker) -> None:
    channel = broker.connection.default_channel
    for kind in _STAGES:
        broker.topology.queue(kind).bind(channel).purge()


def summarize(store: Store, submission_ids: Sequence[int]) -> RunSummary:
    summary = RunSummary(submissions=list(submission_ids))
    if not submission_ids:
        return summary
    with store.session(readonly=True) as session:
        for sid in submission_ids:
            counts = record_counts(session, sid)
            summary.policies += counts["policies"]
            summary.accepted += counts["accepted"]
            summary.warned += counts["warned"]
            summary.rejected += counts["rejected"]
            summary.test_policies += counts["test_policies"]
            summary.vehicles += counts["vehicles"]
            summary.business_errors += counts["business_errors"]
            summary.error_returns += counts["error_returns"]
        ids = list(submission_ids)
        summary.interchanges = session.scalar(
            select(func.count()).select_from(Interchange).where(Interchange.submission_id.in_(ids))
        ) or 0
        summary.interchanges_rejected = session.scalar(
            select(func.count()).select_from(Interchange).where(
                Interchange.submission_id.in_(ids), Interchange.ta1_ack_code == "R"
            )
        ) or 0
        summary.sets_rejected = session.scalar(
            select(func.count()).select_from(TransactionSet).where(
                TransactionSet.submission_id.in_(ids), TransactionSet.ack_code == "R"
            )
        ) or 0
        summary.acks = session.scalar(
            select(func.count()).select_from(Ack).where(Ack.submission_id.in_(ids))
        ) or 0
        summary.failed_units = session.scalar(
            select(func.count()).select_from(WorkUnit).where(
                WorkUnit.submission_id.in_(ids), WorkUnit.state == "failed"
            )
        ) or 0
        failed_subs = session.scalar(
            select(func.count()).select_from(Submission).where(
                Submission.id.in_(ids), Submission.state == "failed"
            )
        ) or 0
        summary.failed_units += failed_subs
        summary.problems = problems_of(session, ids)
    return summary


def serve(
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    stages: Iterable[Kind],
    concurrency: int = 1,
    match_hook: MatchHook = no_matching,
    stop_event: threading.Event | None = None,
    install_signals: bool = True,
    recover_every: float = RECOVER_INTERVAL,
) -> list[WorkerStats]:
    """A long-running worker: ``concurrency`` consumers (threads, one broker connection
    each) of the given stages, until SIGTERM/SIGINT (or ``stop_event``).  Each finishes the
    unit in hand first.  The units the store holds as queued are re-queued when their queues
    stand empty: on start, then every ``recover_every`` seconds (``_lost_units``)."""
    stop = stop_event or threading.Event()
    if install_signals:
        stop_on_signals(stop)
    pipeline = Pipeline(store, settings, clock, match_hook=match_hook)
    settings.home.mkdir(parents=True, exist_ok=True)
    config = QueueConfig.from_settings(settings)
    kinds = list(stages)
    with Broker(config) as broker:
        broker.requeue(_lost_units(broker, pipeline, kinds))  # logs queue.requeued: started
    results: list[WorkerStats] = []
    failures: list[BaseException] = []

    def consume() -> None:
        try:
            with Broker(config) as broker:
                results.append(Worker(broker, pipeline.handlers(kinds)).run(stop))
        except BaseException as exc:
            # A consumer that gave up (the broker stayed away past the reconnect retries)
            # stops the whole process, which then exits non-zero with the error, so that
            # its supervisor restarts it; a thread dying alone would leave a worker that
            # consumes less, or nothing, and exits 0.
            failures.append(exc)
            stop.set()

    threads = [threading.Thread(target=consume, name=f"epoi-worker-{n}")
               for n in range(concurrency)]
    for t in threads:
        t.start()
    try:
        due = time.monotonic() + recover_every
        while any(t.is_alive() for t in threads):
            for t in threads:
                t.join(timeout=0.5)
            if time.monotonic() >= due and not stop.is_set():
                _recover(config, pipeline, kinds)
                due = time.monotonic() + recover_every
    finally:
        stop.set()
    if failures:
        raise failures[0]
    return results


def _recover(config: QueueConfig, pipeline: Pipeline, kinds: Sequence[Kind]) -> None:
    """Re-queue the lost units, on a connection of its own (an idle one would miss the
    broker's heartbeats); a sweep that fails is tried again at the next."""
    try:
        with Broker(config) as broker:
            if lost := _lost_units(broker, pipeline, kinds):
                broker.requeue(lost)
    except Exception as exc:  # noqa: BLE001 - the consumers report what is really wrong
        _log.warning("recover_failed", error=type(exc).__name__)


def _lost_units(broker: Broker, pipeline: Pipeline, kinds: Sequence[Kind]) -> list[Envelope]:
    """The units of ``kinds`` the store holds as queued, when their queues and retry queues
    hold no message: a publish that never happened (a crash between a commit and its
    publish), a purged queue.  Some may be in a consumer's hands (a second message finds its
    unit done).  Nothing while the queues hold messages: those are the units' own, and a
    worker that re-queued every unit whenever it started put one more copy of the whole
    backlog behind it, each copy a fetch and a lookup for nothing."""
    if broker.waiting(kinds):
        return []
    return [e for e in pipeline.queued() if e.kind in kinds]
