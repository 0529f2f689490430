"""X12 parsing and validation: pure, bytes in, typed results out.

Public API:

- ``read_segments(stream)``: the streaming tokenizer (any delimiters, several interchanges).
- ``validate(stream, name=..., options=..., engine="fast"|"pyx12") -> FileVerdict``.
- ``iter_policies(stream, verdict, name=...)``: the policy blocks of the accepted sets.
- ``write_ta1`` / ``write_997``: the acknowledgements for a verdict.
"""

from __future__ import annotations

from ._fast import AK3_TEXT, AK4_TEXT  # the X12 error texts, for the business edits' messages
from ._acks import AckDocument, AckEnvelope, ack_file_name, write_997, write_acks, write_ta1
from ._options import PolicyBlock, ValidationOptions
from ._segment import Delimiters, Segment

__all__ = ["Delimiters", "PolicyBlock", "Segment", "ValidationOptions"]
__all__ += ["AK3_TEXT", "AK4_TEXT"]
__all__ += ["AckDocument", "AckEnvelope", "ack_file_name", "write_997", "write_acks", "write_ta1"]

from typing import BinaryIO, Literal

from ..schemas.verdict import FileVerdict
from ._policies import iter_policies
from ._reader import read_segments

__all__ += ["iter_policies", "read_segments", "validate"]


def validate(
    stream: BinaryIO,
    *,
    name: str,
    options: ValidationOptions = ValidationOptions(),
    engine: Literal["fast", "pyx12"] = "fast",
    workers: int = 1,
) -> FileVerdict:
    """Validate one X12 file read from ``stream``; never raises on bad input.

    ``engine="fast"`` (default) streams with the compiled map; ``"pyx12"`` runs pyx12's own
    validation (the reference, ~30x slower, reads the whole file into memory).

    ``workers`` (fast engine): processes to use, 0 = one per core (``Settings.workers``).
    Only a stream opened on a real file at its start, of at least
    ``_parallel.MIN_PARALLEL_BYTES``, is split; workers read their byte ranges from the
    file themselves.  The verdict is the same as with one process."""
    if engine == "fast":
        if workers != 1:
            path = _file_path(stream)
            if path is not None:
                from ._parallel import validate_file

                return validate_file(path, name=name, options=options, workers=workers)
        from ._fast import validate as fast_validate

        return fast_validate(stream, name=name, options=options)
    if engine == "pyx12":
        from ._pyx12 import validate as pyx12_validate

        return pyx12_validate(stream.read(), name=name, options=options)
    raise ValueError(f"unknown validation engine {engine!r}")


def _file_path(stream: BinaryIO) -> str | None:
    """The path of a regular file ``stream`` reads from its start, or None."""
    import os

    path = getattr(stream, "name", None)
    try:
        if isinstance(path, str) and stream.seekable() and stream.tell() == 0 and os.path.isfile(path):
            return path
    except (OSError, ValueError):
        pass
    return None
