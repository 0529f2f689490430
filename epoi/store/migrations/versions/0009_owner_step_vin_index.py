"""match_results gains a partial index on the VINs of its owner-step matches (step 3 or 4,
not a fleet's): each unit asks whether the VINs it just matched at step 1 or 2 take a
registration away from such a match (``matching._stage._rematch_claimed``), and answering
that through the VIN index of every result read a row per VIN for nothing: about 5 % of
``epoi run``'s own process on 200 k policies (issue 14).  Few rows are in it, so its upkeep
is nearly free.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As ``epoi.store._registrations.OWNER_STEP_MATCHES`` at this revision (a migration does not
# follow later edits of the models).
_SQLITE = "state = 'matched' AND step IN (3, 4) AND fleet = 0"
_POSTGRESQL = "state = 'matched' AND step IN (3, 4) AND fleet = false"


def upgrade() -> None:
    op.create_index("ix_match_results_owner_step_vin", "match_results", ["vin"],
                    sqlite_where=sa.text(_SQLITE), postgresql_where=sa.text(_POSTGRESQL))


def downgrade() -> None:
    op.drop_index("ix_match_results_owner_step_vin", table_name="match_results")
