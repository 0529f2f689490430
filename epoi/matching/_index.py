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
    if a == b:  # step 1's every match: compared in C without counting
        return 0
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


def expand_ranges(low: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``low[q] .. low[q] + counts[q] - 1`` for every query ``q``, flattened, with
    the query each belongs to: (query numbers, positions)."""
    query = np.repeat(np.arange(len(low)), counts)
    offsets = np.arange(len(query)) - np.repeat(np.cumsum(counts) - counts, counts)
    return query, np.repeat(low, counts) + offsets


class _HashIndex:
    """Key -> row numbers as two parallel numpy arrays sorted by the key's ``hash()``:
    12 bytes an entry where a dict costs ~100 (entry, key object, row int object).  A
    lookup is a batch of ``searchsorted``; hash collisions are possible, so callers verify
    what they get against the columns.  Entries added are sorted in at the next lookup."""

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._rows = np.empty(0, dtype=np.uint32)
        self._new_keys = array("q")
        self._new_rows = array("I")

    def add(self, key_hash: int, row: int) -> None:
        self._new_keys.append(key_hash)
        self._new_rows.append(row)

    def _seal(self) -> None:
        if not self._new_keys:
            return
        keys = np.concatenate([self._keys, np.frombuffer(self._new_keys, dtype=np.int64)])
        rows = np.concatenate([self._rows, np.frombuffer(self._new_rows, dtype=np.uint32)])
        order = np.argsort(keys, kind="stable")  # stable: rows of one key stay in load order
        self._keys, self._rows = keys[order], rows[order]
        self._new_keys, self._new_rows = array("q"), array("I")

    def lookup(self, key_hashes: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """For a batch of key hashes: (query index, row) pairs, grouped by query."""
        self._seal()
        wanted = np.fromiter(key_hashes, dtype=np.int64, count=len(key_hashes))
        # Searching in key order lets each binary search start where the last one ended
        # (numpy does that for sorted needles): far fewer cache misses on a 10 M array.
        order = np.argsort(wanted)
        low = np.empty_like(order)
        high = np.empty_like(order)
        low[order] = np.searchsorted(self._keys, wanted[order], side="left")
        high[order] = np.searchsorted(self._keys, wanted[order], side="right")
        counts = high - low
        query_ix, positions = expand_ranges(low, counts)
        return query_ix, self._rows[positions].astype(np.intp)


class InMemoryRegistrationIndex:
    """All registrations in columns (tuples of shared strings, compact arrays) and four
    sorted hash indexes of row numbers: VIN, licence number, FEIN, and owner name key +
    make + model year.  Nothing per row is a Python object beyond the strings it needs:
    about 350 bytes a registration with synthetic data (measured), so 10 M fit in ~3.5 GB.
    Lookups verify every hit against the columns, so a hash collision costs a comparison,
    never a wrong candidate."""

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
        self._by_vin = _HashIndex()
        self._by_name = _HashIndex()  # hash((name key, make, model year))
        self._by_licence = _HashIndex()
        self._by_fein = _HashIndex()
        self.add_all(registrations)

    def __len__(self) -> int:
        return len(self._plate)

    def add_all(self, registrations: Iterable[Registration]) -> None:
        """Add registrations (a stream is fine).  Rows are only ever added: refreshing a
        changed registration is the store's business, which rebuilds the index."""
        intern = sys.intern
        self._arrays = None  # numpy views pin the buffers: drop them before growing
        vin_bytes, vin_len, years, dobs = self._vin_bytes, self._vin_len, self._year, self._dob
        by_vin, by_name = self._by_vin.add, self._by_name.add
        by_licence, by_fein = self._by_licence.add, self._by_fein.add
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
                by_vin(hash(vin), row)
                for key in registration_name_keys(reg.owner_last, reg.owner_org):
                    by_name(hash((key, make, year)), row)
                if reg.owner_dl:
                    by_licence(hash(reg.owner_dl), row)
                if reg.owner_fein:
                    by_fein(hash(reg.owner_fein), row)
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

    def _vin_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if self._arrays is None:
            vins = np.frombuffer(self._vin_bytes, dtype=np.uint8).reshape(-1, VIN_WIDTH)
            self._arrays = (vins, np.frombuffer(self._vin_len, dtype=np.uint8))
        return self._arrays

    def _exact(
        self, table: _HashIndex, column: tuple[str | None, ...], values: Collection[str]
    ) -> dict[str, list[RegisteredVehicle]]:
        wanted = list(values)
        found: dict[str, list[RegisteredVehicle]] = {}
        query_ix, row_ix = table.lookup([hash(v) for v in wanted])
        for q, r in zip(query_ix.tolist(), row_ix.tolist(), strict=True):
            value = wanted[q]
            if column[r] == value:
                found.setdefault(value, []).append(self._vehicle(r))
        return found

    # -- RegistrationIndex -------------------------------------------------------------

    def by_vin(self, vins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact(self._by_vin, self._vin, vins)

    def by_licence(self, licences: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact(self._by_licence, self._dl, licences)

    def by_fein(self, feins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact(self._by_fein, self._fein, feins)

    def near_vin(
        self, probes: Collection[NearVinProbe]
    ) -> dict[NearVinProbe, list[RegisteredVehicle]]:
        # Candidate (probe, row) pairs from the owner indexes, then every candidate VIN of
        # the batch compared at once.
        batch = list(dict.fromkeys(probes))
        if not batch:
            return {}
        name_hashes: list[int] = []
        name_src: list[int] = []
        licence_hashes: list[int] = []
        licence_src: list[int] = []
        fein_hashes: list[int] = []
        fein_src: list[int] = []
        for n, probe in enumerate(batch):
            make, year = probe.make, probe.model_year
            for key in probe.name_keys:
                name_hashes.append(hash((key, make, year)))
                name_src.append(n)
            for licence in probe.licences:
                licence_hashes.append(hash(licence))
                licence_src.append(n)
            for fein in probe.feins:
                fein_hashes.append(hash(fein))
                fein_src.append(n)
        probe_parts, row_parts = [], []
        for table, hashes, src in ((self._by_name, name_hashes, name_src),
                                   (self._by_licence, licence_hashes, licence_src),
                                   (self._by_fein, fein_hashes, fein_src)):
            if hashes:
                query_ix, rows = table.lookup(hashes)
                probe_parts.append(np.asarray(src, dtype=np.intp)[query_ix])
                row_parts.append(rows)
        probe_ix = np.concatenate(probe_parts) if probe_parts else np.empty(0, dtype=np.intp)
        row_ix = np.concatenate(row_parts) if row_parts else np.empty(0, dtype=np.intp)
        if not len(row_ix):
            return {}
        vins, lengths = self._vin_arrays()
        probe_vins = np.frombuffer(b"".join(_vin_row(p.vin) for p in batch),
                                   dtype=np.uint8).reshape(-1, VIN_WIDTH)
        probe_lengths = np.fromiter((len(p.vin) if len(p.vin) <= VIN_WIDTH else 255
                                     for p in batch), dtype=np.uint16, count=len(batch))
        distance = np.count_nonzero(vins[row_ix] != probe_vins[probe_ix], axis=1)
        near = (distance <= MAX_VIN_DISTANCE) & (lengths[row_ix] == probe_lengths[probe_ix])

        found: dict[NearVinProbe, list[RegisteredVehicle]] = {}
        makes, years = self._make, self._year
        # A row reached under both a name and a licence is one candidate.
        for n, r in dict.fromkeys(zip(probe_ix[near].tolist(), row_ix[near].tolist(), strict=True)):
            probe = batch[n]
            if makes[r] == probe.make and years[r] == probe.model_year:
                found.setdefault(probe, []).append(self._vehicle(r))
        return found

    def by_name(self, probes: Collection[NameProbe]) -> dict[NameProbe, list[RegisteredVehicle]]:
        batch = list(probes)
        found: dict[NameProbe, list[RegisteredVehicle]] = {}
        query_ix, row_ix = self._by_name.lookup(
            [hash((p.name_key, p.make, p.model_year)) for p in batch])
        dobs, makes, years = self._dob, self._make, self._year
        for q, r in zip(query_ix.tolist(), row_ix.tolist(), strict=True):
            probe = batch[q]
            if (dobs[r] == probe.date_of_birth.toordinal() and makes[r] == probe.make
                    and years[r] == probe.model_year):
                found.setdefault(probe, []).append(self._vehicle(r))
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
