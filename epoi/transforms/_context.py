"""What the business edits need beyond the block itself, passed in (no clock, no store)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from ..config import Settings
from ._profile import REFERENCE_PROFILE, Profile

__all__ = ["NOTHING_KNOWN", "EditContext", "PriorInfo", "PriorLookup", "nothing_known"]


@dataclass(frozen=True, slots=True)
class PriorInfo:
    """What the store knows about a carrier's policy before this record.

    ``accepted``: the (transaction type, effective date) pairs already accepted (status
    accepted or warned) for this carrier and policy number, *excluding this record's own
    natural key* so that a redelivered message does not flag itself as a duplicate (E110).
    ``reported``: the carrier ever reported this policy, accepted or not (E111)."""

    accepted: frozenset[tuple[str, date]] = frozenset()
    reported: bool = False


NOTHING_KNOWN = PriorInfo()

# (carrier NAIC, policy number) -> PriorInfo; both normalised (upper case, trimmed).
PriorLookup = Callable[[str, str], PriorInfo]


def nothing_known(naic: str, policy_number: str) -> PriorInfo:
    """The default lookup: validating without a store, nothing was reported before."""
    return NOTHING_KNOWN


@dataclass(frozen=True, slots=True)
class EditContext:
    received_at: datetime  # when the submission was received (E301)
    today: date  # E106, E108, E205
    expected_naic: str | None = None  # the carrier profile's NAIC; None: no profiles (E001)
    late_new_days: int = 30
    late_change_days: int = 45
    future_effective_days: int = 60
    prior: PriorLookup = nothing_known
    profile: Profile = REFERENCE_PROFILE

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        received_at: datetime,
        today: date,
        expected_naic: str | None = None,
        prior: PriorLookup = nothing_known,
        profile: Profile = REFERENCE_PROFILE,
    ) -> EditContext:
        return cls(
            received_at=received_at,
            today=today,
            expected_naic=expected_naic,
            late_new_days=settings.late_new_days,
            late_change_days=settings.late_change_days,
            future_effective_days=settings.future_effective_days,
            prior=prior,
            profile=profile,
        )
