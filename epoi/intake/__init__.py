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
- Unit keys (``parse_key`` to ``match_key``, read back by ``submission_of_key`` and
  ``source_of_match_key``) and the normalize payload (``encode_chunk``, ``decode_chunk``):
  the intake plans the units, the pipeline runs them.
- ``OutgoingFiles``: the one writer of what goes back to a carrier (TA1, 997, error return).

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

Inside: ``_archive`` (the archive), ``_intake`` (receive, record, acknowledge), ``_screen``
(the intake's own TA1 rejections), ``_plan`` (groups, sets and normalize units),
``_outgoing`` (the files sent back), ``_results`` (what the caller is told) and ``_units``
(unit keys and payloads).
"""

from __future__ import annotations

from ._archive import CHUNK_SIZE, ArchivedFile, ArchiveWriter, archive
from ._intake import DEFAULT_CHUNK_SIZE, acknowledge, receive, submit, submit_archived
from ._outgoing import OutgoingFiles, absolute_under_home, relative_to_home
from ._results import InterchangeOutcome, SubmissionResult
from ._screen import PROFILE_NOTES, ta1_reason
from ._units import (
    Chunk,
    chunk_key,
    decode_chunk,
    encode_chunk,
    encode_policies,
    group_key,
    match_key,
    parse_key,
    set_key,
    source_of_match_key,
    submission_of_key,
)

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_CHUNK_SIZE",
    "PROFILE_NOTES",
    "ArchiveWriter",
    "ArchivedFile",
    "InterchangeOutcome",
    "OutgoingFiles",
    "SubmissionResult",
    "acknowledge",
    "archive",
    "chunk_key",
    "Chunk",
    "decode_chunk",
    "encode_chunk",
    "encode_policies",
    "group_key",
    "match_key",
    "parse_key",
    "receive",
    "absolute_under_home",
    "relative_to_home",
    "set_key",
    "source_of_match_key",
    "submission_of_key",
    "submit",
    "submit_archived",
    "ta1_reason",
]
