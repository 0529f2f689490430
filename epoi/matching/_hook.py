"""The pipeline's match hook (``epoi.pipeline.MatchHook``): the cascade inside the match
unit's transaction, on the reports the normalize stage stored.

The pipeline hands over the unit's accepted production records (rejected and test records
never get here): the ``NormalizedRecord``s it has in hand, or the ``PolicyReportRow``s read
back, which the hook rebuilds as ``PolicyReport``s (insureds and vehicles from their rows).
It matches them against the store's registrations (``_stage``) and writes every vehicle's
state on ``vehicles.match_state`` (``sets_vehicle_states``: the pipeline does not mark them
``pending`` first when the records are in hand).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, select, update
from sqlalchemy.orm import Session

from ..config import Settings
from ..schemas.policy import (
    Address,
    Insured,
    NormalizedRecord,
    PolicyReport,
    Vehicle,
)
from ..store import InsuredRow, PolicyReportRow, VehicleRow, match_results, record_key_of
from ._rows import _Raw, _ResultRow
from ._sql_index import untune
from ._stage import MatchCounts, PreparedMatch, _match_rows, match_prepared, prepare_match

_CHUNK = 900


def reports_from_rows(session: Session, rows: Sequence[PolicyReportRow]) -> list[PolicyReport]:
    """``PolicyReport``s rebuilt from the pipeline's rows (insureds and vehicles included)."""
    ids = [r.id for r in rows]
    insureds: dict[int, list[InsuredRow]] = {}
    vehicles: dict[int, list[VehicleRow]] = {}
    for start in range(0, len(ids), _CHUNK):
        part = ids[start:start + _CHUNK]
        for i in session.scalars(select(InsuredRow).where(InsuredRow.policy_report_id.in_(part))
                                 .order_by(InsuredRow.policy_report_id, InsuredRow.ordinal)):
            insureds.setdefault(i.policy_report_id, []).append(i)
        for v in session.scalars(select(VehicleRow).where(VehicleRow.policy_report_id.in_(part))
                                 .order_by(VehicleRow.policy_report_id, VehicleRow.ordinal)):
            vehicles.setdefault(v.policy_report_id, []).append(v)
    reports = []
    for r in rows:
        key = record_key_of(r)
        reports.append(PolicyReport(
            carrier_naic=r.carrier_naic, insurer_name=r.insurer_name,
            jurisdiction=r.jurisdiction, policy_number=r.policy_number,
            transaction_type=r.transaction_type, policy_type=r.policy_type,
            effective_date=r.effective_date, expiration_date=r.expiration_date,
            cancellation_date=r.cancellation_date,
            insureds=tuple(
                Insured(kind=i.kind, last_name=i.last_name,  # type: ignore[arg-type]
                        first_name=i.first_name, middle_name=i.middle_name,
                        organisation_name=i.organisation_name, fein=i.fein,
                        licence_number=i.licence_number, licence_state=i.licence_state,
                        date_of_birth=i.date_of_birth,
                        address=Address(lines=tuple((i.address_lines or "").splitlines()),
                                        city=i.city, state=i.state, zip=i.zip))
                for i in insureds.get(r.id, [])),
            vehicles=tuple(
                Vehicle(vin=v.vin, model_year=v.model_year, make=v.make,
                        transaction=v.transaction, transaction_date=v.transaction_date)
                for v in vehicles.get(r.id, [])),
            file=r.file, sender_id=r.sender_id, interchange=r.interchange,
            group=r.group_control_number, transaction_set=r.transaction_set,
            submission_ref=r.submission_ref, report_date=r.report_date, test=r.test, key=key))
    return reports


def sync_vehicle_states(conn: Connection, report_keys: Collection[str]) -> int:
    """Copy the match states of these reports' vehicles onto ``vehicles.match_state``."""
    keys = sorted(report_keys)
    m, pr, v = match_results.c, PolicyReportRow.__table__.c, VehicleRow.__table__.c
    changes: list[dict[str, object]] = []
    for start in range(0, len(keys), _CHUNK):
        part = keys[start:start + _CHUNK]
        ids = dict(conn.execute(select(pr.natural_key, pr.id).where(pr.natural_key.in_(part)))
                   .all())
        for key, vehicle_index, state in conn.execute(
                select(m.report_key, m.vehicle_index, m.state).where(
                    m.report_key.in_(part), m.vehicle_index.is_not(None))):
            if key in ids:
                changes.append({"rid": ids[key], "ord": vehicle_index, "st": state})
    if changes:
        # A declarative class's __table__ is its Table; the stubs only promise a FromClause.
        vehicles = cast(Table, VehicleRow.__table__)
        conn.execute(update(vehicles)
                     .where(v.policy_report_id == bindparam("rid"), v.ordinal == bindparam("ord"))
                     .values(match_state=bindparam("st")), changes)
    return len(changes)


