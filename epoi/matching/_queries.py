"""What operators and auditors ask the store about matching: renewal clearance, suspension
candidates, verification of one vehicle, and the list of match results.

Everything reads ``registrations`` and ``match_results`` in batches (``IN`` lists on
indexed columns) and hands the rows to the pure functions of ``_timeline`` and
``_renewals``.  A vehicle's timeline is keyed by its registered VIN: a VIN is the vehicle,
a plate can move to another one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, Dialect, Select, String, bindparam, select, text

from ..schemas.registration import RegistrationStatus
from ..schemas.vin import normalize as normalize_vin
from ..store import match_reports, match_results, registrations
from ._renewals import (
    Clearance,
    RenewalDue,
    SuspensionCandidate,
    clear_renewal,
    suspension_candidates,
)
from ._sql_index import tune_for_lookups
from ._timeline import CoverageReport, CoverageSpan, Timeline, coverage_on, coverage_timeline

CHUNK = 900
# Spelt as the partial indexes' predicates (store/_registrations.py), literally: a database
# uses a partial index only for a query whose condition implies the index's.
_UNMATCHED = text("match_results.state <> 'matched'")
_CANCELLED = text("match_results.transaction_type = 'XLC' AND match_results.state = 'matched'")


@dataclass(frozen=True, slots=True)
class RegistrationState:
    """What clearance and suspensions need of a registration."""

    plate: str
    vin: str
    status: str
    expires: date

    def is_valid_on(self, day: date) -> bool:
        return self.status == RegistrationStatus.ACTIVE and day <= self.expires


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _registration_select(where: Any) -> Select[Any]:
    t = registrations.c
    return select(t.plate, t.vin, t.status, t.expires).where(where)


def _registration(row: Sequence[Any]) -> RegistrationState:
    return RegistrationState(row[0], row[1], row[2], row[3])


def _registrations_by(conn: Connection, column: str, values: Iterable[str]
                      ) -> dict[str, RegistrationState]:
    col = getattr(registrations.c, column)
    found: dict[str, RegistrationState] = {}
    for part in _chunks(sorted(set(values))):
        for row in conn.execute(_registration_select(col.in_(part))):
            reg = _registration(row)
            found[reg.plate if column == "plate" else reg.vin] = reg
    return found


def _timeline_select(vin_is: Any) -> Select[Any]:
    """A vehicle's matched results with a start date: what its coverage timeline is made of."""
    t = match_results.c
    return select(
        t.vin, t.report_key, t.carrier_naic, t.policy_number, t.transaction_type,
        t.effective_date, t.expiration_date, t.cancellation_date,
        t.vehicle_transaction, t.vehicle_transaction_date, t.fleet,
    ).where(vin_is, t.state == "matched", t.effective_date.is_not(None))


def _coverage_report(row: Sequence[Any]) -> CoverageReport:
    """A row of :func:`_timeline_select` (after its VIN)."""
    (_vin, report_key, carrier_naic, policy_number, transaction_type, effective, expiration,
     cancellation, vehicle_transaction, vehicle_transaction_date, fleet) = row
    return CoverageReport(
        report_key=report_key, carrier_naic=carrier_naic or "",
        policy_number=policy_number or "", transaction_type=transaction_type or "",
        effective_date=effective, expiration_date=expiration, cancellation_date=cancellation,
        vehicle_transaction=vehicle_transaction,
        vehicle_transaction_date=vehicle_transaction_date, fleet=fleet)


def timelines(conn: Connection, vins: Iterable[str]) -> dict[str, Timeline]:
    """The coverage timeline of each registered VIN from its matched results."""
    per_vin: dict[str, list[CoverageReport]] = {}
    for part in _chunks(sorted(set(vins))):
        for row in conn.execute(_timeline_select(match_results.c.vin.in_(part))):
            per_vin.setdefault(row[0], []).append(_coverage_report(row))
    return {vin: coverage_timeline(reports) for vin, reports in per_vin.items()}


