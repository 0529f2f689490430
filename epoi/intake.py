"""Intake: archive a carrier's file, record the submission, validate it and acknowledge it.

Public API:

- ``archive(source, settings) -> ArchivedFile``: the original bytes, content-addressed and
  write-once under ``settings.archive_dir``; always the first thing done with a file.
- ``receive(paths, *, store, settings, clock, carrier=None) -> list[SubmissionResult]``:
  the submit stage: archive and record each file with its parse unit queued in the store.
- ``acknowledge(submission_id, *, store, settings, clock, chunk_size=500)``: the parse unit:
  validate, TA1/997, groups and sets, and the normalize units of the accepted sets.
- ``submit(paths, ...)``: both at once, one file after the other (``epoi submit``).
- ``ArchiveWriter(settings)`` and ``submit_archived(archived, name, ...)``: the same for
  bytes that arrive in chunks (the HTTP service's uploads), archived as they come.

A submission moves archived → parsed → acknowledged (→ normalised → matched by the later
stages), or to failed with an error code.  The
same bytes submitted again are recognised by their sha256 and reported as a duplicate; nothing
new is stored.  Per interchange, on top of what validation finds: a sender that is not a
registered carrier is rejected with TA1 note 006, a production interchange (ISA15 P) from a
carrier whose profile is still in test with TA1 note 020, and an interchange whose (sender,
ISA13) an earlier interchange already used is rejected with TA1 note 025 and adds nothing.
A submission read to its end in which nothing was accepted is ``rejected``.  The 006 and 020
rejections depend on the carrier profiles, not on the file: a reprocess screens those
interchanges again against the profiles of the day (``epoi reprocess``).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy.orm import Session

from . import _logging
from .config import Settings
from .errors import ConfigError, EpoiError, InputError, Location
from ._units import chunk_key, encode_chunk, group_key, parse_key, set_key
from .parsers import PolicyBlock, ValidationOptions, iter_policies, validate
from .parsers import ack_file_name, write_acks
from .schemas.verdict import FileVerdict, InterchangeVerdict, Ta1, TransactionSetVerdict
from .store import (
    AckKind,
    AckRecord,
    Carrier,
    CarrierEnvironment,
    GroupRecord,
    InterchangeRecord,
    SetRecord,
    Store,
    SubmissionState,
    UnitKind,
    UnitRecord,
    UnitState,
    Interchange,
    acks_of,
    add_acks,
    add_units,
    refresh_payloads,
    finish_unit,
    interchanges_of,
    record_groups_and_sets,
    submission_by_id,
    unit_by_key,
    update_set,
    carrier_by_naic,
    carriers_by_sender,
    claim_interchanges,
    create_submission,
    next_control_numbers,
    record_interchanges,
    release_interchanges,
    update_submission,
)

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "ArchiveWriter",
    "PROFILE_NOTES",
    "ArchivedFile",
    "InterchangeOutcome",
    "SubmissionResult",
    "acknowledge",
    "archive",
    "receive",
    "submit",
    "submit_archived",
    "ta1_reason",
]

CHUNK_SIZE = 1024 * 1024
DEFAULT_CHUNK_SIZE = 500  # policies per normalize unit
NOTE_UNKNOWN_SENDER = "006"  # TA1: invalid interchange sender ID
NOTE_TEST_INDICATOR = "020"  # TA1: invalid test indicator value (production from a test carrier)
NOTE_DUPLICATE = "025"  # TA1: duplicate interchange control number
# Rejections that follow from the carrier profiles, not from the file: a reprocess screens
# them again (a carrier registered, or certified for production, since).
PROFILE_NOTES = frozenset({NOTE_UNKNOWN_SENDER, NOTE_TEST_INDICATOR})

Clock = Callable[[], datetime]
_log = _logging.get_logger("epoi.intake")


# -- archive -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ArchivedFile:
    sha256: str
    size: int
    path: Path


class ArchiveWriter:
    """Bytes written into the archive chunk by chunk, hashed on the way: the one way into
    the archive, for a file on disk (:func:`archive`) and for an upload streamed in by the
    HTTP service.  Memory stays at one chunk whatever the size.

    The bytes go to a temporary file in the archive and are linked under their hash by
    :meth:`commit`, which never replaces an existing file: the first copy of some content
    is the one kept, read-only.  Leaving the ``with`` block without a commit (an upload over
    the size limit, a client that went away) deletes the partial file: it leaves no trace."""

    def __init__(self, settings: Settings) -> None:
        self.root = settings.archive_dir
        self.root.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        self._tmp = Path(tmp_name)
        self._out: BinaryIO = open(fd, "wb")
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._digest.update(chunk)
        self._out.write(chunk)
        self.size += len(chunk)

    def commit(self) -> ArchivedFile:
        self._out.flush()
        os.fsync(self._out.fileno())
        self._out.close()
        sha256 = self._digest.hexdigest()
        final = self.root / sha256[:2] / sha256[2:4] / sha256
        final.parent.mkdir(parents=True, exist_ok=True)
        self._tmp.chmod(0o444)
        try:
            os.link(self._tmp, final)  # fails if the name exists: write-once, no race
        except FileExistsError:
            pass
        self._tmp.unlink(missing_ok=True)
        return ArchivedFile(sha256=sha256, size=self.size, path=final)

    def discard(self) -> None:
        self._out.close()
        self._tmp.unlink(missing_ok=True)

    def __enter__(self) -> ArchiveWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.discard()  # after a commit: nothing left to delete


def archive(source: str | os.PathLike[str] | BinaryIO, settings: Settings) -> ArchivedFile:
    """Copy ``source`` (a path, or a binary stream, which is read to its end and left open)
    into the archive at ``archive/ab/cd/<sha256>`` (see :class:`ArchiveWriter`)."""
    with ExitStack() as stack:
        src = source if hasattr(source, "read") else stack.enter_context(_open(source))
        writer = stack.enter_context(ArchiveWriter(settings))
        while chunk := src.read(CHUNK_SIZE):
            writer.write(chunk)
        return writer.commit()


def _open(path: str | os.PathLike[str]) -> BinaryIO:
    try:
        return open(path, "rb")
    except OSError as exc:
        raise InputError(
            "FILE-UNREADABLE", f"cannot read the file: {exc.strerror}", Location(file=str(path))
        ) from exc


# -- submit --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InterchangeOutcome:
    control_number: str  # ISA13
    sender_qualifier: str
    sender_id: str
    test: bool
    ta1_ack_code: str
    ta1_note_code: str
    message: str | None = None  # why the intake rejected it, when it did


@dataclass(frozen=True, slots=True)
class SubmissionResult:
    file: str  # as given
    submission_id: int
    sha256: str
    size: int
    archive_path: Path
    state: SubmissionState
    duplicate: bool = False  # the same bytes were submitted before (as submission_id)
    accepted: bool = False  # every interchange, group and set accepted
    rejected_records: int = 0  # records rejected by business edits, in accepted sets
    error_code: str | None = None
    error_message: str | None = None
    interchanges: list[InterchangeOutcome] = field(default_factory=list)
    acks: list[Path] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing was rejected: what the CLI's exit code reports."""
        return self.accepted and not self.duplicate and not self.rejected_records

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "submission_id": self.submission_id,
            "sha256": self.sha256,
            "size": self.size,
            "archive_path": str(self.archive_path),
            "state": self.state.value,
            "duplicate": self.duplicate,
            "accepted": self.accepted,
            "rejected_records": self.rejected_records,
            "error": (
                {"code": self.error_code, "message": self.error_message}
                if self.error_code
                else None
            ),
            "interchanges": [
                {
                    "control_number": i.control_number,
                    "sender_qualifier": i.sender_qualifier,
                    "sender_id": i.sender_id,
                    "test": i.test,
                    "ta1": {"ack_code": i.ta1_ack_code, "note_code": i.ta1_note_code},
                    "message": i.message,
                }
                for i in self.interchanges
            ],
            "acks": [str(p) for p in self.acks],
        }


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
    path = Path(sub.archive_path)
    base = SubmissionResult(
        file=sub.file_name, submission_id=sub.id, sha256=sub.sha256, size=sub.size,
        archive_path=path if path.is_absolute() else settings.home / path, state=sub.state,
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
        self.senders = senders
        self.carrier = carrier  # named by the operator: the submissions are its
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
                archive_path=self._relative(archived.path),
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
        # Validate the archived copy: what is acknowledged is exactly what is kept.
        with archived.open("rb") as stream:
            return validate(stream, name=name, options=self.options, engine="fast")

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
            changed: list[InterchangeVerdict] = []
            if stored:
                verdict, outcomes, changed = self._rescreen(
                    session, base.submission_id, stored, verdict
                )
            else:
                verdict, outcomes = self._screen(session, base.submission_id, verdict)
            kept = acks_of(session, base.submission_id) if stored else []
            if kept:
                acks = [self._absolute(a.path) for a in kept]
                if changed:  # screened again with another answer: they are answered again
                    acks += self._write_acks(
                        session, base.submission_id,
                        verdict.model_copy(update={"interchanges": changed}), created,
                    )  # fmt: skip
            else:
                acks = self._write_acks(session, base.submission_id, verdict, created)
            planned = self._plan(session, base, verdict, chunk_size, created,
                                 refresh=bool(stored))  # fmt: skip
            counts = _counts(verdict)
            # A file error (say, truncated in its second interchange) fails the submission
            # only when nothing in it was accepted: what was accepted goes on, and the error
            # stays on the submission for the carrier to see.
            accepted_any = any(ic.ta1.ack_code != "R" for ic in verdict.interchanges)
            if verdict.error and not accepted_any:
                state = SubmissionState.FAILED
            elif not counts["accepted_set_count"] and (
                not accepted_any or counts["transaction_set_count"]
            ):
                state = SubmissionState.REJECTED  # read, answered, and nothing goes on
            else:
                state = SubmissionState.ACKNOWLEDGED
            values: dict[str, Any] = {"state": state, **counts}
            if verdict.error:
                values |= {"error_code": verdict.error.code, "error_message": verdict.error.message}
            elif stored:
                # A reprocess that got through clears what an earlier attempt left (INTERNAL).
                values |= {"error_code": None, "error_message": None}
            if self.carrier is None:
                values["carrier_id"] = self._carrier_of(verdict)
            update_submission(session, base.submission_id, **values)
            if unit is not None:
                finish_unit(session, unit.id, now=created)
        _log.info("submission_acknowledged", submission=base.submission_id, state=state.value,
                  acks=len(acks), units=planned, **counts)
        return replace(
            base,
            state=state,
            accepted=verdict.accepted and verdict.error is None,
            rejected_records=_rejected_records(verdict),
            error_code=verdict.error.code if verdict.error else None,
            error_message=verdict.error.message if verdict.error else None,
            interchanges=outcomes,
            acks=acks,
        )

    def _plan(
        self,
        session: Session,
        base: SubmissionResult,
        verdict: FileVerdict,
        chunk_size: int,
        now: datetime,
        *,
        refresh: bool = False,
    ) -> int:
        """Record the groups and sets of the interchanges the TA1 did not reject, and queue
        the normalize units of the accepted sets; returns how many units were queued.

        The policies are read from the archive in a second streaming pass and written out
        chunk by chunk, so memory stays at about one chunk whatever the file's size.

        ``refresh`` (a reprocess): groups, sets and units exist already and are kept (the
        inserts do nothing on their keys); a unit not done yet gets its payload again from
        the archive, so that a chunk that failed is redone from the original bytes."""
        sub_id = base.submission_id
        ic_ids = {
            (ic.sender_qualifier, ic.sender_id, ic.control_number): ic.id
            for ic in interchanges_of(session, sub_id)
            if ic.ta1_ack_code != "R"
        }
        groups: list[GroupRecord] = []
        sets: list[SetRecord] = []
        set_keys: dict[tuple[str, str, str], str] = {}  # (ISA13, GS06, ST02) -> set key
        accepted: set[str] = set()
        seen: set[str] = set()

        def unique(key: str) -> str:
            # Control numbers repeated inside one file (a rejected copy): keep keys apart.
            n, out = 1, key
            while out in seen:
                n += 1
                out = f"{key}~{n}"
            seen.add(out)
            return out

        for ic in verdict.interchanges:
            if ic.ta1.ack_code == "R":
                continue
            qualifier, sender = _sender(ic)
            ic_id = ic_ids.get((qualifier, sender, ic.control_number))
            if ic_id is None:
                continue
            delimiters = ic.element_separator + ic.component_separator + ic.segment_terminator
            for g in ic.groups:
                gkey = unique(group_key(sub_id, ic.control_number, g.control_number))
                groups.append(GroupRecord(
                    key=gkey, interchange_id=ic_id, control_number=g.control_number,
                    sender_application=g.sender[:15], ack_code=g.ack_code,
                    error_codes=" ".join(g.error_codes)[:40],
                ))  # fmt: skip
                for ts in g.transaction_sets:
                    skey = unique(set_key(gkey, ts.control_number))
                    sets.append(SetRecord(
                        key=skey, group_key=gkey, control_number=ts.control_number,
                        ack_code=ts.ack_code, error_codes=" ".join(ts.error_codes)[:40],
                        test=ic.test, delimiters=delimiters,
                    ))  # fmt: skip
                    if ts.ack_code != "R":
                        set_keys.setdefault((ic.control_number, g.control_number,
                                             ts.control_number), skey)
                        accepted.add(skey)
        set_ids = record_groups_and_sets(session, sub_id, groups, sets)
        if not accepted:
            return 0

        # Policies by set, in file order; a set is one contiguous run of blocks.
        planned = 0
        per_set: dict[str, int] = {}
        pending: list[UnitRecord] = []
        context: dict[str, PolicyBlock] = {}

        def flush(force: bool = False) -> None:
            if pending and (force or len(pending) >= 20):
                add_units(session, pending, now=now)
                if refresh:
                    refresh_payloads(session, pending, now=now)
                pending.clear()

        def emit(skey: str, blocks: list[PolicyBlock]) -> None:
            nonlocal planned
            chunk = per_set.get(skey, 0)
            per_set[skey] = chunk + 1
            pending.append(UnitRecord(
                key=chunk_key(skey, chunk), kind=UnitKind.NORMALIZE, submission_id=sub_id,
                set_id=set_ids[skey], policies=len(blocks), payload=encode_chunk(blocks),
            ))  # fmt: skip
            planned += 1
            flush()

        current: str | None = None
        buffer: list[PolicyBlock] = []
        policies: dict[str, int] = {}
        with base.archive_path.open("rb") as stream:
            for block in iter_policies(
                stream, verdict, name=base.file,
                max_segment_length=self.settings.max_segment_length,
            ):  # fmt: skip
                skey = set_keys.get((block.interchange, block.group, block.transaction_set))
                if skey is None or skey not in accepted:
                    continue
                if skey != current:
                    if current is not None and buffer:
                        emit(current, buffer)
                    current, buffer = skey, []
                    context.setdefault(skey, block)
                buffer.append(block)
                policies[skey] = policies.get(skey, 0) + 1
                if len(buffer) >= chunk_size:
                    emit(skey, buffer)
                    buffer = []
        if current is not None and buffer:
            emit(current, buffer)
        # An accepted set with no policy still gets one (empty) unit: its error return is
        # written when that unit is done, like every other set's.
        for skey in accepted:
            if skey not in per_set:
                emit(skey, [])
        flush(force=True)
        for skey in accepted:
            first = context.get(skey)
            update_set(
                session, set_ids[skey], policies=policies.get(skey, 0),
                chunks_total=per_set[skey],
                submission_ref=(first.submission_ref if first else "")[:30],
                **_insurer_of(first),
            )  # fmt: skip
        return planned

    def _screen(
        self, session: Session, submission_id: int, verdict: FileVerdict
    ) -> tuple[FileVerdict, list[InterchangeOutcome]]:
        """Apply the intake's own TA1 rejections to the verdict (006 unknown sender, 025
        duplicate) and record every interchange."""
        screened = [self._profile_screen(ic) for ic in verdict.interchanges]

        # Claim (sender, ISA13) for every interchange still standing: an earlier submission
        # wins over this one, and the first copy in this file over a later one.
        candidates: dict[tuple[str, str, str], InterchangeRecord] = {}
        for ic in screened:
            if ic.ta1.ack_code != "R":
                rec = _record(ic)
                candidates.setdefault(rec.key, rec)
        taken = claim_interchanges(session, submission_id, list(candidates.values()))
        claimed = set(candidates) - taken

        final: list[InterchangeVerdict] = []
        for ic in screened:
            if ic.ta1.ack_code != "R":
                key = _record(ic).key
                if key in claimed:
                    claimed.discard(key)  # so that a later copy in this file is a duplicate
                else:
                    ic = _reject(ic, NOTE_DUPLICATE)
            final.append(ic)
        record_interchanges(
            session, submission_id, [_record(ic) for ic in final if ic.ta1.ack_code == "R"]
        )
        return self._screened(verdict, final)

    def _profile_screen(self, ic: InterchangeVerdict) -> InterchangeVerdict:
        """TA1 006 for a sender that is no registered carrier, 020 for a production
        interchange from a carrier whose profile is in test."""
        if ic.ta1.ack_code == "R":
            return ic
        carrier = self.senders.get(_sender(ic))
        if carrier is None:  # the validator knows the senders and normally rejects these itself
            return _reject(ic, NOTE_UNKNOWN_SENDER)
        if not ic.test and carrier.environment is CarrierEnvironment.TEST:
            return _reject(ic, NOTE_TEST_INDICATOR)
        return ic

    def _rescreen(
        self, session: Session, submission_id: int, stored: list[Interchange],
        verdict: FileVerdict,
    ) -> tuple[FileVerdict, list[InterchangeOutcome], list[InterchangeVerdict]]:
        """``_screen`` for a reprocess: the TA1 each interchange was answered with stands.
        The interchanges this submission claimed are its own, not duplicates of themselves
        (TA1 025 is for other submissions); nothing is claimed or recorded again.

        But for a rejection that followed from the carrier profiles (006, 020): such an
        interchange is screened again as if new, its old record released, and it is
        claimed (or recorded rejected) once more.  The third value: the interchanges whose
        TA1 changed, to be answered again."""
        standing = [(i.sender_qualifier, i.sender_id, i.control_number) for i in stored
                    if i.ta1_ack_code != "R"]  # fmt: skip
        notes = {(i.sender_qualifier, i.sender_id, i.control_number): i.ta1_note_code
                 for i in stored if i.ta1_ack_code == "R"}  # fmt: skip
        final: list[InterchangeVerdict] = []
        again: dict[int, InterchangeVerdict] = {}  # position in final -> screened again
        for ic in verdict.interchanges:
            key = _record(ic).key
            if ic.ta1.ack_code != "R":
                note = notes.get(key, NOTE_DUPLICATE)
                if key in standing:
                    standing.remove(key)  # a later copy in this file was the duplicate
                elif note in PROFILE_NOTES and self._profile_screen(ic).ta1.note_code != note:
                    again[len(final)] = self._profile_screen(ic)
                else:
                    ic = _reject(ic, note)
            final.append(ic)
        if not again:
            return (*self._screened(verdict, final), [])
        release_interchanges(session, submission_id, {_record(ic).key for ic in again.values()})
        candidates: dict[tuple[str, str, str], InterchangeRecord] = {}
        for ic in again.values():
            if ic.ta1.ack_code != "R":
                candidates.setdefault(_record(ic).key, _record(ic))
        claimed = set(candidates) - claim_interchanges(session, submission_id,
                                                       list(candidates.values()))
        for n, ic in again.items():
            if ic.ta1.ack_code != "R":
                if _record(ic).key in claimed:
                    claimed.discard(_record(ic).key)
                else:
                    ic = _reject(ic, NOTE_DUPLICATE)
            final[n] = again[n] = ic
        record_interchanges(session, submission_id,
                            [_record(ic) for ic in again.values() if ic.ta1.ack_code == "R"])
        changed = [ic for n, ic in again.items()
                   if ic.ta1.note_code != notes.get(_record(ic).key)]  # fmt: skip
        return (*self._screened(verdict, final), changed)

    def _screened(
        self, verdict: FileVerdict, final: list[InterchangeVerdict]
    ) -> tuple[FileVerdict, list[InterchangeOutcome]]:
        """The verdict with its screened interchanges, and what to tell the operator."""
        outcomes = [
            InterchangeOutcome(
                control_number=ic.control_number,
                sender_qualifier=_sender(ic)[0],
                sender_id=_sender(ic)[1],
                test=ic.test,
                ta1_ack_code=ic.ta1.ack_code,
                ta1_note_code=ic.ta1.note_code,
                message=self._explain(ic),
            )
            for ic in final
        ]
        accepted = verdict.accepted and all(ic.ta1.ack_code != "R" for ic in final)
        return verdict.model_copy(update={"interchanges": final, "accepted": accepted}), outcomes

    def _absolute(self, stored_path: str) -> Path:
        path = Path(stored_path)
        return path if path.is_absolute() else self.settings.home / path

    def _explain(self, ic: InterchangeVerdict) -> str | None:
        """Words for the TA1 rejections the intake is about (who sent it, and when)."""
        if ic.ta1.note_code not in (*PROFILE_NOTES, NOTE_DUPLICATE):
            return None
        qualifier, sender = _sender(ic)
        carrier = self.senders.get((qualifier, sender))
        return ta1_reason(ic.ta1.note_code, qualifier, sender, ic.control_number,
                          named=self.carrier is not None,
                          naic=carrier.naic if carrier else None)  # fmt: skip

    def _write_acks(
        self, session: Session, submission_id: int, verdict: FileVerdict, created: datetime
    ) -> list[Path]:
        def next_number(carrier: str, counter: str) -> int:
            return next_control_numbers(session, f"{carrier}:{counter}")[0]

        test_of = {ic.control_number: ic.test for ic in verdict.interchanges}
        sender_of = {ic.control_number: ic.sender_id.strip() for ic in verdict.interchanges}
        out_dir = self.settings.home / "acks" / str(submission_id)
        paths: list[Path] = []
        records: list[AckRecord] = []
        docs = write_acks(
            verdict,
            next_number,
            sender_qualifier=self.settings.receiver_qualifier,
            sender_id=self.settings.receiver_id,
            application_code=self.settings.receiver_application,
            created=created,
        )
        try:
            for doc in docs:
                out_dir.mkdir(parents=True, exist_ok=True)
                received = doc.received_control_number
                path = out_dir / ack_file_name(
                    doc.kind, sender_of[received], doc.interchange_control_number,
                    test_of[received],
                )
                path.write_text(doc.text, encoding="latin-1")
                paths.append(path)
                records.append(
                    AckRecord(
                        kind=AckKind(doc.kind),
                        control_number=f"{doc.interchange_control_number:09d}",
                        answers_interchange=received,
                        answers_group=doc.group_control_number,
                        path=self._relative(path),
                        created_at=created,
                    )
                )
            add_acks(session, submission_id, records)
        except BaseException:
            # The transaction rolls back (and gives the control numbers back): so do the files.
            for p in paths:
                p.unlink(missing_ok=True)
            raise
        return paths

    def _carrier_of(self, verdict: FileVerdict) -> int | None:
        """The carrier a file came from: the one known sender of its interchanges, if there
        is exactly one."""
        ids = {c.id for ic in verdict.interchanges if (c := self.senders.get(_sender(ic)))}
        return ids.pop() if len(ids) == 1 else None

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

    def _relative(self, path: Path) -> str:
        """Paths in the database are relative to the data directory, so it can move."""
        try:
            return str(path.resolve().relative_to(self.settings.home.resolve()))
        except ValueError:
            return str(path.resolve())


# -- verdict helpers -----------------------------------------------------------------------


def ta1_reason(
    note: str, qualifier: str, sender: str, control_number: str, *, named: bool = False,
    naic: str | None = None,
) -> str | None:
    """Why the intake rejected an interchange with TA1 ``note``, in words for the operator
    and the carrier (sender IDs and numbers only, no personal data); None for the notes the
    validator gives (their standard texts say it)."""
    if note == NOTE_UNKNOWN_SENDER:
        if named:
            return (f"sender {qualifier}/{sender} is not the ISA identity of the carrier "
                    "named for this submission")  # fmt: skip
        return (f"sender {qualifier}/{sender} is not a registered carrier (epoi carriers add "
                "or import; then epoi reprocess)")  # fmt: skip
    if note == NOTE_TEST_INDICATOR:
        return (f"a production interchange (ISA15 P) from {qualifier}/{sender}, whose carrier "
                f"profile{f' ({naic})' if naic else ''} is still in test: send test "
                f"interchanges (ISA15 T) until epoi carriers certify moves it to production")
    if note == NOTE_DUPLICATE:
        return (f"interchange {control_number} from {qualifier}/{sender} was received "
                "before; this copy adds nothing")  # fmt: skip
    return None


def _reject(ic: InterchangeVerdict, note: str) -> InterchangeVerdict:
    return ic.model_copy(update={"ta1": Ta1(ack_code="R", note_code=note)})


def _sender(ic: InterchangeVerdict) -> tuple[str, str]:
    """(ISA05, ISA06) without their padding: the key of a trading partner."""
    return ic.sender_qualifier.strip(), ic.sender_id.strip()


def _record(ic: InterchangeVerdict) -> InterchangeRecord:
    qualifier, sender = _sender(ic)
    return InterchangeRecord(
        sender_qualifier=qualifier,
        sender_id=sender,
        control_number=ic.control_number,
        test=ic.test,
        ta1_ack_code=ic.ta1.ack_code,
        ta1_note_code=ic.ta1.note_code,
    )


def _accepted_sets(verdict: FileVerdict) -> Iterator[TransactionSetVerdict]:
    """Sets the 997 accepted (AK5 A or E) in interchanges the TA1 did not reject.  The
    group's AK9 is not consulted: it is R as soon as any one of its sets is."""
    for ic in verdict.interchanges:
        if ic.ta1.ack_code != "R":
            for group in ic.groups:
                yield from (ts for ts in group.transaction_sets if ts.ack_code != "R")


def _counts(verdict: FileVerdict) -> dict[str, int]:
    accepted = list(_accepted_sets(verdict))
    return {
        "interchange_count": len(verdict.interchanges),
        "transaction_set_count": sum(
            len(g.transaction_sets) for ic in verdict.interchanges for g in ic.groups
        ),
        "accepted_set_count": len(accepted),
        "policy_count": sum(ts.policies for ts in accepted),
        "vehicle_count": sum(ts.vehicles for ts in accepted),
    }


def _insurer_of(block: PolicyBlock | None) -> dict[str, str]:
    """The insurer's name and NAIC as sent (NM1*IN), for the error return's heading."""
    for seg in block.insurer if block else ():
        if seg.get(0) == "NM1" and seg.get(1) == "IN":
            return {"insurer_name": seg.get(3).strip()[:120], "carrier_naic": seg.get(9).strip()[:9]}
    return {"insurer_name": "", "carrier_naic": ""}


def _rejected_records(verdict: FileVerdict) -> int:
    return sum(ts.rejected for ts in _accepted_sets(verdict))


