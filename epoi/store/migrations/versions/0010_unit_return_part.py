"""work_units gains return_part: a normalize unit's part of its transaction set's error
return (the echoes of its rejected and warned records, rendered where they were normalised,
and where each state first appears), written with the unit and cleared when the set's return
is written.  The unit that
finishes a set writes the return from these parts instead of rebuilding every returned record
from the report rows that other units, or other workers, stored (issue 14).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A plain ADD COLUMN on both dialects (no batch mode: nullable, no default).
    op.add_column("work_units", sa.Column("return_part", sa.Text(), nullable=True))


def downgrade() -> None:
    # SQLite (3.35 and later) drops a column in place: no rebuild of a table that others
    # reference.
    op.drop_column("work_units", "return_part")
