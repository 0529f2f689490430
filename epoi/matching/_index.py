"""Where the cascade looks registrations up: a small protocol and its in-memory
implementation.

The protocol is batch-shaped (a collection of probes in, a mapping out) so that a SQL-backed
index answers a whole batch of reports with one ``IN`` query per lookup kind on indexed
columns, and the in-memory index used by the tests and the embedded default shares the same
cascade code.

Near-VIN candidates (step 2) come from the owner, not from the VIN.  Step 2 requires the
owner's last name or licence number to agree anyway, so the candidates are the registrations
filed under the reported owner's name keys with the same make and model year, plus those
under the owner's licence number or FEIN; a Hamming check on that handful follows.  That
answers in near-constant time with indexes the other steps need anyway (steps 3 and 4 use
the same two), whereas a VIN deletion index would hold C(17, 2) = 136 keys per vehicle
(more than a billion entries for 10 M registrations), and a pigeonhole index on VIN blocks
degenerates because the first blocks (manufacturer, model) are shared by hundreds of
thousands of vehicles.
"""

from __future__ import annotations

import sys
from array import array
from operator import ne
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from typing import NamedTuple, Protocol

from ..schemas.registration import Registration
from ._names import name_keys, organisation_key

MAX_VIN_DISTANCE = 2


class RegisteredVehicle(NamedTuple):
    """What the cascade needs to know about one registration."""

    plate: str
    vin: str
    make: str
    model_year: int
    owner_last: str | None
    owner_first: str | None
    owner_org: str | None
    owner_dl: str | None
    owner_dl_state: str | None
    owner_dob: date | None
    owner_fein: str | None


class NearVinProbe(NamedTuple):
    """Step 2: registrations whose VIN is within ``MAX_VIN_DISTANCE`` substitutions of
    ``vin``, with the same make and model year, filed under one of ``name_keys`` (see
    ``_names``) or one of the licence numbers or FEINs.  The index may return more than
    the owner agreement admits; the cascade checks it."""

    vin: str
    make: str
    model_year: int
    name_keys: tuple[str, ...]
    licences: tuple[str, ...] = ()
    feins: tuple[str, ...] = ()


class NameProbe(NamedTuple):
    """Step 4: registrations filed under ``name_key`` with this make, model year and
    owner's date of birth."""

    name_key: str
    make: str
    model_year: int
    date_of_birth: date


class RegistrationIndex(Protocol):
    def by_vin(self, vins: Collection[str]) -> Mapping[str, Sequence[RegisteredVehicle]]:
        """Step 1: registrations per exact (normalised) VIN."""
        ...

    def near_vin(
        self, probes: Collection[NearVinProbe]
    ) -> Mapping[NearVinProbe, Sequence[RegisteredVehicle]]:
        """Step 2 candidates per probe."""
        ...

    def by_licence(self, licences: Collection[str]) -> Mapping[str, Sequence[RegisteredVehicle]]:
        """Step 3 and fleet policies: every registration of the owner with this licence."""
        ...

    def by_fein(self, feins: Collection[str]) -> Mapping[str, Sequence[RegisteredVehicle]]:
        """Step 3 and fleet policies: every registration of the organisation."""
        ...

    def by_name(
        self, probes: Collection[NameProbe]
    ) -> Mapping[NameProbe, Sequence[RegisteredVehicle]]:
        """Step 4 candidates per probe."""
        ...


def within_distance(a: str, b: str, limit: int = MAX_VIN_DISTANCE) -> int | None:
    """Hamming distance of two VINs of equal length if at most ``limit``, else None.
    Only substitutions count: two adjacent characters swapped differ in 2 positions."""
    if len(a) != len(b):
        return None
    distance = sum(map(ne, a, b))  # counted in C: 3x a Python loop with early exit
    return distance if distance <= limit else None


def registration_name_keys(last: str | None, org: str | None) -> tuple[str, ...]:
    """The keys a registration is filed under for steps 2 and 4."""
    keys = name_keys(last) if last else ()
    if org:
        okey = organisation_key(org)
        if okey and okey not in keys:
            keys = (*keys, okey)
    return keys


_NO_DOB = 0


