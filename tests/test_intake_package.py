"""The intake package's shared pieces: unit keys built and read back in one place, and the
one writer of what goes back to a carrier (TA1, 997, error return)."""

from __future__ import annotations

from pathlib import Path

import pytest

from epoi.intake import (
    OutgoingFiles,
    chunk_key,
    group_key,
    match_key,
    parse_key,
    set_key,
    source_of_match_key,
    submission_of_key,
)
from epoi.parsers import ack_file_name


def test_every_unit_key_names_its_submission() -> None:
    chunk = chunk_key(set_key(group_key(12, "000000101", "101"), "0001"), 3)
    assert chunk == "sub-12/ic-000000101/gs-101/st-0001/chunk-3"
    for key in (parse_key(12), chunk, match_key(chunk), f"{chunk}~2"):
        assert submission_of_key(key) == 12
    assert submission_of_key(parse_key(120034)) == 120034


@pytest.mark.parametrize("key", ["", "sub-", "sub-x/ic-1", "12/chunk-0", "ic-1/sub-12"])
def test_what_is_no_unit_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="not a unit key"):
        submission_of_key(key)


def test_a_match_unit_names_the_chunk_it_matches() -> None:
    chunk = chunk_key(set_key(group_key(7, "000000001", "1"), "0002"), 0)
    assert source_of_match_key(match_key(chunk)) == chunk


def _listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_an_outgoing_file_is_written_whole_under_its_ack_name(tmp_path: Path) -> None:
    text = "ISA*00*          *00*~IEA*1*000000007~"
    with OutgoingFiles(tmp_path, 5) as out:
        path = out.write("997", " ACMEINS ", 7, True, text)
    assert path == tmp_path / "acks" / "5" / ack_file_name("997", "ACMEINS", 7, True)
    assert path.read_bytes() == text.encode("latin-1")
    assert _listing(path.parent) == [path.name]  # no temporary file left beside it
    assert out.relative(path) == f"acks/5/{path.name}"


def test_the_files_of_a_failed_transaction_are_removed(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="rolled back"):
        with OutgoingFiles(tmp_path, 9) as out:
            out.write("TA1", "ACMEINS", 1, False, "TA1 text")
            out.write("811", "ACMEINS", 2, False, "811 text")
            assert len(_listing(tmp_path / "acks" / "9")) == 2
            raise RuntimeError("rolled back")
    assert _listing(tmp_path / "acks" / "9") == []


def test_a_file_that_cannot_be_written_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(UnicodeEncodeError):
        with OutgoingFiles(tmp_path, 3) as out:
            out.write("TA1", "ACMEINS", 1, False, "TA1 text")
            out.write("997", "ACMEINS", 2, False, "not latin-1: \u20ac")
    assert _listing(tmp_path / "acks" / "3") == []
