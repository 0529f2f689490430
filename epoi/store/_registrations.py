"""The matching stage's tables: registrations, the name keys they are filed under, the
reports handed to matching and one match result per reported vehicle.

Core ``Table`` objects rather than ORM classes: every write here is a bulk write
(``executemany`` or ``COPY`` of thousands of rows) and every read a batched ``IN`` query, so
the ORM's identity map would only add cost.

- ``registrations``: one row per registered vehicle, unique on ``plate`` and on ``vin`` (a
  load upserts on both).  ``id`` is assigned by the loader (``base + line``) so that the
  name-key rows of a bulk load can be written without reading the ids back.
- ``registration_name_keys``: ``(registration_id, lookup_key, owner_dob, VIN blocks)``, one
  row per owner key of ``registration_name_keys(owner_last, owner_org)`` (and the licence
  number and FEIN), each hashed with make and model year: where steps 2 and 4 look owners up.
- ``registration_loads``: one row per load, with a random ``token``: the near-VIN index
  files (``epoi.matching``) are built from one load and named by its token, so a reader
  knows whether the files still describe the table.
- ``match_reports``: the policy reports matching has seen, with the day they were first
  tried (the pending window counts from it) and, for a report that may be matched again (a
  pending vehicle after a registration load, a step-3/4 match whose registration gets
  claimed), the report itself as JSON; "" for the others (``matching._stage``).
- ``match_results``: one row per reported vehicle (a fleet policy: one per vehicle of its
  owner, or one pending row), with the coverage fields the timeline needs so that
  renewals, suspensions and verification read this table alone.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Float,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from ._base import Base

# SQLite's rowid alias must be spelled INTEGER; PostgreSQL wants 64 bits at state scale.
_Id = BigInteger().with_variant(Integer(), "sqlite")

metadata = Base.metadata  # migration 0003_registrations

registrations = Table(
    "registrations",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=False),
    Column("plate", String(16), nullable=False),
    Column("vin", String(32), nullable=False),
    Column("make", String(8), nullable=False),
    Column("model_year", SmallInteger, nullable=False),
    Column("expires", Date, nullable=False),
    Column("status", String(10), nullable=False),
    Column("owner_last", Text),
    Column("owner_first", Text),
    Column("owner_org", Text),
    Column("owner_dl", String(32)),
    Column("owner_dl_state", String(2)),
    Column("owner_dob", Date),
    Column("owner_fein", String(16)),
    Column("street", Text),
    Column("city", Text),
    Column("state", String(2)),
    Column("zip", String(10)),
)
# Named here so that a bulk load can drop and rebuild them (see _registration_load).
REGISTRATION_INDEXES = (
    Index("uq_registrations_plate", registrations.c.plate, unique=True),
    Index("uq_registrations_vin", registrations.c.vin, unique=True),
    Index("ix_registrations_owner_dl", registrations.c.owner_dl),
    Index("ix_registrations_owner_fein", registrations.c.owner_fein),
)

registration_name_keys = Table(
    "registration_name_keys",
    metadata,
    # No foreign key: the loader deletes a registration's keys itself, in bulk, and a
    # foreign-key check per row would slow a 10 M-row load for nothing.
    Column("registration_id", _Id, primary_key=True),
    # A stable 64-bit hash of (owner key, make, model year): the owner key is a name key of
    # the owner (``registration_name_keys``), or "#" + licence number, or "$" + FEIN.  One
    # integer compares faster than three columns and keeps the index small; a collision
    # only adds a candidate, which the cascade's checks then refuse.
    Column("lookup_key", BigInteger, primary_key=True),
    Column("owner_dob", Date),
    # The VIN in three interleaved blocks (vin[0::3], vin[1::3], vin[2::3]).  A VIN within
    # two substitutions of another shares at least one block with it (pigeonhole), and
    # interleaving puts serial-number characters in every block, so the blocks tell a
    # near VIN from the owner's other cars of the same make and year inside the index.
    Column("vin_b1", String(6), nullable=False),
    Column("vin_b2", String(6), nullable=False),
    Column("vin_b3", String(6), nullable=False),
)
NAME_KEY_INDEXES = (
    # Covering: step 2 scans a lookup key and filters on the blocks, step 4 seeks
    # (lookup key, date of birth); neither reads the table.
    Index("ix_registration_name_keys_lookup", registration_name_keys.c.lookup_key,
          registration_name_keys.c.owner_dob, registration_name_keys.c.vin_b1,
          registration_name_keys.c.vin_b2, registration_name_keys.c.vin_b3,
          registration_name_keys.c.registration_id),
)

registration_loads = Table(  # migration 0004
    "registration_loads",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("token", String(32), nullable=False, unique=True),
    Column("file", Text),
    Column("rows", Integer, nullable=False),
    Column("loaded", Integer, nullable=False),
    Column("replaced", Integer, nullable=False),
    Column("bad_rows", Integer, nullable=False),
    Column("seconds", Float, nullable=False),
)

match_reports = Table(
    "match_reports",
    metadata,
    Column("report_key", String(200), primary_key=True),  # RecordKey.as_string()
    Column("carrier_naic", String(5)),
    Column("policy_number", String(50)),
    Column("transaction_type", String(3)),
    Column("policy_type", String(2)),
    Column("first_tried", Date, nullable=False),  # the pending window counts from here
    Column("report", Text, nullable=False),  # PolicyReport JSON, to match again; or ""
)

# The condition of ``ix_match_results_owner_step_vin``, by dialect: a query that repeats it
# word for word is one SQLite answers from that partial index.
OWNER_STEP_MATCHES = {
    "sqlite": "state = 'matched' AND step IN (3, 4) AND fleet = 0",
    "postgresql": "state = 'matched' AND step IN (3, 4) AND fleet = false",
}

match_results = Table(
    "match_results",
    metadata,
    Column("id", _Id, primary_key=True),
    Column("report_key", String(200), nullable=False),
    Column("position", Integer, nullable=False),  # order among the report's results
    Column("vehicle_index", Integer),  # into PolicyReport.vehicles; NULL for a fleet
    Column("carrier_naic", String(5)),
    Column("policy_number", String(50)),
    Column("reported_vin", String(32)),
    Column("state", String(10), nullable=False),  # matched pending unmatched ambiguous
    Column("step", SmallInteger),
    Column("plate", String(16)),
    Column("vin", String(32)),
    Column("agreed", String(120), nullable=False, default=""),  # comma-separated, schema order
    Column("vin_distance", SmallInteger),
    Column("candidates", Integer, nullable=False, default=0),
    # What the coverage timeline needs (CoverageReport), copied from the report.
    Column("transaction_type", String(3)),
    Column("effective_date", Date),
    Column("expiration_date", Date),
    Column("cancellation_date", Date),
    Column("vehicle_transaction", String(3)),
    Column("vehicle_transaction_date", Date),
    Column("fleet", Boolean, nullable=False, default=False),
    Column("tried_on", Date, nullable=False),  # the last attempt
    UniqueConstraint("report_key", "position"),
    Index("ix_match_results_vin", "vin"),  # a vehicle's timeline, step-1/2 claims
    # Partial indexes: each serves one question about a small share of the rows, and a
    # full index on a low-cardinality column would be one more random write per result.
    Index("ix_match_results_pending", "report_key", sqlite_where=text("state = 'pending'"),
          postgresql_where=text("state = 'pending'")),  # re-tries after a load
    Index("ix_match_results_unmatched_vin", "reported_vin",  # held: "only unmatched reports"
          sqlite_where=text("state <> 'matched'"), postgresql_where=text("state <> 'matched'")),
    Index("ix_match_results_cancelled_vin", "vin",  # suspension candidates
          sqlite_where=text("transaction_type = 'XLC' AND state = 'matched'"),
          postgresql_where=text("transaction_type = 'XLC' AND state = 'matched'")),
    # Owner-step matches to undo when a VIN claims their registration (``matching._stage.
    # _rematch_claimed``, once a unit): few rows, where the VIN index holds every result.
    Index("ix_match_results_owner_step_vin", "vin",
          sqlite_where=text(OWNER_STEP_MATCHES["sqlite"]),
          postgresql_where=text(OWNER_STEP_MATCHES["postgresql"])),
)

__all__ = [
    "NAME_KEY_INDEXES",
    "OWNER_STEP_MATCHES",
    "REGISTRATION_INDEXES",
    "match_reports",
    "match_results",
    "registration_loads",
    "registration_name_keys",
    "registrations",
]
