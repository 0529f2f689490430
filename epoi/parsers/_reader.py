"""The streaming X12 tokenizer: bytes in, ``Segment``s out, memory flat in the file size.

Error reporting decision: the reader *yields every segment it can* and, when the input
cannot be read any further, raises one coded :class:`epoi.errors.InputError` (its location
carries the file position of the last good segment).  A caller that wants "whatever could be
read" simply catches the error after the loop (the fast engine turns it into a
``FileVerdict.error`` and a TA1 023/024 for the interchange that was open).  Codes:

``FILE-EMPTY``        no bytes, or only blanks
``FILE-BINARY``       a NUL byte anywhere, or a start that is mostly non-text and not an ISA
``FILE-NO-ISA``       the data does not begin with ``ISA``, or data after an IEA does not
``FILE-BAD-ISA``      an ISA that is not 106 characters or whose delimiters cannot be used
``FILE-TRUNCATED``    the data ends inside a segment, or inside an interchange (no IEA)
``SEGMENT-TOO-LONG``  no terminator within ``max_segment_length`` characters: the reader
                      never buffers more than one chunk plus one segment, even for a
                      multi-gigabyte line

Both engines read through here: the fast engine takes the segments as they come
(``SegmentReader.batches``), the pyx12 engine takes the file cut into interchanges
(``read_interchanges``), so a file that cannot be read gets the same code, message and
position from either.

Bytes are decoded as latin-1, so every byte maps to one character and nothing is lost; the
validators flag characters outside the X12 character sets, not the reader.

Speed: each chunk is split with one ``str.split(terminator)`` and each segment with one
``str.split(element separator)``; there is no per-character Python loop.  Blank lines
(CR, LF, CRLF) after terminators are dropped, and so are empty segments (``~~``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, Protocol

from ..errors import InputError, Location
from ._segment import Delimiters, Segment

ISA_LENGTH = 106
# Widths of ISA01..ISA16: the ISA is fixed-length, which is what lets the reader find the
# delimiters before knowing them.
_ISA_WIDTHS = (2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
_BLANKS = " \t\r\n\x0b\x0c"
_BOM = "\xef\xbb\xbf"  # a UTF-8 byte order mark, decoded as latin-1
_SNIFF = 1024
_NON_TEXT_SHARE = 0.30

__all__ = [
    "ISA_LENGTH",
    "InterchangeText",
    "SegmentReader",
    "parse_isa_delimiters",
    "read_interchanges",
    "read_segments",
]


def _error(code: str, message: str, position: int | None) -> InputError:
    return InputError(code, message, Location(segment_position=position))


def parse_isa_delimiters(isa: str) -> Delimiters | None:
    """The delimiters an ISA declares, or None when its text cannot be an ISA.

    ``isa`` starts with ``ISA`` and holds at least 106 characters (the ISA and its terminator).
    """
    if len(isa) < ISA_LENGTH or not isa.startswith("ISA"):
        return None
    element = isa[3]
    component = isa[104]
    segment = isa[105]
    if element.isalnum() or element in _BLANKS:
        return None
    fields = isa[:105].split(element)
    if len(fields) != 17 or any(
        len(f) != w for f, w in zip(fields[1:], _ISA_WIDTHS, strict=True)
    ):
        return None
    if segment.isalnum() or segment in (element, component, " ") or segment in isa[:105]:
        return None  # a terminator inside the ISA would cut it short
    if component.isalnum() or component in (element, " "):
        return None
    return Delimiters(element=element, component=component, segment=segment)


def _non_text_share(text: str) -> float:
    sample = text[:_SNIFF]
    if not sample:
        return 0.0
    bad = sum(1 for c in sample if (c < " " and c not in "\t\r\n") or "\x7f" <= c < "\xa0")
    return bad / len(sample)


class ByteStream(Protocol):
    """What the reader reads from: an open binary file, or anything else with ``read(n)``
    (``_parallel`` hands it byte ranges of a file)."""

    def read(self, n: int = -1, /) -> bytes: ...


class SegmentReader:
    """Iterate over the segments of one stream; ``delimiters`` are those of the interchange
    whose segments are being yielded (they change at each ISA that declares others)."""

    def __init__(
        self, stream: ByteStream, *, chunk_size: int = 1 << 20, max_segment_length: int = 4096,
        resume: Delimiters | None = None, partial: bool = False,
    ) -> None:
        """``resume``: the stream starts at a segment inside an interchange with these
        delimiters (a byte range of a file, see ``_parallel``); ``partial``: the stream ends
        at a segment boundary inside an interchange, which is then not a truncation."""
        if chunk_size < 1:
            raise ValueError("chunk_size must be positive")
        self._resume = resume
        self._partial = partial
        self._stream = stream
        self._chunk_size = chunk_size
        self._max = max(max_segment_length, ISA_LENGTH)
        self.delimiters = Delimiters()
        self.segments_read = 0
        self.bytes_read = 0

    def _read(self) -> str:
        data = self._stream.read(self._chunk_size)
        if not data:
            return ""
        if b"\x00" in data:
            raise _error(
                "FILE-BINARY", "the file holds binary data (NUL bytes)", self.segments_read or None
            )
        self.bytes_read += len(data)
        return data.decode("latin-1")

    def __iter__(self) -> Iterator[Segment]:
        # Segment(f, n) without namedtuple's Python-level __new__: same object, less time.
        new_segment = tuple.__new__
        n = 0
        for batch in self.batches():
            d = self.delimiters
            sep, term = d.element, d.segment
            for p in batch:
                n += 1
                f = p.split(sep)
                if f[0] == "ISA":
                    self.delimiters = Delimiters(sep, p[104], term)
                yield new_segment(Segment, (f, n))

    def batches(self) -> Iterator[list[str]]:
        """Yield the segments as lists of raw segment texts (not split into elements), in
        file order; positions are consecutive from 1.  All segments of one list share the
        element separator and terminator of ``self.delimiters`` as it is when the list is
        yielded (an ISA declaring others starts a new list).  This is the fast engine's
        entry: one list per chunk, no per-segment Python work for chunks without ISA/IEA."""
        read = self._read
        max_len = self._max
        buf = read()
        eof = not buf
        if eof:
            raise _error("FILE-EMPTY", "the file is empty", None)
        first = True
        n = 0  # segments yielded so far
        in_interchange = False
        resume = self._resume
        while True:
            if resume is not None:
                # a byte range that starts inside an interchange: no ISA to read
                delims, resume, in_interchange = resume, None, True
            else:
                # --- State 1: an ISA must come next; find its delimiters. -------------------
                buf = buf.lstrip(_BLANKS)
                if first and buf.startswith(_BOM):
                    buf = buf[len(_BOM) :]
                while len(buf) < ISA_LENGTH and not eof:
                    more = read()
                    eof = not more
                    buf = (buf + more).lstrip(_BLANKS)
                    if first and buf.startswith(_BOM):
                        buf = buf[len(_BOM) :]
                if first and not buf:
                    raise _error("FILE-EMPTY", "the file holds only blanks", None)
                if not buf.startswith("ISA"):
                    if first and _non_text_share(buf) > _NON_TEXT_SHARE:
                        raise _error("FILE-BINARY", "the file is mostly non-text: not X12", None)
                    raise _error(
                        "FILE-NO-ISA", "the file does not begin with an ISA segment", n or None
                    )
                if len(buf) < ISA_LENGTH:
                    raise _error("FILE-TRUNCATED", "the file ends inside an ISA segment", n or None)
                declared = parse_isa_delimiters(buf)
                if declared is None:
                    raise _error(
                        "FILE-BAD-ISA",
                        "the ISA segment is not 106 characters with usable delimiters",
                        n + 1,
                    )
                delims = declared
            first = False
            self.delimiters = delims
            term, sep = delims.segment, delims.element
            # Blank lines after terminators are ignored; a terminator that is itself CR or
            # LF is kept out of the set of characters stripped.
            strip_lead = "\r\n".replace(term, "")
            strip_trail = "\r" if term == "\n" else ""
            isa_len = ISA_LENGTH - 1  # the ISA text without its terminator
            # Where an ISA or IEA segment may start in a chunk: such chunks are read one
            # segment at a time (interchange state, other delimiters); others go whole.
            envelope_at = _envelope_finder(term)
            restart: int | None = None

            # --- State 2: split whole chunks on the terminator. ---------------------------
            while True:
                parts = buf.split(term)
                rest = parts.pop()
                too_long = False
                if parts and max(map(len, parts)) > max_len + 2:
                    # yield the segments before the long one, then stop
                    too_long = True
                    parts = parts[: next(i for i, p in enumerate(parts) if len(p) > max_len + 2)]
                if strip_lead and (strip_lead[0] in buf or strip_lead[-1] in buf):
                    if strip_trail:
                        parts = [p.lstrip(strip_lead).rstrip(strip_trail) for p in parts]
                    else:
                        parts = [p.lstrip(strip_lead) for p in parts]
                if in_interchange and not too_long and not envelope_at(buf):
                    # the common case: a chunk inside one interchange
                    out = [p for p in parts if p] if "" in parts else parts
                    n += len(out)
                    self.segments_read = n
                    if out:
                        yield out
                else:
                    out = []
                    for i, p in enumerate(parts):
                        if not p:
                            continue
                        head = p[:3]
                        if head == "ISA" and (
                            n > 0 and (len(p) != isa_len or p[3] != sep or p[103] != sep)
                        ):
                            # A following interchange that declares other delimiters:
                            # re-read the buffer from this ISA on with its own delimiters.
                            restart = sum(len(q) for q in parts[:i]) + i
                            break
                        n += 1
                        if head == "ISA":
                            self.delimiters = Delimiters(sep, p[104], term)
                            in_interchange = True
                        elif not in_interchange:
                            self.segments_read = n
                            if out:
                                yield out
                            raise _error(
                                "FILE-NO-ISA",
                                "data after an IEA does not begin with an ISA segment", n
                            )
                        elif head == "IEA" and _is_iea(p, sep):
                            in_interchange = False
                        out.append(p)
                    self.segments_read = n
                    if out:
                        yield out
                    if restart is not None:
                        if strip_lead:
                            # offsets above are in the stripped parts: find the ISA again
                            restart = buf.find("ISA", _nth_find(buf, term, i))
                        buf = buf[restart:]
                        break
                if too_long:
                    raise _error(
                        "SEGMENT-TOO-LONG", f"a segment is longer than {max_len} characters", n + 1
                    )
                if not in_interchange:
                    # After an IEA the next ISA may declare a terminator this split never
                    # finds: look at its fixed-length text directly.
                    head = rest.lstrip(_BLANKS)
                    if head[:3] == "ISA" and len(head) >= ISA_LENGTH:
                        if parse_isa_delimiters(head) != delims:
                            buf = rest
                            break
                if len(rest) > max_len + 2:
                    raise _error(
                        "SEGMENT-TOO-LONG",
                        f"a segment is longer than {max_len} characters",
                        n + 1,
                    )
                more = "" if eof else read()
                if not more:
                    if rest.strip(_BLANKS):
                        raise _error(
                            "FILE-TRUNCATED", "the file ends inside a segment", n + 1
                        )
                    if in_interchange and not self._partial:
                        raise _error(
                            "FILE-TRUNCATED", "the file ends before the IEA segment", n
                        )
                    return
                buf = rest + more
            # back to state 1 with buf starting at the new ISA


def _is_iea(segment: str, sep: str) -> bool:
    """Whether ``segment`` (which starts with ``IEA``) is an IEA: ``IEA`` alone or followed
    by the element separator."""
    return segment[3:4] == sep or segment == "IEA"


def _envelope_finder(term: str) -> Callable[[str], bool]:
    """A test: may a segment of ``text`` begin with ISA or IEA?  ``str.find`` runs at C
    speed; the rare hit inside a value (a name like LISA) is checked and skipped."""

    def at_segment_start(text: str, i: int) -> bool:
        j = i
        while j > 0 and text[j - 1] in "\r\n" and text[j - 1] != term:
            j -= 1
        return j == 0 or text[j - 1] == term

    def envelope_at(text: str) -> bool:
        for sid in ("ISA", "IEA"):
            i = text.find(sid)
            while i >= 0:
                if at_segment_start(text, i):
                    return True
                i = text.find(sid, i + 1)
        return False

    return envelope_at


def _nth_find(text: str, sub: str, count: int) -> int:
    """The index just after the ``count``-th occurrence of ``sub`` in ``text`` (0: 0)."""
    at = 0
    for _ in range(count):
        at = text.index(sub, at) + len(sub)
    return at


def read_segments(
    stream: ByteStream, *, chunk_size: int = 1 << 20, max_segment_length: int = 4096
) -> Iterator[Segment]:
    """Yield the segments of ``stream`` in file order; see the module doc for the errors."""
    return iter(SegmentReader(stream, chunk_size=chunk_size, max_segment_length=max_segment_length))


@dataclass(slots=True)
class InterchangeText:
    """One interchange as the reader cut it: the raw texts of its segments, ISA first, with
    the delimiters its ISA declares."""

    segments: list[str]
    delimiters: Delimiters
    first_segment: int  # file position of its ISA
    # "iea": closed by its IEA; "next_isa": cut short by the next ISA; "eof": the data ended
    ending: Literal["iea", "next_isa", "eof"] = "eof"

    def text(self) -> str:
        """The interchange as X12 text: its segments, each followed by its terminator (the
        blank lines between segments, which the reader drops, left out)."""
        term = self.delimiters.segment
        return term.join(self.segments) + term


def read_interchanges(
    stream: ByteStream, *, chunk_size: int = 1 << 20, max_segment_length: int = 4096
) -> tuple[list[InterchangeText], InputError | None]:
    """The interchanges of ``stream`` in file order, each read with its own delimiters, and
    the error that stopped the reading (None when it read to the end).  An interchange the
    data ends in, at a segment boundary, is not an error here: it ends ``"eof"`` and the
    caller says what that means (TA1 023, or a file error when no IEA was read at all).
    Memory: the whole file's segments, for callers that hold the file anyway (pyx12)."""
    reader = SegmentReader(
        stream, chunk_size=chunk_size, max_segment_length=max_segment_length, partial=True
    )
    out: list[InterchangeText] = []
    current: InterchangeText | None = None
    n = 0
    try:
        for batch in reader.batches():
            d = reader.delimiters
            sep = d.element
            for p in batch:
                n += 1
                head = p[:3]
                if head == "ISA":
                    if current is not None:
                        current.ending = "next_isa"
                    current = InterchangeText([p], Delimiters(sep, p[104], d.segment), n)
                    out.append(current)
                    continue
                assert current is not None  # the reader raises for data outside an ISA
                current.segments.append(p)
                if head == "IEA" and _is_iea(p, sep):
                    current.ending = "iea"
                    current = None
    except InputError as exc:
        return out, exc
    return out, None
