"""``SqlRegistrationIndex``: the ``RegistrationIndex`` protocol answered by the store.

Every method takes a whole batch and issues one statement per chunk of a few thousand
keys, on indexed columns only:

- ``by_vin``, ``by_licence``, ``by_fein``: ``IN`` lists on ``registrations.vin`` (unique),
  ``owner_dl`` and ``owner_fein``.
- ``near_vin`` (step 2): the probes go in as a ``VALUES`` list joined to
  ``registration_name_keys`` on (name key, make, model year), and the join keeps only rows
  that share one of the three interleaved VIN blocks with the probe.  Two VINs within two
  substitutions share a block (pigeonhole), so nothing near is lost; and because every
  block holds serial-number characters, the owner's other cars of the same make and year
  almost never pass.  The filter runs inside the covering index, so a common surname costs
  an index range scan in the database, not rows fetched into Python.  The few rows left
  are read by id and checked exactly (``within_distance``) here.  The owner's licence and
  FEIN candidates come from ``by_licence``/``by_fein`` (an owner has a handful of cars).
- ``by_name`` (step 4): the same ``VALUES`` join, seeking (name key, make, year, date of
  birth) in the same index.

The index reads through one ``Connection`` the caller owns (and its transaction).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Connection

from ._index import (
    NameProbe,
    NearVinProbe,
    RegisteredVehicle,
    within_distance,
)

# Bound parameters per statement stay well under SQLite's 32 766 and PostgreSQL's 65 535.
CHUNK = 2_000
_COLUMNS = ("plate, vin, make, model_year, owner_last, owner_first, owner_org, owner_dl, "
            "owner_dl_state, owner_dob, owner_fein")
T = TypeVar("T")


def vin_blocks(vin: str) -> tuple[str, str, str]:
    """The three interleaved blocks the name-key table files a VIN under."""
    return vin[0::3], vin[1::3], vin[2::3]


def _chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class SqlRegistrationIndex:
    """The registrations of the store, looked up in batches through ``connection``."""

    def __init__(self, connection: Connection) -> None:
        self._conn = connection
        self._sqlite = connection.dialect.name == "sqlite"
        self._ph = "?" if self._sqlite else "%s"

    # -- helpers ----------------------------------------------------------------------

    def _rows(self, sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
        return list(self._conn.exec_driver_sql(sql, tuple(params)).fetchall())

    def _date_param(self, day: date) -> object:
        # SQLite keeps dates as ISO text (SQLAlchemy's Date on SQLite does the same).
        return day.isoformat() if self._sqlite else day

    def _vehicle(self, row: Sequence[Any]) -> RegisteredVehicle:
        dob = row[9]
        if isinstance(dob, str):
            dob = date.fromisoformat(dob)
        return RegisteredVehicle(row[0], row[1], row[2], row[3], row[4], row[5], row[6],
                                 row[7], row[8], dob, row[10])

    def _where_in(self, column: str, values: Collection[Any]) -> Iterator[tuple[Any, ...]]:
        wanted = list(values)
        for part in _chunks(wanted):
            marks = ",".join([self._ph] * len(part))
            yield from self._rows(
                f"SELECT {_COLUMNS}, {column} FROM registrations WHERE {column} IN ({marks})",
                part)

    def _exact(self, column: str, values: Collection[str]) -> dict[str, list[RegisteredVehicle]]:
        found: dict[str, list[RegisteredVehicle]] = {}
        for row in self._where_in(column, {v for v in values if v}):
            found.setdefault(row[-1], []).append(self._vehicle(row))
        return found

    def by_ids(self, ids: Iterable[int]) -> dict[int, RegisteredVehicle]:
        return {row[-1]: self._vehicle(row) for row in self._where_in("id", set(ids))}

    def _values_join(
        self, rows: list[tuple[Any, ...]], names: str, condition: str
    ) -> list[tuple[int, int]]:
        """(probe number, registration id) pairs from joining probe rows to the name keys."""
        pairs: list[tuple[int, int]] = []
        width = len(rows[0]) if rows else 0
        row_marks = "(" + ",".join([self._ph] * width) + ")"
        for part in _chunks(rows, CHUNK // max(width, 1) * 4 or 1):
            sql = (f"WITH p({names}) AS (VALUES {','.join([row_marks] * len(part))}) "
                   "SELECT DISTINCT p.n, k.registration_id FROM p "
                   "JOIN registration_name_keys k ON k.name_key = p.k AND k.make = p.mk "
                   f"AND k.model_year = p.yr AND {condition}")
            pairs.extend(self._rows(sql, [v for r in part for v in r]))
        return pairs

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
        batch = list(dict.fromkeys(probes))
        rows: list[tuple[Any, ...]] = []
        for n, probe in enumerate(batch):
            b1, b2, b3 = vin_blocks(probe.vin)
            for key in probe.name_keys:
                rows.append((n, key, probe.make, probe.model_year, b1, b2, b3))
        pairs = self._values_join(
            rows, "n, k, mk, yr, b1, b2, b3",
            "(k.vin_b1 = p.b1 OR k.vin_b2 = p.b2 OR k.vin_b3 = p.b3)") if rows else []
        vehicles = self.by_ids({r for _, r in pairs})
        candidates: dict[int, dict[str, RegisteredVehicle]] = {}
        for n, reg_id in pairs:
            reg = vehicles[reg_id]
            candidates.setdefault(n, {})[reg.plate] = reg
        # The owner's licence and FEIN: every car of that owner, then the same checks.
        by_licence = self.by_licence({lic for p in batch for lic in p.licences})
        by_fein = self.by_fein({f for p in batch for f in p.feins})
        for n, probe in enumerate(batch):
            for reg in (*(r for lic in probe.licences for r in by_licence.get(lic, ())),
                        *(r for f in probe.feins for r in by_fein.get(f, ()))):
                candidates.setdefault(n, {})[reg.plate] = reg
        found: dict[NearVinProbe, list[RegisteredVehicle]] = {}
        for n, regs in candidates.items():
            probe = batch[n]
            near = [r for r in regs.values()
                    if r.make == probe.make and r.model_year == probe.model_year
                    and within_distance(probe.vin, r.vin) is not None]
            if near:
                found[probe] = near
        return found

    def by_name(self, probes: Collection[NameProbe]) -> dict[NameProbe, list[RegisteredVehicle]]:
        batch = list(dict.fromkeys(probes))
        rows = [(n, p.name_key, p.make, p.model_year, self._date_param(p.date_of_birth))
                for n, p in enumerate(batch)]
        pairs = self._values_join(rows, "n, k, mk, yr, dob", "k.owner_dob = p.dob") if rows else []
        vehicles = self.by_ids({r for _, r in pairs})
        found: dict[NameProbe, list[RegisteredVehicle]] = {}
        for n, reg_id in pairs:
            found.setdefault(batch[n], []).append(vehicles[reg_id])
        return found


__all__ = ["SqlRegistrationIndex", "vin_blocks"]
