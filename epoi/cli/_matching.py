"""``epoi registrations load``, ``epoi renewals clear``, ``epoi suspensions``,
``epoi verify`` and ``epoi matches`` (cli.md): thin wrappers over ``epoi.matching``."""

from __future__ import annotations

import csv
import sys
from collections import Counter
from datetime import date, datetime
from pathlib import Path
from typing import Any

import click

from .._clock import utc_now, utc_today
from ..errors import ConfigError
from ..matching import (
    MATCH_COLUMNS,
    Clearance,
    LoadReport,
    MatchCounts,
    clear_renewal_file,
    find_suspensions,
    load_and_retry,
    match_rows,
    verify,
)
from ..schemas.registration import RowError
from ..schemas.vin import lookup_problem as vin_lookup_problem
from ..schemas.vin import normalize as normalize_vin
from ..store import Store
from ._app import (
    EXIT_OK,
    EXIT_REJECTED,
    StderrProgress,
    command_store,
    current_settings,
    echo_json,
    guarded,
    main,
)

_DAY = click.DateTime(formats=["%Y-%m-%d"])


def _day(value: datetime | None) -> date:
    return value.date() if value is not None else utc_today()


class _Rows(StderrProgress):
    """Rows loaded so far, on a terminal only (cli.md: quiet when piped)."""

    def __init__(self) -> None:
        super().__init__()
        if sys.stderr.isatty():
            from rich.progress import SpinnerColumn, TimeElapsedColumn

            self.show("registrations", None, SpinnerColumn(), "{task.description}",
                      "{task.completed:,} rows", TimeElapsedColumn())  # fmt: skip

    def __call__(self, rows: int) -> None:
        if self.progress is not None:
            self.progress.advance(self.task, rows)


def _report_row_errors(errors: list[RowError]) -> None:
    for e in sorted(errors, key=lambda e: e.line):
        click.echo(f"epoi: {e}", err=True)


# -- registrations ---------------------------------------------------------------------------


@main.group("registrations")
def registrations_group() -> None:
    """The state's registration records."""


@registrations_group.command("load")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def registrations_load(file: Path, as_json: bool) -> None:
    """Load or refresh registration records from FILE (CSV, cli.md) and match the pending
    reports again.  A row whose plate or VIN is already registered replaces that
    registration.  Bad rows (a byte that is not UTF-8 included) are reported with their
    line and skipped, the rest loads; an optional field that does not parse (owner_dob not
    YYYY-MM-DD) is reported and left empty, its row loads.

    Exit 0 when every row loaded, 1 when a row was skipped.

    \b
    Example:
      epoi registrations load dmv/registrations-20261127.csv
    """
    settings = current_settings()
    with command_store() as store, _Rows() as progress:
        report, counts = load_and_retry(store, file, today=utc_today(),
                                        window_days=settings.pending_window_days,
                                        index_dir=settings.index_dir, progress=progress)
    _report_row_errors(report.errors + report.emptied)
    if as_json:
        echo_json({"load": report.as_dict(), "retry": counts.as_dict()})
    else:
        click.echo(f"{file.name}: {report.loaded} registrations loaded "
                   f"({report.replaced} replaced), {len(report.errors)} bad row(s) skipped, "
                   f"{len(report.emptied)} optional field(s) left empty, "
                   f"{report.rows} rows in {report.seconds:.1f} s "
                   f"({report.rows_per_second:,.0f} rows/s)")
        states = counts.states
        click.echo(f"pending reports re-tried: {counts.reports}; now matched "
                   f"{states.get('matched', 0)}, pending {states.get('pending', 0)}, "
                   f"unmatched {states.get('unmatched', 0)}, ambiguous "
                   f"{states.get('ambiguous', 0)}")
    raise SystemExit(EXIT_REJECTED if report.errors else EXIT_OK)


# -- renewals --------------------------------------------------------------------------------

_CLEARANCE_COLUMNS = ("plate", "vin", "due", "status", "reason", "reason_date", "reason_text",
                      "carrier_naic", "policy_number", "report")


def _clearance_row(c: Clearance) -> dict[str, Any]:
    cov = c.coverage
    return {"plate": c.plate, "vin": c.vin, "due": c.due.isoformat(), "status": c.status,
            "reason": c.reason or "", "reason_date": c.reason_date.isoformat()
            if c.reason_date else "", "reason_text": c.reason_text,
            "carrier_naic": cov.carrier_naic if cov else "",
            "policy_number": cov.policy_number if cov else "",
            "report": cov.report_key if cov else ""}


