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

The Hamming check itself is vectorised over the whole batch with numpy: a probe sees a
dozen candidates on average (hundreds under a common surname at state scale), and comparing
them one by one in Python cost ~2 µs each at 1 M rows (measured; a cache miss per VIN
string), which alone capped step 2 near 20 k lookups/s.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from itertools import repeat
from operator import ne
from typing import NamedTuple, Protocol

import numpy as np

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
VIN_WIDTH = 17
_STRING_COLUMNS = (
    "_plate", "_vin", "_make", "_last", "_first", "_org", "_dl", "_dl_state", "_fein",
)


def _vin_row(vin: str) -> bytes:
    return vin.encode("ascii", "replace")[:VIN_WIDTH].ljust(VIN_WIDTH, b"\0")


class InMemoryRegistrationIndex:
    """All registrations in columns (lists of shared strings, compact arrays), with four
    dictionaries of row numbers: VIN, licence number, FEIN (keyed by the very strings the
    columns hold) and owner name key + make + model year (keyed by the hash of the three:
    an int costs half a string, and a collision only adds a candidate that the make, year,
    birth date and name checks then drop).  A dictionary value is a row number, or an
    ``array`` of row numbers once a second row shares the key; nothing per row is a Python
    object beyond the strings it needs (about 450 bytes a registration, measured)."""

    def __init__(self, registrations: Iterable[Registration] = ()) -> None:
        # String columns are tuples between loads: a tuple of strings is not tracked by the
        # garbage collector, a list is, and a full collection walking ten lists of 10 M
        # pointers in the middle of a lookup batch halved step 2's throughput (measured).
        self._plate: tuple[str, ...] = ()
        self._vin: tuple[str, ...] = ()
        self._make: tuple[str, ...] = ()
        self._last: tuple[str | None, ...] = ()
        self._first: tuple[str | None, ...] = ()
        self._org: tuple[str | None, ...] = ()
        self._dl: tuple[str | None, ...] = ()
        self._dl_state: tuple[str | None, ...] = ()
        self._fein: tuple[str | None, ...] = ()
        self._year = array("H")
        self._dob = array("I")  # proleptic ordinal, 0 when absent
        # The VINs again, 17 bytes a row, for the vectorised step-2 check.  A VIN is
        # zero-padded; one longer than 17 characters gets length 0 and never near-matches.
        self._vin_bytes = bytearray()
        self._vin_len = array("B")
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None
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
        """Add registrations (a stream is fine).  Rows are only ever added: refreshing a
        changed registration is the store's business, which rebuilds the index."""
        put = self._put
        intern = sys.intern
        self._arrays = None  # numpy views pin the buffers: drop them before growing
        vin_bytes, vin_len, years, dobs = self._vin_bytes, self._vin_len, self._year, self._dob
        by_vin, by_name, by_licence, by_fein = (
            self._by_vin, self._by_name, self._by_licence, self._by_fein)
        columns = {name: list(getattr(self, name)) for name in _STRING_COLUMNS}
        plates, vins, makes, lasts, firsts, orgs, dls, dl_states, feins = columns.values()
        row = len(plates)
        try:
            for reg in registrations:
                vin, make, year = reg.vin, intern(reg.make), reg.model_year
                plates.append(reg.plate)
                vins.append(vin)
                makes.append(make)
                years.append(year)
                lasts.append(reg.owner_last)
                firsts.append(reg.owner_first)
                orgs.append(reg.owner_org)
                dls.append(reg.owner_dl)
                dl_states.append(reg.owner_dl_state)
                dobs.append(reg.owner_dob.toordinal() if reg.owner_dob else _NO_DOB)
                feins.append(reg.owner_fein)
                vin_bytes += _vin_row(vin)
                vin_len.append(len(vin) if len(vin) <= VIN_WIDTH else 0)
                put(by_vin, vin, row)
                for key in registration_name_keys(reg.owner_last, reg.owner_org):
                    put(by_name, hash((key, make, year)), row)
                if reg.owner_dl:
                    put(by_licence, reg.owner_dl, row)
                if reg.owner_fein:
                    put(by_fein, reg.owner_fein, row)
                row += 1
        finally:
            # Rows are appended whole; a stream that fails between rows leaves the rows
            # before it in place.
            for name, column in columns.items():
                setattr(self, name, tuple(column))

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

    def _vin_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            vins = np.frombuffer(self._vin_bytes, dtype=np.uint8).reshape(-1, VIN_WIDTH)
            self._arrays = (vins, np.frombuffer(self._vin_len, dtype=np.uint8))
        return self._arrays

    def near_vin(
        self, probes: Collection[NearVinProbe]
    ) -> dict[NearVinProbe, list[RegisteredVehicle]]:
        # Gather (probe, candidate row) pairs in Python (dictionary lookups only), then
        # compare all candidate VINs of the batch at once.
        batch = list(dict.fromkeys(probes))
        by_name, by_licence, by_fein = self._by_name.get, self._by_licence.get, self._by_fein.get
        rows: list[int] = []
        owners: list[int] = []
        for n, probe in enumerate(batch):
            make, year, start = probe.make, probe.model_year, len(rows)
            for held in (
                *[by_name(hash((key, make, year))) for key in probe.name_keys],
                *[by_licence(licence) for licence in probe.licences],
                *[by_fein(fein) for fein in probe.feins],
            ):
                if held is None:
                    continue
                if type(held) is int:
                    rows.append(held)
                else:
                    rows.extend(held)
            owners.extend(repeat(n, len(rows) - start))
        if not rows:
            return {}
        vins, lengths = self._vin_arrays()
        probe_vins = np.frombuffer(b"".join(_vin_row(p.vin) for p in batch),
                                   dtype=np.uint8).reshape(-1, VIN_WIDTH)
        probe_lengths = np.fromiter((len(p.vin) if len(p.vin) <= VIN_WIDTH else 255
                                     for p in batch), dtype=np.uint16, count=len(batch))
        row_ix = np.array(rows, dtype=np.intp)
        probe_ix = np.array(owners, dtype=np.intp)
        distance = np.count_nonzero(vins[row_ix] != probe_vins[probe_ix], axis=1)
        near = (distance <= MAX_VIN_DISTANCE) & (lengths[row_ix] == probe_lengths[probe_ix])

        found: dict[NearVinProbe, list[RegisteredVehicle]] = {}
        makes, years = self._make, self._year
        # A row reached under both a name and a licence is one candidate.
        for n, r in dict.fromkeys(zip(probe_ix[near].tolist(), row_ix[near].tolist())):
            probe = batch[n]
            if makes[r] == probe.make and years[r] == probe.model_year:
                found.setdefault(probe, []).append(self._vehicle(r))
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
