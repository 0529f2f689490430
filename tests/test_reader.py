"""The streaming tokenizer: delimiters, line ends, several interchanges, chunking, bad input."""

from __future__ import annotations

import io
import tracemalloc

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _fast_gen import make_811
from epoi.errors import InputError
from epoi.parsers import Delimiters, read_segments
from epoi.parsers._reader import SegmentReader, parse_isa_delimiters, read_interchanges

EXAMPLE = make_811(1)


def segs(data: bytes | str, **kw) -> list:
    if isinstance(data, str):
        data = data.encode("latin-1")
    return list(read_segments(io.BytesIO(data), **kw))


def error_code(data: bytes | str, **kw) -> tuple[str, list]:
    got = []
    with pytest.raises(InputError) as exc:
        raw = data if isinstance(data, bytes) else data.encode("latin-1")
        for s in read_segments(io.BytesIO(raw), **kw):
            got.append(s)
    return exc.value.code, got


def test_example_fields_and_positions():
    out = segs(EXAMPLE)
    assert [s.id for s in out[:4]] == ["ISA", "GS", "ST", "BIG"]
    assert out[-1].fields == ["IEA", "1", "000000101"]
    assert [s.position for s in out] == list(range(1, len(out) + 1))
    assert out[0].fields[16] == ":"
    assert len(out[0].fields) == 17


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r", "\n\n"])
def test_line_ends_after_terminators_are_ignored(eol):
    assert segs(make_811(2, eol=eol)) == segs(make_811(2))


def test_other_delimiters_are_read_from_the_isa():
    text = make_811(1, term="\x85", sep="|", comp=">")
    reader = SegmentReader(io.BytesIO(text.encode("latin-1")))
    out = list(reader)
    assert [s.fields for s in out] == [
        s.fields[:16] + [">"] + s.fields[17:] if s.id == "ISA" else s.fields
        for s in segs(EXAMPLE)
    ]
    assert reader.delimiters == ("|", ">", "\x85", None)


def test_newline_as_segment_terminator_with_crlf():
    text = make_811(1, term="\n").replace("\n", "\r\n")
    out = segs(text)
    assert out == segs(EXAMPLE)


def test_interchanges_back_to_back_with_different_delimiters():
    first = make_811(1)
    second = make_811(2, term="\n", sep="^", comp="}", isa13="000000102")
    third = make_811(1, isa13="000000103", eol="\r\n")
    reader = SegmentReader(io.BytesIO((first + second + third).encode()))
    seen = []
    for s in reader:
        if s.id == "ISA":
            seen.append(reader.delimiters.segment + reader.delimiters.element)
    out = segs(first + second + third)
    isas = [s for s in out if s.id == "ISA"]
    assert [s.fields[13] for s in isas] == ["000000101", "000000102", "000000103"]
    assert seen == ["~*", "\n^", "~*"]
    assert len(out) == len(segs(first)) + len(segs(second)) + len(segs(third))
    assert [s.position for s in out] == list(range(1, len(out) + 1))


def test_interchanges_are_cut_with_their_own_delimiters_and_endings():
    first = make_811(1, eol="\r\n")
    second = make_811(1, term="\n", sep="^", comp="}", isa13="000000102", eol="\n")
    cut_short = first[: first.index("IEA")]  # no IEA: the next ISA ends it
    last = make_811(1, isa13="000000103")
    data = (cut_short + second + last[: last.index("IEA")]).encode()
    chunks, error = read_interchanges(io.BytesIO(data), chunk_size=97)
    assert error is None  # the open interchange at the end is the caller's to judge
    assert [c.ending for c in chunks] == ["next_isa", "iea", "eof"]
    assert [c.delimiters for c in chunks] == [("*", ":", "~", None), ("^", "}", "\n", None),
                                              ("*", ":", "~", None)]
    # the positions go on across interchanges, as the segment reader numbers them
    numbered = [s.position for s in segs(cut_short + second + last) if s.id == "ISA"]
    assert [c.first_segment for c in chunks] == numbered
    # blank lines after the terminators are not part of the text handed on
    assert chunks[1].text() == second.replace("\n\n", "\n")
    assert chunks[0].text() == cut_short.replace("\r\n", "")


def test_interchanges_stop_at_the_readers_error():
    chunks, error = read_interchanges(io.BytesIO((EXAMPLE + "GE*1*101~").encode()))
    assert error is not None and error.code == "FILE-NO-ISA"
    assert [c.ending for c in chunks] == ["iea"]
    chunks, error = read_interchanges(io.BytesIO(b" \r\n"))
    assert error is not None and error.code == "FILE-EMPTY" and chunks == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunk=st.integers(min_value=1, max_value=400), eol=st.sampled_from(["", "\n", "\r\n"]))
def test_any_chunk_size_gives_the_same_segments(chunk, eol):
    text = (make_811(2, eol=eol) + make_811(1, term="\n", sep="^", isa13="000000102")).encode()
    assert list(read_segments(io.BytesIO(text), chunk_size=chunk)) == segs(text)


def test_empty_and_blank_files():
    assert error_code(b"")[0] == "FILE-EMPTY"
    assert error_code(b" \r\n\n ")[0] == "FILE-EMPTY"


