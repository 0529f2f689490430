"""``epoi status``, ``epoi acks`` and ``epoi dead list|replay`` (cli.md): where the
submissions stand, what was sent back to the carriers, and the units that kept failing."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from .._clock import utc_now
from ..errors import InputError, Location
from ..pipeline import (
    ack_files,
    carrier_scope,
    replay_dead_letters,
    status_overview,
    submission_doc,
    submission_in_scope,
)
from ..queues import dead_list
from ._app import (
    command_broker,
    command_store,
    current_settings,
    echo_json,
    guarded,
    main,
    print_table,
)

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
    with command_store() as store:
        scope = carrier_scope(store, naic)
        if submission is not None:
            # Another carrier's submission is "no submission", like a missing one.
            doc = submission_doc(store, submission_in_scope(store, scope, submission))
            if as_json:
                echo_json(doc)
            else:
                _print_submission(doc)
            return
        overview = status_overview(store, scope)
    docs, units = overview["submissions"], overview["units"]
    if as_json:
        echo_json(overview)
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
    written: list[dict[str, str]] = []
    with command_store() as store:
        files = ack_files(store, carrier_scope(store, naic), submission,
                          home=current_settings().home)  # fmt: skip
    out_dir.mkdir(parents=True, exist_ok=True)
    for f in files:
        target = out_dir / f.name
        if f.path is not None:
            try:
                shutil.copyfile(f.path, target)
            except OSError as exc:
                raise InputError("ACK-MISSING", f"the stored ack is unreadable: {exc.strerror}",
                                 Location(file=str(f.path))) from exc  # fmt: skip
        else:
            target.write_text(f.content or "", encoding="latin-1")
        written.append({"kind": f.kind, "control_number": f.control_number,
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
    with command_broker() as broker:
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
    with command_store() as store, command_broker() as broker:
        count = replay_dead_letters(store, broker, "all" if replay_all else set(ids),
                                    now=utc_now())  # fmt: skip
    click.echo(f"{count} dead letter(s) replayed")


