"""The match stage against the store: match batches of reports, keep one result per
reported vehicle, re-try pending ones when registrations are loaded.

``match_units`` is the hook the pipeline's match handler calls with the records of a unit
of work.  Only accepted (or warned) production reports are matched: a rejected record is
not coverage, and a test interchange never changes production data.  Results are
idempotent per report: matching a report again replaces its results, keeping the day it
was first tried (the pending window counts from it, ``settle_pending``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from ..schemas.match import MatchResult, settle_pending
from ..schemas.policy import NormalizedRecord, PolicyReport
from ..store import Store
from ..store._registrations import match_reports, match_results
from ._matcher import match_many
from ._sql_index import SqlRegistrationIndex

# Reports per cascade run: every step is one batched query per lookup kind, so a few
# thousand reports amortise the round trips (the library's author measured >= 1 000).
MATCH_BATCH = 2_000
_KEY_CHUNK = 900


@dataclass(slots=True)
class MatchCounts:
    reports: int = 0  # reports matched (test and rejected ones are not)
    skipped_test: int = 0
    skipped_rejected: int = 0
    results: int = 0  # results written: one per reported vehicle, fleet vehicles included
    states: Counter[str] = field(default_factory=Counter)
    steps: Counter[int] = field(default_factory=Counter)  # matched results per step
    rematched: int = 0  # stored step-3/4 results re-tried because their registration got claimed

    def add(self, other: MatchCounts) -> None:
        self.reports += other.reports
        self.skipped_test += other.skipped_test
        self.skipped_rejected += other.skipped_rejected
        self.results += other.results
        self.states.update(other.states)
        self.steps.update(other.steps)
        self.rematched += other.rematched

    def as_dict(self) -> dict[str, Any]:
        return {
            "reports": self.reports, "skipped_test": self.skipped_test,
            "skipped_rejected": self.skipped_rejected, "results": self.results,
            "states": {s: self.states.get(s, 0)
                       for s in ("matched", "pending", "unmatched", "ambiguous")},
            "steps": {str(k): self.steps.get(k, 0) for k in (1, 2, 3, 4)},
            "rematched": self.rematched,
        }


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _claim_lookup(conn: Connection):  # type: ignore[no-untyped-def]
    """The stored step-1/2 matches of registered VINs: who claims each registration."""

    def lookup(vins: Collection[str]) -> Mapping[str, set[tuple[str, int | None]]]:
        claims: dict[str, set[tuple[str, int | None]]] = {}
        wanted = list(vins)
        t = match_results.c
        for part in _chunks(wanted, _KEY_CHUNK):
            rows = conn.execute(select(t.vin, t.report_key, t.vehicle_index).where(
                t.vin.in_(part), t.state == "matched", t.step.in_((1, 2))))
            for vin, key, vehicle_index in rows:
                claims.setdefault(vin, set()).add((key, vehicle_index))
        return claims

    return lookup


def _first_tried(conn: Connection, keys: Sequence[str]) -> dict[str, date]:
    t = match_reports.c
    found: dict[str, date] = {}
    for part in _chunks(list(keys), _KEY_CHUNK):
        found.update(conn.execute(select(t.report_key, t.first_tried)
                                  .where(t.report_key.in_(part))).all())
    return found


def _result_rows(report: PolicyReport, results: list[MatchResult], today: date
                 ) -> list[dict[str, Any]]:
    rows = []
    for position, r in enumerate(results):
        vehicle = report.vehicles[r.vehicle_index] if r.vehicle_index is not None else None
        rows.append({
            "report_key": r.report_key, "position": position, "vehicle_index": r.vehicle_index,
            "carrier_naic": report.carrier_naic, "policy_number": report.policy_number,
            "reported_vin": (r.reported_vin or "")[:32] or None, "state": r.state,
            "step": r.step, "plate": r.plate, "vin": r.vin, "agreed": ",".join(r.agreed),
            "vin_distance": r.vin_distance, "candidates": r.candidates,
            "transaction_type": report.transaction_type,
            "effective_date": report.effective_date,
            "expiration_date": report.expiration_date,
            "cancellation_date": report.cancellation_date,
            "vehicle_transaction": vehicle.transaction if vehicle else None,
            "vehicle_transaction_date": vehicle.transaction_date if vehicle else None,
            "fleet": vehicle is None, "tried_on": today,
        })
    return rows


def _match_batch(
    conn: Connection, reports: Sequence[PolicyReport], *, today: date, window_days: int,
    only_pending: bool = False,
) -> MatchCounts:
    """Match reports (production, accepted) and replace their stored results."""
    counts = MatchCounts()
    if not reports:
        return counts
    keys = [r.key.as_string() for r in reports]
    first = _first_tried(conn, keys)
    new_reports = [{"report_key": k, "carrier_naic": r.carrier_naic,
                    "policy_number": r.policy_number, "transaction_type": r.transaction_type,
                    "policy_type": r.policy_type, "first_tried": today,
                    "report": r.model_dump_json()}
                   for k, r in zip(keys, reports) if k not in first]
    if new_reports:
        conn.execute(insert(match_reports), new_reports)
    results = match_many(reports, SqlRegistrationIndex(conn), claimed=_claim_lookup(conn))
    per_report: dict[str, list[MatchResult]] = {}
    for r in results:
        per_report.setdefault(r.report_key, []).append(
            settle_pending(r, first.get(r.report_key, today), today, window_days))
    rows: list[dict[str, Any]] = []
    for key, report in zip(keys, reports):
        rows += _result_rows(report, per_report.get(key, []), today)
    t = match_results.c
    if only_pending:
        # A re-try settles only what was pending: a match already made stays as it was.
        stored = {(k, p): s for k, p, s in conn.execute(
            select(t.report_key, t.position, t.state).where(t.report_key.in_(keys)))}
        rows = [row for row in rows
                if stored.get((row["report_key"], row["position"])) in (None, "pending")]
        for part in _chunks([(r["report_key"], r["position"]) for r in rows], _KEY_CHUNK):
            for key, position in part:
                conn.execute(delete(match_results).where(
                    t.report_key == key, t.position == position))
    else:
        for part in _chunks(keys, _KEY_CHUNK):
            conn.execute(delete(match_results).where(t.report_key.in_(part)))
    if rows:
        conn.execute(insert(match_results), rows)
    counts.reports = len(reports)
    counts.results = len(rows)
    for row in rows:
        counts.states[row["state"]] += 1
        if row["state"] == "matched":
            counts.steps[row["step"]] += 1
    counts.rematched = _rematch_claimed(conn, rows, today=today, window_days=window_days)
    return counts


def _load_reports(conn: Connection, keys: Collection[str]) -> list[PolicyReport]:
    t = match_reports.c
    out: list[PolicyReport] = []
    for part in _chunks(sorted(keys), _KEY_CHUNK):
        out += [PolicyReport.model_validate_json(doc) for (doc,) in
                conn.execute(select(t.report).where(t.report_key.in_(part)))]
    return out


def _rematch_claimed(conn: Connection, rows: list[dict[str, Any]], *, today: date,
                     window_days: int) -> int:
    """Stored step-3/4 matches of registrations these rows just claimed (step 1/2) were
    made before the claim was known: match their reports again, so that the result does
    not depend on the order the reports arrived in."""
    claimers = {(r["vin"]): set() for r in rows
                if r["state"] == "matched" and r["step"] in (1, 2)}
    if not claimers:
        return 0
    for r in rows:
        if r["vin"] in claimers and r["step"] in (1, 2) and r["state"] == "matched":
            claimers[r["vin"]].add((r["report_key"], r["vehicle_index"]))
    t = match_results.c
    stale: set[str] = set()
    for part in _chunks(list(claimers), _KEY_CHUNK):
        for key, vehicle_index, vin in conn.execute(
                select(t.report_key, t.vehicle_index, t.vin).where(
                    t.vin.in_(part), t.state == "matched", t.step.in_((3, 4)),
                    t.fleet.is_(False))):
            if (key, vehicle_index) not in claimers[vin]:
                stale.add(key)
    if not stale:
        return 0
    reports = _load_reports(conn, stale)
    # These reports' own step-1/2 results cannot claim anything new: no recursion needed.
    again = match_many(reports, SqlRegistrationIndex(conn), claimed=_claim_lookup(conn))
    first = _first_tried(conn, list(stale))
    per_report: dict[str, list[MatchResult]] = {}
    for r in again:
        per_report.setdefault(r.report_key, []).append(
            settle_pending(r, first.get(r.report_key, today), today, window_days))
    new_rows: list[dict[str, Any]] = []
    for report in reports:
        key = report.key.as_string()
        new_rows += _result_rows(report, per_report.get(key, []), today)
        conn.execute(delete(match_results).where(t.report_key == key))
    conn.execute(insert(match_results), new_rows)
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
) -> MatchCounts:
    """The match stage: match the records of a unit of work (or several) against the
    store's registrations and store one result per reported vehicle.  Rejected records
    and test interchanges are counted and skipped.  One transaction per batch."""
    counts = MatchCounts()
    pending: list[PolicyReport] = []
    for report in _reports_of(records, counts):
        pending.append(report)
        if len(pending) >= batch:
            with store.engine.begin() as conn:
                counts.add(_match_batch(conn, pending, today=today, window_days=window_days))
            pending = []
    if pending:
        with store.engine.begin() as conn:
            counts.add(_match_batch(conn, pending, today=today, window_days=window_days))
    return counts


def retry_pending(
    conn: Connection, *, today: date, window_days: int, batch: int = MATCH_BATCH
) -> MatchCounts:
    """After a registration load: match every report with a pending result again.  Those
    whose window is over become unmatched (``settle_pending``)."""
    t = match_results.c
    keys = sorted({k for (k,) in conn.execute(
        select(t.report_key).where(t.state == "pending").distinct())})
    counts = MatchCounts()
    for part in _chunks(keys, batch):
        reports = _load_reports(conn, part)
        counts.add(_match_batch(conn, reports, today=today, window_days=window_days,
                                only_pending=True))
    return counts


def settle_expired(conn: Connection, *, today: date, window_days: int) -> int:
    """Turn pending results whose window is over into unmatched without matching again."""
    first = {k: d for k, d in conn.execute(select(match_reports.c.report_key,
                                                  match_reports.c.first_tried))}
    t = match_results.c
    expired = [k for (k,) in conn.execute(select(t.report_key).where(t.state == "pending")
                                          .distinct())
               if (d := first.get(k)) is not None and (today - d).days > window_days]
    changed = 0
    for part in _chunks(expired, _KEY_CHUNK):
        changed += conn.execute(update(match_results).where(
            t.report_key.in_(part), t.state == "pending").values(state="unmatched")).rowcount
    return changed


__all__ = ["MATCH_BATCH", "MatchCounts", "match_units", "retry_pending",
           "settle_expired"]
