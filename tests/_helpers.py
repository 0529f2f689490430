"""Plain helpers several test files share (fixtures are in ``conftest.py``)."""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result

from epoi.cli import main
from epoi.store import CarrierEnvironment, Store, add_carrier

# The tables one `epoi run` writes to (carriers are registered before it).
RUN_TABLES = (
    "submissions", "interchanges", "acks", "functional_groups", "transaction_sets",
    "work_units", "policy_reports", "insureds", "vehicles", "business_errors", "error_returns",
)  # fmt: skip


def row_counts(conn: sa.Connection, tables: Iterable[str]) -> dict[str, int]:
    """``{table: count(*)}`` of each of ``tables``."""
    return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def register_carriers(store: Store, carriers: Iterable[Any], *, created_at: datetime) -> None:
    """Register a sample's carriers (ISA qualifier ZZ, production) in ``store``."""
    with store.session() as session:
        for c in carriers:
            add_carrier(
                session, name=c.name, naic=c.naic, isa_qualifier="ZZ", isa_id=c.sender_id,
                environment=CarrierEnvironment.PRODUCTION, created_at=created_at,
            )  # fmt: skip


def write_carriers_csv(carriers: Iterable[Any], path: Path) -> Path:
    """A sample's carriers as an ``epoi carriers import`` file (ZZ, production)."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["name", "naic", "isa_qualifier", "isa_id", "environment"])
        for c in carriers:
            w.writerow([c.name, c.naic, "ZZ", c.sender_id, "production"])
    return path


def subprocess_env(**epoi: str) -> dict[str, str]:
    """This process's environment without any ``EPOI_*`` setting of the developer's, plus
    ``epoi`` (e.g. ``EPOI_HOME=...``): what an ``epoi`` subprocess under test sees."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPOI_")}
    env.update(epoi)
    return env


def cli_in(home: Path, *args: str) -> Result:
    """``epoi *args`` in this process, on the embedded default under ``home``."""
    return CliRunner().invoke(main, list(args), env={"EPOI_HOME": str(home),
                                                     "EPOI_DATABASE_URL": None})  # fmt: skip


def cli_ok(home: Path, *args: str) -> str:
    """:func:`cli_in` that must end 0 or 1 (1: some records rejected); its output."""
    result = cli_in(home, *args)
    assert result.exit_code in (0, 1), result.output
    return result.output


def cli_sample(home: Path, out: Path, *sample_args: str) -> dict[str, Any]:
    """``epoi sample --out out --json *sample_args``, then ``epoi carriers add`` of each of
    its carriers (ZZ, production), in ``home``; the sample's JSON summary."""
    info = json.loads(cli_ok(home, "sample", *sample_args, "--out", str(out), "--json"))
    for c in info["carriers"]:
        cli_ok(home, "carriers", "add", "--name", c["name"], "--naic", c["naic"],
               "--isa-qualifier", "ZZ", "--isa-id", c["sender_id"], "--production")  # fmt: skip
    return info
