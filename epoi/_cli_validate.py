"""``epoi validate``: parse and validate files without storing anything (cli.md)."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from .cli import EXIT_OK, EXIT_REJECTED, _settings, echo_json, guarded, main
from .parsers import ValidationOptions
from .schemas.verdict import FileVerdict


def _options() -> ValidationOptions:
    s = _settings()
    return ValidationOptions(
        receiver_qualifier=s.receiver_qualifier,
        receiver_id=s.receiver_id,
        max_errors_per_set=s.max_errors_per_set,
        max_segment_length=s.max_segment_length,
    )


def _print_text(v: FileVerdict) -> None:
    mark = "ACCEPTED" if v.accepted else "REJECTED"
    click.echo(f"{v.file}: {mark}")
    if v.error:
        click.echo(f"  error {v.error.code}: {v.error.message}")
    for ic in v.interchanges:
        test = " (test)" if ic.test else ""
        click.echo(
            f"  interchange {ic.control_number} from {ic.sender_id}{test}: "
            f"TA1 {ic.ta1.ack_code} {ic.ta1.note_code}"
        )
        for g in ic.groups:
            codes = ",".join(g.error_codes)
            click.echo(f"    group {g.control_number}: AK9 {g.ack_code} {codes}".rstrip())
            for ts in g.transaction_sets:
                codes = ",".join(ts.error_codes)
                click.echo(
                    f"      set {ts.control_number}: AK5 {ts.ack_code} {codes} "
                    f"policies={ts.policies} vehicles={ts.vehicles} "
                    f"rejected={ts.rejected} warnings={ts.warnings}"
                )
                for e in ts.errors:
                    where = f"segment {e.segment_position} {e.segment_id or ''}"
                    if e.element:
                        where += f" {e.element}"
                    pol = f" policy {e.policy_number}" if e.policy_number else ""
                    click.echo(f"        {e.severity} {e.code} at {where}{pol}: {e.message}")
                if ts.errors_truncated:
                    click.echo(f"        ... and {ts.errors_truncated} more")


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (cli.md)")
@click.option(
    "--engine",
    type=click.Choice(["fast", "pyx12"]),
    default="fast",
    show_default=True,
    help="fast: compiled from the map; pyx12: pyx12's own validation, the reference",
)
@guarded
def validate(files: tuple[str, ...], as_json: bool, engine: str) -> None:
    """Parse and validate FILES without storing anything.

    Exit 0 when every file is accepted, 1 when anything was rejected.

    \b
    Example:
      epoi validate sample_edi/*.x12 --json
    """
    from .parsers import iter_policies
    from .parsers import validate as run_validation
    from .transforms import EditContext, merge_business_edits, normalize

    settings = _settings()
    options = _options()
    now = datetime.now(UTC)
    context = EditContext.from_settings(settings, received_at=now, today=now.date())
    verdicts = []
    for f in files:
        with open(f, "rb") as stream:
            # settings.workers: 0 = one process per core, for large files (parsers.validate)
            verdict = run_validation(
                stream, name=f, options=options, engine=engine, workers=settings.workers
            )
        with open(f, "rb") as stream:  # second streaming pass: the accepted sets' policies
            records = (normalize(b, context=context) for b in iter_policies(stream, verdict, name=f))
            verdicts.append(merge_business_edits(
                verdict, records, max_errors_per_set=settings.max_errors_per_set
            ))
    if as_json:
        echo_json({"files": [v.model_dump(mode="json") for v in verdicts]})
    else:
        for v in verdicts:
            _print_text(v)
    rejected = any(
        not v.accepted or any(ts.rejected for ic in v.interchanges for g in ic.groups for ts in g.transaction_sets)
        for v in verdicts
    )
    raise SystemExit(EXIT_REJECTED if rejected else EXIT_OK)
