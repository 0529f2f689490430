"""Intake: the archive, ``submit`` (duplicates, unknown senders, acks, garbage) and the
``epoi submit`` / ``epoi carriers`` commands."""

from __future__ import annotations

import hashlib
import io
import json
import stat
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from epoi.cli import main
from epoi.config import Settings
from epoi.errors import ConfigError
from epoi.intake import CHUNK_SIZE, archive, submit
from epoi.store import (
    AckKind,
    CarrierEnvironment,
    Store,
    Submission,
    SubmissionState,
    acks_of,
    add_carrier,
    interchanges_of,
)

ENVELOPE = Path(__file__).parent / "fixtures" / "envelope"
OK_MINIMAL = (ENVELOPE / "ok_minimal.x12").read_bytes()


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "incoming" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _register_acme(store: Store, clock) -> None:
    with store.session() as s:
        add_carrier(
            s, name="ACME MUTUAL INSURANCE CO", naic="12345", isa_qualifier="ZZ",
            isa_id="ACMEINS", environment=CarrierEnvironment.PRODUCTION, created_at=clock(),
        )


# -- archive -------------------------------------------------------------------------------


def test_archive_is_content_addressed_and_write_once(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    first = archive(_file(tmp_path, "a.x12", OK_MINIMAL), settings)
    digest = hashlib.sha256(OK_MINIMAL).hexdigest()
    assert first.sha256 == digest and first.size == len(OK_MINIMAL)
    assert first.path == settings.archive_dir / digest[:2] / digest[2:4] / digest
    assert first.path.read_bytes() == OK_MINIMAL
    assert not first.path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    inode = first.path.stat().st_ino

    # The same bytes again, this time from a stream: same place, the first copy kept.
    stream = io.BytesIO(OK_MINIMAL)
    again = archive(stream, settings)
    assert again == first and first.path.stat().st_ino == inode
    assert not stream.closed  # a caller's stream is left open
    # Other bytes go elsewhere; no temporary files are left behind.
    other = archive(io.BytesIO(OK_MINIMAL + b"\n"), settings)
    assert other.path != first.path
    assert [p for p in settings.archive_dir.iterdir() if p.is_file()] == []


def test_archive_reads_in_chunks(tmp_path: Path) -> None:
    """Memory stays flat: the archive never asks for more than one chunk at a time."""

    class Source(io.RawIOBase):
        def __init__(self, size: int) -> None:
            self.left = size
            self.biggest_read = 0

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            assert n > 0, "read everything at once"
            self.biggest_read = max(self.biggest_read, n)
            chunk = b"x" * min(n, self.left)
            self.left -= len(chunk)
            return chunk

    source = Source(5 * CHUNK_SIZE + 17)
    archived = archive(source, Settings(home=tmp_path))
    assert archived.size == 5 * CHUNK_SIZE + 17 == archived.path.stat().st_size
    assert source.biggest_read == CHUNK_SIZE == 1024 * 1024


# -- submit --------------------------------------------------------------------------------


def test_a_good_file_is_archived_recorded_and_acknowledged(store, settings, clock, tmp_path):
    _register_acme(store, clock)
    [result] = submit([_file(tmp_path, "acme.x12", OK_MINIMAL)], store=store,
                      settings=settings, clock=clock)
    assert result.ok and result.accepted and not result.duplicate
    assert result.state is SubmissionState.ACKNOWLEDGED
    assert result.archive_path.read_bytes() == OK_MINIMAL
    [ic] = result.interchanges
    assert (ic.control_number, ic.ta1_ack_code, ic.ta1_note_code) == ("000000101", "A", "000")
    # ISA14 = 1: a TA1, and a 997 for the one group, numbered from the carrier's sequences.
    assert sorted(p.name for p in result.acks) == [
        "ACMEINS.997.000000002.x12", "ACMEINS.TA1.000000001.x12",
    ]
    assert all(p.parent == settings.home / "acks" / str(result.submission_id) for p in result.acks)
    ta1 = next(p for p in result.acks if ".TA1." in p.name).read_text()
    assert "TA1*000000101*261127*0930*A*000~" in ta1
    with store.session(readonly=True) as s:
        sub = s.get_one(Submission, result.submission_id)
        assert sub.state is SubmissionState.ACKNOWLEDGED and sub.carrier_id is not None
        counts = (sub.interchange_count, sub.transaction_set_count, sub.accepted_set_count)
        assert counts == (1, 1, 1)
        assert (sub.policy_count, sub.vehicle_count) == (1, 1)
        assert sub.archive_path == str(result.archive_path.relative_to(settings.home))
        acks = acks_of(s, sub.id)
    assert [(a.kind, a.answers_interchange, a.answers_group) for a in acks] == [
        (AckKind.TA1, "000000101", None), (AckKind.FA997, "000000101", "101"),
    ]
    assert all((settings.home / a.path).is_file() for a in acks)


def test_the_same_file_twice_is_one_submission_reported_as_duplicate(
    store, settings, clock, tmp_path
):
    _register_acme(store, clock)
    path = _file(tmp_path, "acme.x12", OK_MINIMAL)
    [first] = submit([path], store=store, settings=settings, clock=clock)
    [again] = submit([_file(tmp_path, "renamed.x12", OK_MINIMAL)], store=store,
                     settings=settings, clock=clock)
    assert again.duplicate and not again.ok
    assert again.submission_id == first.submission_id
    assert again.error_code == "SUBMISSION-DUPLICATE"
    assert again.acks == [] and again.interchanges == []
    with store.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Submission)) == 1


