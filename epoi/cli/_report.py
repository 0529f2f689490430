"""``epoi report summary|submission|carrier|unmatched|timeliness`` (cli.md)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from .._clock import utc_now
from ..errors import ConfigError
from ..reports import (
    Format,
    Report,
    ReportOptions,
    carrier_report,
    csv_tables,
    csv_zip,
    render,
    render_csv,
    submission_report,
    summary_report,
    timeliness_report,
    unmatched_report,
)
from ..store import CarrierScope, record_access, who
from ._app import command_store, current_settings, guarded, main

_DATE = click.DateTime(formats=["%Y-%m-%d"])


def _report_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The options every report takes."""
    options = [
        click.option("--from", "start", type=_DATE, help="first day of receipt, YYYY-MM-DD"),
        click.option("--to", "end", type=_DATE, help="last day of receipt, YYYY-MM-DD"),
        click.option("--format", "fmt", type=click.Choice(["html", "csv", "json"]),
                      default="json", show_default=True, help="output format"),
        click.option("--out", "out", type=click.Path(path_type=Path),
                      help="write to FILE instead of stdout; with --format csv a folder "
                           "(one CSV per table and report.csv) or a .zip of the same"),
        click.option("--section", "section", metavar="TABLE",
                     help="with --format csv: only this table (e.g. clearance, vehicles), "
                          "to stdout or --out FILE"),
        click.option("--carrier", "carrier", metavar="NAIC",
                      help="act as this carrier: nothing of another carrier is read"),
        click.option("--unmasked", is_flag=True,
                      help="show licence numbers and dates of birth in full (written to the "
                           "access log)"),
        click.option("--as", "as_user", metavar="WHO",
                      help="who is asking, for the access log [default: $USER]"),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _run(
    kind: str,
    build: Callable[[Any, ReportOptions], Report],
    *,
    start: datetime | None,
    end: datetime | None,
    fmt: Format,
    out: Path | None,
    carrier: str | None,
    unmasked: bool,
    as_user: str | None,
    subject_carrier: str | None = None,
    submission: int | None = None,
    section: str | None = None,
) -> None:
    settings = current_settings()
    first = start.date() if start else None
    last = end.date() if end else None
    if first and last and first > last:
        raise ConfigError("USAGE", "--from is after --to")
    if section is not None and fmt != "csv":
        raise ConfigError("USAGE", "--section is for --format csv (JSON and HTML hold every "
                          "table)")
    if fmt == "csv" and section is None and out is None:
        raise ConfigError("USAGE", "a report is several tables, each with its own columns: "
                          "give --out DIR (one CSV per table), --out FILE.zip, or "
                          "--section TABLE for one table on stdout")
    now = utc_now()
    with command_store() as store:
        with store.session(readonly=True) as session:
            scope = CarrierScope.for_naic(session, carrier)
            opts = ReportOptions(
                scope=scope, start=first, end=last, masked=not unmasked,
                pending_window_days=settings.pending_window_days, clock=lambda: now,
            )
            report = build(session, opts)
    tables = [x.name for x in report.sections()]
    if section is not None and section not in tables:
        raise ConfigError("USAGE", f"the {kind} report has no table {section!r}; it has: "
                          + ", ".join(tables))
    if unmasked:
        # Logged once the report exists (a "not found" shows nothing) and before any of
        # it is written out.
        record_access(
            settings.home, user=who(as_user), when=now, command=f"report {kind}", report=kind,
            carrier=subject_carrier or carrier, submission=submission,
            period=(first.isoformat() if first else None, last.isoformat() if last else None),
        )
    if fmt == "csv" and section is None:
        assert out is not None
        _write_csv_tables(report, out)
        click.echo(f"{kind} report written to {out}: report.csv and "
                   + ", ".join(f"{t}.csv" for t in tables), err=True)
        return
    if section is not None:
        text = render_csv(report, section)
    else:
        text = render(report, "html" if fmt == "html" else "json")
    if out is None:
        click.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
        click.echo(f"{kind} report written to {out}", err=True)


def _write_csv_tables(report: Report, out: Path) -> None:
    """One CSV per table in the folder ``out`` (created), or in the zip file ``out``: an
    auditor opens each table as a sheet of its own, and keeps or mails the set as one."""
    if out.suffix.lower() == ".zip":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(csv_zip(report))
        return
    if out.exists() and not out.is_dir():
        raise ConfigError("USAGE", f"--out {out} is a file: with --format csv give a folder "
                          "or a .zip")
    out.mkdir(parents=True, exist_ok=True)
    for name, text in csv_tables(report).items():
        (out / name).write_text(text, encoding="utf-8")


@main.group()
def report() -> None:
    """Reports for auditors and carriers: HTML, CSV or JSON with the same numbers.

    CSV is one file per table: --out DIR writes report.csv (what the report is, its notes,
    which file holds which table) and one TABLE.csv each; --out FILE.zip the same in a zip;
    --section TABLE one table, to stdout or --out FILE.

    Licence numbers and dates of birth are masked unless --unmasked is given; every
    unmasked use is written to the access log ($EPOI_HOME/access.log).
    """


@report.command("summary")
@_report_options
@guarded
def report_summary(**kw: Any) -> None:
    """Volumes per day, outcomes, errors by code, match rate by step, unmatched ageing,
    renewals cleared and held by reason (the stored runs of epoi renewals clear whose
    as-of day is in the period), late reporting per carrier.

    \b
    Example:
      epoi report summary --format html --out summary.html
    """
    _run("summary", summary_report, **kw)


@report.command("submission")
@click.argument("submission_id", type=int)
@_report_options
@guarded
def report_submission(submission_id: int, **kw: Any) -> None:
    """One submission: its acks, outcomes, errors, matches and rejected records.

    \b
    Example:
      epoi report submission 12 --carrier 12345 --format csv --out sub12/
    """
    _run("submission", functools.partial(_submission, submission_id=submission_id),
         submission=submission_id, **kw)


def _submission(session: Any, opts: ReportOptions, *, submission_id: int) -> Report:
    return submission_report(session, opts, submission_id)


@report.command("carrier")
@click.argument("naic")
@_report_options
@guarded
def report_carrier(naic: str, **kw: Any) -> None:
    """One carrier: its submissions, volumes, outcomes, errors, matches and late reports.

    \b
    Example:
      epoi report carrier 12345 --carrier 12345 --format html --out acme.html
    """
    _run("carrier", functools.partial(_carrier, naic=naic), subject_carrier=naic, **kw)


def _carrier(session: Any, opts: ReportOptions, *, naic: str) -> Report:
    return carrier_report(session, opts, naic)


@report.command("unmatched")
@_report_options
@guarded
def report_unmatched(**kw: Any) -> None:
    """Reported vehicles without a match, oldest first, with their ageing.

    \b
    Example:
      epoi report unmatched --format csv --section vehicles --out unmatched.csv
    """
    _run("unmatched", unmatched_report, **kw)


@report.command("timeliness")
@_report_options
@guarded
def report_timeliness(**kw: Any) -> None:
    """Late reporting (E301) per carrier and days from taking effect to receipt.

    \b
    Example:
      epoi report timeliness --from 2026-11-01 --to 2026-11-30 --format csv --out nov.zip
    """
    _run("timeliness", timeliness_report, **kw)


__all__ = ["report"]
