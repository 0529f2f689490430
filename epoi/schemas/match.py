"""The outcome of matching one reported vehicle (or one fleet policy's owner) to the
state's registrations (companion guide §5)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1

MatchState = Literal["matched", "pending", "unmatched", "ambiguous"]
MatchStep = Literal[1, 2, 3, 4]
# The fields that can agree between a report and a registration, in a fixed order.
AgreedField = Literal[
    "vin", "near_vin", "make", "model_year", "last_name", "organisation", "licence", "fein",
    "date_of_birth",
]
AGREED_FIELDS: tuple[AgreedField, ...] = (
    "vin", "near_vin", "make", "model_year", "last_name", "organisation", "licence", "fein",
    "date_of_birth",
)


class MatchResult(BaseModel):
    """One reported vehicle's match.  ``matched``: ``plate``/``vin`` name the registration,
    ``step`` the cascade step that made it and ``agreed`` every field that agreed (not only
    the step's own).  ``ambiguous``: ``step`` is the step where several registrations
    matched, ``candidates`` how many.  ``pending``: nothing matched yet; it becomes
    ``unmatched`` once the pending window is over (:func:`settle_pending`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = SCHEMA_VERSION
    report_key: str  # RecordKey.as_string() of the policy report
    vehicle_index: int | None = None  # into PolicyReport.vehicles; None for a fleet policy
    reported_vin: str | None = None
    state: MatchState
    step: MatchStep | None = None
    plate: str | None = None
    vin: str | None = None  # the registered VIN
    agreed: tuple[AgreedField, ...] = ()
    vin_distance: int | None = None  # positions that differ (0 at step 1, 1-2 at step 2)
    candidates: int = 0


def settle_pending(
    result: MatchResult, first_tried: date, as_of: date, window_days: int
) -> MatchResult:
    """A pending result whose window (``settings.pending_window_days``, counted from the
    first attempt) is over becomes unmatched; anything else is returned unchanged."""
    if result.state == "pending" and as_of > first_tried + timedelta(days=window_days):
        return result.model_copy(update={"state": "unmatched"})
    return result