def test_unknown_sender_gets_ta1_006(store, settings, clock, tmp_path):
    _register_acme(store, clock)
    path = _file(tmp_path, "x.x12", (ENVELOPE / "ta1_006_unknown_sender.x12").read_bytes())
    [result] = submit([path], store=store, settings=settings, clock=clock)
    assert not result.ok and not result.accepted
    assert result.state is SubmissionState.REJECTED  # nothing in it was accepted (issue 11 §2)
    [ic] = result.interchanges
    assert (ic.sender_id, ic.ta1_ack_code, ic.ta1_note_code) == ("NOSUCHINS", "R", "006")
    assert ic.message and "not a registered carrier" in ic.message
    # A rejected interchange gets a TA1 and no 997.
    assert [p.name for p in result.acks] == ["NOSUCHINS.TA1.000000001.x12"]
    assert "*R*006~" in result.acks[0].read_text()
    with store.session(readonly=True) as s:
        assert s.get_one(Submission, result.submission_id).carrier_id is None


def test_a_named_carrier_accepts_only_its_own_isa_identity(store, settings, clock, tmp_path):
    _register_acme(store, clock)
    with store.session() as s:
        add_carrier(s, name="OTHER", naic="54321", isa_qualifier="ZZ", isa_id="OTHERINS",
                    environment=CarrierEnvironment.TEST, created_at=clock())
    [result] = submit([_file(tmp_path, "a.x12", OK_MINIMAL)], store=store, settings=settings,
                      clock=clock, carrier="54321")
    assert [(i.ta1_ack_code, i.ta1_note_code) for i in result.interchanges] == [("R", "006")]
    with pytest.raises(ConfigError):
        submit([_file(tmp_path, "b.x12", OK_MINIMAL)], store=store, settings=settings,
               clock=clock, carrier="99999")


def test_a_repeated_isa13_in_a_later_file_gets_ta1_025_and_adds_nothing(
    store, settings, clock, tmp_path
):
    _register_acme(store, clock)
    [first] = submit([_file(tmp_path, "a.x12", OK_MINIMAL)], store=store, settings=settings,
                     clock=clock)
    # Different bytes (a later report date), same sender and ISA13.
    resent = OK_MINIMAL.replace(b"BIG*20261127*ACME-20261127-01", b"BIG*20261128*ACME-20261128-01")
    [second] = submit([_file(tmp_path, "b.x12", resent)], store=store, settings=settings,
                      clock=clock)
    assert second.submission_id != first.submission_id and not second.duplicate
    [ic] = second.interchanges
    assert (ic.ta1_ack_code, ic.ta1_note_code) == ("R", "025")
    assert "received before" in (ic.message or "")
    # Only a TA1 (no 997), numbered after the first file's acks.
    assert [p.name for p in second.acks] == ["ACMEINS.TA1.000000003.x12"]
    with store.session(readonly=True) as s:
        sub = s.get_one(Submission, second.submission_id)
        assert (sub.accepted_set_count, sub.policy_count) == (0, 0)
        [row] = interchanges_of(s, sub.id)
        assert (row.ta1_ack_code, row.ta1_note_code) == ("R", "025")


def test_test_interchanges_are_recorded_as_test(store, settings, clock, tmp_path):
    _register_acme(store, clock)
    test_copy = (
        OK_MINIMAL.replace(b"*000000101*1*P*", b"*000000102*1*T*")
        .replace(b"IEA*1*000000101~", b"IEA*1*000000102~")
    )
    data = OK_MINIMAL + b"\n" + test_copy
    [result] = submit([_file(tmp_path, "m.x12", data)], store=store, settings=settings,
                      clock=clock)
    assert result.accepted
    assert [(i.control_number, i.test) for i in result.interchanges] == [
        ("000000101", False), ("000000102", True),
    ]
    with store.session(readonly=True) as s:
        rows = interchanges_of(s, result.submission_id)
    assert {(r.control_number, r.test) for r in rows} == {("000000101", False), ("000000102", True)}
    assert any(p.name.endswith(".test.x12") for p in result.acks)


