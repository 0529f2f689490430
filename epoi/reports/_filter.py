"""What every report query shares: the options, the one WHERE-clause builder (carrier
scope, period, submission) and the few SQL spellings that differ between SQLite and
PostgreSQL (a timestamp's UTC day, days between two days)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, TypeVarTuple

import sqlalchemy as sa
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from ..store import CarrierScope, PolicyReportRow, Submission

# The columns a statement selects, kept through the WHERE clauses a Filter adds.
Ts = TypeVarTuple("Ts")

@dataclass(frozen=True)
class ReportOptions:
    scope: CarrierScope = field(default_factory=CarrierScope.everything)
    start: date | None = None  # receipt day, inclusive
    end: date | None = None  # receipt day, inclusive
    as_of: date | None = None  # "today" for ageing; default: the clock's day
    masked: bool = True
    pending_window_days: int = 30
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


class Filter:
    """The WHERE clauses every query shares; statements must select from or join
    ``submissions``."""

    def __init__(self, opts: ReportOptions, submission_id: int | None = None) -> None:
        self.opts = opts
        self.submission_id = submission_id

    def __call__(self, stmt: Select[*Ts]) -> Select[*Ts]:
        stmt = self.opts.scope.submissions(stmt)
        if self.opts.start is not None:
            stmt = stmt.where(Submission.received_at >= _midnight(self.opts.start))
        if self.opts.end is not None:
            stmt = stmt.where(Submission.received_at < _midnight(self.opts.end + timedelta(days=1)))
        if self.submission_id is not None:
            stmt = stmt.where(Submission.id == self.submission_id)
        return stmt

    def records(self, stmt: Select[*Ts]) -> Select[*Ts]:
        """Over ``policy_reports`` joined to ``submissions``: production records only,
        except in a one-submission report."""
        stmt = self(stmt)
        if self.submission_id is None:
            stmt = stmt.where(PolicyReportRow.test.is_(False))
        return stmt


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


# -- dialect helpers ---------------------------------------------------------------------


def day_of(session: Session, column: Any) -> Any:
    """The UTC calendar day of a timestamp column."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.cast(func.timezone("UTC", column), sa.Date)
    return func.date(column)


def days_between(session: Session, later: Any, earlier: Any) -> Any:
    """Whole days from ``earlier`` to ``later`` (both days)."""
    if session.get_bind().dialect.name == "postgresql":
        return sa.type_coerce(sa.cast(later, sa.Date) - sa.cast(earlier, sa.Date), sa.Integer)
    return sa.cast(func.julianday(later) - func.julianday(earlier), sa.Integer)


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def pct(part: int, whole: int) -> float:
    return round(100.0 * part / whole, 1) if whole else 0.0


def records_from() -> Select[Any]:
    return select().select_from(PolicyReportRow).join(
        Submission, Submission.id == PolicyReportRow.submission_id
    )


def as_of_day(opts: ReportOptions) -> date:
    """The day ageing is counted to: ``as_of`` or the clock's day."""
    return opts.as_of or opts.clock().date()
