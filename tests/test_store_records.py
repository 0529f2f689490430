"""The pipeline's tables on SQLite and PostgreSQL: units of work, groups and sets, policy
reports with their children, prior-report lookups, the per-set chunk counter."""

from __future__ import annotations

from datetime import date

import pytest
import sqlalchemy as sa

from epoi.schemas.policy import (
    BusinessError,
    Insured,
    NormalizedRecord,
    PolicyReport,
    RecordKey,
    Vehicle,
)
from epoi.store import (
    GroupRecord,
    InterchangeRecord,
    SetRecord,
    Store,
    SubmissionState,
    UnitKind,
    UnitRecord,
    UnitState,
    add_records,
    add_units,
    claim_interchanges,
    count_chunk_done,
    create_submission,
    finish_unit,
    interchanges_of,
    note_unit_failure,
    plan_prior_reports,
    prior_reports,
    queued_units,
    record_counts,
    record_groups_and_sets,
    records_for_return,
    reopen_units,
    unit_by_key,
    update_set,
)


def _record(position: int, *, status: str = "accepted", test: bool = False,
            policy: str = "PA1", tt: str = "NBS") -> NormalizedRecord:  # fmt: skip
    key = RecordKey(
        carrier_naic="12345", policy_number=policy, transaction_type=tt,
        effective_date=date(2026, 11, 1), sender_id="ACME", interchange="000000101",
        group="101", transaction_set="0001", policy_position=position,
    )  # fmt: skip
    report = PolicyReport(
        carrier_naic="12345", insurer_name="ACME", jurisdiction="CA", policy_number=policy,
        transaction_type=tt, policy_type="PV", effective_date=date(2026, 11, 1),
        insureds=(Insured(kind="individual", last_name="DOE", first_name="J"),),
        vehicles=(Vehicle(vin="1HGCM82633A004352", model_year=2003, make="HOND"),
                  Vehicle(vin="BAD", model_year=2003, make="HOND")),
        file="f.x12", sender_id="ACME", interchange="000000101", group="101",
        transaction_set="0001", submission_ref="REF1", test=test, key=key,
    )  # fmt: skip
    errors: tuple[BusinessError, ...] = ()
    if status == "rejected":
        errors = (BusinessError(code="E202", severity="error", level="vehicle",
                                message="VIN is not 17 characters", vehicle_index=1),)  # fmt: skip
    return NormalizedRecord(report=report, errors=errors, status=status)  # type: ignore[arg-type]


@pytest.fixture
def unit(store: Store, clock) -> dict[str, int]:
    """A submission with one interchange, group and set, and one normalize unit."""
    with store.session() as s:
        sub, _ = create_submission(
            s, file_name="f.x12", received_at=clock(), size=1, sha256="0" * 64,
            archive_path="a", state=SubmissionState.ARCHIVED,
        )  # fmt: skip
        claim_interchanges(
            s, sub.id, [InterchangeRecord("ZZ", "ACME", "000000101", False, "A", "000")]
        )
        [ic] = interchanges_of(s, sub.id)
        ids = record_groups_and_sets(
            s, sub.id,
            [GroupRecord("sub-1/ic-000000101/gs-101", ic.id, "101", "ACME", "A", "")],
            [SetRecord("sub-1/ic-000000101/gs-101/st-0001", "sub-1/ic-000000101/gs-101",
                       "0001", "A", "", False, "*:~")],
        )  # fmt: skip
        set_id = ids["sub-1/ic-000000101/gs-101/st-0001"]
        update_set(s, set_id, chunks_total=2)
        add_units(s, [UnitRecord("sub-1/x/chunk-0", UnitKind.NORMALIZE, sub.id, set_id,
                                 payload="{}")], now=clock())  # fmt: skip
        u = unit_by_key(s, "sub-1/x/chunk-0")
        assert u is not None
        return {"submission": sub.id, "set": set_id, "unit": u.id}


