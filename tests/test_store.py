"""The store on SQLite and PostgreSQL: migrations, ack numbering, the intake's repository."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from epoi.errors import ConfigError
from epoi.store import (
    Base,
    CarrierEnvironment,
    InterchangeRecord,
    Store,
    Submission,
    SubmissionState,
    add_carrier,
    carriers_by_sender,
    claim_interchanges,
    create_submission,
    interchanges_of,
    next_control_numbers,
    record_interchanges,
)

NOW = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
INTAKE_TABLES = {"carriers", "submissions", "interchanges", "ack_sequences", "acks"}


def _submission(session, sha: str = "a" * 64) -> tuple[Submission, bool]:
    return create_submission(
        session,
        file_name="in/acme.x12",
        received_at=NOW,
        size=10,
        sha256=sha,
        archive_path=f"archive/{sha[:2]}/{sha[2:4]}/{sha}",
        state=SubmissionState.ARCHIVED,
    )


def _ic(
    control: str, ack: str = "A", note: str = "000", sender: str = "ACMEINS"
) -> InterchangeRecord:
    return InterchangeRecord("ZZ", sender, control, False, ack, note)


# -- migrations --------------------------------------------------------------------------


def test_migrations_apply_from_empty_and_match_the_models(database_url: str) -> None:
    store = Store(database_url)
    try:
        assert store.current_revision() is None
        with pytest.raises(ConfigError) as exc:
            store.ensure_current()
        assert exc.value.code == "STORE-SCHEMA"

        store.upgrade()
        assert store.current_revision() == store.head_revision() is not None
        store.ensure_current()
        with store.engine.connect() as conn:
            assert INTAKE_TABLES <= set(sa.inspect(conn).get_table_names())
            # The hand-written migrations create exactly what the models declare.
            diff = compare_metadata(
                MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata
            )
        assert diff == []

        store.upgrade()  # a second upgrade is a no-op
        assert store.current_revision() == store.head_revision()
    finally:
        store.dispose()


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 1000
    finally:
        store.dispose()


# -- ack sequences -----------------------------------------------------------------------


def test_ack_numbers_are_consecutive_and_a_rollback_gives_them_back(store: Store) -> None:
    with store.session() as s:
        assert next_control_numbers(s, "ACMEINS:interchange") == [1]
        assert next_control_numbers(s, "ACMEINS:interchange", 3) == [2, 3, 4]
        assert next_control_numbers(s, "OTHER:interchange") == [1]  # per partner

    class Abort(Exception):
        pass

    with pytest.raises(Abort), store.session() as s:
        assert next_control_numbers(s, "ACMEINS:interchange") == [5]
        raise Abort
    with store.session() as s:
        assert next_control_numbers(s, "ACMEINS:interchange") == [5]


def test_ack_numbers_wrap_after_nine_digits(store: Store) -> None:
    with store.session() as s:
        s.execute(sa.text("INSERT INTO ack_sequences (key, last_number) VALUES ('W', 999999998)"))
        assert next_control_numbers(s, "W", 3) == [999_999_999, 1, 2]


def test_ack_numbers_have_no_gaps_under_two_concurrent_sessions(store: Store) -> None:
    """Session A takes a number and holds its transaction open while session B asks for the
    next one: B must wait for A's commit and get the following number, not the same one."""
    key = "ACMEINS:interchange"
    a_took = threading.Event()
    b_asking = threading.Event()
    got: dict[str, int] = {}
    errors: list[BaseException] = []

    def session_a() -> None:
        try:
            with store.session() as s:
                got["a"] = next_control_numbers(s, key)[0]
                a_took.set()
                b_asking.wait(10)
                # Give B time to reach the database and block on A's lock; correctness does
                # not depend on it, only whether the test exercises the wait.
                threading.Event().wait(0.3)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def session_b() -> None:
        try:
            a_took.wait(10)
            with store.session() as s:
                b_asking.set()
                got["b"] = next_control_numbers(s, key)[0]
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=session_a), threading.Thread(target=session_b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert got == {"a": 1, "b": 2}

    # And many short transactions from two threads: every number exactly once.
    taken: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(15):
            with store.session() as s:
                n = next_control_numbers(s, key)[0]
            with lock:
                taken.append(n)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(taken) == list(range(3, 33))


# -- carriers, submissions, interchanges ---------------------------------------------------


def test_carriers_are_validated_and_unique(store: Store) -> None:
    with store.session() as s:
        add_carrier(
            s, name="ACME MUTUAL", naic="12345", isa_qualifier="zz", isa_id=" ACMEINS ",
            environment=CarrierEnvironment.PRODUCTION, created_at=NOW,
        )
    for naic, qualifier, isa_id in [
        ("1234", "ZZ", "NEWINS"),  # NAIC not 5 digits
        ("12a45", "ZZ", "NEWINS"),
        ("54321", "Z", "NEWINS"),  # qualifier not 2 characters
        ("54321", "ZZ", "X" * 16),  # ISA06 longer than 15
        ("12345", "ZZ", "NEWINS"),  # NAIC taken
        ("54321", "ZZ", "ACMEINS"),  # ISA identity taken
    ]:
        with pytest.raises(ConfigError) as exc, store.session() as s:
            add_carrier(
                s, name="X", naic=naic, isa_qualifier=qualifier, isa_id=isa_id,
                environment=CarrierEnvironment.TEST, created_at=NOW,
            )
        assert exc.value.code == "CARRIER"
    with store.session(readonly=True) as s:
        senders = carriers_by_sender(s)
    assert list(senders) == [("ZZ", "ACMEINS")]
    carrier = senders[("ZZ", "ACMEINS")]
    assert carrier.environment is CarrierEnvironment.PRODUCTION
    assert carrier.created_at == NOW and carrier.created_at.tzinfo is not None


def test_the_same_bytes_make_one_submission(store: Store) -> None:
    with store.session() as s:
        first, created = _submission(s)
    assert created
    with store.session() as s:
        again, created = _submission(s)
    assert not created and again.id == first.id
    with store.session(readonly=True) as s:
        assert s.scalar(sa.select(sa.func.count()).select_from(Submission)) == 1
        assert s.get_one(Submission, first.id).received_at == NOW


def test_interchange_claims_detect_duplicates_across_submissions(store: Store) -> None:
    with store.session() as s:
        one, _ = _submission(s, "1" * 64)
        two, _ = _submission(s, "2" * 64)
    with store.session() as s:
        assert claim_interchanges(s, one.id, [_ic("000000101"), _ic("000000102")]) == set()
        # A rejected interchange is kept but does not use up its number.
        record_interchanges(s, one.id, [_ic("000000103", "R", "022")])
    with store.session() as s:
        taken = claim_interchanges(
            s, two.id, [_ic("000000101"), _ic("000000103"), _ic("000000101", sender="OTHER")]
        )
    assert taken == {("ZZ", "ACMEINS", "000000101")}
    with store.session(readonly=True) as s:
        assert [i.control_number for i in interchanges_of(s, one.id)] == [
            "000000101", "000000102", "000000103",
        ]
        assert sorted((i.sender_id, i.control_number) for i in interchanges_of(s, two.id)) == [
            ("ACMEINS", "000000103"), ("OTHER", "000000101"),
        ]
    with pytest.raises(ValueError), store.session() as s:
        record_interchanges(s, two.id, [_ic("000000104")])  # not rejected: must be claimed


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    local = NOW.astimezone(timezone(timedelta(hours=-8)))
    with store.session() as s:
        sub, _ = create_submission(
            s, file_name="f", received_at=local, size=0, sha256="f" * 64, archive_path="p",
            state=SubmissionState.ARCHIVED,
        )
    with store.session(readonly=True) as s:
        received = s.scalar(sa.select(Submission.received_at).where(Submission.id == sub.id))
    assert received == NOW and received.utcoffset() == timedelta(0)
    with pytest.raises(sa.exc.StatementError), store.session() as s:
        _submission(s, "e" * 64)[0].received_at = datetime(2026, 1, 1)  # naive
        s.flush()


def test_an_unreachable_database_is_a_configuration_error() -> None:
    store = Store("postgresql+psycopg://postgres:secret@127.0.0.1:1/test")
    try:
        with pytest.raises(ConfigError) as exc:
            store.upgrade()
    finally:
        store.dispose()
    assert exc.value.code == "STORE-CONNECT"
    assert "secret" not in exc.value.message
