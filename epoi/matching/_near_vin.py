"""Step 2's index as sorted, memory-mapped arrays beside the store.

Why: the SQL path (``SqlRegistrationIndex``: a ``VALUES`` join on the name-key index, then
the rows by id) does per-row work in the database and in Python for every candidate, and
managed 8 000-15 000 lookups/s against 10 M registrations.  The same question asked of
sorted arrays is a few vectorised gathers and one distance check for a whole batch of
probes; the database is read only for the registrations within two positions.

One entry per row of ``registration_name_keys``, sorted by lookup key, in five ``.npy``
files under ``<directory>/near-vin-<token>-v<FORMAT>/``:

- ``keys``: the lookup key (int64);
- ``vins``: the VIN as its three interleaved blocks, each padded to 6 (18 bytes);
- ``lengths``: the VIN's length, 0 when a block is longer than 6 (such a VIN never
  near-matches, as in the in-memory index);
- ``ids``: the registration id;
- ``buckets``: where each run of keys with the same top bits starts (a directory: a lookup
  reads two offsets instead of binary-searching).

The files are derived data, built after a registration load (``build_near_vin_index``) and
named by that load's token (``registration_loads``).  A reader uses them only while the
latest load's token names them (``current_near_vin``); otherwise, for example after a
crash between the load's commit and the build, the SQL path answers: slower, same answers.
The memory they take is the page cache's, shared by every worker on the machine.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib.format import open_memmap
from sqlalchemy import Connection, select

from ..errors import Location, StoreError
from ..store import registration_loads
from ._index import MAX_VIN_DISTANCE, expand_ranges

# In the directory's name: arrays an older epoi wrote are ignored, then removed by the
# next build, never misread.
FORMAT = 2
BLOCK = 6
WIDTH = 3 * BLOCK
_FETCH = 100_000
# Padding is the same on both sides and only VINs of equal length are compared, so the pad
# character never counts as a difference; substr/length/|| mean the same in SQLite and
# PostgreSQL.
_PAD = " " * BLOCK
_ROWS_SQL = (
    "SELECT lookup_key, registration_id, "
    f"substr(vin_b1 || '{_PAD}', 1, {BLOCK}) || substr(vin_b2 || '{_PAD}', 1, {BLOCK}) || "
    f"substr(vin_b3 || '{_PAD}', 1, {BLOCK}), "
    f"CASE WHEN length(vin_b1) > {BLOCK} OR length(vin_b2) > {BLOCK} "
    f"OR length(vin_b3) > {BLOCK} THEN 0 "
    "ELSE length(vin_b1) + length(vin_b2) + length(vin_b3) END "
    "FROM registration_name_keys ORDER BY lookup_key"
)


def padded_blocks(vin: str) -> str | None:
    """A probe's VIN as the arrays hold it; None when it can never near-match."""
    if not vin or len(vin) > WIDTH:  # a block would be longer than BLOCK
        return None
    return vin[0::3].ljust(BLOCK) + vin[1::3].ljust(BLOCK) + vin[2::3].ljust(BLOCK)


def latest_load_token(conn: Connection) -> str | None:
    t = registration_loads.c
    return conn.execute(select(t.token).order_by(t.id.desc()).limit(1)).scalar()


# Flipping the sign bit maps int64 keys onto uint64 in the same order, so the top bits of
# the flipped key number buckets that follow the array's order.
_SIGN = np.uint64(1 << 63)


def _bucket_bits(total: int) -> int:
    """About one entry a bucket (lookup keys are hashes: evenly spread)."""
    return max(0, min(26, total.bit_length() - 1))


@dataclass(frozen=True)
class NearVinArrays:
    keys: np.ndarray
    vins: np.ndarray
    lengths: np.ndarray
    ids: np.ndarray
    # buckets[b] .. buckets[b + 1]: the entries whose key's top bits are b.  Two reads per
    # lookup instead of a binary search's ~25 (each a cache miss on a 20 M-entry array).
    buckets: np.ndarray

    @classmethod
    def open(cls, path: Path) -> NearVinArrays:
        def load(name: str) -> np.ndarray:
            return np.load(path / f"{name}.npy", mmap_mode="r")

        return cls(load("keys"), load("vins"), load("lengths"), load("ids"),
                   load("buckets"))

    def near(
        self, keys: np.ndarray, probe_of_key: np.ndarray, vins: np.ndarray, lengths: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For lookup ``keys`` (each belonging to probe ``probe_of_key[i]``, whose VIN is
        ``vins[p]`` of length ``lengths[p]``): the (probe, registration id) pairs filed under
        one of the probe's keys whose VIN is within two positions."""
        bits = (len(self.buckets) - 1).bit_length() - 1
        bucket = (((keys.view(np.uint64) ^ _SIGN) >> np.uint64(64 - bits)).astype(np.intp)
                  if bits else np.zeros(len(keys), dtype=np.intp))
        low = self.buckets[bucket]
        counts = self.buckets[bucket + 1] - low
        if not counts.any():
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.int64)
        # Every entry of every probed bucket, flattened; then the ones with the key itself.
        query, rows = expand_ranges(low, counts)
        hit = self.keys[rows] == keys[query]
        rows, probe_ix = rows[hit], probe_of_key[query[hit]]
        distance = np.count_nonzero(self.vins[rows] != vins[probe_ix], axis=1)
        near = (distance <= MAX_VIN_DISTANCE) & (self.lengths[rows] == lengths[probe_ix])
        return probe_ix[near], self.ids[rows[near]]


