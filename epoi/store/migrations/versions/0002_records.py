"""records: functional groups, transaction sets, units of work, policy reports, insureds,
vehicles, business errors, error returns

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _str_enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=16)


def _fk(column: str, target: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(column, sa.Integer(), sa.ForeignKey(target), nullable=nullable)


def _index(table: str, *columns: str) -> None:
    op.create_index(f"ix_{table}_{'_'.join(columns)}", table, list(columns))


def upgrade() -> None:
    op.create_table(
        "functional_groups",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("submission_id", "submissions.id"),
        _fk("interchange_id", "interchanges.id"),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("control_number", sa.String(9), nullable=False),
        sa.Column("sender_application", sa.String(15), nullable=False),
        sa.Column("ack_code", sa.String(1), nullable=False),
        sa.Column("error_codes", sa.String(40), nullable=False),
    )
    _index("functional_groups", "submission_id")
    _index("functional_groups", "interchange_id")
    op.create_table(
        "transaction_sets",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("submission_id", "submissions.id"),
        _fk("group_id", "functional_groups.id"),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("control_number", sa.String(9), nullable=False),
        sa.Column("ack_code", sa.String(1), nullable=False),
        sa.Column("error_codes", sa.String(40), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("policies", sa.Integer(), nullable=False),
        sa.Column("chunks_total", sa.Integer(), nullable=False),
        sa.Column("chunks_done", sa.Integer(), nullable=False),
        sa.Column("submission_ref", sa.String(30), nullable=False),
        sa.Column("insurer_name", sa.String(120), nullable=False),
        sa.Column("carrier_naic", sa.String(9), nullable=False),
        sa.Column("delimiters", sa.String(3), nullable=False),
    )
    _index("transaction_sets", "submission_id")
    _index("transaction_sets", "group_id")
    op.create_table(
        "work_units",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(300), nullable=False, unique=True),
        _fk("submission_id", "submissions.id"),
        _fk("set_id", "transaction_sets.id", nullable=True),
        sa.Column("kind", _str_enum("unit_kind", "parse", "normalize", "match"), nullable=False),
        sa.Column("state", _str_enum("unit_state", "queued", "done", "failed"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(32), nullable=True),
        sa.Column("policies", sa.Integer(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    _index("work_units", "submission_id")
    _index("work_units", "set_id")
    _index("work_units", "state", "kind")
    op.create_table(
        "policy_reports",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("natural_key", sa.String(400), nullable=False, unique=True),
        _fk("submission_id", "submissions.id"),
        _fk("set_id", "transaction_sets.id"),
        _fk("unit_id", "work_units.id"),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("carrier_naic", sa.String(9), nullable=True),
        sa.Column("insurer_name", sa.String(120), nullable=True),
        sa.Column("jurisdiction", sa.String(2), nullable=True),
        sa.Column("policy_number", sa.String(30), nullable=True),
        sa.Column("transaction_type", sa.String(3), nullable=True),
        sa.Column("policy_type", sa.String(2), nullable=True),
        sa.Column("effective_date", sa.Date(), nullable=True),
        sa.Column("expiration_date", sa.Date(), nullable=True),
        sa.Column("cancellation_date", sa.Date(), nullable=True),
        sa.Column("file", sa.Text(), nullable=False),
        sa.Column("sender_id", sa.String(15), nullable=False),
        sa.Column("interchange", sa.String(9), nullable=False),
        sa.Column("group_control_number", sa.String(9), nullable=False),
        sa.Column("transaction_set", sa.String(9), nullable=False),
        sa.Column("policy_position", sa.Integer(), nullable=False),
        sa.Column("submission_ref", sa.String(30), nullable=False),
        sa.Column("report_date", sa.Date(), nullable=True),
        sa.Column("schema_version", sa.Integer(), nullable=False),
    )
    _index("policy_reports", "submission_id")
    _index("policy_reports", "set_id")
    _index("policy_reports", "unit_id")
    op.create_index("ix_policy_reports_policy", "policy_reports", ["carrier_naic", "policy_number"])
    op.create_table(
        "insureds",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("policy_report_id", "policy_reports.id"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(12), nullable=False),
        sa.Column("last_name", sa.String(60), nullable=True),
        sa.Column("first_name", sa.String(35), nullable=True),
        sa.Column("middle_name", sa.String(25), nullable=True),
        sa.Column("organisation_name", sa.String(60), nullable=True),
        sa.Column("fein", sa.String(9), nullable=True),
        sa.Column("licence_number", sa.String(30), nullable=True),
        sa.Column("licence_state", sa.String(2), nullable=True),
        sa.Column("date_of_birth", sa.Date(), nullable=True),
        sa.Column("address_lines", sa.Text(), nullable=True),
        sa.Column("city", sa.String(30), nullable=True),
        sa.Column("state", sa.String(2), nullable=True),
        sa.Column("zip", sa.String(10), nullable=True),
        sa.UniqueConstraint("policy_report_id", "ordinal"),
    )
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("policy_report_id", "policy_reports.id"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("vin", sa.String(30), nullable=True),
        sa.Column("model_year", sa.Integer(), nullable=True),
        sa.Column("make", sa.String(10), nullable=True),
        sa.Column("transaction", sa.String(3), nullable=True),
        sa.Column("transaction_date", sa.Date(), nullable=True),
        sa.Column("match_state", sa.String(16), nullable=True),
        sa.UniqueConstraint("policy_report_id", "ordinal"),
    )
    _index("vehicles", "vin")
    op.create_table(
        "business_errors",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("policy_report_id", "policy_reports.id"),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(8), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("level", sa.String(8), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("segment_position", sa.Integer(), nullable=True),
        sa.Column("segment_id", sa.String(3), nullable=True),
        sa.Column("element", sa.String(8), nullable=True),
        sa.Column("vehicle_index", sa.Integer(), nullable=True),
        sa.UniqueConstraint("policy_report_id", "ordinal"),
    )
    _index("business_errors", "code")
    op.create_table(
        "error_returns",
        sa.Column("id", sa.Integer(), primary_key=True),
        _fk("submission_id", "submissions.id"),
        sa.Column(
            "set_id", sa.Integer(), sa.ForeignKey("transaction_sets.id"), nullable=False,
            unique=True,
        ),
        sa.Column("control_number", sa.String(9), nullable=False),
        sa.Column("group_control_number", sa.String(9), nullable=False),
        sa.Column("answers_interchange", sa.String(9), nullable=False),
        sa.Column("answers_group", sa.String(9), nullable=False),
        sa.Column("answers_set", sa.String(9), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    _index("error_returns", "submission_id")


def downgrade() -> None:
    for table in (
        "error_returns", "business_errors", "vehicles", "insureds", "policy_reports",
        "work_units", "transaction_sets", "functional_groups",
    ):
        op.drop_table(table)
