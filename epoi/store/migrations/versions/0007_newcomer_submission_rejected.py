"""submissions.state may be 'rejected': a file read to its end whose every interchange or
set was rejected (issue 11 §2)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAME = "ck_submissions_submission_state"  # the naming convention's name of the enum's CHECK
_BEFORE = ("received", "archived", "parsed", "acknowledged", "normalised", "matched", "failed")
_AFTER = (*_BEFORE, "rejected")


def _in_list(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _set_states(before: tuple[str, ...], after: tuple[str, ...]) -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        op.drop_constraint(op.f(_NAME), "submissions", type_="check")
        op.create_check_constraint(op.f(_NAME), "submissions", f"state IN {_in_list(after)}")
        return
    # SQLite cannot alter a CHECK, and rebuilding the table (batch mode) drops a table that
    # others reference, which foreign_keys=ON refuses inside a transaction.  Widening (or
    # narrowing back) the list of values changes nothing on disk, so the table's definition
    # is edited in place: the simpler procedure of SQLite's "ALTER TABLE" documentation.
    old, new = f"state IN {_in_list(before)}", f"state IN {_in_list(after)}"
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    bind.exec_driver_sql("PRAGMA writable_schema=ON")
    changed = bind.exec_driver_sql(
        "UPDATE sqlite_master SET sql = replace(sql, ?, ?) "
        "WHERE type = 'table' AND name = 'submissions' AND instr(sql, ?) > 0",
        (old, new, old),
    ).rowcount
    bind.exec_driver_sql(f"PRAGMA schema_version={int(version) + 1}")
    bind.exec_driver_sql("PRAGMA writable_schema=OFF")
    if changed != 1:
        raise RuntimeError(f"0005: the CHECK of submissions.state is not {old}")


def upgrade() -> None:
    _set_states(_BEFORE, _AFTER)


def downgrade() -> None:
    op.execute("UPDATE submissions SET state = 'acknowledged' WHERE state = 'rejected'")
    _set_states(_AFTER, _BEFORE)
