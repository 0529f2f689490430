"""The reference validation engine: pyx12's own validation, run with epoi's 811 map.

``validate(source, name=..., options=...) -> FileVerdict``

What pyx12 does is kept as it is; the engine only feeds it and translates its error tree
(``pyx12.error_handler``) into a :class:`FileVerdict`, with the codes pyx12's own 997
visitor (``pyx12.error_997``) would put in the TA1, AK9, AK5, AK3 and AK4.  This module cuts
the file into interchanges and puts their verdicts together; ``_pyx12_walk`` runs pyx12 on
one interchange and ``_pyx12_verdict`` reads its error tree.  The fast engine is compared
against this one, so the rules below say where and why it departs from a plain
``x12n_document`` run:

* pyx12's reader takes the delimiters of the first ISA for the whole file, so the file is
  split into interchanges first, by the reader both engines share (``_reader``: the same
  file errors, delimiters and blank-line rules), and each is validated on its own.  What
  pyx12 would find across them is added back: a repeated ISA13 is TA1 ``025``; an
  interchange cut short by the next ISA (no IEA) is TA1 ``022`` (pyx12 would report ``023``
  at the end of the file, on the wrong interchange).
* Segments outside any transaction set (between ISA and GS, between GE and IEA, ST..SE
  without GS) are TA1 ``024``: pyx12 finds them but has no set to put the error in and
  drops it.
* A group whose GS01/GS08 has no map (pyx12 raises "Map not found") is checked against the
  envelope map only: its GS element errors give the AK9 codes (``1``/``2``), its sets are
  skipped.  An ISA12 other than ``00401`` is TA1 ``017`` (pyx12 has no 00401 reading of it).
* ST is taken as the start of a set whatever its ST01 (pyx12 matches ST by ST01 and loses
  the set otherwise): ST01 other than 811 is an element error, AK5 ``6``.
* A set or group with error codes is never acknowledged ``A`` (pyx12 leaves ST/SE and GS/GE
  element errors out of its ack code); a set closed by GE without an SE gets AK5 ``2`` and a
  group closed by IEA without a GE gets AK9 ``3`` (pyx12 only says so at the end of the
  file).
* Profile rules that are not syntax: ISA07/ISA08 must be the state's receiver (TA1
  ``007``/``008``) and, when ``options.known_senders`` is given, ISA05/ISA06 a known carrier
  (TA1 ``006``).

Messages never contain element values: pyx12's own messages (and its log lines, silenced
in ``_pyx12_walk``) quote them, so every message is written anew from codes and positions.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pyx12.errors

from ..errors import InputError
from ..schemas.verdict import FileError, FileVerdict, InterchangeVerdict, Ta1
from ._options import ValidationOptions
from ._pyx12_verdict import interchange_verdict
from ._pyx12_walk import isa_fields, walk
from ._reader import InterchangeText, read_interchanges

__all__ = ["validate"]


# --- reading the file --------------------------------------------------------------------


def _read(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        return bytes(source)
    return Path(source).read_bytes()


def _file_error(exc: InputError) -> FileError:
    return FileError(
        code=exc.code, message=exc.message, segment_position=exc.location.segment_position
    )


def _interchanges(
    data: bytes, options: ValidationOptions
) -> tuple[list[InterchangeText], FileError | None]:
    """The file cut into interchanges by the reader both engines share: pyx12's own reader
    takes the delimiters of the first ISA for the whole file, and stops at an empty segment
    or a blank line after a CR or LF terminator (the guide, §1, ignores those)."""
    chunks, exc = read_interchanges(
        io.BytesIO(data),
        chunk_size=max(len(data), 1),  # the file is in memory: a NUL anywhere is found first
        max_segment_length=options.max_segment_length,
    )
    if exc is not None:
        return chunks, _file_error(exc)
    if chunks and not any(c.ending == "iea" for c in chunks):
        # an IEA was read: the open interchange is TA1 023; none was: the file is cut short
        last = chunks[-1]
        return chunks, FileError(
            code="FILE-TRUNCATED",
            message="the file ends before the first IEA",
            segment_position=last.first_segment + len(last.segments) - 1,
        )
    return chunks, None


def _accepted(ic: InterchangeVerdict) -> bool:
    if ic.ta1.ack_code != "A":
        return False
    return all(
        g.ack_code in ("A", "E") and all(s.ack_code in ("A", "E") for s in g.transaction_sets)
        for g in ic.groups
    )


def _validate_chunks(
    chunks: list[InterchangeText], options: ValidationOptions
) -> Iterator[InterchangeVerdict | FileError]:
    seen: set[str] = set()
    for chunk in chunks:
        f = isa_fields(chunk)
        control = f[13]
        duplicate = control in seen
        seen.add(control)
        if f[12] != "00401":
            # pyx12 reads 00501 with another envelope map and knows no other version.
            yield interchange_verdict(
                chunk, None, duplicate, options, Ta1(ack_code="R", note_code="017")
            )
            continue
        try:
            run = walk(chunk)
        except (
            pyx12.errors.X12Error,
            pyx12.errors.EngineError,
            AttributeError,
            TypeError,
            ValueError,
            IndexError,
            KeyError,
        ) as exc:
            # pyx12 gave up on this interchange; its message may quote data, so name the
            # exception class only.
            yield FileError(
                code="FILE-PYX12",
                message=f"pyx12 could not validate the interchange ({type(exc).__name__})",
                segment_position=chunk.first_segment,
            )
            return
        yield interchange_verdict(chunk, run, duplicate, options)


def validate(source: str | Path | bytes, *, name: str, options: ValidationOptions) -> FileVerdict:
    """Validate one file with pyx12 and epoi's map.

    ``source`` is the file's bytes, or the path of the file (``str`` or ``Path``).  Never
    raises for bad input: a file that is not X12 gives ``FileVerdict.error`` with a code
    (``FILE-EMPTY``, ``FILE-BINARY``, ``FILE-NO-ISA``, ``FILE-BAD-ISA``, ``FILE-TRUNCATED``,
    ``FILE-PYX12``) and the interchanges read before the problem.
    """
    chunks, error = _interchanges(_read(source), options)
    interchanges: list[InterchangeVerdict] = []
    for item in _validate_chunks(chunks, options):
        if isinstance(item, FileError):
            error = error or item
            break
        interchanges.append(item)
    accepted = error is None and bool(interchanges) and all(_accepted(ic) for ic in interchanges)
    return FileVerdict(file=name, accepted=accepted, error=error, interchanges=interchanges)