def _write_buckets(path: Path, keys: np.ndarray) -> None:
    bits = _bucket_bits(len(keys))
    # The first key of bucket b is the int64 whose flipped top bits are b.
    firsts = ((np.arange(1 << bits, dtype=np.uint64) << np.uint64(64 - bits)) ^ _SIGN
              ).view(np.int64) if bits else np.array([np.iinfo(np.int64).min])
    buckets = open_memmap(path, "w+", np.int64, (len(firsts) + 1,))
    buckets[:-1] = np.searchsorted(keys, firsts, side="left")
    buckets[-1] = len(keys)
    buckets.flush()


def _path(directory: Path, token: str) -> Path:
    return directory / f"near-vin-{token}-v{FORMAT}"


def _stream(conn: Connection) -> Iterator[Sequence[Sequence[Any]]]:
    """The rows of ``_ROWS_SQL`` in parts.  SQLite: the driver's cursor (lazy, and without
    SQLAlchemy's row objects, a fifth of the build's time); PostgreSQL: a server-side cursor
    (``stream_results``), so that the client does not hold the whole table."""
    if conn.dialect.name == "sqlite":
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(_ROWS_SQL)
            while part := cursor.fetchmany(_FETCH):
                yield part
        finally:
            cursor.close()
        return
    result = conn.execution_options(stream_results=True).exec_driver_sql(_ROWS_SQL)
    yield from result.partitions(_FETCH)


def _changed(work: Path) -> StoreError:
    # Count and rows are read in one transaction, so only a store that breaks its own
    # isolation gets here; the partial directory is left for the next build to replace.
    return StoreError("NEAR-VIN-CHANGED", "registration_name_keys changed while it was read",
                      Location(file=str(work)))


def build_near_vin_index(conn: Connection, directory: Path) -> Path | None:
    """Write the arrays of the latest load under ``directory`` (streamed: memory does not
    grow with the registrations) and remove those of earlier loads.  None before the first
    load."""
    token = latest_load_token(conn)
    if token is None:
        return None
    target = _path(directory, token)
    if not target.exists():
        total = int(conn.exec_driver_sql("SELECT COUNT(*) FROM registration_name_keys")
                    .scalar() or 0)
        work = directory / f".near-vin-{token}.partial"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        keys = open_memmap(work / "keys.npy", "w+", np.int64, (total,))
        ids = open_memmap(work / "ids.npy", "w+", np.int64, (total,))
        vins = open_memmap(work / "vins.npy", "w+", np.uint8, (total, WIDTH))
        lengths = open_memmap(work / "lengths.npy", "w+", np.uint8, (total,))
        at = 0
        for part in _stream(conn):
            n = len(part)
            if at + n > total:
                raise _changed(work)
            k, r, v, length = zip(*part, strict=True)
            keys[at:at + n] = k
            ids[at:at + n] = r
            vins[at:at + n] = np.frombuffer("".join(v).encode("latin-1", "replace"),
                                            dtype=np.uint8).reshape(n, WIDTH)
            lengths[at:at + n] = length
            at += n
        if at != total:
            raise _changed(work)
        for array in (keys, ids, vins, lengths):
            array.flush()
        _write_buckets(work / "buckets.npy", keys)
        del keys, ids, vins, lengths
        work.rename(target)  # the arrays appear whole or not at all
    for old in directory.glob("near-vin-*"):
        if old != target:
            shutil.rmtree(old, ignore_errors=True)
    return target


# Opened arrays by path: a worker opens the files once, not per batch.  The files never
# change under a name (a new load gets a new token), so the cache cannot go stale.
_OPENED: dict[Path, NearVinArrays] = {}


def current_near_vin(conn: Connection, directory: Path) -> NearVinArrays | None:
    """The arrays of the latest load, if they were built; None otherwise."""
    token = latest_load_token(conn)
    if token is None:
        return None
    path = _path(directory, token)
    arrays = _OPENED.get(path)
    if arrays is None:
        if not path.is_dir():
            return None
        _OPENED.clear()
        arrays = _OPENED[path] = NearVinArrays.open(path)
    return arrays


__all__ = [
    "NearVinArrays",
    "build_near_vin_index",
    "current_near_vin",
    "latest_load_token",
    "padded_blocks",
]
