"""``epoi submit``, ``epoi carriers add|list|show|import|certify`` and ``epoi db upgrade``
(cli.md)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.table import Table

from .._clock import utc_now
from ..intake import SubmissionResult
from ..intake import submit as run_submit
from ..pipeline import (
    carrier_docs,
    carrier_profile,
    certify_carrier,
    import_carriers,
    publish_queued,
    register_carrier,
)
from ..store import CarrierEnvironment, Store, SubmissionState
from ._app import (
    EXIT_OK,
    EXIT_REJECTED,
    command_store,
    current_settings,
    echo_json,
    guarded,
    main,
    print_table,
)

# -- db ------------------------------------------------------------------------------------


@main.group()
def db() -> None:
    """The database schema."""


@db.command("upgrade")
@guarded
def db_upgrade() -> None:
    """Apply the database migrations up to the newest.

    \b
    Example:
      EPOI_DATABASE_URL=postgresql+psycopg://epoi@db/epoi epoi db upgrade
    """
    store = Store.from_settings(current_settings())  # this command alone migrates a server
    try:
        store.upgrade()
        click.echo(f"database at revision {store.current_revision()}")
    finally:
        store.dispose()


# -- submit --------------------------------------------------------------------------------


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--carrier", "naic", metavar="NAIC", help="the sending carrier's NAIC code")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def submit(files: tuple[str, ...], naic: str | None, as_json: bool) -> None:
    """Archive FILES, record them, validate them and write their TA1 and 997.

    Exit 0 when every file is accepted, 1 when anything was rejected (or a file was
    submitted before).

    \b
    Example:
      epoi submit incoming/acme-20261127.x12 --carrier 12345
    """
    settings = current_settings()
    with command_store() as store:
        results = run_submit(files, store=store, settings=settings, clock=utc_now, carrier=naic)
        publish_queued(store, settings, [r.submission_id for r in results if not r.duplicate])
    if as_json:
        echo_json({"submissions": [r.as_dict() for r in results]})
    else:
        for r in results:
            _print_result(r)
    raise SystemExit(EXIT_OK if all(r.ok for r in results) else EXIT_REJECTED)


def _print_result(r: SubmissionResult) -> None:
    if r.duplicate:
        mark = "DUPLICATE"
    elif r.state is SubmissionState.FAILED:
        mark = "FAILED"
    else:
        mark = "ACCEPTED" if r.accepted else "REJECTED"
    click.echo(f"{r.file}: submission {r.submission_id} {mark} ({r.state.value})")
    if r.error_code:
        click.echo(f"  {r.error_code}: {r.error_message}")
    for ic in r.interchanges:
        test = " (test)" if ic.test else ""
        click.echo(
            f"  interchange {ic.control_number} from {ic.sender_qualifier}/{ic.sender_id}{test}: "
            f"TA1 {ic.ta1_ack_code} {ic.ta1_note_code}"
            + (f": {ic.message}" if ic.message else "")
        )
    if r.rejected_records:
        click.echo(f"  {r.rejected_records} record(s) rejected by business edits")
    for path in r.acks:
        click.echo(f"  ack {path}")


# -- carriers ------------------------------------------------------------------------------


@main.group()
def carriers() -> None:
    """Trading-partner profiles: name, NAIC code, ISA sender, test or production."""


@carriers.command("add")
@click.option("--name", required=True, help="the insurer's name")
@click.option("--naic", required=True, help="NAIC company code, 5 digits")
@click.option("--isa-qualifier", required=True, help="ISA05, e.g. ZZ")
@click.option("--isa-id", required=True, help="ISA06, the carrier's interchange sender ID")
@click.option(
    "--test/--production",
    "test",
    default=True,
    show_default=True,
    help="whether the carrier is still in testing (its production interchanges get TA1 020 "
    "until `epoi carriers certify`) or sends production data",
)
@click.option("--json", "as_json", is_flag=True, help="print the profile as JSON")
@guarded
def carriers_add(
    name: str, naic: str, isa_qualifier: str, isa_id: str, test: bool, as_json: bool
) -> None:
    """Register a carrier.

    \b
    Example:
      epoi carriers add --name "ACME MUTUAL" --naic 12345 --isa-qualifier ZZ \\
          --isa-id ACMEINS --production
    """
    with command_store() as store:
        doc = register_carrier(
            store, name=name, naic=naic, isa_qualifier=isa_qualifier, isa_id=isa_id,
            environment=CarrierEnvironment.TEST if test else CarrierEnvironment.PRODUCTION,
            now=utc_now(),
        )  # fmt: skip
    if as_json:
        echo_json(doc)
    else:
        click.echo(
            f"carrier {doc['naic']} {doc['name']} added: sender "
            f"{doc['isa_qualifier']}/{doc['isa_id']}, {doc['environment']}"
        )


@carriers.command("list")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def carriers_list(as_json: bool) -> None:
    """List the registered carriers.

    \b
    Example:
      epoi carriers list --json
    """
    with command_store() as store:
        docs = carrier_docs(store)
    if as_json:
        echo_json({"carriers": docs})
        return
    table = Table("NAIC", "name", "ISA sender", "environment", "since")
    for d in docs:
        table.add_row(
            d["naic"], d["name"], f"{d['isa_qualifier']}/{d['isa_id']}", d["environment"],
            d["created_at"][:10],
        )
    print_table(table)


@carriers.command("show")
@click.argument("naic")
@click.option("--json", "as_json", is_flag=True, help="print the profile as JSON")
@guarded
def carriers_show(naic: str, as_json: bool) -> None:
    """Show one carrier's profile.

    \b
    Example:
      epoi carriers show 12345
    """
    with command_store() as store:
        doc = carrier_profile(store, naic)
    if as_json:
        echo_json(doc)
        return
    width = max(len(k) for k in doc)
    for key, value in doc.items():
        click.echo(f"{key.ljust(width)}  {value}")


@carriers.command("certify")
@click.argument("naic")
@click.option("--json", "as_json", is_flag=True, help="print the outcome as JSON")
@guarded
def carriers_certify(naic: str, as_json: bool) -> None:
    """Move a carrier in test to production, once it has sent enough test interchanges
    (ISA15 T) accepted without errors: TA1 A and every 997 AK9/AK5 A
    (EPOI_CERTIFY_MIN_TEST_INTERCHANGES, default 1).  Until then its production
    interchanges (ISA15 P) are rejected with TA1 020; a test interchange never changes
    production data.  Exit 1 when the carrier has not sent enough yet; a carrier in
    production already is left as it is.

    \b
    Example:
      epoi carriers certify 12345
    """
    needed = current_settings().certify_min_test_interchanges
    with command_store() as store:
        doc = certify_carrier(store, naic, needed=needed)
    clean = doc["clean_test_interchanges"]
    refused = doc["environment"] == CarrierEnvironment.TEST.value
    if as_json:
        echo_json(doc)
    elif not doc["certified"] and not refused:
        click.echo(f"carrier {naic} {doc['name']} is in production already")
    elif doc["certified"]:
        click.echo(f"carrier {naic} {doc['name']} certified: production from now on "
                   f"({clean} test interchange(s) accepted without errors)")  # fmt: skip
    else:
        click.echo(f"carrier {naic} {doc['name']} stays in test: {clean} test interchange(s) "
                   f"accepted without errors, {needed} needed "
                   "(EPOI_CERTIFY_MIN_TEST_INTERCHANGES)")  # fmt: skip
    raise SystemExit(EXIT_REJECTED if refused else EXIT_OK)


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
    with command_store() as store:
        outcome = import_carriers(store, file, now=utc_now())
    click.echo(f"carriers: {outcome.added} added, {outcome.kept} already registered")
