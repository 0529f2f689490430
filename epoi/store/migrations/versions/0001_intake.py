"""intake: carriers, submissions, interchanges, ack sequences, acks

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Constraint names come from the models' naming convention (alembic applies
# target_metadata's convention to the tables it creates).


def _str_enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def upgrade() -> None:
    op.create_table(
        "carriers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(120), nullable=False),
        sa.Column("naic", sa.String(5), nullable=False, unique=True),
        sa.Column("isa_qualifier", sa.String(2), nullable=False),
        sa.Column("isa_id", sa.String(15), nullable=False),
        sa.Column(
            "environment", _str_enum("carrier_environment", "test", "production"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(naic) = 5", name="naic_length"),
        sa.UniqueConstraint("isa_qualifier", "isa_id"),
    )
    op.create_table(
        "submissions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("carrier_id", sa.Integer(), sa.ForeignKey("carriers.id"), nullable=True),
        sa.Column("file_name", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("archive_path", sa.Text(), nullable=False),
        sa.Column(
            "state",
            _str_enum(
                "submission_state",
                "received",
                "archived",
                "parsed",
                "acknowledged",
                "normalised",
                "matched",
                "failed",
            ),
            nullable=False,
        ),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("interchange_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("transaction_set_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("accepted_set_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("policy_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("vehicle_count", sa.Integer(), server_default="0", nullable=False),
    )
    op.create_index(op.f("ix_submissions_carrier_id"), "submissions", ["carrier_id"])
    op.create_table(
        "interchanges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("submissions.id"), nullable=False
        ),
        sa.Column("sender_qualifier", sa.String(2), nullable=False),
        sa.Column("sender_id", sa.String(15), nullable=False),
        sa.Column("control_number", sa.String(9), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("ta1_ack_code", sa.String(1), nullable=False),
        sa.Column("ta1_note_code", sa.String(3), nullable=False),
    )
    op.create_index(op.f("ix_interchanges_submission_id"), "interchanges", ["submission_id"])
    # Only interchanges the TA1 did not reject use up their (sender, ISA13).
    not_rejected = sa.text("ta1_ack_code <> 'R'")
    op.create_index(
        "uq_interchanges_sender_control_number",
        "interchanges",
        ["sender_qualifier", "sender_id", "control_number"],
        unique=True,
        sqlite_where=not_rejected,
        postgresql_where=not_rejected,
    )
    op.create_table(
        "ack_sequences",
        sa.Column("key", sa.String(40), primary_key=True),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
    )
    op.create_table(
        "acks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "submission_id", sa.Integer(), sa.ForeignKey("submissions.id"), nullable=False
        ),
        sa.Column("kind", _str_enum("ack_kind", "TA1", "997"), nullable=False),
        sa.Column("control_number", sa.String(9), nullable=False),
        sa.Column("answers_interchange", sa.String(9), nullable=False),
        sa.Column("answers_group", sa.String(9), nullable=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(op.f("ix_acks_submission_id"), "acks", ["submission_id"])


def downgrade() -> None:
    op.drop_table("acks")
    op.drop_table("ack_sequences")
    op.drop_table("interchanges")
    op.drop_table("submissions")
    op.drop_table("carriers")
