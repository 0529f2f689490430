"""The match stage against the store: match batches of reports, keep one result per
reported vehicle, re-try pending ones when registrations are loaded.

``match_units`` matches records in batches, each in its own transaction (the library and
benchmark entry point); the pipeline's match handler goes through ``pipeline_match_hook``
(``_hook``), which runs the same batch step inside the unit's transaction.  Only accepted
(or warned) production reports are matched: a rejected record is not coverage, and a test
interchange never changes production data.  Results are idempotent per report: matching a
report again replaces its results, keeping the day it was first tried (the pending window
counts from it, ``settle_pending``).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, delete, select, text, update

from ..schemas.match import MatchResult, settle_pending
from ..schemas.policy import NormalizedRecord, PolicyReport
from ..store import OWNER_STEP_MATCHES, Store, match_reports, match_results
from ._matcher import match_many
from ._rows import (
    _KEY_CHUNK,
    _chunks,
    _claim_lookup,
    _Raw,
    _ReportRow,
    _ResultRow,
    _tried,
    load_reports,
)
from ._sql_index import SqlRegistrationIndex, untune

# Reports per cascade run: every step is one batched query per lookup kind, so a few
# thousand reports amortise the round trips (the library's author measured >= 1 000).
MATCH_BATCH = 2_000
# Literally the predicate of the partial index ix_match_results_pending (see _queries).
_PENDING = text("match_results.state = 'pending'")


@dataclass(slots=True)
class MatchCounts:
    reports: int = 0  # reports matched (test and rejected ones are not)
    skipped_test: int = 0
    skipped_rejected: int = 0
    results: int = 0  # results written: one per reported vehicle, fleet vehicles included
    fleet: int = 0  # of the results, vehicles a fleet policy covers without listing them
    states: Counter[str] = field(default_factory=Counter)
    steps: Counter[int] = field(default_factory=Counter)  # matched results per step
    rematched: int = 0  # stored step-3/4 results re-tried because their registration got claimed
    prepared: int = 0  # reports whose cascade was worked out ahead (``PreparedMatch``)

    def add(self, other: MatchCounts) -> None:
        self.reports += other.reports
        self.skipped_test += other.skipped_test
        self.skipped_rejected += other.skipped_rejected
        self.results += other.results
        self.fleet += other.fleet
        self.states.update(other.states)
        self.steps.update(other.steps)
        self.rematched += other.rematched
        self.prepared += other.prepared

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports, "skipped_test": self.skipped_test,
            "skipped_rejected": self.skipped_rejected, "results": self.results,
            "fleet": self.fleet,
            "states": {s: self.states.get(s, 0)
                       for s in ("matched", "pending", "unmatched", "ambiguous")},
            "steps": {str(k): self.steps.get(k, 0) for k in (1, 2, 3, 4)},
            "rematched": self.rematched,
        }


# ``match_reports.report`` of a report that will not be matched again (see _report_rows).
NO_DOC = ""


def _may_match_again(results: Sequence[MatchResult]) -> bool:
    """Whether a report can be read back to be matched again: a pending result is re-tried
    after a registration load (``retry_pending``), a step-3/4 match when its registration
    gets claimed (``_rematch_claimed``); a report matched at steps 1/2 only never is."""
    return any(r.state == "pending" or r.step in (3, 4) for r in results)


def _report_rows(day: Callable[[date | None], date | str | None], keys: Sequence[str],
                 reports: Sequence[PolicyReport], per_report: Mapping[str, list[MatchResult]],
                 first: Mapping[str, date], without_doc: Collection[str], today: date,
                 keep_docs: bool = True) -> tuple[list[_ReportRow], list[tuple[str, str]]]:
    """The ``match_reports`` rows of a batch, and the (JSON, key) of those stored without
    their JSON that now need it.  A row keeps the day each report was first tried (the
    pending window counts from it, the reports read it) and, for a report that may be
    matched again, the report itself as JSON.  The others' JSON is left out (``NO_DOC``): it
    was most of what the stage wrote, for reports (matched by their VIN) never read back,
    and the pipeline keeps every report in its record rows anyway: with ``keep_docs``
    false (the pipeline's reports) no JSON is kept at all, ``load_reports`` reads those
    rows instead."""
    new_reports: list[_ReportRow] = []
    docs: list[tuple[str, str]] = []
    tried = day(today)
    for k, r in zip(keys, reports, strict=True):
        again = keep_docs and _may_match_again(per_report.get(k, ()))
        if k not in first:
            new_reports.append(_ReportRow(
                k, r.carrier_naic, r.policy_number, r.transaction_type, r.policy_type, tried,
                r.model_dump_json() if again else NO_DOC))
        elif again and k in without_doc:
            docs.append((r.model_dump_json(), k))
    return new_reports, docs


def _write_reports(raw: _Raw, new_reports: Sequence[_ReportRow],
                   docs: Sequence[tuple[str, str]]) -> None:
    raw.insert(match_reports, new_reports)
    if docs:
        cursor = raw._cursor()
        try:
            cursor.executemany(f"UPDATE match_reports SET report = {raw.ph} "
                               f"WHERE report_key = {raw.ph}", docs)
        finally:
            cursor.close()


@dataclass(frozen=True, slots=True)
class BatchRows:
    """What matching a batch writes: its ``match_reports`` rows, the JSON of reports stored
    without it (``_report_rows``) and its ``match_results`` rows, dates as the database's
    driver takes them."""

    reports: list[_ReportRow]
    docs: list[tuple[str, str]]
    results: list[_ResultRow]

    def __reduce__(self) -> tuple[Any, ...]:
        # Across processes as plain tuples: pickle rebuilds a named tuple through its
        # Python-level __new__, which cost more than the rest of a unit's hand-over.
        return (_rebuilt, ([tuple(r) for r in self.reports], self.docs,
                           [tuple(r) for r in self.results]))


def _rebuilt(reports: list[tuple[Any, ...]], docs: list[tuple[str, str]],
             results: list[tuple[Any, ...]]) -> BatchRows:
    new = tuple.__new__
    return BatchRows([new(_ReportRow, r) for r in reports], docs,
                     [new(_ResultRow, r) for r in results])


def _batch_rows(day: Callable[[date | None], date | str | None], keys: Sequence[str],
                reports: Sequence[PolicyReport], results: Sequence[MatchResult],
                first: Mapping[str, date], without_doc: Collection[str], *, today: date,
                window_days: int, keep_docs: bool = True) -> BatchRows:
    """The rows of a batch's cascade ``results``, pending ones settled."""
    per_report: dict[str, list[MatchResult]] = {}
    for r in results:
        per_report.setdefault(r.report_key, []).append(
            settle_pending(r, first.get(r.report_key, today), today, window_days))
    new_reports, docs = _report_rows(day, keys, reports, per_report, first, without_doc,
                                     today, keep_docs)
    rows: list[_ResultRow] = []
    tried_on = day(today)
    for key, report in zip(keys, reports, strict=True):
        rows += _result_rows(report, per_report.get(key, []), tried_on, day)
    return BatchRows(new_reports, docs, rows)


def _result_rows(report: PolicyReport, results: list[MatchResult], tried_on: date | str | None,
                 day: Callable[[date | None], date | str | None]) -> list[_ResultRow]:
    """The ``match_results`` rows of one report, dates as ``day`` gives them (``_Raw``)."""
    if not results:
        return []
    naic, number, ttype = report.carrier_naic, report.policy_number, report.transaction_type
    effective, expiration, cancellation = (
        day(report.effective_date), day(report.expiration_date), day(report.cancellation_date))
    vehicles = report.vehicles
    rows = []
    for position, r in enumerate(results):
        vehicle = vehicles[r.vehicle_index] if r.vehicle_index is not None else None
        rows.append(_ResultRow(
            r.report_key, position, r.vehicle_index, naic, number,
            (r.reported_vin or "")[:32] or None, r.state, r.step, r.plate, r.vin,
            sys.intern(",".join(r.agreed)), r.vin_distance, r.candidates, ttype,
            effective, expiration, cancellation,
            vehicle.transaction if vehicle else None,
            day(vehicle.transaction_date) if vehicle else None,
            vehicle is None, tried_on))  # fmt: skip
    return rows


def _match_batch(
    conn: Connection, reports: Sequence[PolicyReport], *, today: date, window_days: int,
    only_pending: bool = False, near_vin_dir: Path | None = None, keep_docs: bool = True,
) -> MatchCounts:
    """Match reports (production, accepted) and replace their stored results."""
    return _match_rows(conn, reports, today=today, window_days=window_days,
                       only_pending=only_pending, near_vin_dir=near_vin_dir,
                       keep_docs=keep_docs)[0]


@dataclass(frozen=True, slots=True)
class PreparedMatch:
    """A batch's cascade worked out ahead of its write (``prepare_match``, in another
    process) as the rows the batch writes, with what it read of the store that earlier
    writes can change: each report's first try, and who claimed each registration it asked
    about.  The write uses the rows only if all of that still reads the same
    (``_still_holds``); registrations do not change during a run, and nothing else the
    cascade reads is written by others."""

    today: date
    keys: tuple[str, ...]
    first: dict[str, date]
    without_doc: frozenset[str]
    rows: BatchRows
    claims: dict[str, frozenset[tuple[str, int | None]]]


def prepare_match(
    conn: Connection, reports: Sequence[PolicyReport], *, today: date, window_days: int,
    near_vin_dir: Path | None = None, keep_docs: bool = True,
) -> PreparedMatch:
    """The cascade of ``reports`` against the store as ``conn`` reads it, nothing written.
    ``keep_docs``: see ``_report_rows``."""
    keys = [r.key.as_string() for r in reports]
    first, without_doc = _tried(conn, keys)
    lookup = _claim_lookup(conn)
    asked: dict[str, frozenset[tuple[str, int | None]]] = {}

    def recording(vins: Collection[str]) -> Mapping[str, Collection[tuple[str, int | None]]]:
        vins = list(vins)
        found = lookup(vins)
        for vin in vins:
            asked[vin] = frozenset(found.get(vin, ()))
        return found

    try:
        results = match_many(reports, SqlRegistrationIndex(conn, near_vin_dir),
                             claimed=recording, keys=keys)  # fmt: skip
    finally:
        untune(conn)
    rows = _batch_rows(_Raw(conn).day, keys, reports, results, first, without_doc,
                       today=today, window_days=window_days, keep_docs=keep_docs)
    return PreparedMatch(today=today, keys=tuple(keys), first=first,
                         without_doc=frozenset(without_doc), rows=rows, claims=asked)


def _still_holds(conn: Connection, prepared: PreparedMatch, keys: Sequence[str],
                 first: Mapping[str, date], without_doc: Collection[str], today: date) -> bool:
    """Whether ``prepared`` is what matching ``keys`` now would give: same day, same
    reports, same first tries, and every registration it asked about claimed as then."""
    if (prepared.today != today or prepared.keys != tuple(keys) or prepared.first != first
            or prepared.without_doc != frozenset(without_doc)):  # fmt: skip
        return False
    if not prepared.claims:
        return True
    now = _claim_lookup(conn)(list(prepared.claims))
    return all(frozenset(now.get(vin, ())) == claimers
               for vin, claimers in prepared.claims.items())


def _match_rows(
    conn: Connection, reports: Sequence[PolicyReport], *, today: date, window_days: int,
    only_pending: bool = False, near_vin_dir: Path | None = None,
    prepared: PreparedMatch | None = None, keep_docs: bool = True,
) -> tuple[MatchCounts, list[_ResultRow]]:
    """``_match_batch``, also returning the result rows it wrote (the hook copies their
    states onto the pipeline's vehicles without reading them back).  ``prepared``: the
    cascade worked out ahead, used when it still holds; ``keep_docs``: ``_report_rows``."""
    if not reports:
        return MatchCounts(), []
    keys = [r.key.as_string() for r in reports]
    if prepared is not None and not only_pending:
        done = match_prepared(conn, keys, prepared, today=today, window_days=window_days,
                              near_vin_dir=near_vin_dir)
        if done is not None:
            return done
    first, without_doc = _tried(conn, keys)
    raw = _Raw(conn)
    index = SqlRegistrationIndex(conn, near_vin_dir)
    results = match_many(reports, index, claimed=_claim_lookup(conn), keys=keys)
    rows = _batch_rows(raw.day, keys, reports, results, first, without_doc, today=today,
                       window_days=window_days, keep_docs=keep_docs)
    return _write_batch(conn, keys, rows, first, only_pending=only_pending, index=index,
                        today=today, window_days=window_days)


def match_prepared(
    conn: Connection, keys: Sequence[str], prepared: PreparedMatch, *, today: date,
    window_days: int, near_vin_dir: Path | None = None,
) -> tuple[MatchCounts, list[_ResultRow]] | None:
    """Write the batch of reports ``keys`` from the cascade worked out ahead, if it still
    holds (the reports themselves are not needed then); None if it does not."""
    first, without_doc = _tried(conn, keys)
    if not _still_holds(conn, prepared, keys, first, without_doc, today):
        return None
    done = _write_batch(conn, keys, prepared.rows, first, only_pending=False,
                        index=SqlRegistrationIndex(conn, near_vin_dir), today=today,
                        window_days=window_days)
    done[0].prepared = len(keys)
    return done


def _write_batch(
    conn: Connection, keys: Sequence[str], batch: BatchRows, first: Mapping[str, date], *,
    only_pending: bool, index: SqlRegistrationIndex, today: date, window_days: int,
) -> tuple[MatchCounts, list[_ResultRow]]:
    """Write the rows of the batch of reports ``keys`` in place of what they had (``first``:
    those tried before), and re-match what its claims make stale."""
    raw = _Raw(conn)
    _write_reports(raw, batch.reports, batch.docs)
    rows = batch.results
    t = match_results.c
    if only_pending:
        # A re-try settles only what was pending: a match already made stays as it was.
        stored = {(k, p): s for k, p, s in conn.execute(
            select(t.report_key, t.position, t.state).where(t.report_key.in_(keys)))}
        rows = [row for row in rows
                if stored.get((row.report_key, row.position)) in (None, "pending")]
        for part in _chunks([(r.report_key, r.position) for r in rows], _KEY_CHUNK):
            for key, position in part:
                conn.execute(delete(match_results).where(
                    t.report_key == key, t.position == position))
    elif first:  # reports seen before: their old results go
        raw.rows_in("DELETE FROM match_results WHERE report_key IN ({marks})", list(first))
    raw.insert(match_results, rows)
    counts = MatchCounts()
    counts.reports = len(keys)
    counts.results = len(rows)
    counts.fleet = sum(1 for row in rows if row.fleet)
    for row in rows:
        counts.states[row.state] += 1
        if row.state == "matched" and row.step is not None:
            counts.steps[row.step] += 1
    counts.rematched = _rematch_claimed(conn, rows, index, today=today,
                                        window_days=window_days)
    return counts, rows


def owner_step_query(dialect: str) -> str:
    """The stored owner-step matches (step 3 or 4, not a fleet's) of some VINs (``{marks}``):
    the condition of the partial index ``ix_match_results_owner_step_vin`` word for word,
    so that SQLite reads that index, not the VIN index of every result."""
    return ("SELECT report_key, vehicle_index, vin FROM match_results WHERE vin IN ({marks}) "
            "AND " + OWNER_STEP_MATCHES[dialect])


def _rematch_claimed(conn: Connection, rows: list[_ResultRow],
                     index: SqlRegistrationIndex, *, today: date, window_days: int) -> int:
    """Stored step-3/4 matches of registrations these rows just claimed (step 1/2) were
    made before the claim was known: match their reports again, so that the result does
    not depend on the order the reports arrived in."""
    claimed = [r.vin for r in rows if r.state == "matched" and r.step in (1, 2)]
    if not claimed:
        return 0
    owner_step = _Raw(conn).rows_in(owner_step_query(conn.dialect.name), claimed)
    if not owner_step:  # the usual case: nothing to undo
        return 0
    claimers: dict[str, set[tuple[str, int | None]]] = {}
    for r in rows:
        if r.state == "matched" and r.step in (1, 2) and r.vin is not None:
            claimers.setdefault(r.vin, set()).add((r.report_key, r.vehicle_index))
    stale = {key for key, vehicle_index, vin in owner_step
             if (key, vehicle_index) not in claimers[vin]}
    if not stale:
        return 0
    t = match_results.c
    reports = load_reports(conn, stale)
    # These reports' own step-1/2 results cannot claim anything new: no recursion needed.
    again = match_many(reports, index, claimed=_claim_lookup(conn))
    first, _without_doc = _tried(conn, list(stale))
    per_report: dict[str, list[MatchResult]] = {}
    for result in again:
        per_report.setdefault(result.report_key, []).append(
            settle_pending(result, first.get(result.report_key, today), today, window_days))
    new_rows: list[_ResultRow] = []
    raw = _Raw(conn)
    for report in reports:
        key = report.key.as_string()
        new_rows += _result_rows(report, per_report.get(key, []), raw.day(today), raw.day)
        conn.execute(delete(match_results).where(t.report_key == key))
    raw.insert(match_results, new_rows)
    return len(stale)


def _reports_of(records: Iterable[NormalizedRecord | PolicyReport], counts: MatchCounts
                ) -> Iterator[PolicyReport]:
    for record in records:
        if isinstance(record, NormalizedRecord):
            if record.status == "rejected":
                counts.skipped_rejected += 1
                continue
            report = record.report
        else:
            report = record
        if report.test:
            counts.skipped_test += 1
            continue
        yield report


def match_units(
    store: Store,
    records: Iterable[NormalizedRecord | PolicyReport],
    *,
    today: date,
    window_days: int,
    batch: int = MATCH_BATCH,
    near_vin_dir: Path | None = None,
) -> MatchCounts:
    """The match stage: match the records of a unit of work (or several) against the
    store's registrations and store one result per reported vehicle.  Rejected records
    and test interchanges are counted and skipped.  One transaction per batch.
    ``near_vin_dir``: where the near-VIN arrays are (``Settings.index_dir``)."""
    counts = MatchCounts()
    pending: list[PolicyReport] = []
    for report in _reports_of(records, counts):
        pending.append(report)
        if len(pending) >= batch:
            with store.engine.begin() as conn:
                counts.add(_match_batch(conn, pending, today=today, window_days=window_days,
                                        near_vin_dir=near_vin_dir))
            pending = []
    if pending:
        with store.engine.begin() as conn:
            counts.add(_match_batch(conn, pending, today=today, window_days=window_days,
                                    near_vin_dir=near_vin_dir))
    return counts


def retry_pending(
    conn: Connection, *, today: date, window_days: int, batch: int = MATCH_BATCH,
    on_batch: Callable[[Connection, Sequence[str]], object] | None = None,
    near_vin_dir: Path | None = None,
) -> MatchCounts:
    """After a registration load: match every report with a pending result again.  Those
    whose window is over become unmatched (``settle_pending``).  ``on_batch`` is called
    with the report keys of each batch matched again (the CLI keeps the pipeline's
    ``vehicles.match_state`` in step with it)."""
    t = match_results.c
    keys = sorted({k for (k,) in conn.execute(
        select(t.report_key).where(_PENDING).distinct())})
    counts = MatchCounts()
    for part in _chunks(keys, batch):
        reports = load_reports(conn, part)
        # A pending report is stored with its JSON, or in the pipeline's record rows:
        # either way ``load_reports`` finds it again, no JSON is added.
        counts.add(_match_batch(conn, reports, today=today, window_days=window_days,
                                only_pending=True, near_vin_dir=near_vin_dir,
                                keep_docs=False))
        if on_batch is not None:
            on_batch(conn, part)
    return counts


def settle_expired(conn: Connection, *, today: date, window_days: int) -> int:
    """Turn pending results whose window is over into unmatched without matching again."""
    first = {k: d for k, d in conn.execute(select(match_reports.c.report_key,
                                                  match_reports.c.first_tried))}
    t = match_results.c
    expired = [k for (k,) in conn.execute(select(t.report_key).where(_PENDING)
                                          .distinct())
               if (d := first.get(k)) is not None and (today - d).days > window_days]
    changed = 0
    for part in _chunks(expired, _KEY_CHUNK):
        changed += conn.execute(update(match_results).where(
            t.report_key.in_(part), t.state == "pending").values(state="unmatched")).rowcount
    return changed


__all__ = ["MATCH_BATCH", "MatchCounts", "match_units", "retry_pending",
           "settle_expired"]
