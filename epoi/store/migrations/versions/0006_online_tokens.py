"""api_tokens: bearer tokens of the HTTP service (sha256 of the secret, role, carrier,
expiry, revocation)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column(
            "role",
            sa.Enum("carrier", "renewal", "auditor", name="token_role", native_enum=False,
                    create_constraint=True, length=16),
            nullable=False,
        ),
        sa.Column("carrier_id", sa.Integer(), sa.ForeignKey("carriers.id"), nullable=True),
        sa.Column("label", sa.String(120), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(role = 'carrier') = (carrier_id IS NOT NULL)", name="carrier_role_has_carrier"
        ),
    )
    op.create_index("ix_api_tokens_carrier_id", "api_tokens", ["carrier_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_carrier_id", table_name="api_tokens")
    op.drop_table("api_tokens")