def test_a_file_error_after_an_accepted_interchange_keeps_what_was_accepted(
    store, settings, clock, tmp_path
):
    _register_acme(store, clock)
    second = OK_MINIMAL.replace(b"*000000101*1*P*", b"*000000102*1*P*")
    cut = second[: second.index(b"VEH*1*1HGCM") + 10]  # ends inside a segment, no IEA
    [result] = submit([_file(tmp_path, "t.x12", OK_MINIMAL + cut)], store=store,
                      settings=settings, clock=clock)
    assert result.error_code == "FILE-TRUNCATED" and not result.ok
    # Interchange 101 was accepted and acknowledged: the submission goes on with it.
    assert result.state is SubmissionState.ACKNOWLEDGED
    assert [(i.control_number, i.ta1_ack_code) for i in result.interchanges] == [
        ("000000101", "A"), ("000000102", "R"),
    ]
    with store.session(readonly=True) as s:
        sub = s.get_one(Submission, result.submission_id)
    assert (sub.state, sub.error_code, sub.accepted_set_count) == (
        SubmissionState.ACKNOWLEDGED, "FILE-TRUNCATED", 1,
    )


@pytest.mark.parametrize(
    ("fixture", "code"),
    [("file_empty.x12", "FILE-EMPTY"), ("file_binary.x12", "FILE-BINARY"),
     ("file_no_isa.x12", "FILE-NO-ISA")],
)
def test_garbage_is_archived_and_the_submission_fails_with_a_code(
    store, settings, clock, tmp_path, fixture, code
):
    data = (ENVELOPE / fixture).read_bytes()
    [result] = submit([_file(tmp_path, fixture, data)], store=store, settings=settings,
                      clock=clock)
    assert result.archive_path.read_bytes() == data  # the bytes are kept whatever they are
    assert result.state is SubmissionState.FAILED and result.error_code == code
    assert not result.ok and result.acks == []
    with store.session(readonly=True) as s:
        sub = s.get_one(Submission, result.submission_id)
    assert (sub.state, sub.error_code, sub.size) == (SubmissionState.FAILED, code, len(data))


# -- command line --------------------------------------------------------------------------


@pytest.fixture
def cli(home: Path):
    """Run ``epoi`` on the embedded default under tmp_path."""
    runner = CliRunner()

    def run(*args: str):
        return runner.invoke(main, list(args), catch_exceptions=False)

    return run


def test_cli_carriers_and_submit(cli, tmp_path: Path) -> None:
    add = cli("carriers", "add", "--name", "ACME MUTUAL", "--naic", "12345",
              "--isa-qualifier", "ZZ", "--isa-id", "ACMEINS", "--production")
    assert add.exit_code == 0, add.output
    again = cli("carriers", "add", "--name", "X", "--naic", "12345",
                "--isa-qualifier", "ZZ", "--isa-id", "X")
    assert again.exit_code == 2 and "already exists" in again.output

    listed = cli("carriers", "list", "--json")
    assert listed.exit_code == 0
    [doc] = json.loads(listed.output)["carriers"]
    assert (doc["naic"], doc["isa_id"], doc["environment"]) == ("12345", "ACMEINS", "production")
    table = cli("carriers", "list")
    assert "ACME MUTUAL" in table.output and "ZZ/ACMEINS" in table.output
    assert cli("carriers", "show", "99999").exit_code == 2

    good = _file(tmp_path, "a.x12", OK_MINIMAL)
    ok = cli("submit", str(good), "--carrier", "12345", "--json")
    assert ok.exit_code == 0, ok.output
    [sub] = json.loads(ok.output)["submissions"]
    assert sub["state"] == "acknowledged" and sub["interchanges"][0]["ta1"]["ack_code"] == "A"

    dup = cli("submit", str(good))
    assert dup.exit_code == 1 and "DUPLICATE" in dup.output
    empty = cli("submit", str(_file(tmp_path, "empty.x12", b"")))
    assert empty.exit_code == 1 and "FILE-EMPTY" in empty.output
    assert cli("submit", str(good), "--carrier", "99999").exit_code == 2

    shown = cli("carriers", "show", "12345", "--json")
    assert json.loads(shown.output)["submissions"] == 1


def test_cli_db_upgrade(cli) -> None:
    result = cli("db", "upgrade")
    # The newest migration, whichever stage added it last.
    head = Store("sqlite://").head_revision()
    assert result.exit_code == 0 and f"revision {head}" in result.output


# -- test and production (issue 11 §13) -----------------------------------------------------

GOLDEN_ACKS = Path(__file__).parent / "fixtures" / "acks"


