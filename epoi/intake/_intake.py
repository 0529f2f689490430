"""The intake's core: a file archived, recorded as a submission with its parse unit queued,
then validated and acknowledged (TA1, 997) with the normalize units of its accepted sets
queued, in one transaction with the parse unit marked done."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from .. import _logging
from ..config import Settings
from ..errors import ConfigError, EpoiError
from ..parsers import ValidationOptions, validate_parallel
from ..schemas.verdict import FileVerdict
from ..store import (
    Carrier,
    Interchange,
    Store,
    SubmissionState,
    UnitKind,
    UnitRecord,
    UnitState,
    acks_of,
    add_units,
    carrier_by_naic,
    carriers_by_sender,
    create_submission,
    finish_unit,
    interchanges_of,
    submission_by_id,
    unit_by_key,
    update_submission,
)
from ._archive import ArchivedFile, archive
from ._outgoing import absolute_under_home, relative_to_home, write_ack_files
from ._plan import plan_units
from ._results import InterchangeOutcome, SubmissionResult, counts, rejected_records
from ._screen import Screen
from ._units import parse_key

__all__ = ["DEFAULT_CHUNK_SIZE", "acknowledge", "receive", "submit", "submit_archived"]

# Policies per normalize unit.  A unit is one transaction: its rows' index pages are written
# once per commit, so more policies a unit share more of them (a 200 k-policy `epoi run`:
# 500 -> 1000 about 15 % faster, 2000 no faster and more memory in flight).
DEFAULT_CHUNK_SIZE = 1000

Clock = Callable[[], datetime]
_log = _logging.get_logger("epoi.intake")


def _intake(store: Store, settings: Settings, clock: Clock, carrier: str | None) -> _Intake:
    named: Carrier | None = None
    with store.session(readonly=True) as session:
        senders = carriers_by_sender(session)
        if carrier is not None:
            named = carrier_by_naic(session, carrier)
            if named is None:
                raise ConfigError("CARRIER", f"no carrier with NAIC {carrier} is registered")
    return _Intake(store, settings, clock, senders, named)


def submit(
    paths: Iterable[str | os.PathLike[str]],
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    carrier: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> list[SubmissionResult]:
    """Archive, record, validate and acknowledge each file, one after the other, and queue
    (in the store) the normalize units of its accepted sets for a later ``epoi run`` or
    worker.

    ``carrier`` (a NAIC code) says who sends the files: only that carrier's ISA identity is
    then a known sender.  Without it, any registered carrier's is.  Raises ``ConfigError``
    when the named carrier is not registered; a file that is rejected is a result, not an
    error."""
    intake = _intake(store, settings, clock, carrier)
    results = []
    for p in paths:
        base = intake.receive_one(Path(p))
        results.append(base if base.duplicate else intake.acknowledge(base, chunk_size))
    return results


def submit_archived(
    archived: ArchivedFile,
    name: str,
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    carrier: str | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SubmissionResult:
    """``submit`` for bytes already in the archive (an upload the HTTP service streamed in
    through :class:`ArchiveWriter`): record, validate and acknowledge them under ``name``,
    exactly as ``epoi submit`` does a file."""
    intake = _intake(store, settings, clock, carrier)
    base = intake.record(archived, name)
    return base if base.duplicate else intake.acknowledge(base, chunk_size)


def receive(
    paths: Iterable[str | os.PathLike[str]],
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    carrier: str | None = None,
) -> list[SubmissionResult]:
    """The submit stage: archive and record each file with its parse unit queued in the
    store (``state`` archived); nothing is validated yet.  A file submitted before is a
    duplicate result with no new unit."""
    intake = _intake(store, settings, clock, carrier)
    return [intake.receive_one(Path(p)) for p in paths]


def acknowledge(
    submission_id: int,
    *,
    store: Store,
    settings: Settings,
    clock: Clock,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> SubmissionResult | None:
    """The parse unit of a submission: validate the archived bytes, write the TA1 and 997,
    record interchanges, groups and sets, and queue one normalize unit per chunk of
    ``chunk_size`` policies of every accepted set, all in one transaction with the parse unit
    marked done.  None when the unit was done already (a redelivered message)."""
    with store.session(readonly=True) as session:
        sub = submission_by_id(session, submission_id)
        unit = unit_by_key(session, parse_key(submission_id))
        if sub is None or unit is None or unit.state is UnitState.DONE:
            return None
        senders = carriers_by_sender(session)
        named = session.get(Carrier, sub.carrier_id) if sub.carrier_id else None
    intake = _Intake(store, settings, clock, senders, named)
    base = SubmissionResult(
        file=sub.file_name, submission_id=sub.id, sha256=sub.sha256, size=sub.size,
        archive_path=absolute_under_home(sub.archive_path, settings.home), state=sub.state,
    )  # fmt: skip
    return intake.acknowledge(base, chunk_size)


class _AlreadyDone(Exception):
    """Another delivery of the same parse unit committed first."""


class _Intake:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        clock: Clock,
        senders: dict[tuple[str, str], Carrier],
        carrier: Carrier | None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.clock = clock
        if carrier is not None:
            senders = {(carrier.isa_qualifier, carrier.isa_id): carrier}
        self.carrier = carrier  # named by the operator: the submissions are its
        self.screen = Screen(senders, carrier)
        self.options = ValidationOptions(
            receiver_qualifier=settings.receiver_qualifier,
            receiver_id=settings.receiver_id,
            known_senders=frozenset(senders),
            max_errors_per_set=settings.max_errors_per_set,
            max_segment_length=settings.max_segment_length,
        )

    def receive_one(self, path: Path) -> SubmissionResult:
        archived = archive(path, self.settings)  # before anything else happens to the file
        return self.record(archived, str(path))

    def record(self, archived: ArchivedFile, name: str) -> SubmissionResult:
        now = self.clock()
        with self.store.session() as session:
            sub, created = create_submission(
                session,
                file_name=name,
                received_at=now,
                size=archived.size,
                sha256=archived.sha256,
                archive_path=relative_to_home(archived.path, self.settings.home),
                state=SubmissionState.ARCHIVED,
                carrier_id=self.carrier.id if self.carrier else None,
            )
            if created:
                add_units(
                    session, [UnitRecord(parse_key(sub.id), UnitKind.PARSE, sub.id)], now=now
                )
        base = SubmissionResult(
            file=name,
            submission_id=sub.id,
            sha256=archived.sha256,
            size=archived.size,
            archive_path=archived.path,
            state=sub.state,
        )
        if not created:
            _log.info("submission_duplicate", submission=sub.id, sha256=archived.sha256)
            return replace(
                base,
                duplicate=True,
                error_code="SUBMISSION-DUPLICATE",
                error_message=(
                    f"the same file (sha256 {archived.sha256[:12]}...) was submitted before "
                    f"as submission {sub.id}; it was not stored again"
                ),
            )
        _log.info("submission_archived", submission=sub.id, sha256=archived.sha256,
                  size=archived.size)
        return base

    def acknowledge(self, base: SubmissionResult, chunk_size: int) -> SubmissionResult:
        sub_id = base.submission_id
        try:
            verdict = self._validate(base.archive_path, base.file)
            self._mark_parsed(sub_id)
            return self._acknowledge(base, verdict, chunk_size)
        except _AlreadyDone:
            return base
        except EpoiError as exc:
            self._fail(sub_id, exc.code, exc.message)
            _log.warning("submission_failed", submission=sub_id, code=exc.code)
            return replace(
                base, state=SubmissionState.FAILED, error_code=exc.code, error_message=exc.message
            )
        except Exception as exc:
            # A bug: leave the submission visibly failed rather than stuck half-way.  The
            # parse unit stays queued, so a retry (or the next run) tries again.
            self._set_state(sub_id, SubmissionState.FAILED, "INTERNAL", type(exc).__name__)
            raise

    # -- steps ---------------------------------------------------------------------------

    def _validate(self, archived: Path, name: str) -> FileVerdict:
        # Validate the archived copy: what is acknowledged is exactly what is kept.  A large
        # file is cut into byte ranges validated on the machine's cores (EPOI_WORKERS); the
        # verdict is the one process's.
        return validate_parallel(archived, name=name, options=self.options,
                                 workers=self.settings.workers)

    def _acknowledge(
        self, base: SubmissionResult, verdict: FileVerdict, chunk_size: int
    ) -> SubmissionResult:
        created = self.clock()
        with self.store.session() as session:
            unit = unit_by_key(session, parse_key(base.submission_id), lock=True)
            if unit is not None and unit.state is UnitState.DONE:
                raise _AlreadyDone
            # A submission whose interchanges are recorded already is being reprocessed
            # (``epoi reprocess``): what was acknowledged then stands (its TA1s, 997s and
            # control numbers were sent), and only what is missing is added.
            stored = interchanges_of(session, base.submission_id)
            verdict, outcomes, acks = self._answer(session, base.submission_id, stored, verdict,
                                                   created)  # fmt: skip
            planned = plan_units(
                session, base.submission_id, base.archive_path, base.file, verdict,
                chunk_size=chunk_size, max_segment_length=self.settings.max_segment_length,
                now=created, refresh=bool(stored),
            )  # fmt: skip
            found = counts(verdict)
            state = _state_of(verdict, found)
            values: dict[str, Any] = {"state": state, **found}
            if verdict.error:
                values |= {"error_code": verdict.error.code, "error_message": verdict.error.message}
            elif stored:
                # A reprocess that got through clears what an earlier attempt left (INTERNAL).
                values |= {"error_code": None, "error_message": None}
            if self.carrier is None:
                values["carrier_id"] = self.screen.carrier_of(verdict)
            update_submission(session, base.submission_id, **values)
            if unit is not None:
                finish_unit(session, unit.id, now=created)
        _log.info("submission_acknowledged", submission=base.submission_id, state=state.value,
                  acks=len(acks), units=planned, **found)
        return replace(
            base,
            state=state,
            accepted=verdict.accepted and verdict.error is None,
            rejected_records=rejected_records(verdict),
            error_code=verdict.error.code if verdict.error else None,
            error_message=verdict.error.message if verdict.error else None,
            interchanges=outcomes,
            acks=acks,
        )

    def _answer(
        self, session: Session, submission_id: int, stored: list[Interchange],
        verdict: FileVerdict, created: datetime,
    ) -> tuple[FileVerdict, list[InterchangeOutcome], list[Path]]:
        """The verdict screened, and the TA1s and 997s that answer it: written now, or on a
        reprocess (``stored``, the interchanges recorded then) those sent then, and new ones
        for the interchanges whose TA1 changed."""
        if not stored:
            verdict, outcomes = self.screen.screen(session, submission_id, verdict)
            return verdict, outcomes, write_ack_files(session, self.settings, submission_id,
                                                      verdict, created)  # fmt: skip
        verdict, outcomes, changed = self.screen.rescreen(session, submission_id, stored, verdict)
        kept = acks_of(session, submission_id)
        if not kept:
            return verdict, outcomes, write_ack_files(session, self.settings, submission_id,
                                                      verdict, created)  # fmt: skip
        acks = [self._absolute(a.path) for a in kept]
        if changed:  # screened again with another answer: they are answered again
            acks += write_ack_files(
                session, self.settings, submission_id,
                verdict.model_copy(update={"interchanges": changed}), created,
            )  # fmt: skip
        return verdict, outcomes, acks

    def _absolute(self, stored_path: str) -> Path:
        return absolute_under_home(stored_path, self.settings.home)

    def _fail(self, submission_id: int, code: str, message: str) -> None:
        """A file that cannot be read at all: the submission fails and its parse unit is done
        (reading it again would find the same)."""
        now = self.clock()
        with self.store.session() as session:
            update_submission(
                session, submission_id, state=SubmissionState.FAILED, error_code=code,
                error_message=message,
            )  # fmt: skip
            unit = unit_by_key(session, parse_key(submission_id), lock=True)
            if unit is not None:
                finish_unit(session, unit.id, now=now)

    def _mark_parsed(self, submission_id: int) -> None:
        """archived -> parsed, unless another delivery of the parse unit finished first
        (`epoi submit` and a worker that re-queued the unit from the store can both parse
        it): the lineage is further on then and must not go back to parsed."""
        with self.store.session() as session:
            unit = unit_by_key(session, parse_key(submission_id), lock=True)
            if unit is not None and unit.state is UnitState.DONE:
                raise _AlreadyDone
            update_submission(session, submission_id, state=SubmissionState.PARSED)

    def _set_state(
        self,
        submission_id: int,
        state: SubmissionState,
        error_code: str | None = None,
        error_message: str | None = None,
    ) -> None:
        values: dict[str, Any] = {"state": state}
        if error_code:
            values |= {"error_code": error_code, "error_message": error_message}
        with self.store.session() as session:
            update_submission(session, submission_id, **values)


def _state_of(verdict: FileVerdict, found: dict[str, int]) -> SubmissionState:
    """Where the submission stands once answered.  A file error (say, truncated in its
    second interchange) fails the submission only when nothing in it was accepted: what was
    accepted goes on, and the error stays on the submission for the carrier to see."""
    accepted_any = any(ic.ta1.ack_code != "R" for ic in verdict.interchanges)
    if verdict.error and not accepted_any:
        return SubmissionState.FAILED
    if not found["accepted_set_count"] and (not accepted_any or found["transaction_set_count"]):
        return SubmissionState.REJECTED  # read, answered, and nothing goes on
    return SubmissionState.ACKNOWLEDGED
