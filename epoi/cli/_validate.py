"""``epoi validate``: parse and validate files without storing anything (cli.md).

Output is written set by set as the second pass (business edits) reaches each set, so
memory stays flat however large the file and however many records it rejects."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import closing
from typing import TextIO, get_args

import click
from pydantic import BaseModel

from .._clock import utc_now
from ..parsers import Engine, ValidationOptions
from ..schemas.verdict import FileVerdict
from ._app import EXIT_OK, EXIT_REJECTED, current_settings, guarded, main


def _options() -> ValidationOptions:
    s = current_settings()
    return ValidationOptions(
        receiver_qualifier=s.receiver_qualifier,
        receiver_id=s.receiver_id,
        max_errors_per_set=s.max_errors_per_set,
        max_segment_length=s.max_segment_length,
    )


def _open(model: BaseModel, children: str) -> str:
    """A model's JSON object left open at its list of ``children``."""
    head = json.dumps(model.model_dump(mode="json", exclude={children}))
    return f'{head[:-1]}, "{children}": ['


def _write_json(out: TextIO, v: FileVerdict, sets: Iterator[str]) -> None:
    out.write(_open(v, "interchanges"))
    for i, ic in enumerate(v.interchanges):
        out.write(("," if i else "") + "\n  " + _open(ic, "groups"))
        for j, g in enumerate(ic.groups):
            out.write(("," if j else "") + "\n    " + _open(g, "transaction_sets"))
            for k, _ in enumerate(g.transaction_sets):
                out.write(("," if k else "") + "\n      " + next(sets))
            out.write("]}")
        out.write("]}")
    out.write("]}")


def _write_text(out: TextIO, v: FileVerdict, sets: Iterator[str]) -> None:
    def line(text: str) -> None:
        out.write(text + "\n")

    line(f"{v.file}: {'ACCEPTED' if v.accepted else 'REJECTED'}")
    if v.error:
        line(f"  error {v.error.code}: {v.error.message}")
    for ic in v.interchanges:
        test = " (test)" if ic.test else ""
        line(f"  interchange {ic.control_number} from {ic.sender_id}{test}: "
             f"TA1 {ic.ta1.ack_code} {ic.ta1.note_code}")
        for g in ic.groups:
            codes = ",".join(g.error_codes)
            line(f"    group {g.control_number}: AK9 {g.ack_code} {codes}".rstrip())
            for _ in g.transaction_sets:
                out.write(next(sets))


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="print one JSON document (cli.md)")
@click.option(
    "--engine",
    type=click.Choice(get_args(Engine)),
    default="fast",
    show_default=True,
    help="fast: compiled from the map; pyx12: pyx12's own validation, the reference",
)
@guarded
def validate(files: tuple[str, ...], as_json: bool, engine: Engine) -> None:
    """Parse and validate FILES without storing anything.

    Exit 0 when every file and record is accepted, 1 when anything was rejected.

    \b
    Example:
      epoi validate sample_edi/*.x12 --json
    """
    from ..parsers import validate as run_validation
    from ..parsers import validate_parallel
    from ._second_pass import PassOptions, Rendered, second_pass

    settings = current_settings()
    options = _options()
    # sys.stdout itself (swapped by click's test runner too), not click.get_text_stream: no
    # second text wrapper over the same buffer, and no API Click may deprecate.
    out = sys.stdout
    rejected = False
    opts = PassOptions(settings=settings, received_at=utc_now(), as_json=as_json)

    def texts(rendered: Iterator[Rendered]) -> Iterator[str]:
        nonlocal rejected
        for text, rejected_records in rendered:
            rejected |= rejected_records
            yield text

    if as_json:
        out.write('{"files": [\n')
    # settings.workers: 0 = one process per core; a small file stays in this one
    workers = settings.workers if engine == "fast" else 1
    for n, f in enumerate(files):
        if engine == "fast" and settings.workers != 1:
            verdict = validate_parallel(f, name=f, options=options, workers=settings.workers)
        else:
            with open(f, "rb") as stream:
                verdict = run_validation(stream, name=f, options=options, engine=engine)
        rejected |= not verdict.accepted
        # the second pass: the accepted sets' policies, streamed set by set; closed here, so
        # that its worker pool is gone before the next file's validation forks its own
        with closing(second_pass(f, verdict, name=f, opts=opts, workers=workers)) as rendered:
            sets = texts(rendered)
            if as_json:
                out.write(",\n" if n else "")
                _write_json(out, verdict, sets)
            else:
                _write_text(out, verdict, sets)
    if as_json:
        out.write("\n]}\n")
    out.flush()
    sys.exit(EXIT_REJECTED if rejected else EXIT_OK)
