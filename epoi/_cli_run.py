"""``epoi run``, ``epoi reprocess``, ``epoi worker``, ``epoi status``, ``epoi acks``,
``epoi dead list|replay``
and ``epoi carriers import`` (cli.md)."""

from __future__ import annotations

import csv
import shutil
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from ._access import CarrierScope, scoped_submission
from ._status import submission_doc as _submission_doc
from ._cli_intake import carriers, open_store, utc_now
from .cli import EXIT_OK, EXIT_REJECTED, _settings, echo_json, guarded, main, print_table
from .errors import ConfigError, InputError, Location
from .intake import PROFILE_NOTES, SubmissionResult
from ._cli_matching import load_for_run, matching_doc, print_matching
from .matching import MatchCounts, pipeline_match_hook
from .pipeline import RunSummary, reprocess, run as run_pipeline, serve
from .queues import Broker, QueueConfig, dead_list, dead_replay
from .store import (
    CarrierEnvironment,
    Store,
    Submission,
    acks_of,
    add_carrier,
    carrier_by_naic,
    error_returns_of,
    record_counts,
    reopen_units,
    unit_counts,
)

STAGES = ("parse", "normalize", "match")


def _broker() -> Broker:
    settings = _settings()
    settings.ensure_home()  # the embedded queue lives there
    return Broker(QueueConfig.from_settings(settings))


@contextmanager
def _store() -> Iterator[Store]:
    store = open_store()
    try:
        yield store
    finally:
        store.dispose()


# -- run -------------------------------------------------------------------------------------