@main.group("renewals")
def renewals_group() -> None:
    """Renewal clearance."""


@renewals_group.command("clear")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--as-of", "as_of", type=_DAY, help="the day the list is run (default today);"
              " each renewal is judged on its own due day")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def renewals_clear(file: Path, as_of: datetime | None, as_json: bool) -> None:
    """For each renewal due in FILE (CSV: plate or vin, due), cleared when matched coverage
    is in force on the due day, otherwise held with the reason.  CSV on stdout (or
    --json); the counts on stderr.  Each run is stored for the summary report (the same
    FILE cleared again for the same --as-of day replaces its run).  Exit 0, or 1 when a row
    of FILE was skipped.

    \b
    Example:
      epoi renewals clear dmv/renewals-202612.csv --as-of 2026-11-27 > cleared.csv
    """
    run_day = _day(as_of)
    counts: Counter[str] = Counter()
    rows: list[dict[str, Any]] = []
    writer = None
    if not as_json:
        writer = csv.DictWriter(sys.stdout, fieldnames=_CLEARANCE_COLUMNS, lineterminator="\n")
        writer.writeheader()

    def each(clearance: Clearance) -> None:
        counts[clearance.status] += 1
        if clearance.reason:
            counts[clearance.reason] += 1
        row = _clearance_row(clearance)
        if writer is not None:
            writer.writerow(row)
        else:
            rows.append(row)

    with command_store() as store:
        # Stored for the reports: one run per renewal file and as-of day (run again, it is
        # replaced).
        errors = clear_renewal_file(store, file, as_of=run_day, clock=utc_now, each=each)
    _report_row_errors(errors)
    if as_json:
        echo_json({"as_of": run_day.isoformat(), "renewals": rows,
                   "counts": dict(counts), "bad_rows": len(errors)})
    click.echo(f"renewals: {counts['cleared']} cleared, {counts['held']} held"
               + "".join(f", {k} {v}" for k, v in sorted(counts.items())
                         if k not in ("cleared", "held"))
               + f"; {len(errors)} bad row(s)", err=True)
    raise SystemExit(EXIT_REJECTED if errors else EXIT_OK)


# -- suspensions -----------------------------------------------------------------------------

_SUSPENSION_COLUMNS = ("plate", "vin", "cancelled_on", "carrier_naic", "policy_number",
                       "cancelled_by")


