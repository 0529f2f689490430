"""registrations: registrations, their name keys, reports handed to matching, match results

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine:
    # SQLite's rowid alias must be spelled INTEGER; PostgreSQL wants 64 bits at state scale.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "registrations",
        sa.Column("id", _id(), primary_key=True, autoincrement=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("vin", sa.String(32), nullable=False),
        sa.Column("make", sa.String(8), nullable=False),
        sa.Column("model_year", sa.SmallInteger(), nullable=False),
        sa.Column("expires", sa.Date(), nullable=False),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("owner_last", sa.Text()),
        sa.Column("owner_first", sa.Text()),
        sa.Column("owner_org", sa.Text()),
        sa.Column("owner_dl", sa.String(32)),
        sa.Column("owner_dl_state", sa.String(2)),
        sa.Column("owner_dob", sa.Date()),
        sa.Column("owner_fein", sa.String(16)),
        sa.Column("street", sa.Text()),
        sa.Column("city", sa.Text()),
        sa.Column("state", sa.String(2)),
        sa.Column("zip", sa.String(10)),
    )
    op.create_index("uq_registrations_plate", "registrations", ["plate"], unique=True)
    op.create_index("uq_registrations_vin", "registrations", ["vin"], unique=True)
    op.create_index("ix_registrations_owner_dl", "registrations", ["owner_dl"])
    op.create_index("ix_registrations_owner_fein", "registrations", ["owner_fein"])

    op.create_table(
        "registration_name_keys",
        sa.Column("registration_id", _id(), primary_key=True),
        sa.Column("lookup_key", sa.BigInteger(), primary_key=True),
        sa.Column("owner_dob", sa.Date()),
        sa.Column("vin_b1", sa.String(6), nullable=False),
        sa.Column("vin_b2", sa.String(6), nullable=False),
        sa.Column("vin_b3", sa.String(6), nullable=False),
    )
    op.create_index(
        "ix_registration_name_keys_lookup", "registration_name_keys",
        ["lookup_key", "owner_dob", "vin_b1", "vin_b2", "vin_b3", "registration_id"],
    )

    op.create_table(
        "match_reports",
        sa.Column("report_key", sa.String(200), primary_key=True),
        sa.Column("carrier_naic", sa.String(5)),
        sa.Column("policy_number", sa.String(50)),
        sa.Column("transaction_type", sa.String(3)),
        sa.Column("policy_type", sa.String(2)),
        sa.Column("first_tried", sa.Date(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
    )

    op.create_table(
        "match_results",
        sa.Column("id", _id(), primary_key=True),
        sa.Column("report_key", sa.String(200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("vehicle_index", sa.Integer()),
        sa.Column("carrier_naic", sa.String(5)),
        sa.Column("policy_number", sa.String(50)),
        sa.Column("reported_vin", sa.String(32)),
        sa.Column("state", sa.String(10), nullable=False),
        sa.Column("step", sa.SmallInteger()),
        sa.Column("plate", sa.String(16)),
        sa.Column("vin", sa.String(32)),
        sa.Column("agreed", sa.String(120), nullable=False),
        sa.Column("vin_distance", sa.SmallInteger()),
        sa.Column("candidates", sa.Integer(), nullable=False),
        sa.Column("transaction_type", sa.String(3)),
        sa.Column("effective_date", sa.Date()),
        sa.Column("expiration_date", sa.Date()),
        sa.Column("cancellation_date", sa.Date()),
        sa.Column("vehicle_transaction", sa.String(3)),
        sa.Column("vehicle_transaction_date", sa.Date()),
        sa.Column("fleet", sa.Boolean(), nullable=False),
        sa.Column("tried_on", sa.Date(), nullable=False),
        sa.UniqueConstraint("report_key", "position",
                            name="uq_match_results_report_key_position"),
    )
    op.create_index("ix_match_results_vin", "match_results", ["vin"])
    pending = sa.text("state = 'pending'")
    op.create_index("ix_match_results_pending", "match_results", ["report_key"],
                    sqlite_where=pending, postgresql_where=pending)
    unmatched = sa.text("state <> 'matched'")
    op.create_index("ix_match_results_unmatched_vin", "match_results", ["reported_vin"],
                    sqlite_where=unmatched, postgresql_where=unmatched)
    cancelled = sa.text("transaction_type = 'XLC' AND state = 'matched'")
    op.create_index("ix_match_results_cancelled_vin", "match_results", ["vin"],
                    sqlite_where=cancelled, postgresql_where=cancelled)


def downgrade() -> None:
    op.drop_table("match_results")
    op.drop_table("match_reports")
    op.drop_table("registration_name_keys")
    op.drop_table("registrations")