def _unmatched_select(reported_vin_is: Any) -> Select[Any]:
    """Results that name the VIN as reported but did not match (pending, unmatched,
    ambiguous): the vehicle was reported, its report just could not be tied to it."""
    return select(match_results.c.reported_vin).where(reported_vin_is, _UNMATCHED)


def _unmatched_reports(conn: Connection, vins: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for part in _chunks(sorted(set(vins))):
        for (vin,) in conn.execute(_unmatched_select(match_results.c.reported_vin.in_(part))):
            counts[vin] = counts.get(vin, 0) + 1
    return counts


def clear_renewals(conn: Connection, renewals: Iterable[RenewalDue], *, chunk: int = 5_000
                   ) -> Iterator[Clearance]:
    """Each renewal due, cleared or held with the reason, in the list's order."""
    tune_for_lookups(conn)
    batch: list[RenewalDue] = []
    for due in renewals:
        batch.append(due)
        if len(batch) >= chunk:
            yield from _clear_batch(conn, batch)
            batch = []
    if batch:
        yield from _clear_batch(conn, batch)


def _clear_batch(conn: Connection, batch: list[RenewalDue]) -> Iterator[Clearance]:
    by_plate = _registrations_by(conn, "plate", [d.plate for d in batch if d.plate])
    by_vin = _registrations_by(conn, "vin", [d.vin for d in batch if d.vin and not d.plate])
    regs = [(by_plate.get(d.plate) if d.plate else by_vin.get(d.vin or "")) for d in batch]
    vins = {r.vin for r in regs if r is not None}
    lines = timelines(conn, vins)
    unmatched = _unmatched_reports(conn, vins)
    for due, reg in zip(batch, regs, strict=True):
        if reg is None:
            yield Clearance(due.plate or "", due.vin or "", due.due, "held", "not_registered")
            continue
        yield clear_renewal(due.due, reg, lines.get(reg.vin, ()),
                            pending_reports=range(unmatched.get(reg.vin, 0)))


def find_suspensions(conn: Connection, *, as_of: date, window_days: int
                     ) -> list[SuspensionCandidate]:
    """Suspension candidates: vehicles with a matched cancellation (XLC) and no replacement
    within the window, whose registration is still valid on ``as_of``."""
    tune_for_lookups(conn)
    t = match_results.c
    vins = sorted({v for (v,) in conn.execute(select(t.vin).where(
        _CANCELLED, t.vin.is_not(None)).distinct())})
    found: list[SuspensionCandidate] = []
    for part in _chunks(vins, 5_000):
        regs = _registrations_by(conn, "vin", part)
        lines = timelines(conn, part)
        found += suspension_candidates(
            ((regs[v], lines.get(v, ())) for v in part if v in regs),
            as_of=as_of, window_days=window_days)
    return found


@dataclass(frozen=True, slots=True)
class Verification:
    vin: str  # as asked, normalised
    day: date
    registered: RegistrationState | None
    coverage: CoverageSpan | None  # in force on the day, None when not insured
    unmatched_reports: int  # reports naming this VIN that are not matched

    @property
    def insured(self) -> bool:
        return self.coverage is not None

    def as_dict(self) -> dict[str, Any]:
        c = self.coverage
        return {
            "vin": self.vin, "date": self.day.isoformat(), "insured": self.insured,
            "plate": self.registered.plate if self.registered else None,
            "registration_status": self.registered.status if self.registered else None,
            "carrier_naic": c.carrier_naic if c else None,
            "policy_number": c.policy_number if c else None,
            "report": c.report_key if c else None,
            "coverage_start": c.start.isoformat() if c else None,
            "coverage_end": c.end.isoformat() if c and c.end else None,
            "unmatched_reports": self.unmatched_reports,
        }


def verify(conn: Connection, vin: str, day: date) -> Verification:
    """Is the vehicle insured on ``day``, by which carrier, policy and report."""
    return verify_many(conn, [vin], day)[0]


def verify_many(conn: Connection, vins: Sequence[str], day: date) -> list[Verification]:
    """:func:`verify` for many VINs at once (the renewal system's batch check), in the
    order asked, with three batched queries instead of three per VIN."""
    wanted = [normalize_vin(v) for v in vins]
    regs = _registrations_by(conn, "vin", wanted)
    lines = timelines(conn, wanted)
    unmatched = _unmatched_reports(conn, wanted)
    return [Verification(v, day, regs.get(v), coverage_on(lines.get(v, ()), day),
                         unmatched.get(v, 0)) for v in wanted]


class _Prepared:
    """A select compiled once for a dialect and run on a DBAPI cursor, its values converted
    by its columns' own types (dates from SQLite's text, say), exactly as SQLAlchemy would.
    For the online check: SQLAlchemy's per-statement work costs far more than the read."""

    def __init__(self, stmt: Select[Any], dialect: Dialect) -> None:
        compiled = stmt.compile(dialect=dialect)
        self.sql = str(compiled)
        self.params = dict(compiled.params)  # the literals the select binds ('matched')
        self.order = compiled.positiontup  # the bind names in order; None for named styles
        processors = [c.type.dialect_impl(dialect).result_processor(dialect, None)
                      for c in stmt.selected_columns]  # fmt: skip
        self.processors = processors if any(processors) else None

    def rows(self, cursor: Any, **values: Any) -> list[Sequence[Any]]:
        params = {**self.params, **values}
        cursor.execute(self.sql, params if self.order is None else
                       tuple(params[name] for name in self.order))  # fmt: skip
        rows = cursor.fetchall()
        if self.processors is None:
            return rows
        convert = self.processors
        return [tuple(v if f is None else f(v) for f, v in zip(convert, row, strict=True))
                for row in rows]  # fmt: skip


class OneVinVerifier:
    """:func:`verify` of one VIN on a DBAPI cursor, at the rate of an online service: the
    same three selects as :func:`verify_many` (built by the same functions, for one VIN
    instead of an ``IN`` list) and the same assembly, compiled once for ``dialect``.  The
    caller owns the cursor and its transaction (one snapshot for the three reads)."""

    def __init__(self, dialect: Dialect) -> None:
        t, vin = match_results.c, bindparam("vin", type_=String)
        self._registration = _Prepared(_registration_select(registrations.c.vin == vin),
                                       dialect)  # fmt: skip
        self._timeline = _Prepared(_timeline_select(t.vin == vin), dialect)
        self._unmatched = _Prepared(_unmatched_select(t.reported_vin == vin), dialect)

    def verify(self, cursor: Any, vin: str, day: date) -> Verification:
        vin = normalize_vin(vin)
        regs = self._registration.rows(cursor, vin=vin)  # the VIN is unique: 0 or 1 row
        reports = [_coverage_report(r) for r in self._timeline.rows(cursor, vin=vin)]
        line = coverage_timeline(reports) if reports else ()
        return Verification(vin, day, _registration(regs[0]) if regs else None,
                            coverage_on(line, day), len(self._unmatched.rows(cursor, vin=vin)))


MATCH_COLUMNS = ("carrier_naic", "policy_number", "reported_vin", "plate", "vin", "step",
                 "state")


def match_rows(conn: Connection, *, today: date | None = None, window_days: int | None = None
               ) -> Iterator[dict[str, Any]]:
    """One row per reported vehicle (and per fleet vehicle), in the order stored.  With
    ``today`` and ``window_days``, a pending result whose window is over reads as
    ``unmatched`` even before the next registration load settles it in the store."""
    t, r = match_results.c, match_reports.c
    query = (select(t.carrier_naic, t.policy_number, t.reported_vin, t.plate, t.vin, t.step,
                    t.state, r.first_tried)
             .join_from(match_results, match_reports, t.report_key == r.report_key,
                        isouter=True)
             .order_by(t.id))
    for row in conn.execution_options(yield_per=10_000).execute(query):
        doc = dict(row._mapping)
        first = doc.pop("first_tried")
        if (doc["state"] == "pending" and today is not None and window_days is not None
                and first is not None and today > first + timedelta(days=window_days)):
            doc["state"] = "unmatched"
        yield doc


__all__ = ["MATCH_COLUMNS", "OneVinVerifier", "RegistrationState", "Verification", "clear_renewals",
           "find_suspensions", "match_rows", "timelines", "verify", "verify_many"]
