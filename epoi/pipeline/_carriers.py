"""The carrier profiles an operator keeps (``epoi carriers add|list|show|import|certify``):
registered, listed, imported from a CSV file and certified for production."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError, Location
from ..store import (
    Carrier,
    CarrierEnvironment,
    Store,
    add_carrier,
    carrier_by_naic,
    clean_test_interchanges,
    count_submissions,
    list_carriers,
)

CARRIER_COLUMNS = ("name", "naic", "isa_qualifier", "isa_id", "environment")


def carrier_doc(c: Carrier, submissions: int | None = None) -> dict[str, Any]:
    """A carrier's profile as ``epoi carriers show --json`` prints it."""
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


def register_carrier(store: Store, *, name: str, naic: str, isa_qualifier: str, isa_id: str,
                     environment: CarrierEnvironment, now: datetime) -> dict[str, Any]:  # fmt: skip
    """Register a carrier; its profile.  ``ConfigError`` (CARRIER) when a field is malformed
    or the NAIC code or ISA identity is taken."""
    with store.session() as session:
        carrier = add_carrier(session, name=name, naic=naic, isa_qualifier=isa_qualifier,
                              isa_id=isa_id, environment=environment, created_at=now)  # fmt: skip
        return carrier_doc(carrier)


def carrier_docs(store: Store) -> list[dict[str, Any]]:
    """Every registered carrier's profile, by NAIC code."""
    with store.session(readonly=True) as session:
        return [carrier_doc(c) for c in list_carriers(session)]


def _registered(session: Any, naic: str) -> Carrier:
    carrier = carrier_by_naic(session, naic)
    if carrier is None:
        raise ConfigError("CARRIER", f"no carrier with NAIC {naic} is registered")
    return carrier


def carrier_profile(store: Store, naic: str) -> dict[str, Any]:
    """One carrier's profile with the number of its submissions."""
    with store.session(readonly=True) as session:
        carrier = _registered(session, naic)
        return carrier_doc(carrier, submissions=count_submissions(session, carrier.id))


def certify_carrier(store: Store, naic: str, *, needed: int) -> dict[str, Any]:
    """Move a carrier in test to production once it has sent ``needed`` test interchanges
    accepted without errors; its profile with ``clean_test_interchanges``, ``needed`` and
    ``certified`` (False too for a carrier in production already)."""
    with store.session() as session:
        carrier = _registered(session, naic)
        before = carrier.environment
        clean = clean_test_interchanges(session, carrier)
        if before is CarrierEnvironment.TEST and clean >= needed:
            carrier.environment = CarrierEnvironment.PRODUCTION
        return {**carrier_doc(carrier), "clean_test_interchanges": clean, "needed": needed,
                "certified": before is CarrierEnvironment.TEST
                and carrier.environment is CarrierEnvironment.PRODUCTION}  # fmt: skip


@dataclass(frozen=True, slots=True)
class CarrierImport:
    added: int
    kept: int


def import_carriers(store: Store, file: Path, *, now: datetime) -> CarrierImport:
    """Register the carriers of a CSV file (columns :data:`CARRIER_COLUMNS`, environment
    test or production).  A carrier registered already with the same ISA identity is kept
    as it is, so the import can be run again; a bad row (CARRIER-CSV) imports nothing."""
    with file.open(newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in CARRIER_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ConfigError("CARRIER-CSV", f"missing column(s): {', '.join(missing)}",
                              Location(file=str(file)))  # fmt: skip
        rows = list(reader)
    added = kept = 0
    with store.session() as session:
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
                environment=CarrierEnvironment(env), created_at=now,
            )  # fmt: skip
            added += 1
    return CarrierImport(added, kept)
