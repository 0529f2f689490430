"""``SqlRegistrationIndex``: the ``RegistrationIndex`` protocol answered by the store.

Every method takes a whole batch and issues one statement per chunk of a few thousand
keys, on indexed columns only:

- ``by_vin``, ``by_licence``, ``by_fein``: ``IN`` lists on ``registrations.vin`` (unique),
  ``owner_dl`` and ``owner_fein``.
- ``near_vin`` (step 2): the probes go in as a ``VALUES`` list of lookup keys (a stable
  hash of owner key, make and model year; owner keys are the name keys, "#" + licence and
  "$" + FEIN) joined to ``registration_name_keys``, and the join keeps only rows that share
  one of the three interleaved VIN blocks with the probe.  Two VINs within two
  substitutions share a block (pigeonhole), so nothing near is lost; and because every
  block holds serial-number characters, the owner's other cars of the same make and year
  almost never pass.  The filter runs inside the covering index, so a common surname costs
  an index range scan in the database, not rows fetched into Python.  The blocks that come
  back are the candidate's VIN: the exact distance is checked here, and only the rows
  within two positions are read (by id).
  When ``near_vin_dir`` holds the arrays of the latest registration load (``_near_vin``),
  they answer instead: the same candidates, several times faster.
- ``by_name`` (step 4): the same ``VALUES`` join, seeking (lookup key, date of birth) in
  the same index.

The index reads through one ``Connection`` the caller owns (and its transaction).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date
from hashlib import blake2b
from operator import ne
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Connection

from ._index import (
    MAX_VIN_DISTANCE,
    NameProbe,
    NearVinProbe,
    RegisteredVehicle,
)
from ._near_vin import WIDTH, NearVinArrays, current_near_vin, padded_blocks
from ._rows import _Raw

# Bound parameters per statement stay well under SQLite's 32 766 and PostgreSQL's 65 535.
CHUNK = 2_000
SQLITE_MMAP_BYTES = 16 << 30  # an upper bound: SQLite maps what the file holds
SQLITE_CACHE_KIB = 256 << 10
_COLUMNS = ("plate, vin, make, model_year, owner_last, owner_first, owner_org, owner_dl, "
            "owner_dl_state, owner_dob, owner_fein")
T = TypeVar("T")


def tune_for_lookups(connection: Connection) -> None:
    """SQLite's page cache is 2 MB by default: at millions of registrations every lookup
    would read index pages through a system call.  Map the file instead and keep a bigger
    cache on this connection (both per connection, harmless for the other users of a
    pooled connection).  Nothing to do on PostgreSQL."""
    if connection.dialect.name != "sqlite":
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    finally:
        cursor.close()


def untune(connection: Connection) -> None:
    """Give a pooled connection back its default page cache and no map, once the lookups
    are done: the connection goes on to the pipeline's writes, and a 256 MB cache filled
    with the pages they touch (and the map of a growing file) made a run's memory grow with
    its input.  The registrations' pages stay in the OS's cache for the next batch."""
    if connection.dialect.name != "sqlite":
        return
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute("PRAGMA mmap_size=0")
        cursor.execute("PRAGMA cache_size=-2000")  # SQLite's default
    finally:
        cursor.close()


def vin_blocks(vin: str) -> tuple[str, str, str]:
    """The three interleaved blocks the name-key table files a VIN under."""
    return vin[0::3], vin[1::3], vin[2::3]


def lookup_key(owner_key: str, make: str, model_year: int) -> int:
    """The signed 64-bit key a registration is filed under for one of its owner keys (a
    name key, "#" + licence number or "$" + FEIN).  Stable across processes (Python's own
    ``hash`` of a string is not).  ``_near_pairs`` computes the same digest inline."""
    digest = blake2b(f"{owner_key}\x1f{make}\x1f{model_year}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little", signed=True)


def owner_keys(name_keys: Iterable[str], licences: Iterable[str] = (),
               feins: Iterable[str] = ()) -> list[str]:
    return [*name_keys, *(f"#{lic}" for lic in licences), *(f"${f}" for f in feins)]


def _block_distance(probe: tuple[str, str, str], found: Sequence[str]) -> int | None:
    """Positions that differ between two VINs given as blocks; None when the lengths differ
    or more than ``MAX_VIN_DISTANCE`` positions do."""
    distance = 0
    for a, b in zip(probe, found, strict=True):
        if len(a) != len(b):
            return None
        distance += sum(map(ne, a, b))
    return distance if distance <= MAX_VIN_DISTANCE else None


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqlRegistrationIndex:
    """The registrations of the store, looked up in batches through ``connection``."""

    def __init__(self, connection: Connection, near_vin_dir: Path | None = None) -> None:
        self._conn = connection
        self._near_vin_dir = near_vin_dir
        self._sqlite = connection.dialect.name == "sqlite"
        self._ph = "?" if self._sqlite else "%s"
        tune_for_lookups(connection)

    # -- helpers ----------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any]) -> Sequence[tuple[Any, ...]]:
        # The driver's cursor on the caller's connection (same transaction): SQLAlchemy's
        # Row objects cost as much as the query itself at tens of thousands of rows.
        cursor = self._conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(sql, tuple(params))
            return cursor.fetchall()
        finally:
            cursor.close()

    def _date_param(self, day: date) -> object:
        # SQLite keeps dates as ISO text (SQLAlchemy's Date on SQLite does the same).
        return day.isoformat() if self._sqlite else day

    def _vehicle(self, row: Sequence[Any]) -> RegisteredVehicle:
        dob = row[9]
        if isinstance(dob, str):
            dob = date.fromisoformat(dob)
        return RegisteredVehicle(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                                 row[7], row[8], dob, row[10])

    def _where_in(self, column: str, values: Collection[Any]) -> list[tuple[Any, ...]]:
        # Chunks of placeholders on SQLite, one array on PostgreSQL (``_Raw.rows_in``).
        return _Raw(self._conn).rows_in(
            f"SELECT {_COLUMNS}, {column} FROM registrations WHERE {column} IN ({{marks}})",
            list(values), CHUNK)

    def _exact(self, column: str, values: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        found: dict[str, list[RegisteredVehicle]] = {}
        # Step 1 reads a row per reported vehicle: the tuple is built here, not per call.
        new, make, from_iso = tuple.__new__, RegisteredVehicle, date.fromisoformat
        for row in self._where_in(column, {v for v in values if v}):
            dob = row[9]
            vehicle = new(make, (*row[:9], from_iso(dob) if isinstance(dob, str) else dob,
                                 row[10]))
            if (same := found.get(row[11])) is None:
                found[row[11]] = [vehicle]
            else:
                same.append(vehicle)
        return found

    def by_ids(self, ids: Iterable[int]) -> dict[int, RegisteredVehicle]:
        return {row[-1]: self._vehicle(row) for row in self._where_in("id", set(ids))}

    def _values_join(self, rows: list[tuple[Any, ...]], names: str, condition: str,
                     select: str) -> list[tuple[Any, ...]]:
        """Probe rows (first column the probe number ``n``, then ``lk``, the lookup key)
        joined to the name-key index; ``select`` names what comes back."""
        found: list[tuple[Any, ...]] = []
        if not rows:
            return found
        width = len(rows[0])
        row_marks = "(" + ",".join([self._ph] * width) + ")"
        for part in _chunks(rows, max(CHUNK * 4 // width, 1)):
            sql = (f"WITH p({names}) AS (VALUES {','.join([row_marks] * len(part))}) "
                   f"SELECT {select} FROM p JOIN registration_name_keys k "
                   f"ON k.lookup_key = p.lk AND {condition}")
            found.extend(self._rows(sql, [v for r in part for v in r]))
        return found

    # -- RegistrationIndex ------------------------------------------------------------

    def by_vin(self, vins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact("vin", vins)

    def by_licence(self, licences: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact("owner_dl", licences)

    def by_fein(self, feins: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        return self._exact("owner_fein", feins)

    def near_vin(
        self, probes: Collection[NearVinProbe]
    ) -> dict[NearVinProbe, list[RegisteredVehicle]]:
        pairs = self.near_vin_ids(probes)
        vehicles = self.by_ids({r for _, r in pairs})
        result: dict[NearVinProbe, list[RegisteredVehicle]] = {}
        for probe, reg_id in pairs:
            reg = vehicles.get(reg_id)
            # A hash collision or a row changed meanwhile: the row itself decides.
            if reg is not None and reg.make == probe.make and reg.model_year == probe.model_year:
                result.setdefault(probe, []).append(reg)
        return result

    def near_vin_ids(self, probes: Collection[NearVinProbe]) -> list[tuple[NearVinProbe, int]]:
        """Step 2's search alone: (probe, registration id) for every registration within two
        positions filed under one of the probe's owner keys; make and model year are
        checked on the rows (``near_vin``)."""
        batch = list(dict.fromkeys(probes))
        arrays = (current_near_vin(self._conn, self._near_vin_dir)
                  if self._near_vin_dir is not None and batch else None)
        pairs = self._near_pairs(batch, arrays) if arrays else self._near_pairs_sql(batch)
        return [(batch[n], reg_id) for n, reg_id in pairs]

    def _near_pairs(self, batch: list[NearVinProbe], arrays: NearVinArrays
                    ) -> dict[tuple[int, int], None]:
        """(probe number, registration id) within two positions, from the arrays."""
        digests: list[bytes] = []  # the lookup keys, as bytes: one buffer for numpy
        probe_of_key: list[int] = []
        padded: list[str] = []
        lengths: list[int] = []
        # The hot loop of step 2 (a few keys a probe): bound names, no helper calls per key.
        add_digest, add_probe = digests.append, probe_of_key.append
        for n, (vin, make, year, names, licences, feins) in enumerate(batch):
            row = padded_blocks(vin)
            padded.append(row or " " * WIDTH)
            lengths.append(len(vin) if row else 255)  # 255: no entry has it
            suffix = f"\x1f{make}\x1f{year}"  # as lookup_key hashes it
            for key in (*names, *(f"#{x}" for x in licences), *(f"${x}" for x in feins)):
                add_digest(blake2b((key + suffix).encode(), digest_size=8).digest())
                add_probe(n)
        if not digests:
            return {}
        vins = np.frombuffer("".join(padded).encode("latin-1", "replace"),
                             dtype=np.uint8).reshape(len(batch), WIDTH)
        probe_ix, ids = arrays.near(np.frombuffer(b"".join(digests), dtype="<i8"),
                                    np.array(probe_of_key, dtype=np.intp), vins,
                                    np.array(lengths, dtype=np.uint8))
        # A registration reached under both a name and a licence is one candidate.
        return dict.fromkeys(zip(probe_ix.tolist(), ids.tolist(), strict=True))

    def _near_pairs_sql(self, batch: list[NearVinProbe]) -> dict[tuple[int, int], None]:
        """(probe number, registration id) within two positions, from the name-key index."""
        rows: list[tuple[Any, ...]] = []
        blocks = [vin_blocks(p.vin) for p in batch]
        for n, probe in enumerate(batch):
            b1, b2, b3 = blocks[n]
            for key in owner_keys(probe.name_keys, probe.licences, probe.feins):
                rows.append((n, lookup_key(key, probe.make, probe.model_year), b1, b2, b3))
        hits = self._values_join(
            rows, "n, lk, b1, b2, b3",
            "(k.vin_b1 = p.b1 OR k.vin_b2 = p.b2 OR k.vin_b3 = p.b3)",
            "p.n, k.registration_id, k.vin_b1, k.vin_b2, k.vin_b3")
        # The blocks are the candidate's VIN: only those within two positions are read.
        near: dict[tuple[int, int], None] = {}
        for n, reg_id, *found in hits:
            if _block_distance(blocks[n], found) is not None:
                near[(n, reg_id)] = None
        return near

    def by_name(self, probes: Collection[NameProbe]) -> dict[NameProbe, list[RegisteredVehicle]]:
        batch = list(dict.fromkeys(probes))
        rows = [(n, lookup_key(p.name_key, p.make, p.model_year),
                 self._date_param(p.date_of_birth)) for n, p in enumerate(batch)]
        pairs = self._values_join(rows, "n, lk, dob", "k.owner_dob = p.dob",
                                  "DISTINCT p.n, k.registration_id")
        vehicles = self.by_ids({r for _, r in pairs})
        found: dict[NameProbe, list[RegisteredVehicle]] = {}
        for n, reg_id in pairs:
            probe, reg = batch[n], vehicles.get(reg_id)
            if (reg is not None and reg.make == probe.make
                    and reg.model_year == probe.model_year
                    and reg.owner_dob == probe.date_of_birth):
                found.setdefault(probe, []).append(reg)
        return found


__all__ = ["SqlRegistrationIndex", "lookup_key", "owner_keys", "tune_for_lookups", "untune",
           "vin_blocks"]