def test_units_are_recorded_once_and_move_queued_done(store: Store, clock, unit) -> None:
    with store.session() as s:
        # The same key again leaves the first row as it is.
        add_units(s, [UnitRecord("sub-1/x/chunk-0", UnitKind.NORMALIZE, unit["submission"],
                                 payload="other")], now=clock())  # fmt: skip
        assert queued_units(s) == [("sub-1/x/chunk-0", UnitKind.NORMALIZE)]
        assert unit_by_key(s, "sub-1/x/chunk-0").payload == "{}"
        finish_unit(s, unit["unit"], now=clock())
    with store.session(readonly=True) as s:
        u = unit_by_key(s, "sub-1/x/chunk-0")
        assert u.state is UnitState.DONE and u.payload is None
        assert queued_units(s) == []


def test_failures_are_counted_and_a_replay_reopens_the_unit(store: Store, clock, unit) -> None:
    key = "sub-1/x/chunk-0"
    with store.session() as s:
        note_unit_failure(s, key, code="STORE", final=False, now=clock())
        note_unit_failure(s, key, code="STORE", final=True, now=clock())
    with store.session() as s:
        u = unit_by_key(s, key)
        assert (u.state, u.attempts, u.error_code) == (UnitState.FAILED, 2, "STORE")
        assert queued_units(s) == []  # a failed unit is not re-queued by a run
        reopen_units(s, [key], now=clock())
    with store.session(readonly=True) as s:
        assert queued_units(s) == [(key, UnitKind.NORMALIZE)]


def test_records_are_written_once_with_their_children(store: Store, unit) -> None:
    records = [_record(10), _record(20, status="rejected"), _record(30, status="warned")]
    with store.session() as s:
        assert add_records(s, records, submission_id=unit["submission"], set_id=unit["set"],
                           unit_id=unit["unit"]) == 3  # fmt: skip
    with store.session() as s:
        # The same unit written again adds nothing.
        add_records(s, records, submission_id=unit["submission"], set_id=unit["set"],
                    unit_id=unit["unit"])  # fmt: skip
        counts = record_counts(s)
    assert counts["policies"] == 3 and counts["rejected"] == 1 and counts["warned"] == 1
    assert counts["vehicles"] == 6 and counts["business_errors"] == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM insureds")).scalar_one() == 3


def test_records_go_in_in_their_order_and_once_after_a_rollback_or_within_one_transaction(
    store: Store, unit
) -> None:
    # PostgreSQL writes them through COPY and a staging table (``copy_insert``).
    ids = {"submission_id": unit["submission"], "set_id": unit["set"], "unit_id": unit["unit"]}
    with pytest.raises(RuntimeError), store.session() as s:
        add_records(s, [_record(5)], **ids)
        raise RuntimeError("the transaction rolls back, its staging table with it")
    with store.session() as s:
        assert add_records(s, [_record(30), _record(10), _record(20)], **ids) == 3
        # The same unit again in the same transaction: only the new record goes in.
        add_records(s, [_record(10), _record(40, status="rejected")], **ids)
    with store.engine.connect() as conn:
        positions = conn.execute(sa.text(
            "SELECT policy_position FROM policy_reports ORDER BY id")).scalars().all()
        vehicles = conn.execute(sa.text(
            "SELECT r.policy_position, v.ordinal, v.vin FROM vehicles v JOIN policy_reports r"
            " ON r.id = v.policy_report_id ORDER BY v.id")).all()  # fmt: skip
        errors = conn.execute(sa.text("SELECT count(*) FROM business_errors")).scalar_one()
    assert positions == [30, 10, 20, 40]
    assert [(p, n) for p, n, _vin in vehicles] == [
        (p, n) for p in (30, 10, 20, 40) for n in (0, 1)
    ]
    assert vehicles[0][2] == "1HGCM82633A004352" and errors == 1


