"""The registration file reader (cli.md): normalisation, optional columns, bad rows
reported with their line numbers and skipped."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest

from epoi.errors import InputError
from epoi.matching import read_registrations
from epoi.schemas.registration import Registration, RowError, normalize_plate

FIXTURE = Path(__file__).parent / "fixtures" / "matching" / "registrations_mixed.csv"


def read(text: str) -> list[Registration | RowError]:
    return list(read_registrations(io.StringIO(text, newline=""), name="r.csv"))


def mixed() -> list[Registration | RowError]:
    with FIXTURE.open(newline="", encoding="utf-8") as f:
        return list(read_registrations(f, name=FIXTURE.name))


def test_good_rows_are_normalised() -> None:
    first, *_, last = [r for r in mixed() if isinstance(r, Registration)]
    assert first == Registration(
        plate="7ABC123", vin="1HGCM82633A004352", make="HOND", model_year=2003,
        expires=date(2027, 1, 31), status="ACTIVE", owner_last="GARCIA", owner_first="MARIA",
        owner_org=None, owner_dl="D1234567", owner_dl_state="CA", owner_dob=date(1980, 1, 15),
        owner_fein=None, street="1500 CAPITOL MALL", city="SACRAMENTO", state="CA", zip="95814",
    )
    assert (last.plate, last.owner_org, last.owner_fein, last.status) == (
        "FLT0001", "ACME TRUCKING, INC.", "123456789", "SUSPENDED")
    assert last.street == "100 DOCK ST\nUNIT 4"


def test_bad_rows_are_reported_with_line_and_code_and_skipped() -> None:
    errors = [(e.line, e.code, e.column) for e in mixed() if isinstance(e, RowError)]
    assert errors == [
        (3, "REG-PLATE", "plate"),
        (4, "REG-VIN", "vin"),
        (5, "REG-VIN", "vin"),
        (6, "REG-MAKE", "make"),
        (7, "REG-YEAR", "model_year"),
        (8, "REG-EXPIRES", "expires"),  # 30 February
        (9, "REG-EXPIRES", "expires"),  # not YYYY-MM-DD
        (10, "REG-STATUS", "status"),
        (11, "REG-OWNER", "owner_last"),
        (12, "REG-DOB", "owner_dob"),
        (13, "REG-FIELDS", None),
    ]
    assert [e.skipped for e in mixed() if isinstance(e, RowError)] == [True] * 9 + [False, True]
    # Line 12's date of birth is reported and left empty: its row loads.
    assert sum(isinstance(r, Registration) for r in mixed()) == 3


def test_an_optional_field_that_does_not_parse_is_reported_and_left_empty() -> None:
    note, row = read("plate,vin,make,model_year,owner_last,owner_dob,expires\n"
                     "A1,V1,HOND,2003,X,05/06/1990,2027-01-31\n")
    assert isinstance(note, RowError) and isinstance(row, Registration)
    assert (note.line, note.code, note.column, note.skipped) == (2, "REG-DOB", "owner_dob", False)
    assert "05/06" not in str(note) and str(note).endswith("(field left empty, row loaded)")
    assert (row.plate, row.owner_dob) == ("A1", None)


def test_a_byte_that_is_not_utf8_costs_its_row_only(tmp_path: Path) -> None:
    from epoi.matching._registrations import open_registration_file

    # The bad byte on line 51, as seen: a strict text stream failed on the header already.
    raw = (b"plate,vin,make,model_year,owner_last,expires\n"
           + b"".join(b"A%d,V%d,HOND,2003,X,2027-01-31\n" % (i, i) for i in range(2, 51))
           + b"B51,V51,HOND,2003,M\xfcLLER,2027-01-31\n"
           + b"A52,V52,HOND,2003,X,2027-01-31\n")
    path = tmp_path / "latin1.csv"
    path.write_bytes(raw)
    with open_registration_file(path) as f:
        rows = list(read_registrations(f, name=path.name))
    errors = [r for r in rows if isinstance(r, RowError)]
    assert [(e.line, e.code, e.skipped) for e in errors] == [(51, "REG-ENCODING", True)]
    assert "LLER" not in str(errors[0])
    plates = [r.plate for r in rows if isinstance(r, Registration)]
    assert len(plates) == 50 and plates[-1] == "A52" and "B51" not in plates


def test_error_messages_carry_no_values() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    for error in (e for e in mixed() if isinstance(e, RowError)):
        assert "GARCIA" not in error.message and "1980" not in error.message
        assert "STOLEN" not in error.message and "1HGCM" not in error.message
        assert str(error).startswith(f"[{error.code}] {FIXTURE.name}:{error.line}: ")
    assert "STOLEN" in text  # the value was there to leak


def test_missing_optional_columns_read_as_empty() -> None:
    (only,) = read("VIN,Plate,Make,Model_Year,Expires,Owner_Org\n"
                   "1HGCM82633A004352,7ABC123,HOND,2003,2027-01-31,Acme\n")
    assert isinstance(only, Registration)
    assert (only.status, only.owner_last, only.owner_dl, only.owner_dob, only.zip) == (
        "ACTIVE", None, None, None, None)
    assert only.owner_org == "ACME"


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "empty"),
    ("plate,make,model_year,expires\n7ABC123,HOND,2003,2027-01-31\n", "vin"),
    ("plate,vin,make\n", "model_year, expires"),
])
def test_a_header_without_required_columns_stops_the_file(text: str, fragment: str) -> None:
    with pytest.raises(InputError) as caught:
        read(text)
    assert caught.value.code == "REG-HEADER" and fragment in caught.value.message
    assert caught.value.location.file == "r.csv"


def test_reading_is_lazy() -> None:
    rows = read_registrations(
        iter(["plate,vin,make,model_year,owner_last,expires\n",
              "A1,V1,HOND,2003,X,2027-01-31\n"]), name="r.csv")
    assert isinstance(next(rows), Registration)


def test_registration_valid_on() -> None:
    (active,) = read("plate,vin,make,model_year,owner_last,expires\nA1,V1,HOND,2003,X,2027-01-31\n")
    assert isinstance(active, Registration)
    assert active.is_valid_on(date(2027, 1, 31)) and not active.is_valid_on(date(2027, 2, 1))
    assert not active._replace(status="SUSPENDED").is_valid_on(date(2026, 1, 1))


def test_normalize_plate() -> None:
    assert normalize_plate(" 7abc-12 3") == "7ABC123"


def test_renewal_list() -> None:
    from epoi.matching import RenewalDue, read_renewals

    text = ("plate,vin,due\n7abc-123,,2026-12-01\n,1hgcm82633a004352,2026-12-02\n"
            ",,2026-12-03\n7ABC124,,12/01/2026\n7ABC125,,2026-12-01,extra\n")
    rows = list(read_renewals(io.StringIO(text, newline=""), name="due.csv"))
    assert rows[:2] == [RenewalDue("7ABC123", None, date(2026, 12, 1), 2),
                        RenewalDue(None, "1HGCM82633A004352", date(2026, 12, 2), 3)]
    assert [(e.line, e.code) for e in rows[2:] if isinstance(e, RowError)] == [
        (4, "REN-VEHICLE"), (5, "REN-DUE"), (6, "REN-FIELDS")]
    with pytest.raises(InputError) as caught:
        list(read_renewals(io.StringIO("plate,when\n"), name="due.csv"))
    assert caught.value.code == "REN-HEADER"


def test_a_byte_order_mark_does_not_hide_the_first_column() -> None:
    (only,) = read("\ufeffplate,vin,make,model_year,owner_last,expires\n"
                   "A1,V1,HOND,2003,X,2027-01-31\n")
    assert isinstance(only, Registration) and only.plate == "A1"


def test_bytes_that_are_not_utf8_stop_the_file_with_a_line() -> None:
    # Text streams decode ahead in chunks, so the bad bytes sit well past the first chunk.
    raw = b"plate,vin,make,model_year,owner_last,expires\n" + (
        b"A1,V1,HOND,2003,X,2027-01-31\n" * 5000) + b"A2,V2,HOND,2003,M\xfcLLER,2027-01-31\n"
    stream = io.TextIOWrapper(io.BytesIO(raw), encoding="utf-8", newline="")
    rows = read_registrations(stream, name="latin1.csv")
    assert isinstance(next(rows), Registration)
    with pytest.raises(InputError) as caught:
        list(rows)
    assert caught.value.code == "REG-ENCODING" and "M\xfcLLER" not in caught.value.message