@main.command("suspensions")
@click.option("--as-of", "as_of", type=_DAY, help="the day asked about (default today)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def suspensions(as_of: datetime | None, as_json: bool) -> None:
    """Suspension candidates: vehicles whose matched coverage was cancelled with no
    replacement within the window (settings: suspension_window_days) and whose
    registration is still valid.  A vehicle is listed only once the window after its
    cancellation is over.  CSV on stdout (or --json).

    On the bundled sample (sample_edi, README's first command) --as-of 2026-12-30 or later
    lists 1SEB058: its policy was cancelled on 2026-11-14 and the 45-day window closed on
    2026-12-29.

    \b
    Example:
      epoi suspensions --as-of 2026-12-30 > candidates.csv
    """
    day = _day(as_of)
    settings = current_settings()
    with command_store() as store, store.engine.connect() as conn:
        found = find_suspensions(conn, as_of=day, window_days=settings.suspension_window_days)
    rows = [{"plate": s.plate, "vin": s.vin, "cancelled_on": s.cancelled_on.isoformat(),
             "carrier_naic": s.carrier_naic, "policy_number": s.policy_number,
             "cancelled_by": s.cancelled_by or ""} for s in found]
    if as_json:
        echo_json({"as_of": day.isoformat(), "window_days": settings.suspension_window_days,
                   "candidates": rows})
    else:
        writer = csv.DictWriter(sys.stdout, fieldnames=_SUSPENSION_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    click.echo(f"suspension candidates: {len(rows)}", err=True)


# -- verify ----------------------------------------------------------------------------------


@main.command("verify")
@click.argument("vin")
@click.option("--date", "on", type=_DAY, help="the day asked about (default today)")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def verify_command(vin: str, on: datetime | None, as_json: bool) -> None:
    """Is the vehicle VIN insured on the day: by which carrier, policy and report.

    VIN is upper-cased, blanks and dashes dropped (guide section 5); what is left must be
    1 to 17 characters from A-Z and 0-9 without I, O and Q (pre-1981 VINs are shorter),
    or it is a usage error.  Exit 0 when insured, 1 when not, 2 when VIN cannot be one.

    \b
    Example:
      epoi verify 1HGCM82633A004352 --date 2026-11-27
    """
    problem = vin_lookup_problem(normalize_vin(vin))
    if problem:
        raise ConfigError("VIN", f"{vin!r} cannot be a VIN: {problem}")
    with command_store() as store, store.engine.connect() as conn:
        answer = verify(conn, vin, _day(on))
    doc = answer.as_dict()
    if as_json:
        echo_json(doc)
    elif answer.insured:
        click.echo(f"{doc['vin']} insured on {doc['date']}: carrier {doc['carrier_naic']}, "
                   f"policy {doc['policy_number']} (since {doc['coverage_start']}"
                   + (f", until {doc['coverage_end']}" if doc["coverage_end"] else "")
                   + f"), report {doc['report']}")
    else:
        registered = (f"registered as {doc['plate']} ({doc['registration_status']})"
                      if doc["plate"] else "not registered")
        click.echo(f"{doc['vin']} NOT insured on {doc['date']}; {registered}"
                   + (f"; {doc['unmatched_reports']} unmatched report(s) name this VIN"
                      if doc["unmatched_reports"] else ""))
    raise SystemExit(EXIT_OK if answer.insured else EXIT_REJECTED)


# -- matches ---------------------------------------------------------------------------------


@main.command("matches")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default="csv",
              show_default=True)
@guarded
def matches(fmt: str) -> None:
    """One row per reported vehicle (and per vehicle a fleet policy covers): carrier NAIC,
    policy number, reported VIN, matched plate and VIN (empty if none), step, state
    (matched, pending, unmatched, ambiguous).  A pending vehicle whose window
    (EPOI_PENDING_WINDOW_DAYS, from its first attempt) is over shows as unmatched.

    \b
    Example:
      epoi matches --format csv > matches.csv
    """
    window = current_settings().pending_window_days
    with command_store() as store, store.engine.connect() as conn:
        rows = match_rows(conn, today=utc_today(), window_days=window)
        if fmt == "json":
            echo_json({"matches": list(rows)})
            return
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(MATCH_COLUMNS)
        for row in rows:
            writer.writerow(["" if row[c] is None else row[c] for c in MATCH_COLUMNS])


# -- for `epoi run --registrations` (epoi/cli/_run.py) -------------------------------------


def load_for_run(store: Store, file: Path | None) -> LoadReport | None:
    """Load the run's registration file first (and re-try what was pending), reporting
    bad rows on stderr; None without a file."""
    if file is None:
        return None
    settings = current_settings()
    with _Rows() as progress:
        report, _retried = load_and_retry(store, file, today=utc_today(),
                                          window_days=settings.pending_window_days,
                                          index_dir=settings.index_dir, progress=progress)
    _report_row_errors(report.errors + report.emptied)
    return report


def matching_doc(loaded: LoadReport | None, matched: MatchCounts) -> dict[str, Any]:
    return {"registrations": loaded.as_dict() if loaded else None,
            "matching": matched.as_dict()}


def print_matching(loaded: LoadReport | None, matched: MatchCounts) -> None:
    if loaded is not None:
        click.echo(f"registrations {loaded.loaded} loaded ({loaded.replaced} replaced, "
                   f"{len(loaded.errors)} bad row(s)) in {loaded.seconds:.1f} s")
    s = matched.states
    # A fleet policy (CF) lists no vehicle: it covers every vehicle registered to its
    # holder, and each of those gets a result, so there are more results than vehicles.
    fleet = (f" of {matched.results} ({matched.results - matched.fleet} listed in the "
             f"policies + {matched.fleet} registered to fleet policy holders, covered without "
             "being listed)") if matched.fleet else ""
    click.echo(f"vehicles matched {s.get('matched', 0)}{fleet} (steps " + ", ".join(
        f"{k}: {matched.steps.get(k, 0)}" for k in (1, 2, 3, 4)) + f"), pending "
        f"{s.get('pending', 0)}, unmatched {s.get('unmatched', 0)}, ambiguous "
        f"{s.get('ambiguous', 0)}")
