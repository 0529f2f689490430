"""Normalisation: X12 loops → the state schema (case, blanks, dates, ZIP, VIN, lineage,
natural key) and the field mapping kept as data."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from pydantic import ValidationError

from _transforms_edi import fixture, policy_blocks
from epoi.schemas.policy import SCHEMA_VERSION, Insured, NormalizedRecord
from epoi.transforms import REFERENCE_PROFILE, EditContext, FieldRule, normalize
from epoi.transforms import _values as values

CONTEXT = EditContext(
    received_at=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
    today=date(2026, 11, 27),
    expected_naic="12345",
)


@pytest.fixture(scope="module")
def records() -> list[NormalizedRecord]:
    return [normalize(b, context=CONTEXT)
            for b in policy_blocks(fixture("messy_policies.x12"), file="messy.x12")]


def test_policy_fields_are_upper_case_and_trimmed(records):
    report = records[0].report
    assert report.insurer_name == "ACME MUTUAL INSURANCE CO"
    assert report.carrier_naic == "12345"
    assert report.jurisdiction == "CA"
    assert report.policy_number == "PA-7654321"
    assert (report.transaction_type, report.policy_type) == ("RWL", "PV")
    assert (report.effective_date, report.expiration_date, report.cancellation_date) == (
        date(2026, 11, 15), date(2027, 5, 15), None
    )


def test_insureds_keep_their_loops(records):
    named, co = records[0].report.insureds
    assert (named.kind, named.last_name, named.first_name, named.middle_name) == (
        "individual", "GARCIA", "MARIA", "L"
    )
    assert (named.licence_number, named.licence_state, named.date_of_birth) == (
        "D1234567", "CA", date(1980, 1, 15)
    )
    assert named.address.lines == ("1500 CAPITOL MALL", "SUITE 2")
    assert (named.address.city, named.address.state, named.address.zip) == (
        "SACRAMENTO", "CA", "95814-1234"
    )
    # The co-insured's loop has no REF/DMG: nothing leaks from the named insured's loop.
    assert (co.first_name, co.licence_number, co.date_of_birth) == ("JOSE", None, None)
    assert co.address.lines == () and co.address.zip == "95814-1234"


def test_organisation_insured(records):
    (org,) = records[1].report.insureds
    assert org.kind == "organisation"
    assert (org.organisation_name, org.name, org.fein, org.last_name) == (
        "SIERRA FREIGHT LLC", "SIERRA FREIGHT LLC", "123456789", None
    )
    assert org.address.zip is None  # 4 digits are no ZIP code
    assert records[1].report.vehicles == ()
    assert records[1].status == "accepted"  # CF: no vehicles needed


def test_vehicle_vin_and_transaction(records):
    (vehicle,) = records[0].report.vehicles
    assert vehicle.vin == "1HGCM82633A004352"
    assert (vehicle.model_year, vehicle.make) == (2003, "HOND")
    assert (vehicle.transaction, vehicle.transaction_date) == ("VAD", date(2026, 11, 15))
    assert records[0].errors == ()


def test_lineage_and_natural_key(records):
    first, second = (r.report for r in records)
    assert (first.file, first.sender_id, first.interchange, first.group, first.transaction_set) == (
        "messy.x12", "ACMEINS", "000000102", "102", "0007"
    )
    # Lineage is kept as sent (trimmed): the carrier matches its own identifiers.
    assert (first.submission_ref, first.report_date, first.test) == (
        "acme-20261127-02", date(2026, 11, 27), True
    )
    assert first.schema_version == SCHEMA_VERSION
    assert first.key.policy_position == 7 and second.key.policy_position == 25
    assert first.key.as_string() == "ACMEINS|000000102|102|0007|7|12345|PA-7654321|RWL|2026-11-15"
    assert first.key != second.key


def test_a_key_asked_for_its_string_stays_equal_and_dumps_the_same(records):
    """The key's string is worked out once and kept on the key: a key asked for it is equal
    to one that was not, hashes alike and dumps the same (no extra field in the record's
    JSON, which crosses processes and goes into the error return's input)."""
    key = records[0].report.key
    fresh = key.model_validate(key.model_dump())
    assert key.as_string() == key.as_string() == fresh.model_copy().as_string()
    asked, unasked = key.model_validate(key.model_dump()), key.model_validate(key.model_dump())
    asked.as_string()
    assert asked == unasked and hash(asked) == hash(unasked)
    assert asked.model_dump() == unasked.model_dump() == key.model_dump()
    assert asked.model_dump_json() == unasked.model_dump_json()
    assert "joined" not in asked.model_dump() and "joined" not in asked.model_dump_json()
    moved = asked.model_copy(update={"policy_position": 99})
    assert moved.as_string() == fresh.model_copy(update={"policy_position": 99}).as_string()
    assert moved.as_string().split("|")[4] == "99" and asked.as_string().split("|")[4] == "7"


def test_normalising_twice_gives_the_same_record():
    (block,) = policy_blocks(fixture("clean_policy.x12"))
    assert normalize(block, context=CONTEXT) == normalize(block, context=CONTEXT)


def test_records_are_frozen(records):
    with pytest.raises(ValidationError):
        records[0].report.policy_number = "X"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        Insured(kind="robot")  # type: ignore[arg-type]


def test_record_round_trips_through_json(records):
    for record in records:
        assert NormalizedRecord.model_validate_json(record.model_dump_json()) == record


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(" a  b ", "A B"), ("", None), ("   ", None), (None, None), ("Ünïcode", "ÜNÏCODE")],
)
def test_text(raw, expected):
    assert values.text(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("20240229", date(2024, 2, 29)), ("20230229", None), ("2024-02-29", None), ("2024022", None),
     (" 20261101 ", date(2026, 11, 1)), ("", None), ("2026110A", None)],
)
def test_dates(raw, expected):
    assert values.parse_ccyymmdd(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("95814", "95814"), ("958141234", "95814-1234"), ("95814-1234", "95814-1234"),
     (" 95814 ", "95814"), ("9581", None), ("9581412345", None), ("ABCDE", None), ("", None)],
)
def test_zip(raw, expected):
    assert values.zip_code(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1hgcm82633a004352", "1HGCM82633A004352"), (" 1HG CM826-33A004352 ", "1HGCM82633A004352"),
     ("", None)],
)
def test_vin(raw, expected):
    assert values.vin(raw) == expected


def test_the_field_mapping_is_data():
    # Another state puts the policy number in REF*POL: a new profile, not new code.
    rules = tuple(
        FieldRule("policy", "REF", (1, "POL"), 2, "policy_number")
        if r.field == "policy_number" else r
        for r in REFERENCE_PROFILE.rules
    )
    other = replace(REFERENCE_PROFILE, name="other", rules=rules)
    text = fixture("clean_policy.x12").replace("REF*IG*PA1234567", "REF*POL*PA1234567")
    (block,) = policy_blocks(text)
    assert (normalize(block, context=replace(CONTEXT, profile=other)).report.policy_number
            == "PA1234567")
    assert [e.code for e in normalize(block, context=CONTEXT).errors] == ["E101"]


def test_licence_formats_are_profile_data():
    other = replace(REFERENCE_PROFILE, licence_formats={"CA": "[0-9]{8}"})
    (block,) = policy_blocks(fixture("clean_policy.x12"))
    assert [
        e.code for e in normalize(block, context=replace(CONTEXT, profile=other)).errors
    ] == ["E109"]
