"""Read the state's registration file (cli.md): CSV, one header row, one vehicle per row.

Streaming and lean on purpose: a state file holds millions of rows, so each row is checked
with plain string operations and built as a ``Registration`` tuple (no pydantic per row).
A bad row becomes a ``RowError`` (line, code, column; never the value) and is skipped; an
optional field that does not parse (a date of birth not YYYY-MM-DD) is reported and left
empty, the row loads.  Only a header without the required columns stops the file, because
then no row could be read.  Open the file with ``errors="surrogateescape"``
(``open_registration_file``): a byte that is not UTF-8 then costs its row only
(``REG-ENCODING``), not the file.
"""

from __future__ import annotations

import csv
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from operator import itemgetter
from pathlib import Path
from typing import TextIO

from ..errors import InputError, Location
from ..schemas.registration import Registration, RegistrationStatus, RowError

REQUIRED_COLUMNS = ("plate", "vin", "make", "model_year", "expires")
# In Registration field order after the five required ones.
OPTIONAL_COLUMNS = (
    "status", "owner_last", "owner_first", "owner_org", "owner_dl", "owner_dl_state",
    "owner_dob", "owner_fein", "street", "city", "state", "zip",
)
_STATUSES = frozenset(s.value for s in RegistrationStatus)
_ACTIVE = RegistrationStatus.ACTIVE.value
_new_registration = Registration._make  # tuple.__new__ under the hood: no keyword parsing
_intern = sys.intern
_DATE_CACHE_SIZE = 100_000


def _parse_date(text: str, cache: dict[str, date]) -> date | None:
    """``YYYY-MM-DD`` strictly; None when it is not a real date in that form.  Dates repeat
    a lot (expiration days, birth dates): ``cache`` parses each once and shares the object."""
    cached = cache.get(text)
    if cached is not None:
        return cached
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        value = date.fromisoformat(text)
    except ValueError:
        return None
    if len(cache) < _DATE_CACHE_SIZE:
        cache[text] = value
    return value


def open_registration_file(path: Path) -> TextIO:
    """A CSV file of the state (registrations, renewals) as text in which bytes that are not
    UTF-8 survive as lone surrogates: the readers then skip those rows by line instead of
    the whole file stopping (a strict decoder fails ahead, at the chunk that holds them)."""
    return path.open(encoding="utf-8", errors="surrogateescape", newline="")


def undecodable(row: list[str]) -> bool:
    """A field holds bytes that were not UTF-8 (lone surrogates, see above)."""
    text = "".join(row)
    if text.isascii():  # the usual case, and cheap
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _compact(text: str) -> str:
    """Blanks and dashes out: how VINs, plates, licence numbers and FEINs are compared."""
    return "".join(text.split()).replace("-", "")


def read_registrations(
    stream: Iterable[str], *, name: str
) -> Iterator[Registration | RowError]:
    """Yield each row of a registration file as a ``Registration``, or as a ``RowError``
    when it breaks a rule.  ``stream`` is text (open the file with ``newline=""``);
    ``name`` is the file name used in errors.  Raises ``InputError`` (``REG-HEADER``) when
    the header lacks a required column or the file is empty."""
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(
            "REG-HEADER", "the registration file is empty", Location(file=name)) from None
    except (csv.Error, UnicodeDecodeError) as exc:
        raise InputError(
            "REG-HEADER", f"header is not UTF-8 CSV ({type(exc).__name__})", Location(file=name)
        ) from None
    if undecodable(header):
        raise InputError("REG-HEADER", "header is not UTF-8", Location(file=name))
    # A spreadsheet's byte-order mark must not hide the first column's name.
    columns = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise InputError(
            "REG-HEADER", f"required column(s) missing: {', '.join(missing)}", Location(file=name)
        )
    width = len(columns)
    # A missing optional column reads the empty string appended at index ``width``.
    positions = [columns.index(c) for c in REQUIRED_COLUMNS] + [
        columns.index(c) if c in columns else width for c in OPTIONAL_COLUMNS
    ]
    pick = itemgetter(*positions)
    dates: dict[str, date] = {}

    def error(code: str, column: str | None, message: str, skipped: bool = True) -> RowError:
        return RowError(file=name, line=reader.line_num, code=code, column=column,
                        message=message, skipped=skipped)

    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except UnicodeDecodeError:
            # The text stream cannot go on past bytes it cannot decode: the file is wrong.
            # Streams decode ahead in chunks, so the line is where reading stopped.
            raise InputError("REG-ENCODING", f"not UTF-8 (reading stopped after line "
                             f"{reader.line_num})",
                             Location(file=name)) from None
        except csv.Error as exc:
            yield error("REG-CSV", None, f"row is not valid CSV ({exc})")
            continue
        if len(row) != width:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            yield error("REG-FIELDS", None, f"row has {len(row)} fields, the header {width}")
            continue
        if undecodable(row):
            yield error("REG-ENCODING", None, "row has bytes that are not UTF-8")
            continue
        row.append("")
        (plate, vin, make, year, expires, status, last, first, org, dl, dl_state, dob, fein,
         street, city, state, zip_) = pick(row)

        plate = _compact(plate).upper()
        if not plate:
            yield error("REG-PLATE", "plate", "plate is missing")
            continue
        vin = _compact(vin).upper()
        if not vin:
            yield error("REG-VIN", "vin", "VIN is missing")
            continue
        if not vin.isalnum() or not vin.isascii():
            yield error("REG-VIN", "vin", "VIN has characters other than letters and digits")
            continue
        make = make.strip().upper()
        if not make:
            yield error("REG-MAKE", "make", "make is missing")
            continue
        year = year.strip()
        if len(year) != 4 or not year.isdigit() or not "1900" <= year <= "2199":
            yield error("REG-YEAR", "model_year", "model year is missing or not a year CCYY")
            continue
        expires_on = _parse_date(expires.strip(), dates)
        if expires_on is None:
            yield error("REG-EXPIRES", "expires", "expiration date is missing or not YYYY-MM-DD")
            continue
        # Status stays a row error although its column is optional: left empty it would read
        # ACTIVE, and a cancelled registration must not become valid by a typing error.
        status = status.strip().upper() or _ACTIVE
        if status not in _STATUSES:
            yield error("REG-STATUS", "status",
                        "status is not ACTIVE, EXPIRED, SUSPENDED or CANCELLED")
            continue
        last = last.strip().upper() or None
        org = org.strip().upper() or None
        if last is None and org is None:
            yield error("REG-OWNER", "owner_last", "neither owner_last nor owner_org is given")
            continue
        dob = dob.strip()
        dob_on = _parse_date(dob, dates) if dob else None
        if dob and dob_on is None:
            # Optional: matching step 4 loses this owner's date, the row still registers.
            yield error("REG-DOB", "owner_dob", "date of birth is not YYYY-MM-DD",
                        skipped=False)
        yield _new_registration((
            plate, vin, _intern(make), int(year), expires_on, _intern(status),
            _intern(last) if last else None,
            _intern(f) if (f := first.strip().upper()) else None,
            org,
            _compact(dl).upper() or None,
            _intern(s) if (s := dl_state.strip().upper()) else None,
            dob_on,
            _compact(fein) or None,
            street.strip().upper() or None,
            _intern(c) if (c := city.strip().upper()) else None,
            _intern(s) if (s := state.strip().upper()) else None,
            zip_.strip() or None,
        ))