def _sync_from_rows(conn: Connection, rows: Sequence[_ResultRow]) -> int:
    """``sync_vehicle_states`` from the result rows just written (no read back): one
    ``policy_reports`` lookup per chunk of keys and one driver ``executemany``; on
    PostgreSQL one UPDATE joined to the rows' values passed as arrays (a statement per
    vehicle, a thousand a unit, cost the server a tenth of the worker's time)."""
    raw = _Raw(conn)
    if not raw.sqlite:
        # The last result of a vehicle wins, as the statements one after the other would.
        last = {(r.report_key, r.vehicle_index): r.state for r in rows
                if r.vehicle_index is not None}
        if not last:
            return 0
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(
                "UPDATE vehicles v SET match_state = s.state "
                "FROM unnest(%s::text[], %s::int[], %s::text[]) AS s(report_key, ordinal, state) "
                "JOIN policy_reports r ON r.natural_key = s.report_key "
                "WHERE v.policy_report_id = r.id AND v.ordinal = s.ordinal",
                ([k for k, _i in last], [i for _k, i in last], list(last.values())))
            return int(cursor.rowcount)
        finally:
            cursor.close()
    keys = list(dict.fromkeys(r.report_key for r in rows if r.vehicle_index is not None))
    ids = dict(raw.rows_in(
        "SELECT natural_key, id FROM policy_reports WHERE natural_key IN ({marks})", keys))
    changes = [(r.state, ids[r.report_key], r.vehicle_index) for r in rows
               if r.vehicle_index is not None and r.report_key in ids]
    if changes:
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.executemany(
                f"UPDATE vehicles SET match_state = {raw.ph} "
                f"WHERE policy_report_id = {raw.ph} AND ordinal = {raw.ph}", changes)
        finally:
            cursor.close()
    return len(changes)


class _PipelineHook:
    """``pipeline_match_hook``'s hook.  ``sets_vehicle_states``: it writes the match state
    of every vehicle of the records it is handed (each gets a result, pending at least), so
    the pipeline need not mark them ``pending`` first."""

    sets_vehicle_states = True

    def __init__(self, settings: Settings, clock: Callable[[], datetime],
                 counts: MatchCounts | None) -> None:
        self._settings = settings
        self._clock = clock
        self._counts = counts

    @property
    def preparer(self) -> Callable[[Connection, Sequence[PolicyReport], date], PreparedMatch]:
        """What works a unit's cascade out ahead, in another process (picklable): the
        pipeline hands its result back to this hook with the unit's records."""
        return functools.partial(_prepare, window_days=self._settings.pending_window_days,
                                 near_vin_dir=self._settings.index_dir)

    def __call__(self, session: Session, records: Sequence[Any],
                 prepared: PreparedMatch | None = None) -> None:
        rows = [r for r in records if isinstance(r, PolicyReportRow)]
        reports = [r.report if isinstance(r, NormalizedRecord) else r
                   for r in records if not isinstance(r, PolicyReportRow)]
        reports += reports_from_rows(session, rows)
        reports = [r for r in reports if not r.test]
        if not reports:
            return
        self._write(session, [r.key.as_string() for r in reports], lambda conn: _match_rows(
            conn, reports, today=self._clock().date(),
            window_days=self._settings.pending_window_days,
            near_vin_dir=self._settings.index_dir, prepared=prepared, keep_docs=False))

    @staticmethod
    def vehicle_states(prepared: PreparedMatch, keys: Sequence[str]
                       ) -> dict[tuple[str, int], str] | None:
        """The ``match_state`` of each vehicle of the reports ``keys`` as writing
        ``prepared`` sets it, by (report key, vehicle index); None unless ``prepared`` is
        the cascade of exactly those reports.  Inserted with them, they need no update
        (``write_prepared``'s ``states_inserted``); whatever writes the match instead
        (the cascade no longer holds) writes every one of those vehicles' states again."""
        if prepared.keys != tuple(keys):
            return None
        return {(r.report_key, r.vehicle_index): r.state for r in prepared.rows.results
                if r.vehicle_index is not None}

    def write_prepared(self, session: Session, keys: Sequence[str],
                       prepared: PreparedMatch, *, states_inserted: bool = False) -> bool:
        """Match the production reports ``keys`` from their cascade worked out ahead, without
        the reports themselves; False (nothing written) if it no longer holds: then call
        the hook with the records.  ``states_inserted``: their vehicles were inserted with
        the states of ``vehicle_states`` already."""
        if not keys:
            return True
        return self._write(session, keys, lambda conn: match_prepared(
            conn, keys, prepared, today=self._clock().date(),
            window_days=self._settings.pending_window_days,
            near_vin_dir=self._settings.index_dir), states_inserted=states_inserted)

    def _write(self, session: Session, keys: Sequence[str], match: Callable[
            [Connection], tuple[MatchCounts, list[_ResultRow]] | None], *,
            states_inserted: bool = False) -> bool:
        conn = session.connection()
        try:
            written = match(conn)
            if written is None:
                return False
            done, rows = written
            if done.rematched:  # other reports' results changed too: read what is stored
                sync_vehicle_states(conn, list(keys))
            elif not states_inserted:
                _sync_from_rows(conn, rows)
        finally:
            untune(conn)  # the unit's connection goes back to the pool: memory stays flat
        if self._counts is not None:
            self._counts.add(done)
        return True


def _prepare(conn: Connection, reports: Sequence[PolicyReport], today: date, *,
             window_days: int, near_vin_dir: Path | None) -> PreparedMatch:
    return prepare_match(conn, [r for r in reports if not r.test], today=today,
                         window_days=window_days, near_vin_dir=near_vin_dir, keep_docs=False)


def pipeline_match_hook(
    settings: Settings, clock: Callable[[], datetime], counts: MatchCounts | None = None
) -> Callable[[Session, Sequence[Any]], None]:
    """The hook to give ``Pipeline``/``run``/``serve`` as ``match_hook``.  ``counts``, when
    given, accumulates what every call matched (for a run's summary).  It takes the unit's
    records as ``NormalizedRecord``s (rebuilt by the pipeline) or as ``PolicyReportRow``s
    (rebuilt here), and writes every one of their vehicles' ``match_state``.  The reports
    must be in the record rows (the pipeline stores them before it matches): matching keeps
    no JSON copy of them and reads them back from there (``load_reports``)."""
    return _PipelineHook(settings, clock, counts)


__all__ = ["pipeline_match_hook", "reports_from_rows", "sync_vehicle_states"]