class _Bar:
    """A rich progress bar of policies normalised, on a terminal only."""

    def __init__(self, enabled: bool) -> None:
        self.progress: Any = None
        self.task: Any = None
        if enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

            self.progress = Progress(
                "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), console=Console(stderr=True), transient=True,
            )  # fmt: skip
            self.task = self.progress.add_task("policies", total=0)

    def __call__(self, event: str, n: int) -> None:
        if self.progress is None:
            return
        if event == "planned":
            total = self.progress.tasks[0].total or 0
            self.progress.update(self.task, total=total + n)
        elif event == "normalised":
            self.progress.advance(self.task, n)

    def __enter__(self) -> _Bar:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()


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
    interchange or a record was rejected.

    \b
    Example:
      epoi carriers import examples/carriers.csv
      epoi run sample_edi/*.x12 --registrations sample_edi/registrations.csv
    """
    settings = _settings()
    matched = MatchCounts()
    with _store() as store:
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
    with store.session(readonly=True) as session:
        notes = {i.ta1_note_code for i in interchanges_of(session, submission_id)
                 if i.ta1_ack_code == "R" and i.ta1_note_code in PROFILE_NOTES}  # fmt: skip
    if not notes:
        return ""
    return (f" (rejected before with TA1 {'/'.join(sorted(notes))}: once the carrier is "
            f"registered or certified, `epoi reprocess {submission_id}`)")


def _print_summary(s: RunSummary, *, files: bool = True) -> None:
    if files:
        click.echo(
            f"files {s.files} ({s.duplicates} already submitted), submissions {len(s.submissions)}"
            + (f", {s.recovered_units} unit(s) recovered from an interrupted run" if s.recovered_units else "")
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
    settings = _settings()
    with _store() as store:
        with store.session(readonly=True) as session:
            # Another carrier's submission is "no submission", like a missing one.
            scoped_submission(session, CarrierScope.for_naic(session, naic), submission)
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
    with _store() as store:
        serve(
            store=store, settings=_settings(), clock=utc_now, stages=stages,  # type: ignore[arg-type]
            concurrency=concurrency, match_hook=pipeline_match_hook(_settings(), utc_now),
        )  # fmt: skip


# -- status ----------------------------------------------------------------------------------


@main.command("status")
@click.argument("submission", type=int, required=False)
@click.option("--carrier", "naic", metavar="NAIC",
              help="act as this carrier: only its own submissions exist")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def status_command(submission: int | None, naic: str | None, as_json: bool) -> None:
    """Where each submission stands: lineage state, counts, units of work, acks.

    \b
    Example:
      epoi status
      epoi status 12 --json
      epoi status --carrier 12345
    """
    with _store() as store:
        with store.session(readonly=True) as session:
            scope = CarrierScope.for_naic(session, naic)
        if submission is not None:
            with store.session(readonly=True) as session:
                # Another carrier's submission is "no submission", like a missing one.
                sub = scoped_submission(session, scope, submission)
            doc = _submission_doc(store, sub)
            if as_json:
                echo_json(doc)
            else:
                _print_submission(doc)
            return
        with store.session(readonly=True) as session:
            stmt = scope.submissions(select(Submission).order_by(Submission.id))
            subs = list(session.scalars(stmt))
            units = unit_counts(session)
            totals = record_counts(session)
        docs = [_submission_doc(store, s) for s in subs]
        if scope.is_carrier:  # the totals of the carrier's own submissions only
            units, totals = _sum_units(docs), _sum_counts(docs)
    if as_json:
        echo_json({"submissions": docs, "units": units, "counts": totals})
        return
    table = Table("id", "file", "state", "policies", "accepted", "warned", "rejected", "acks")
    for d in docs:
        c = d["counts"]
        table.add_row(
            str(d["submission_id"]), Path(d["file"]).name, d["state"], str(c["policies"]),
            str(c["accepted"]), str(c["warned"]), str(c["rejected"]),
            str(d["acks"] + c["error_returns"]),
        )  # fmt: skip
    print_table(table)
    queued = sum(by.get("queued", 0) for by in units.values())
    failed = sum(by.get("failed", 0) for by in units.values())
    click.echo(f"units: {queued} queued, {failed} failed")


def _sum_units(docs: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for d in docs:
        for kind, by in d["units"].items():
            for state, n in by.items():
                out.setdefault(kind, {})[state] = out.get(kind, {}).get(state, 0) + n
    return out


def _sum_counts(docs: list[dict[str, Any]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for d in docs:
        for key, n in d["counts"].items():
            out[key] = out.get(key, 0) + n
    return out


def _print_submission(d: dict[str, Any]) -> None:
    click.echo(f"submission {d['submission_id']}: {d['file']} ({d['state']})")
    click.echo(f"  received {d['received_at']}, sha256 {d['sha256'][:16]}...")
    if d["error"]:
        click.echo(f"  {d['error']['code']}: {d['error']['message']}")
    for i in d["interchanges"]:
        test = " (test)" if i["test"] else ""
        click.echo(f"  interchange {i['control_number']} from {i['sender_id']}{test}: "
                   f"TA1 {i['ta1']['ack_code']} {i['ta1']['note_code']}")  # fmt: skip
    for t in d["transaction_sets"]:
        click.echo(f"  set {t['key']}: AK5 {t['ack_code']}, {t['policies']} policies, "
                   f"{t['chunks_done']}/{t['chunks']} chunks normalised")  # fmt: skip
    c = d["counts"]
    click.echo(f"  policies {c['policies']}: accepted {c['accepted']}, warned {c['warned']}, "
               f"rejected {c['rejected']}; vehicles {c['vehicles']}; "
               f"business errors {c['business_errors']}")  # fmt: skip
    click.echo(f"  acks {d['acks']} TA1/997, {c['error_returns']} error return(s)")
    for kind, by in sorted(d["units"].items()):
        click.echo(f"  {kind} units: " + ", ".join(f"{n} {s}" for s, n in sorted(by.items())))


# -- acks ------------------------------------------------------------------------------------


@main.command("acks")
@click.argument("submission", type=int)
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("."), show_default=True, help="directory to write them to")  # fmt: skip
@click.option("--carrier", "naic", metavar="NAIC",
              help="act as this carrier: only its own submissions exist")
@click.option("--json", "as_json", is_flag=True, help="list the files written as JSON")
@guarded
def acks_command(submission: int, out_dir: Path, naic: str | None, as_json: bool) -> None:
    """Write the TA1, 997 and error-return 811 of a submission, with the control numbers
    they were sent with.

    \b
    Example:
      epoi acks 12 --out outbox/
    """
    settings = _settings()
    written: list[dict[str, str]] = []
    with _store() as store:
        with store.session(readonly=True) as session:
            # Another carrier's submission is "no submission", like a missing one.
            scoped_submission(session, CarrierScope.for_naic(session, naic), submission)
            acks = acks_of(session, submission)
            returns = error_returns_of(session, submission)
        out_dir.mkdir(parents=True, exist_ok=True)
        for a in acks:
            source = Path(a.path)
            source = source if source.is_absolute() else settings.home / source
            target = out_dir / source.name
            try:
                shutil.copyfile(source, target)
            except OSError as exc:
                raise InputError("ACK-MISSING", f"the stored ack is unreadable: {exc.strerror}",
                                 Location(file=str(source))) from exc  # fmt: skip
            written.append({"kind": a.kind.value, "control_number": a.control_number,
                            "file": str(target)})  # fmt: skip
        for r in returns:
            target = out_dir / Path(r.path).name
            target.write_text(r.content, encoding="latin-1")
            written.append({"kind": "811", "control_number": r.control_number,
                            "file": str(target)})  # fmt: skip
    if as_json:
        echo_json({"submission_id": submission, "files": written})
    else:
        for w in written:
            click.echo(f"{w['kind']} {w['control_number']} -> {w['file']}")


# -- dead letters ----------------------------------------------------------------------------


@main.group("dead")
def dead() -> None:
    """Units of work that kept failing, parked in the dead-letter queue."""


@dead.command("list")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def dead_list_command(as_json: bool) -> None:
    """List the dead letters, oldest first.

    \b
    Example:
      epoi dead list --json
    """
    with _broker() as broker:
        letters = dead_list(broker)
    if as_json:
        echo_json({"dead": [d.model_dump(mode="json", exclude={"envelope"}) for d in letters]})
        return
    for d in letters:
        click.echo(f"{d.id} {d.queue} {d.unit_id or '-'} attempt {d.attempt}: "
                   f"{d.error_code} {d.error_message}")  # fmt: skip
    click.echo(f"{len(letters)} dead letter(s)")


@dead.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="replay every dead letter")
@guarded
def dead_replay_command(ids: tuple[str, ...], replay_all: bool) -> None:
    """Put dead letters back on their stage queues (then `epoi run` or a worker takes them).

    \b
    Example:
      epoi dead replay --all
    """
    if not ids and not replay_all:
        raise click.UsageError("give dead-letter IDS or --all")
    with _store() as store, _broker() as broker:
        wanted = "all" if replay_all else set(ids)
        letters = [
            d for d in dead_list(broker) if d.unit_id and (wanted == "all" or d.id in wanted)
        ]
        with store.session() as session:
            reopen_units(session, [d.unit_id for d in letters if d.unit_id], now=utc_now())
        count = dead_replay(broker, wanted)
    click.echo(f"{count} dead letter(s) replayed")


# -- carriers import -------------------------------------------------------------------------

_CARRIER_COLUMNS = ("name", "naic", "isa_qualifier", "isa_id", "environment")


@carriers.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@guarded
def carriers_import(file: Path) -> None:
    """Register the carriers of a CSV file (columns name, naic, isa_qualifier, isa_id,
    environment = test or production).  A carrier registered already with the same profile
    is left as it is, so the import can be run again.

    \b
    Example:
      epoi carriers import examples/carriers.csv
    """
    with file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in _CARRIER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError("CARRIER-CSV", f"missing column(s): {', '.join(missing)}",
                             Location(file=str(file)))  # fmt: skip
        rows = list(reader)
    added = kept = 0
    with _store() as store, store.session() as session:
        for line, row in enumerate(rows, start=2):
            env = row["environment"].strip().lower()
            if env not in ("test", "production"):
                raise ConfigError("CARRIER-CSV", f"line {line}: environment must be test or "
                                 "production", Location(file=str(file)))  # fmt: skip
            existing = carrier_by_naic(session, row["naic"].strip())
            if existing is not None and (existing.isa_qualifier, existing.isa_id) == (
                row["isa_qualifier"].strip().upper(), row["isa_id"].strip()
            ):
                kept += 1
                continue
            add_carrier(
                session, name=row["name"], naic=row["naic"].strip(),
                isa_qualifier=row["isa_qualifier"], isa_id=row["isa_id"],
                environment=CarrierEnvironment(env), created_at=utc_now(),
            )  # fmt: skip
            added += 1
    click.echo(f"carriers: {added} added, {kept} already registered")
