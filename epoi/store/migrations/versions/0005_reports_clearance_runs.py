"""clearance_runs and clearance_results: each ``epoi renewals clear`` run and its rows, for
the reports

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clearance_runs",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(255), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewals", sa.Integer(), nullable=False),
        sa.Column("cleared", sa.Integer(), nullable=False),
        sa.Column("held", sa.Integer(), nullable=False),
        sa.Column("bad_rows", sa.Integer(), nullable=False),
        sa.UniqueConstraint("file_sha256", "as_of",
                            name="uq_clearance_runs_file_sha256_as_of"),
    )
    op.create_table(
        "clearance_results",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.Integer(),
                  sa.ForeignKey("clearance_runs.id", ondelete="CASCADE",
                                name="fk_clearance_results_run_id_clearance_runs"),
                  nullable=False),
        sa.Column("plate", sa.String(16), nullable=False),
        sa.Column("vin", sa.String(32), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("reason", sa.String(32)),
        sa.Column("reason_date", sa.Date()),
        sa.Column("carrier_naic", sa.String(5)),
        sa.Column("policy_number", sa.String(50)),
        sa.Column("report_key", sa.String(200)),
        sa.UniqueConstraint("run_id", "plate", "vin", "due",
                            name="uq_clearance_results_run_id_plate_vin_due"),
    )
    op.create_index("ix_clearance_results_run_id", "clearance_results", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_clearance_results_run_id", table_name="clearance_results")
    op.drop_table("clearance_results")
    op.drop_table("clearance_runs")