def test_binary_files():
    assert error_code(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8)[0] == "FILE-BINARY"
    # a NUL after good segments: what came before is yielded first
    code, got = error_code(EXAMPLE.encode()[:300] + b"\x00" * 10 + b"~", chunk_size=256)
    assert code == "FILE-BINARY"
    assert got and got[0].id == "ISA"


def test_no_isa():
    assert error_code("GS*CI*A*B~ST*811*0001~")[0] == "FILE-NO-ISA"
    assert error_code("hello, this is not X12 at all\n" * 10)[0] == "FILE-NO-ISA"


def test_data_after_iea_must_be_an_isa():
    code, got = error_code(EXAMPLE + "GE*1*101~")
    assert code == "FILE-NO-ISA"
    assert got[-1].id == "IEA"


def test_bad_isa():
    short = EXAMPLE.replace("ACMEINS        ", "ACMEINS", 1)  # ISA no longer 106 characters
    assert error_code(short)[0] == "FILE-BAD-ISA"
    assert parse_isa_delimiters(EXAMPLE[:106]) == ("*", ":", "~", None)
    assert parse_isa_delimiters(EXAMPLE[:105] + "A") is None  # terminator cannot be a letter


def test_truncated_inside_a_segment_and_before_iea():
    code, got = error_code(EXAMPLE[: EXAMPLE.index("VEH*") + 10])
    assert code == "FILE-TRUNCATED"
    assert got[-1].id == "LX"
    code, got = error_code(EXAMPLE[: EXAMPLE.index("GE*")])
    assert code == "FILE-TRUNCATED"
    assert got[-1].id == "SE"
    assert error_code(EXAMPLE[:80])[0] == "FILE-TRUNCATED"


def test_error_carries_the_position():
    with pytest.raises(InputError) as exc:
        list(read_segments(io.BytesIO(EXAMPLE[: EXAMPLE.index("GE*")].encode())))
    assert exc.value.location.segment_position == len(segs(EXAMPLE)) - 2


def test_huge_line_without_terminator_is_refused_with_bounded_memory():
    class Endless(io.RawIOBase):
        """A stream of 256 MiB of 'A' after a good ISA, made up as it is read."""

        def __init__(self) -> None:
            self.head = EXAMPLE[:106].encode() + b"GS*"
            self.left = 256 << 20

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.head:
                out, self.head = self.head[:n], self.head[n:]
                return out
            n = min(n, self.left)
            self.left -= n
            return b"A" * n

    tracemalloc.start()
    try:
        with pytest.raises(InputError) as exc:
            list(read_segments(Endless(), chunk_size=1 << 16, max_segment_length=4096))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert exc.value.code == "SEGMENT-TOO-LONG"
    assert peak < 4 << 20  # a few chunks, not the line


def test_segment_too_long_inside_a_chunk():
    text = EXAMPLE.replace("BIG*20261127*ACME-20261127-01", "BIG*" + "X" * 5000)
    code, got = error_code(text)
    assert code == "SEGMENT-TOO-LONG"
    assert got[-1].id == "ST"


# --- batches and byte ranges (the fast engine's and the parallel runs' entry) --------------
@pytest.mark.parametrize("eol", ["", "\r\n"])
@pytest.mark.parametrize("chunk", [7, 64, 1 << 20])
def test_batches_hold_the_raw_segments_in_order(eol, chunk):
    first = make_811(3, sets=2, eol=eol)
    text = first + make_811(1, term="\n", sep="^", isa13="000000102")
    reader = SegmentReader(io.BytesIO(text.encode()), chunk_size=chunk)
    raw = [p for batch in reader.batches() for p in batch]
    expected = segs(text)
    assert len(raw) == len(expected) == reader.segments_read
    n1 = len(segs(first))
    assert [p.split("*") for p in raw[:n1]] == [s.fields for s in expected[:n1]]
    assert [p.split("^") for p in raw[n1:]] == [s.fields for s in expected[n1:]]


def test_a_byte_range_inside_an_interchange_reads_with_the_given_delimiters():
    text = make_811(3, eol="\r\n")
    data = text.encode()
    whole = segs(data)
    at = data.index(b"HL*3*")
    reader = SegmentReader(io.BytesIO(data[at:]), resume=Delimiters("*", ":", "~"))
    tail = [p.split("*") for batch in reader.batches() for p in batch]
    assert tail == [s.fields for s in whole][-len(tail):]
    assert tail[0][:2] == ["HL", "3"]
    # a range that ends at a segment boundary inside the interchange: not a truncation when
    # the stream is partial, FILE-TRUNCATED otherwise
    end = data.index(b"HL*5*")
    partial = SegmentReader(io.BytesIO(data[at:end]), resume=reader.delimiters, partial=True)
    got = [p for batch in partial.batches() for p in batch]
    assert got[0].startswith("HL*3*") and not got[-1].startswith("HL*5")
    with pytest.raises(InputError) as exc:
        list(SegmentReader(io.BytesIO(data[at:end]), resume=reader.delimiters).batches())
    assert exc.value.code == "FILE-TRUNCATED"
