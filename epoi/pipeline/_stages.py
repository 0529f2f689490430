"""The stage handlers: what a worker does with a parse, normalize or match unit.

Each handler follows the worker's contract (``epoi.queues``): do the unit's work, commit it
in one transaction together with the unit's state ``done`` and its follow-up units
(``queued``), then return the follow-ups' envelopes for the worker to publish.  A unit found
``done`` is a redelivery: nothing is done again, and its follow-ups still queued are returned
again, as the attempt that committed may have failed before it returned them (one published
twice finds itself done).  Here the stages meet the store and the queues: ``intake``,
``transforms`` and ``matching`` know neither.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import _logging
from ..config import Settings
from ..intake import (
    DEFAULT_CHUNK_SIZE,
    Chunk,
    SubmissionResult,
    acknowledge,
    match_key,
    parse_key,
    receive,
    source_of_match_key,
    submission_of_key,
)
from ..queues import Envelope, Handler, Kind, error_code_and_message, is_permanent
from ..schemas.policy import NormalizedRecord
from ..store import (
    Store,
    Submission,
    SubmissionState,
    TransactionSet,
    Unit,
    UnitKind,
    UnitRecord,
    UnitState,
    WorkUnit,
    add_units,
    count_chunk_done,
    finish_unit,
    load_records,
    mark_vehicles_pending,
    note_unit_failure,
    plan_prior_reports,
    queued_units,
    record_rows,
    reports_of_unit,
    store_record_rows,
    unit_by_key,
    units_left,
    units_left_by_kind,
)
from ..transforms import (
    EditContext,
    PriorInfo,
    normalize,
)
from ._handoff import _Handoff
from ._inflight import priors_before
from ._lineage import _advance, _has_units, _lock_submission
from ._prefetch import FirstPass, _context, _expected_naic, _Prefetch, return_part_of
from ._priors import ACCEPTED, answer_facts, answer_priors, renormalize
from ._returns import return_delimiters, return_part, write_set_return
from ._states import match_ahead, with_match_states

__all__ = ["MatchHook", "Pipeline", "Progress", "no_matching"]

_log = _logging.get_logger("epoi.pipeline")

Clock = Callable[[], datetime]
# Issue 5 fills this in with the cascade of ``epoi.matching``: called with the unit's accepted
# (and warned) production records, with their insureds, whose vehicles are ``pending`` (or not
# yet set, for a hook whose ``sets_vehicle_states`` says it sets every one; a hook with a
# ``preparer`` also gets ``prepared=``, what that worked out ahead). It runs inside the match
# unit's transaction: do the work on ``session`` (or ``session.connection()``); on SQLite a
# second transaction would wait for this one's write lock. It must be idempotent per record (a
# unit may be redone after a crash before its commit; then nothing of the first attempt was
# kept).
MatchHook = Callable[[Session, Sequence[NormalizedRecord]], None]
# Told how many policies were planned (parse) and then normalised (normalize).
Progress = Callable[[str, int], None]



def no_matching(session: Session, records: Sequence[NormalizedRecord]) -> None:
    """The match hook until matching is wired in: vehicles stay ``pending``."""


class Pipeline:
    """The stages over one store.  ``handlers()`` gives the worker its map of kind → handler."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        *,
        max_attempts: int | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        match_hook: MatchHook = no_matching,
        progress: Progress | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        self.max_attempts = max_attempts or settings.max_attempts
        self.chunk_size = chunk_size
        self.match_hook = match_hook
        self.progress = progress or (lambda _event, _n: None)
        self._handoff = _Handoff()
        self._prefetch: _Prefetch | None = None
        self._planner_checked = False  # ``plan_prior_reports`` after the first unit

    def use_processes(self, workers: int, *, min_policies: int = 2_000) -> None:
        """Normalise ahead in ``workers`` worker processes: the first pass of the normalize
        units this process planned (parse), a few units ahead of the one in hand, once a
        submission plans ``min_policies`` or more.  Writes and everything that reads what
        was written stay in this process.  ``close()`` stops them."""
        if workers > 0:
            # A hook that can work a unit's cascade out ahead (``preparer``, as
            # ``epoi.matching.pipeline_match_hook``'s can) has it done there too.
            self._prefetch = _Prefetch(self.store.url, self.settings, self.clock, workers,
                                       min_policies=min_policies,
                                       preparer=getattr(self.match_hook, "preparer", None))

    def expect(self, paths: Iterable[str | Path]) -> None:
        """Start the worker processes before parsing when ``paths`` are large enough to
        use them (about ``min_policies`` policies: 300 bytes a policy)."""
        if self._prefetch is not None and sum(
            Path(p).stat().st_size for p in paths if Path(p).is_file()
        ) >= 300 * self._prefetch.min_policies:
            self._prefetch.warm()

    def close(self) -> None:
        if self._prefetch is not None:
            self._prefetch.close()
            self._prefetch = None

    # -- wiring ---------------------------------------------------------------------------

    def handlers(
        self, stages: Iterable[Kind] = ("parse", "normalize", "match")
    ) -> dict[Kind, Handler]:
        stages = list(stages)
        # A worker that does both stages matches a unit's records in the normalize unit's
        # own transaction: no match message, no second commit (``normalize``).
        inline = "match" in stages

        def normalize(envelope: Envelope) -> list[Envelope]:
            return self.normalize(envelope, match_inline=inline)

        table: Mapping[Kind, Callable[[Envelope], list[Envelope]]] = {
            "parse": self.parse,
            "normalize": normalize,
            "match": self.match,
        }
        return {kind: self._recording(table[kind]) for kind in stages}

    def _recording(self, handler: Callable[[Envelope], list[Envelope]]) -> Handler:
        """Note each failed attempt on the unit, so that the store says why it is stuck; the
        exception goes on to the worker, which retries or dead-letters the message."""

        def run(envelope: Envelope) -> list[Envelope]:
            try:
                return handler(envelope)
            except Exception as exc:
                code, _text = error_code_and_message(exc)
                final = is_permanent(exc) or envelope.attempt >= self.max_attempts
                try:
                    with self.store.session() as session:
                        note_unit_failure(
                            session, envelope.unit_id, code=code, final=final, now=self.clock()
                        )
                except Exception:  # noqa: BLE001 - the original failure is what matters
                    _log.warning("unit_failure_not_recorded", unit=envelope.unit_id)
                raise

        return run

    def submit(
        self, paths: Iterable[str | Path], *, carrier: str | None = None
    ) -> tuple[list[SubmissionResult], list[Envelope]]:
        """The submit stage: archive and record the files; the parse units to publish."""
        results = receive(
            paths, store=self.store, settings=self.settings, clock=self.clock, carrier=carrier
        )
        envelopes = [
            Envelope.of("parse", parse_key(r.submission_id), {"submission_id": r.submission_id})
            for r in results
            if not r.duplicate
        ]
        return results, envelopes

    def queued(self) -> list[Envelope]:
        """Every unit the store holds as queued, as first-attempt envelopes: what a run
        re-queues on start (a fetched message is lost in a crash on the server-less
        transport; the store is the truth)."""
        with self.store.session(readonly=True) as session:
            return [Envelope.of(str(kind), key) for key, kind in queued_units(session)]  # type: ignore[arg-type]

    # -- parse ----------------------------------------------------------------------------

    def parse(self, envelope: Envelope) -> list[Envelope]:
        submission_id = submission_of_key(envelope.unit_id)
        result = acknowledge(
            submission_id, store=self.store, settings=self.settings, clock=self.clock,
            chunk_size=self.chunk_size,
        )  # fmt: skip
        with self.store.session(readonly=True) as session:
            units = session.execute(
                select(WorkUnit.key, WorkUnit.policies).where(
                    WorkUnit.submission_id == submission_id,
                    WorkUnit.kind == UnitKind.NORMALIZE,
                    WorkUnit.state == UnitState.QUEUED,
                ).order_by(WorkUnit.id)
            ).all()
        if result is None:  # a redelivery: the units still queued again (module docstring)
            return [Envelope.of("normalize", key) for key, _n in units]
        self.progress("planned", sum(n for _k, n in units))
        if self._prefetch is not None:
            self._prefetch.plan([key for key, _n in units], sum(n for _k, n in units))
        return [Envelope.of("normalize", key) for key, _n in units]

    # -- normalize ------------------------------------------------------------------------

    def normalize(self, envelope: Envelope, *, match_inline: bool = False) -> list[Envelope]:
        """A normalize unit: its records normalised, stored and acknowledged in the set's
        error return; their match follows in a match unit, or, ``match_inline``, in this
        unit's transaction (its match unit is then stored done): the same work and the same
        writes, in one commit and without a message.

        A unit a worker process went through first (``_Prefetch``), with a worker that does
        both stages, is written from that pass's rows, with the records whose E110/E111
        answers changed since normalised again here, and matched from the pass's cascade if
        that still holds, and its part of the set's error return is stored as the pass
        wrote it: none of its records is built here.  Any other unit is normalised here."""
        worked: FirstPass | None = None
        records: list[NormalizedRecord] = []
        with self.store.session(readonly=True) as session:
            unit = unit_by_key(session, envelope.unit_id)
            if unit is None:
                raise LookupError(f"no unit {envelope.unit_id} in the store")
            if unit.state is UnitState.DONE:  # its match unit again if still queued
                match = unit_by_key(session, match_key(unit.key), payload=False)
                return ([Envelope.of("match", match.key)]
                        if match and match.state is UnitState.QUEUED else [])
            ts = session.get_one(TransactionSet, unit.set_id)
            sub = session.get_one(Submission, unit.submission_id)
            chunk = Chunk(unit.payload or "")
            naic_of = _expected_naic(session, sub)
            context = _context(self.settings, sub, self.clock().date(), naic_of, chunk)
            first = (self._prefetch.take(envelope.unit_id, context.today, chunk)
                     if self._prefetch else None)
            delimiters = return_delimiters(ts.delimiters)  # its echoes' (``_returns``)
            # Written from the pass's rows only where this unit matches too (``epoi run``).
            if first is not None and match_inline:
                redone, answered = self._answer(session, chunk, context, first, sub, ts,
                                                unit)
                worked = first.with_redone(redone, answered,
                                           sqlite=self.store.dialect == "sqlite")
                part = return_part_of(first, redone, delimiters)
            else:
                records = self._normalize_chunk(session, chunk, sub, ts, context, unit)
                part = return_part(records, delimiters)
            # The cascade worked out ahead holds for records normalised again here as long
            # as the reports it read are the same, which the hook checks with what the
            # cascade read of the store.
            prepared = first.prepared if first is not None else None
        states_inserted = False
        if worked is not None and prepared is not None:
            worked, states_inserted = with_match_states(worked, prepared, self.match_hook)

        now = self.clock()
        follow_ups: list[Envelope] = []
        with self.store.session() as session:
            unit = unit_by_key(session, envelope.unit_id, lock=True, payload=False)
            if unit is None or unit.state is UnitState.DONE:
                return []  # another delivery of the unit committed first
            if worked is not None:
                rows = worked.rows
                accepted = [worked.facts[n].natural_key for n in worked.to_match]
            else:
                rows = record_rows(records, submission_id=unit.submission_id, set_id=ts.id,
                                   unit_id=unit.id, sqlite=self.store.dialect == "sqlite")
                chosen = [r.report for r in records if r.status in ACCEPTED and not r.report.test]
                accepted = [r.key.as_string() for r in chosen]
                if match_inline and not ts.test:  # the cascade first: rows with their states
                    rows, prepared, states_inserted = match_ahead(
                        self.match_hook, session, chosen, accepted, rows, now.date())
            ids = store_record_rows(session, rows)
            finish_unit(session, unit.id, now=now, return_part=part)
            to_match: list[tuple[int, NormalizedRecord]] = []
            if not ts.test and accepted:
                key = match_key(unit.key)
                add_units(session, [UnitRecord(key, UnitKind.MATCH, unit.submission_id,
                                               set_id=ts.id)], now=now,
                          state=UnitState.DONE if match_inline else UnitState.QUEUED)
                # What the match unit takes: this unit's own accepted production rows, as
                # ``reports_of_unit`` would find them, in the order they were inserted.
                mine = [k for k in accepted if k in ids]
                # From the worker's cascade if it holds; else from the records (made here
                # after all, with the worker's answers, if the worker's pass was written).
                if not ((worked is not None or states_inserted)
                        and self._write_prepared(session, mine, prepared, states_inserted)):
                    if worked is not None:
                        records = renormalize(chunk, context, worked.answered)
                    by_key = {r.report.key.as_string(): r for r in records}
                    to_match = [(ids[k], by_key[k]) for k in mine]
                    if match_inline:
                        self._match_in_hand(session, to_match, prepared)
                    else:
                        follow_ups.append(Envelope.of("match", key))
            done, total = count_chunk_done(session, ts.id)
            if done == total:
                write_set_return(session, self.settings, ts, now)
            _lock_submission(session, unit.submission_id)
            if units_left(session, unit.submission_id, UnitKind.NORMALIZE) == 0:
                _advance(session, unit.submission_id, SubmissionState.ACKNOWLEDGED,
                         SubmissionState.NORMALISED)  # fmt: skip
                if units_left(session, unit.submission_id, UnitKind.MATCH) == 0 and _has_units(
                    session, unit.submission_id, UnitKind.MATCH
                ):
                    _advance(session, unit.submission_id, SubmissionState.NORMALISED,
                             SubmissionState.MATCHED)  # fmt: skip
        if not self._planner_checked:
            self._planner_checked = True
            with self.store.session() as session:
                plan_prior_reports(session)
        # Committed: the records go on in hand (a unit redone after a crash, or taken by
        # another worker, reads them from the store instead).
        if follow_ups:
            self._handoff.put(follow_ups[0].unit_id, to_match, prepared)
        self.progress("normalised", len(chunk))
        return follow_ups

    def _answer(self, session: Session, chunk: Chunk, context: EditContext, first: FirstPass,
                sub: Submission, ts: TransactionSet, unit: Unit,
                ) -> tuple[dict[int, NormalizedRecord], list[PriorInfo]]:
        """A worker's pass answered E110/E111 from the store as it was then: the records
        whose answers differ now (from what came before, ``_inflight``), normalised again,
        and every record's answer."""
        policies = [(f.carrier_naic, f.policy_number) for f in first.facts if f.policy_number]
        stored = priors_before(session, self.settings, context, unit, policies, test=ts.test)
        redone, answered = answer_facts(chunk, first.facts, context, stored,
                                        submission_id=sub.id, set_id=ts.id,
                                        answered=first.answered)  # fmt: skip
        if self._prefetch is not None:
            self._prefetch.redone += len(redone)
        return redone, answered

    def _write_prepared(self, session: Session, keys: list[str], prepared: object,
                        states_inserted: bool) -> bool:
        """Match ``keys`` from the cascade a worker worked out, if the hook can and it
        still holds (``pipeline_match_hook``'s ``write_prepared``); ``states_inserted``:
        their vehicles were stored with the states it writes (``vehicle_states``)."""
        write = getattr(self.match_hook, "write_prepared", None)
        if prepared is None or write is None:
            return False
        return bool(write(session, keys, prepared, states_inserted=states_inserted))

    def _normalize_chunk(
        self, session: Session, chunk: Chunk, sub: Submission, ts: TransactionSet,
        context: EditContext, unit: Unit,
    ) -> list[NormalizedRecord]:
        """Normalise a chunk with E110/E111 answered from what came before (``_inflight``)."""
        records = [normalize(b, context=context) for b in chunk]
        policies = [(r.report.carrier_naic, r.report.policy_number) for r in records
                    if r.report.policy_number]
        stored = priors_before(session, self.settings, context, unit, policies, test=ts.test)
        out, _infos = answer_priors(chunk, records, context, stored, submission_id=sub.id,
                                    set_id=ts.id)  # fmt: skip
        return out

    # -- match ----------------------------------------------------------------------------

    def match(self, envelope: Envelope) -> list[Envelope]:
        now = self.clock()
        with self.store.session() as session:
            unit = unit_by_key(session, envelope.unit_id, lock=True)
            if unit is None:
                raise LookupError(f"no unit {envelope.unit_id} in the store")
            if unit.state is UnitState.DONE:
                return []
            in_hand, prepared = self._handoff.take(envelope.unit_id)
            if in_hand is not None:
                # Normalised and committed by this process: the records are those stored.
                self._match_in_hand(session, in_hand, prepared)
            else:
                source = unit_by_key(session, source_of_match_key(envelope.unit_id))
                reports = [
                    r
                    for r in (reports_of_unit(session, source.id) if source else [])
                    if r.status in ACCEPTED and not r.test
                ]
                mark_vehicles_pending(session, [r.id for r in reports])
                if self.match_hook is not no_matching:
                    self.match_hook(session, load_records(session, reports))
            finish_unit(session, unit.id, now=now)
            _lock_submission(session, unit.submission_id)
            left = units_left_by_kind(session, unit.submission_id)
            if not left.get(UnitKind.NORMALIZE) and not left.get(UnitKind.MATCH):
                _advance(session, unit.submission_id, SubmissionState.NORMALISED,
                         SubmissionState.MATCHED)  # fmt: skip
        return []

    def _match_in_hand(
        self, session: Session, in_hand: Sequence[tuple[int, NormalizedRecord]], prepared: object
    ) -> None:
        """Match the records this process stored (row id, record) in ``session``'s
        transaction, with the cascade worked out ahead when there is one."""
        # A hook that writes every vehicle's state makes ``pending`` first a second write of
        # each vehicle row, overwritten in the same transaction.
        if not _sets_vehicle_states(self.match_hook):
            mark_vehicles_pending(session, [rid for rid, _r in in_hand])
        if prepared is not None:
            self.match_hook(session, [r for _rid, r in in_hand],
                            prepared=prepared)  # type: ignore[call-arg]
        elif self.match_hook is not no_matching:
            self.match_hook(session, [r for _rid, r in in_hand])


# -- helpers ---------------------------------------------------------------------------------


def _sets_vehicle_states(hook: MatchHook) -> bool:
    """Whether the hook writes the match state of every vehicle of the records it is
    handed (``sets_vehicle_states``, as ``epoi.matching.pipeline_match_hook`` does): then
    marking them ``pending`` first is a write nobody reads.  Any other hook gets them
    ``pending``, as the ``MatchHook`` contract says."""
    return getattr(hook, "sets_vehicle_states", False) is True
