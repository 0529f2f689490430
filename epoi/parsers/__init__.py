"""X12 parsing and validation: pure, bytes in, typed results out.

Public API:

- ``read_segments(stream)``: the streaming tokenizer (any delimiters, several interchanges).
- ``validate(source, name=..., options=..., engine="fast"|"pyx12") -> FileVerdict``: one
  file, given as bytes or a binary stream, in this process.
- ``validate_parallel(path, name=..., options=..., workers=...) -> FileVerdict``: the fast
  engine on several processes, each reading its byte ranges of the file at ``path``.
  Whether that pays is the caller's decision (``Settings.workers``), not this package's;
  ``resolve_workers(workers)`` reads that setting (0: one process per core).
- ``iter_policies(stream, verdict, name=...)``: the policy blocks of the accepted sets;
  ``iter_raw_policies``: the same policies as the file's segment texts, not split.
- ``plan_set_batches(path, verdict, ...)`` / ``iter_batch_policies(path, batch, name=...)``:
  the same blocks, cut into batches of whole sets that separate processes read on their own.
- ``write_ta1`` / ``write_997``: the acknowledgements for a verdict.
- ``TA1_TEXT``, ``AK3_TEXT``, ``AK4_TEXT``: the X12 codes' texts, one table for both engines.
"""

from __future__ import annotations

import io
import os
from typing import BinaryIO, Literal

from ..schemas.verdict import FileVerdict
from ._acks import AckDocument, AckEnvelope, ack_file_name, write_997, write_acks, write_ta1
from ._batches import SetBatch, iter_batch_policies, plan_set_batches
from ._codes import AK3_TEXT, AK4_TEXT, TA1_TEXT
from ._options import PolicyBlock, SetHeading, ValidationOptions, resolve_workers
from ._policies import RawPolicy, iter_policies, iter_raw_policies
from ._reader import read_segments
from ._segment import Delimiters, Segment

__all__ = [
    "AK3_TEXT", "AK4_TEXT", "TA1_TEXT", "Delimiters", "Engine", "PolicyBlock", "Segment",
    "RawPolicy", "SetBatch", "SetHeading", "ValidationOptions", "iter_batch_policies",
    "iter_policies", "iter_raw_policies", "plan_set_batches", "read_segments",
    "resolve_workers", "validate", "validate_parallel",
    "AckDocument", "AckEnvelope", "ack_file_name", "write_997", "write_acks", "write_ta1",
]

# The validation engines: the compiled map (default), or pyx12's own, the reference.
Engine = Literal["fast", "pyx12"]

_BYTES = (bytes, bytearray, memoryview)
_DEFAULT_OPTIONS = ValidationOptions()  # frozen: one instance serves every call


def validate(
    source: bytes | BinaryIO,
    *,
    name: str,
    options: ValidationOptions = _DEFAULT_OPTIONS,
    engine: Engine = "fast",
) -> FileVerdict:
    """Validate one X12 file, its bytes or a binary stream read from where it stands;
    never raises on bad input.

    ``engine="fast"`` (default) streams with the compiled map; ``"pyx12"`` runs pyx12's own
    validation (the reference, ~30x slower, reads the whole file into memory)."""
    if engine == "fast":
        from ._fast import validate as fast_validate

        stream = io.BytesIO(source) if isinstance(source, _BYTES) else source
        return fast_validate(stream, name=name, options=options)
    if engine == "pyx12":
        from ._pyx12 import validate as pyx12_validate

        data = bytes(source) if isinstance(source, _BYTES) else source.read()
        return pyx12_validate(data, name=name, options=options)
    raise ValueError(f"unknown validation engine {engine!r}")


def validate_parallel(
    path: str | os.PathLike[str],
    *,
    name: str,
    options: ValidationOptions = _DEFAULT_OPTIONS,
    workers: int,
) -> FileVerdict:
    """The fast engine on up to ``workers`` processes (0: one per core), each reading its
    byte ranges of the file at ``path``; the verdict is ``validate``'s on the same bytes.
    A file under ``_parallel.MIN_PARALLEL_BYTES``, one worker, or a file that cannot be
    cut at policy boundaries is validated in this process."""
    from ._parallel import validate_file

    return validate_file(os.fspath(path), name=name, options=options, workers=workers)
