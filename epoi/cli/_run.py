"""``epoi run``, ``epoi reprocess`` and ``epoi worker`` (cli.md): process what was
submitted, in this process or as a long-running worker of the scale-out setup."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import click

from .._clock import utc_now
from ..intake import SubmissionResult
from ..matching import MatchCounts, pipeline_match_hook
from ..pipeline import (
    RunSummary,
    carrier_scope,
    profile_rejections,
    reprocess,
    serve,
    submission_in_scope,
)
from ..pipeline import (
    run as run_pipeline,
)
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
from ._matching import load_for_run, matching_doc, print_matching

STAGES = ("parse", "normalize", "match")


# -- run -------------------------------------------------------------------------------------


class _Bar(StderrProgress):
    """A rich progress bar of policies normalised, on a terminal only."""

    def __init__(self, enabled: bool) -> None:
        super().__init__()
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn

            self.show("policies", 0, "[progress.description]{task.description}", BarColumn(),
                      MofNCompleteColumn(), TimeElapsedColumn())  # fmt: skip

    def __call__(self, event: str, n: int) -> None:
        if self.progress is None:
            return
        if event == "planned":
            total = self.progress.tasks[0].total or 0
            self.progress.update(self.task, total=total + n)
        elif event == "normalised":
            self.progress.advance(self.task, n)


@main.command("run")
@click.argument("files", nargs=-1, type=click.Path(exists=True, dir_okay=False))
@click.option("--carrier", "naic", metavar="NAIC", help="the sending carrier's NAIC code")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON document")
@click.option("--registrations", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="load this registration file (CSV, cli.md) first; the run matches against it")
@guarded
def run_command(
    files: tuple[str, ...], naic: str | None, as_json: bool, registrations: Path | None
) -> None:
    """Submit FILES, then process everything queued to the end in this process.

    Work left queued by an earlier run that was interrupted is taken up first; `epoi run`
    with no files finishes it.  Exit 0 when nothing was rejected, 1 when a file, an
    interchange or a record was rejected, or a unit failed or was left unfinished.

    \b
    Example:
      epoi carriers import examples/carriers.csv
      epoi run sample_edi/*.x12 --registrations sample_edi/registrations.csv
    """
    settings = current_settings()
    matched = MatchCounts()
    with command_store() as store:
        loaded = load_for_run(store, registrations)
        bar = _Bar(enabled=sys.stderr.isatty() and not as_json)
        with bar:
            summary = run_pipeline(
                files, store=store, settings=settings, clock=utc_now, carrier=naic,
                progress=bar, on_submitted=None if as_json else _print_duplicates(store),
                match_hook=pipeline_match_hook(settings, utc_now, matched),
            )  # fmt: skip
    if as_json:
        echo_json({**summary.as_dict(), **matching_doc(loaded, matched)})
    else:
        _print_summary(summary)
        print_matching(loaded, matched)
    bad_rows = bool(loaded and loaded.errors)
    raise SystemExit(EXIT_REJECTED if summary.anything_rejected or bad_rows else EXIT_OK)


def _print_duplicates(store: Store) -> Callable[[list[SubmissionResult]], None]:
    def show(results: list[SubmissionResult]) -> None:
        for r in results:
            if r.duplicate:
                click.echo(f"{r.file}: already submitted as submission {r.submission_id}; "
                           f"skipped{_reprocess_hint(store, r.submission_id)}")  # fmt: skip

    return show


def _reprocess_hint(store: Store, submission_id: int) -> str:
    """A file rejected for a carrier profile is not submitted again: it is reprocessed."""
    notes = profile_rejections(store, submission_id)
    if not notes:
        return ""
    return (f" (rejected before with TA1 {'/'.join(sorted(notes))}: once the carrier is "
            f"registered or certified, `epoi reprocess {submission_id}`)")


def _print_summary(s: RunSummary, *, files: bool = True) -> None:
    if files:
        click.echo(
            f"files {s.files} ({s.duplicates} already submitted), submissions {len(s.submissions)}"
            + (f", {s.recovered_units} unit(s) recovered from an interrupted run"
               if s.recovered_units else "")
        )
    click.echo(f"interchanges {s.interchanges} ({s.interchanges_rejected} rejected)"
               + (f", sets rejected {s.sets_rejected}" if s.sets_rejected else ""))
    click.echo(
        f"policies {s.policies}: accepted {s.accepted}, warned {s.warned}, rejected {s.rejected}"
        + (f" ({s.test_policies} test)" if s.test_policies else "")
    )
    click.echo(f"vehicles {s.vehicles}, business errors {s.business_errors}")
    click.echo(f"acks written: {s.acks} TA1/997, {s.error_returns} error return(s)")
    if s.failed_units or s.dead_lettered:
        click.echo(f"failed: {s.failed_units}")
    if s.unfinished:
        click.echo(f"unfinished: {s.unfinished} unit(s) still queued; `epoi run` takes them up")
    _print_problems(s)


# Enough lines to say what went wrong in a run of a few files; `epoi status N` has the rest.
_PROBLEM_LINES = 20


def _print_problems(s: RunSummary) -> None:
    """Why each file, interchange, set or unit was rejected or failed (issue 11 §2)."""
    for p in s.problems[:_PROBLEM_LINES]:
        click.echo(f"  submission {p.submission_id} {Path(p.file).name}: {p.code}: {p.reason}")
    if len(s.problems) > _PROBLEM_LINES:
        click.echo(f"  ... and {len(s.problems) - _PROBLEM_LINES} more (see `epoi status`)")


# -- reprocess -------------------------------------------------------------------------------


@main.command("reprocess")
@click.argument("submission", type=int)
@click.option("--carrier", "naic", metavar="NAIC",
              help="act as this carrier: only its own submissions exist")
@click.option("--json", "as_json", is_flag=True, help="print the summary as one JSON document")
@guarded
def reprocess_command(submission: int, naic: str | None, as_json: bool) -> None:
    """Run SUBMISSION again from its archived original, through every stage, in this process.

    The archive is checked against the sha256 recorded at intake first (ARCHIVE-MISMATCH,
    exit 1).  Idempotent: what was stored, acknowledged or returned before is kept (the acks
    keep their control numbers) and only what is missing is done, so a submission that failed
    half-way is completed and a finished one is left as it is.  Exit codes as `epoi run`.

    An interchange rejected for the carrier profiles (TA1 006, sender not a registered
    carrier; TA1 020, production data from a carrier still in test) is screened again
    against today's profiles: once the carrier is registered (`epoi carriers add|import`)
    or certified (`epoi carriers certify`), reprocessing the submission accepts it, answers
    it with a new TA1/997 and takes it through every stage.  (`epoi run` on the same file
    skips it as already submitted.)

    \b
    Example:
      epoi reprocess 12
    """
    settings = current_settings()
    with command_store() as store:
        # Another carrier's submission is "no submission", like a missing one.
        submission_in_scope(store, carrier_scope(store, naic), submission)
        summary = reprocess(
            submission, store=store, settings=settings, clock=utc_now,
            match_hook=pipeline_match_hook(settings, utc_now),
        )  # fmt: skip
    if as_json:
        echo_json(summary.as_dict())
    else:
        click.echo(f"submission {submission} reprocessed from its archived original")
        _print_summary(summary, files=False)
    raise SystemExit(EXIT_REJECTED if summary.anything_rejected else EXIT_OK)


# -- worker ----------------------------------------------------------------------------------


@main.command("worker")
@click.option(
    "--stage", type=click.Choice([*STAGES, "all"]), default="all", show_default=True,
    help="the stage queue(s) to consume",
)  # fmt: skip
@click.option("--concurrency", type=click.IntRange(1, 64), default=1, show_default=True,
              help="consumers in this process")  # fmt: skip
@guarded
def worker_command(stage: str, concurrency: int) -> None:
    """A long-running worker for the scale-out setup; SIGTERM stops it after the unit in
    hand.

    \b
    Example:
      EPOI_DATABASE_URL=postgresql+psycopg://epoi@db/epoi \\
      EPOI_BROKER_URL=amqp://guest:guest@mq// epoi worker --stage normalize --concurrency 4
    """
    stages = STAGES if stage == "all" else (stage,)
    with command_store() as store:
        serve(
            store=store, settings=current_settings(), clock=utc_now, stages=stages,  # type: ignore[arg-type]
            concurrency=concurrency, match_hook=pipeline_match_hook(current_settings(), utc_now),
        )  # fmt: skip