def _as_test(data: bytes, isa13: str) -> bytes:
    """The same interchange as a test interchange (ISA15 T) under another ISA13."""
    return (data.replace(b"*000000101*1*P*", f"*{isa13}*1*T*".encode())
            .replace(b"IEA*1*000000101~", f"IEA*1*{isa13}~".encode()))


def test_a_production_interchange_from_a_carrier_in_test_gets_ta1_020(
    store, settings, clock, tmp_path
):
    with store.session() as s:
        add_carrier(s, name="ACME MUTUAL INSURANCE CO", naic="12345", isa_qualifier="ZZ",
                    isa_id="ACMEINS", environment=CarrierEnvironment.TEST, created_at=clock())
    [prod] = submit([_file(tmp_path, "p.x12", OK_MINIMAL)], store=store, settings=settings,
                    clock=clock)
    assert not prod.ok and prod.state is SubmissionState.REJECTED
    [ic] = prod.interchanges
    assert (ic.test, ic.ta1_ack_code, ic.ta1_note_code) == (False, "R", "020")
    assert "still in test" in (ic.message or "") and "epoi carriers certify" in ic.message
    # Only a TA1, the golden one: R 020 answering ISA13 000000101.
    [ta1] = prod.acks
    golden = (GOLDEN_ACKS / "ta1_020_production_from_test_carrier.x12").read_text(encoding="ascii")
    assert ta1.read_text(encoding="latin-1").replace("~", "~\n") == golden
    with store.session(readonly=True) as s:
        sub = s.get_one(Submission, prod.submission_id)
        assert (sub.accepted_set_count, sub.policy_count) == (0, 0)
        [row] = interchanges_of(s, sub.id)
        assert (row.ta1_ack_code, row.ta1_note_code) == ("R", "020")

    # Its test interchanges are welcome (and kept out of production by the later stages).
    [test] = submit([_file(tmp_path, "t.x12", _as_test(OK_MINIMAL, "000000102"))], store=store,
                    settings=settings, clock=clock)
    assert test.ok and [(i.test, i.ta1_ack_code) for i in test.interchanges] == [(True, "A")]


def test_cli_certify_needs_clean_test_interchanges_then_production_is_accepted(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    added = cli("carriers", "add", "--name", "ACME MUTUAL", "--naic", "12345",
                "--isa-qualifier", "ZZ", "--isa-id", "ACMEINS", "--test")
    assert added.exit_code == 0 and "test" in added.output
    early = cli("carriers", "certify", "12345")
    assert early.exit_code == 1 and "stays in test: 0 test interchange(s)" in early.output
    assert cli("carriers", "certify", "99999").exit_code == 2

    prod = cli("submit", str(_file(tmp_path, "p.x12", OK_MINIMAL)))
    assert prod.exit_code == 1 and "TA1 R 020" in prod.output and "still in test" in prod.output
    # A test interchange whose 997 has an error (SE01 wrong: AK5 R) does not count.
    flawed = (ENVELOPE / "ak5_4_se01_count.x12").read_bytes()
    assert cli("submit", str(_file(tmp_path, "f.x12", _as_test(flawed, "000000201")))
               ).exit_code == 1
    assert cli("carriers", "certify", "12345").exit_code == 1

    clean = cli("submit", str(_file(tmp_path, "t.x12", _as_test(OK_MINIMAL, "000000202"))))
    assert clean.exit_code == 0, clean.output
    monkeypatch.setenv("EPOI_CERTIFY_MIN_TEST_INTERCHANGES", "2")
    more = cli("carriers", "certify", "12345", "--json")
    assert more.exit_code == 1
    assert json.loads(more.output) | {"created_at": ""} == {
        "naic": "12345", "name": "ACME MUTUAL", "isa_qualifier": "ZZ", "isa_id": "ACMEINS",
        "environment": "test", "created_at": "", "clean_test_interchanges": 1, "needed": 2,
        "certified": False,
    }
    monkeypatch.delenv("EPOI_CERTIFY_MIN_TEST_INTERCHANGES")
    done = cli("carriers", "certify", "12345")
    assert done.exit_code == 0 and "certified: production" in done.output
    shown = json.loads(cli("carriers", "show", "12345", "--json").output)
    assert shown["environment"] == "production"
    again = cli("carriers", "certify", "12345")
    assert again.exit_code == 0 and "in production already" in again.output

    # The production file rejected before (submission 1, TA1 020) is accepted on reprocess.
    redone = cli("reprocess", "1", "--json")
    assert redone.exit_code == 0, redone.output
    doc = json.loads(redone.output)
    assert doc["interchanges_rejected"] == 0 and doc["policies"] == 1 and doc["problems"] == []
    status = json.loads(cli("status", "1", "--json").output)
    assert status["state"] == "matched"
    assert [i["ta1"] for i in status["interchanges"]] == [{"ack_code": "A", "note_code": "000"}]
