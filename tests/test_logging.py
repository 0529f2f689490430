"""Personal data never reaches a log line, whatever key or message carries it."""

from epoi._logging import REDACTED, redact_personal_data


def test_personal_keys_are_redacted_whatever_their_value():
    out = redact_personal_data(None, "info", {
        "event": "x", "owner_last": "GARCIA", "insured_name": "MARIA", "dob": "1980-01-15",
        "licence": "D1234567", "address": {"street": "1500 CAPITOL MALL"}, "submission": 12,
    })
    assert out["owner_last"] == out["insured_name"] == out["dob"] == out["licence"] == REDACTED
    assert out["address"] == REDACTED
    assert out["submission"] == 12 and out["event"] == "x"


def test_personal_values_inside_other_strings_are_scrubbed():
    out = redact_personal_data(None, "error", {
        "event": "edit_failed", "error": "bad DL D1234567 born 19800115 FEIN 12-3456789",
        "items": ["ok", "1980-01-15"],
    })
    assert "D1234567" not in out["error"] and "19800115" not in out["error"]
    assert "12-3456789" not in out["error"]
    assert out["items"] == ["ok", REDACTED]


def test_codes_and_counts_stay_readable():
    out = redact_personal_data(None, "info", {"event": "set_done", "code": "E204", "sets": 3,
                                              "unit_id": "sub-12/ic-000000101/gs-101/st-0001"})
    assert out == {"event": "set_done", "code": "E204", "sets": 3,
                   "unit_id": "sub-12/ic-000000101/gs-101/st-0001"}
