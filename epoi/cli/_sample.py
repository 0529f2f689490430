"""``epoi sample``: write realistic synthetic carrier files, registrations and ground truth."""

from __future__ import annotations

import functools
import shlex
import sys
from datetime import date, datetime
from pathlib import Path

import click

from ..sample import FaultOptions, generate
from ._app import echo_json, guarded, main

_RATE = click.FloatRange(0.0, 1.0)


@main.command("sample")
@click.option(
    "--policies", type=click.IntRange(min=1), required=True, help="number of policy transactions"
)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="directory to write into (created if missing)")
@click.option("--seed", type=int, default=0, show_default=True, help="same seed, same bytes")
@click.option("--carriers", type=click.IntRange(1, 20), default=3, show_default=True,
              help="number of insurers, each with its own files")
@click.option("--policies-per-file", type=click.IntRange(min=1), default=10_000,
              show_default=True, help="a carrier's policies are cut into files of this size")
@click.option("--policies-per-set", type=click.IntRange(min=1), default=2_000, show_default=True,
              help="policies per 811 transaction set")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="report date the data is relative to [default: today]")
@click.option("--vin-typos", type=_RATE, default=0.01, show_default=True,
              help="rate of mistyped VINs (per reported vehicle)")
@click.option("--bad-check-digits", type=_RATE, default=0.0, show_default=True,
              help="rate of VINs with a wrong check digit (per reported vehicle)")
@click.option("--missing-dates", type=_RATE, default=0.0, show_default=True,
              help="rate of policies missing a date their transaction type requires")
@click.option("--wrong-counts", type=_RATE, default=0.0, show_default=True,
              help="rate of wrong SE01 (per set) and GE01 (per group) counts")
@click.option("--json", "as_json", is_flag=True, help="print a JSON summary on stdout")
@guarded
def sample_command(
    policies: int, out_dir: Path, seed: int, carriers: int, policies_per_file: int,
    policies_per_set: int, today: datetime | None, vin_typos: float, bad_check_digits: float,
    missing_dates: float, wrong_counts: float, as_json: bool,
) -> None:
    """Write realistic synthetic 811 files, registrations.csv, ground_truth.csv and
    carriers.csv (the sample's carriers, for `epoi carriers import`).

    Every fault injected is recorded in ground_truth.csv, with the true VIN and plate.
    The commands that run the sample are printed last.

    \b
    Example:
      epoi sample --policies 60 --seed 7 --today 2026-11-27 --out sample_edi
      epoi sample --policies 200000 --out /tmp/big --vin-typos 0.02 --wrong-counts 0.01
    """
    report_date = today.date() if today is not None else date.today()
    faults = FaultOptions(vin_typos, bad_check_digits, missing_dates, wrong_counts)
    write = functools.partial(
        generate, policies, out_dir,
        today=report_date, seed=seed, carriers=carriers, faults=faults,
        policies_per_file=policies_per_file, policies_per_set=policies_per_set,
    )
    before = set(out_dir.glob("*.x12")) if out_dir.is_dir() else set()
    if sys.stdout.isatty() and not as_json:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeRemainingColumn(), transient=True,
        ) as bar:
            task = bar.add_task("policies", total=policies)
            summary = write(progress=lambda n: bar.advance(task, n))
    else:
        summary = write()

    stale = sorted(before - set(summary.files))
    if stale:  # left alone, but `epoi run DIR/*.x12` would pick them up
        click.echo(f"epoi: note: {len(stale)} older .x12 file(s) in {out_dir} were left alone",
                   err=True)
    if as_json:
        echo_json(summary.as_dict())
        return
    for f in summary.files:
        click.echo(f"wrote {f}")
    click.echo(f"wrote {summary.registrations_file}")
    click.echo(f"wrote {summary.ground_truth_file}")
    click.echo(f"wrote {summary.carriers_file}")
    click.echo(
        f"{len(summary.files)} files from {len(summary.carriers)} carriers: "
        f"{summary.policies} policies, {summary.vehicles} vehicles; "
        f"{summary.registrations} registrations ({summary.uninsured} uninsured), "
        f"{summary.unregistered} reported vehicles unregistered"
    )
    if summary.faults:
        click.echo("faults: " + ", ".join(f"{k}={v}" for k, v in sorted(summary.faults.items())))
    # Quoted for a POSIX shell; the glob stays outside the quotes so that the shell expands it.
    click.echo("run it with:")
    click.echo(f"  epoi carriers import {shlex.quote(str(summary.carriers_file))}")
    click.echo(f"  epoi run {shlex.quote(str(out_dir))}/*.x12 "
               f"--registrations {shlex.quote(str(summary.registrations_file))}")
