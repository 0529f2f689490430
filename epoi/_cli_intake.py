"""``epoi submit``, ``epoi carriers add|list|show|certify`` and ``epoi db upgrade`` (cli.md)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import click
from rich.table import Table

from .cli import EXIT_OK, EXIT_REJECTED, _settings, echo_json, guarded, main, print_table
from ._units import parse_key
from .config import Settings
from .errors import ConfigError
from .intake import SubmissionResult, submit as run_submit
from .store import (
    Carrier,
    CarrierEnvironment,
    Store,
    SubmissionState,
    add_carrier,
    carrier_by_naic,
    clean_test_interchanges,
    count_submissions,
    list_carriers,
    queued_units,
)


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def open_store() -> Store:
    """The configured store, ready for use.  The embedded default (no EPOI_DATABASE_URL)
    migrates itself; a configured server database must be migrated by an operator with
    ``epoi db upgrade``, so that no worker changes a shared schema on its own."""
    settings = _settings()
    store = Store.from_settings(settings)
    if settings.database_url is None:
        store.upgrade()
    else:
        store.ensure_current()
    return store


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
    store = Store.from_settings(_settings())
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
    settings = _settings()
    store = open_store()
    try:
        results = run_submit(files, store=store, settings=settings, clock=utc_now, carrier=naic)
        if settings.broker_url is not None:
            _publish_queued(store, settings, [r.submission_id for r in results if not r.duplicate])
    finally:
        store.dispose()
    if as_json:
        echo_json({"submissions": [r.as_dict() for r in results]})
    else:
        for r in results:
            _print_result(r)
    raise SystemExit(EXIT_OK if all(r.ok for r in results) else EXIT_REJECTED)


def _publish_queued(store: Store, settings: Settings, submission_ids: list[int]) -> None:
    """Scale-out setup (a broker is configured): hand the units these submissions queued
    in the store to the running workers.  They are committed before they are published, so
    a crash in between loses nothing: a worker re-queues what the store holds as queued when
    it starts.  (The embedded default needs no publish: `epoi run` starts from the store.)"""
    from .queues import Broker, Envelope, QueueConfig  # only the scale-out path needs kombu

    prefixes = tuple(f"{parse_key(s)}/" for s in submission_ids)
    if not prefixes:
        return
    with store.session(readonly=True) as session:
        units = [(k, kind) for k, kind in queued_units(session) if k.startswith(prefixes)]
    with Broker(QueueConfig.from_settings(settings)) as broker:
        broker.publish_many(Envelope.of(str(kind), key) for key, kind in units)  # type: ignore[arg-type]


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


def _carrier_dict(c: Carrier, submissions: int | None = None) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "naic": c.naic,
        "name": c.name,
        "isa_qualifier": c.isa_qualifier,
        "isa_id": c.isa_id,
        "environment": c.environment.value,
        "created_at": c.created_at.isoformat(),
    }
    if submissions is not None:
        doc["submissions"] = submissions
    return doc


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
    store = open_store()
    try:
        with store.session() as session:
            carrier = add_carrier(
                session,
                name=name,
                naic=naic,
                isa_qualifier=isa_qualifier,
                isa_id=isa_id,
                environment=CarrierEnvironment.TEST if test else CarrierEnvironment.PRODUCTION,
                created_at=utc_now(),
            )
            doc = _carrier_dict(carrier)
    finally:
        store.dispose()
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
    store = open_store()
    try:
        with store.session(readonly=True) as session:
            docs = [_carrier_dict(c) for c in list_carriers(session)]
    finally:
        store.dispose()
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
    store = open_store()
    try:
        with store.session(readonly=True) as session:
            carrier = carrier_by_naic(session, naic)
            if carrier is None:
                raise ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")
            doc = _carrier_dict(carrier, submissions=count_submissions(session, carrier.id))
    finally:
        store.dispose()
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
    needed = _settings().certify_min_test_interchanges
    store = open_store()
    try:
        with store.session() as session:
            carrier = carrier_by_naic(session, naic)
            if carrier is None:
                raise ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")
            before = carrier.environment
            clean = clean_test_interchanges(session, carrier)
            if before is CarrierEnvironment.TEST and clean >= needed:
                carrier.environment = CarrierEnvironment.PRODUCTION
            doc = {**_carrier_dict(carrier), "clean_test_interchanges": clean,
                   "needed": needed, "certified": before is CarrierEnvironment.TEST
                   and carrier.environment is CarrierEnvironment.PRODUCTION}  # fmt: skip
    finally:
        store.dispose()
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