class InMemoryRegistrationIndex:
    """All registrations in columns (lists of shared strings, compact arrays), with four
    dictionaries of row numbers: VIN, licence number, FEIN (keyed by the very strings the
    columns hold) and owner name key + make + model year (keyed by the hash of the three:
    an int costs half a string, and a collision only adds a candidate that the make, year,
    birth date and name checks then drop).  A dictionary value is a row number, or an
    ``array`` of row numbers once a second row shares the key; nothing per row is a Python
    object beyond the strings it needs (about 450 bytes a registration, measured)."""

    def __init__(self, registrations: Iterable[Registration] = ()) -> None:
        self._plate: list[str] = []
        self._vin: list[str] = []
        self._make: list[str] = []
        self._year = array("H")
        self._last: list[str | None] = []
        self._first: list[str | None] = []
        self._org: list[str | None] = []
        self._dl: list[str | None] = []
        self._dl_state: list[str | None] = []
        self._dob = array("I")  # proleptic ordinal, 0 when absent
        self._fein: list[str | None] = []
        self._by_vin: dict[str, int | array] = {}
        self._by_name: dict[int, int | array] = {}  # hash((name key, make, model year))
        self._by_licence: dict[str, int | array] = {}
        self._by_fein: dict[str, int | array] = {}
        self.add_all(registrations)

    def __len__(self) -> int:
        return len(self._plate)

    @staticmethod
    def _put(table: dict, key: object, row: int) -> None:
        held = table.get(key)
        if held is None:
            table[key] = row
        elif type(held) is int:
            table[key] = array("I", (held, row))
        else:
            held.append(row)

    @staticmethod
    def _rows(table: dict, key: object) -> Iterable[int]:
        held = table.get(key)
        if held is None:
            return ()
        return (held,) if type(held) is int else held

    def add_all(self, registrations: Iterable[Registration]) -> None:
        put = self._put
        intern = sys.intern
        for reg in registrations:
            row = len(self._plate)
            self._plate.append(reg.plate)
            self._vin.append(reg.vin)
            make = intern(reg.make)
            self._make.append(make)
            self._year.append(reg.model_year)
            self._last.append(reg.owner_last)
            self._first.append(reg.owner_first)
            self._org.append(reg.owner_org)
            self._dl.append(reg.owner_dl)
            self._dl_state.append(reg.owner_dl_state)
            self._dob.append(reg.owner_dob.toordinal() if reg.owner_dob else _NO_DOB)
            self._fein.append(reg.owner_fein)
            put(self._by_vin, reg.vin, row)
            year = reg.model_year
            for key in registration_name_keys(reg.owner_last, reg.owner_org):
                put(self._by_name, hash((key, make, year)), row)
            if reg.owner_dl:
                put(self._by_licence, reg.owner_dl, row)
            if reg.owner_fein:
                put(self._by_fein, reg.owner_fein, row)

    def _vehicle(self, row: int) -> RegisteredVehicle:
        dob = self._dob[row]
        return RegisteredVehicle(
            self._plate[row], self._vin[row], self._make[row], self._year[row],
            self._last[row], self._first[row], self._org[row], self._dl[row],
            self._dl_state[row], date.fromordinal(dob) if dob else None, self._fein[row],
        )

    # -- RegistrationIndex -------------------------------------------------------------

    def by_vin(self, vins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        found: dict[str, list[RegisteredVehicle]] = {}
        for vin in vins:
            rows = self._rows(self._by_vin, vin)
            if rows:
                found[vin] = [self._vehicle(r) for r in rows]
        return found

    def near_vin(
        self, probes: Collection[NearVinProbe]
    ) -> dict[NearVinProbe, list[RegisteredVehicle]]:
        found: dict[NearVinProbe, list[RegisteredVehicle]] = {}
        rows_of, vins, makes, years = self._rows, self._vin, self._make, self._year
        for probe in probes:
            vin, make, year = probe.vin, probe.make, probe.model_year
            rows: list[int] = []
            for key in probe.name_keys:
                rows.extend(rows_of(self._by_name, hash((key, make, year))))
            for licence in probe.licences:
                rows.extend(rows_of(self._by_licence, licence))
            for fein in probe.feins:
                rows.extend(rows_of(self._by_fein, fein))
            hits = [
                self._vehicle(r)
                for r in dict.fromkeys(rows)  # the same row under a name and a licence
                if makes[r] == make and years[r] == year and within_distance(vin, vins[r]) is not None
            ]
            if hits:
                found[probe] = hits
        return found

    def _by_owner_id(
        self, table: dict[str, int | array], ids: Collection[str]
    ) -> dict[str, list[RegisteredVehicle]]:
        found: dict[str, list[RegisteredVehicle]] = {}
        for owner_id in ids:
            rows = self._rows(table, owner_id)
            if rows:
                found[owner_id] = [self._vehicle(r) for r in rows]
        return found

    def by_licence(self, licences: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._by_owner_id(self._by_licence, licences)

    def by_fein(self, feins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._by_owner_id(self._by_fein, feins)

    def by_name(self, probes: Collection[NameProbe]) -> dict[NameProbe, list[RegisteredVehicle]]:
        found: dict[NameProbe, list[RegisteredVehicle]] = {}
        for probe in probes:
            ordinal = probe.date_of_birth.toordinal()
            rows = self._rows(self._by_name, hash((probe.name_key, probe.make, probe.model_year)))
            hits = [self._vehicle(r) for r in rows
                    if self._dob[r] == ordinal and self._make[r] == probe.make
                    and self._year[r] == probe.model_year]
            if hits:
                found[probe] = hits
        return found


__all__ = [
    "InMemoryRegistrationIndex",
    "MAX_VIN_DISTANCE",
    "NameProbe",
    "NearVinProbe",
    "RegisteredVehicle",
    "RegistrationIndex",
    "registration_name_keys",
    "within_distance",
]