def test_a_batch_with_the_same_natural_key_twice_is_refused(store: Store, unit) -> None:
    with store.session() as s, pytest.raises(ValueError):
        add_records(s, [_record(10), _record(10)], submission_id=unit["submission"],
                    set_id=unit["set"], unit_id=unit["unit"])  # fmt: skip


def test_prior_reports_keep_test_and_production_apart(store: Store, unit) -> None:
    with store.session() as s:
        add_records(s, [_record(10), _record(20, test=True, policy="PA2")],
                    submission_id=unit["submission"], set_id=unit["set"], unit_id=unit["unit"])
        prod = prior_reports(s, [("12345", "PA1"), ("12345", "PA2"), ("12345", "NOPE")],
                             test=False)
        test = prior_reports(s, [("12345", "PA1"), ("12345", "PA2")], test=True)
        # The same policy number under another carrier, or with no NAIC, is another policy.
        other = prior_reports(s, [("99999", "PA1"), (None, "PA1")], test=False)
    assert [p.policy_number for p in prod] == ["PA1"]
    assert prod[0].status == "accepted" and prod[0].transaction_type == "NBS"
    assert [p.policy_number for p in test] == ["PA2"]
    assert other == []


def test_prior_reports_of_a_unit_with_more_numbers_than_one_statement_binds(
        store: Store, unit) -> None:
    """A unit asks for a thousand policy numbers and more: SQLite's lists are cut below its
    bound-parameter limit, PostgreSQL's go as one array; either way every stored one comes
    back, once."""
    wanted = [f"PN{n:05d}" for n in range(2500)]
    with store.session() as s:
        add_records(s, [_record(10 + n, policy=wanted[i])
                        for n, i in enumerate((0, 899, 900, 1799, 2499))],
                    submission_id=unit["submission"], set_id=unit["set"], unit_id=unit["unit"])
        found = prior_reports(s, [("12345", p) for p in wanted], test=False)
    assert sorted(p.policy_number for p in found) == [
        "PN00000", "PN00899", "PN00900", "PN01799", "PN02499"]


def test_postgresql_learns_the_reports_once_some_are_stored(store: Store, unit) -> None:
    """On a new PostgreSQL deployment the planner takes ``policy_reports`` for empty and
    ``prior_reports`` reads every report of the carrier: the first unit a worker stores
    has the table analysed.  SQLite has nothing to do."""
    with store.session() as s:
        add_records(s, [_record(10), _record(20, policy="PA2")],
                    submission_id=unit["submission"], set_id=unit["set"], unit_id=unit["unit"])
    with store.session() as s:
        analysed = plan_prior_reports(s)
    if store.dialect != "postgresql":
        assert analysed is False
        return
    assert analysed is True
    with store.session(readonly=True) as s:
        rows = s.scalar(sa.text(
            "SELECT reltuples FROM pg_class WHERE oid = 'policy_reports'::regclass"))
    assert rows == 2


def test_the_chunk_counter_tells_exactly_one_unit_it_is_the_last(store: Store, unit) -> None:
    with store.session() as s:
        assert count_chunk_done(s, unit["set"]) == (1, 2)
    with store.session() as s:
        assert count_chunk_done(s, unit["set"]) == (2, 2)


def test_records_for_the_error_return_are_rebuilt_without_personal_data(store, unit) -> None:
    with store.session() as s:
        add_records(s, [_record(10), _record(20, status="rejected", policy="PA9")],
                    submission_id=unit["submission"], set_id=unit["set"], unit_id=unit["unit"])
        jurisdictions, records = records_for_return(s, unit["set"])
    assert jurisdictions == ["CA"]
    [rec] = records
    assert rec.status == "rejected" and rec.report.policy_number == "PA9"
    assert rec.report.insureds == ()  # the error return never echoes an insured
    assert [v.vin for v in rec.report.vehicles] == ["1HGCM82633A004352", "BAD"]
    assert rec.errors[0].code == "E202" and rec.errors[0].vehicle_index == 1
    assert rec.report.key == _record(20, policy="PA9").report.key
