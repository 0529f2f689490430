"""Renewal clearance and suspension candidates (companion guide §5).  Pure functions of a
registration, its vehicle's coverage timeline and the day asked about."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal, Protocol

from ..errors import InputError, Location
from ..schemas.registration import RowError, normalize_plate
from ..schemas.vin import normalize as normalize_vin
from ._registrations import undecodable
from ._timeline import CoverageSpan, EndReason, Timeline, coverage_on

ClearanceStatus = Literal["cleared", "held"]
HoldReason = Literal[
    "no_matched_report",  # nothing reported for the vehicle, matched or not
    "only_unmatched_reports",  # reports exist but are pending, unmatched or ambiguous
    "cancelled",  # the last coverage was cancelled (XLC) on reason_date
    "expired",  # the last coverage expired on reason_date
    "removed",  # the vehicle was taken off its policy (VDL) on reason_date
    "not_yet_in_force",  # matched coverage exists but only from reason_date, after the day
    "not_registered",  # the renewal's plate or VIN is not in the registrations
]
# The hold a coverage that ended explains (no reason recorded: it ran out).  A superseded
# span was replaced by a later report, so it never explains a hold and has no entry.
_HELD_FOR_END: dict[EndReason | None, HoldReason] = {
    None: "expired", "expired": "expired", "cancelled": "cancelled", "removed": "removed",
}

_TEXT = {
    "no_matched_report": "no matched report",
    "only_unmatched_reports": "only pending or unmatched reports",
    "cancelled": "coverage cancelled on {}",
    "expired": "coverage expired on {}",
    "removed": "vehicle removed from its policy on {}",
    "not_yet_in_force": "coverage starts on {}",
    "not_registered": "plate or VIN not in the registrations",
}

# The reasons without their dates: how reports count the holds of many renewals.
HOLD_LABELS = {
    "no_matched_report": "no matched report",
    "only_unmatched_reports": "only pending or unmatched reports",
    "cancelled": "coverage cancelled",
    "expired": "coverage expired",
    "removed": "vehicle removed from its policy",
    "not_yet_in_force": "coverage not yet in force",
    "not_registered": "plate or VIN not in the registrations",
}


class RegisteredVehicleLike(Protocol):
    """A ``Registration`` or an index's ``RegisteredVehicle``: what clearance needs."""

    @property
    def plate(self) -> str: ...

    @property
    def vin(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Clearance:
    plate: str
    vin: str
    due: date
    status: ClearanceStatus
    reason: HoldReason | None = None  # None when cleared
    reason_date: date | None = None
    coverage: CoverageSpan | None = None  # the coverage in force on the due day

    @property
    def reason_text(self) -> str:
        if self.reason is None:
            return ""
        return _TEXT[self.reason].format(self.reason_date.isoformat() if self.reason_date else "")


def clear_renewal(
    due_day: date,
    registration: RegisteredVehicleLike,
    timeline: Timeline,
    pending_reports: Collection[object] = (),
) -> Clearance:
    """Cleared when matched coverage is in force on ``due_day``; otherwise held with the
    reason.  ``pending_reports``: the vehicle's reports that are pending, unmatched or
    ambiguous (only their number matters)."""

    def held(reason: HoldReason, when: date | None = None) -> Clearance:
        return Clearance(registration.plate, registration.vin, due_day, "held", reason, when)

    span = coverage_on(timeline, due_day)
    if span is not None:
        return Clearance(registration.plate, registration.vin, due_day, "cleared", coverage=span)
    if not timeline:
        return held("only_unmatched_reports" if pending_reports else "no_matched_report")
    ended = [s for s in timeline if s.end is not None and s.end <= due_day
             and s.end_reason != "superseded"]
    if ended:
        # The coverage that ended last explains the hold (cancelled before expired the
        # same day: the cancellation is what the owner must answer for).
        last = max(ended, key=lambda s: (s.end, s.end_reason == "cancelled", s.report_key))
        return held(_HELD_FOR_END[last.end_reason], last.end)
    return held("not_yet_in_force", min(s.start for s in timeline))


@dataclass(frozen=True, slots=True)
class SuspensionCandidate:
    plate: str
    vin: str
    cancelled_on: date
    carrier_naic: str
    policy_number: str
    cancelled_by: str | None  # the XLC report's key


class RegistrationLike(RegisteredVehicleLike, Protocol):
    def is_valid_on(self, day: date) -> bool: ...


def suspension_candidate(
    registration: RegistrationLike, timeline: Timeline, *, as_of: date, window_days: int
) -> SuspensionCandidate | None:
    """The vehicle is a candidate when its most recent cancellation (XLC) on or before
    ``as_of`` has no replacement coverage (any carrier, a reinstatement included) in force
    on any day of the ``window_days`` after it, that window is over by ``as_of``, and the
    registration is still valid on ``as_of``.  Only the most recent cancellation counts: an
    older lapse followed by coverage that was itself cancelled and replaced is history.
    A cancellation whose window is still open is not a candidate yet."""
    if not registration.is_valid_on(as_of):
        return None
    cancelled = [s for s in timeline
                 if s.end_reason == "cancelled" and s.end is not None and s.end <= as_of]
    if not cancelled:
        return None
    last = max(cancelled, key=lambda s: (s.end, s.report_key))
    start = last.end
    assert start is not None
    window_end = start + timedelta(days=window_days)
    if as_of <= window_end:
        return None
    replaced = any(
        s is not last and s.start <= window_end and (s.end is None or s.end > start)
        for s in timeline
    )
    if replaced:
        return None
    return SuspensionCandidate(registration.plate, registration.vin, start, last.carrier_naic,
                               last.policy_number, last.ended_by)


def suspension_candidates(
    vehicles: Iterable[tuple[RegistrationLike, Timeline]], *, as_of: date, window_days: int
) -> Iterator[SuspensionCandidate]:
    """Suspension candidates among ``(registration, timeline)`` pairs;
    ``window_days`` is ``settings.suspension_window_days``."""
    for registration, timeline in vehicles:
        found = suspension_candidate(registration, timeline, as_of=as_of, window_days=window_days)
        if found is not None:
            yield found


@dataclass(frozen=True, slots=True)
class RenewalDue:
    """One line of the renewal list (cli.md): a vehicle by plate or VIN, and its due day."""

    plate: str | None
    vin: str | None
    due: date
    line: int


def read_renewals(stream: Iterable[str], *, name: str) -> Iterator[RenewalDue | RowError]:
    """The renewal list for ``epoi renewals clear``: CSV with ``plate`` or ``vin`` (or both)
    and ``due`` (YYYY-MM-DD).  Bad rows come back as ``RowError`` and are skipped; a header
    without ``due`` or without both ``plate`` and ``vin`` raises ``InputError``
    (``REN-HEADER``)."""
    reader = csv.reader(stream)
    header = [h.strip().lstrip("\ufeff").strip().lower() for h in next(reader, [])]
    if "due" not in header or not {"plate", "vin"} & set(header):
        raise InputError("REN-HEADER", "the renewal list needs a due column and a plate or vin"
                         " column", Location(file=name))
    due_at = header.index("due")
    plate_at = header.index("plate") if "plate" in header else None
    vin_at = header.index("vin") if "vin" in header else None

    def error(code: str, column: str | None, message: str) -> RowError:
        return RowError(file=name, line=reader.line_num, code=code, column=column, message=message)

    for row in reader:
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        if len(row) != len(header):
            yield error("REN-FIELDS", None, f"row has {len(row)} fields, the header {len(header)}")
            continue
        if undecodable(row):
            yield error("REN-ENCODING", None, "row has bytes that are not UTF-8")
            continue
        plate = normalize_plate(row[plate_at]) if plate_at is not None else ""
        vin = normalize_vin(row[vin_at]) if vin_at is not None else ""
        if not plate and not vin:
            yield error("REN-VEHICLE", "plate", "neither plate nor VIN is given")
            continue
        text = row[due_at].strip()
        try:
            if len(text) != 10 or text[4] != "-" or text[7] != "-":
                raise ValueError
            due = date.fromisoformat(text)
        except ValueError:
            yield error("REN-DUE", "due", "due date is missing or not YYYY-MM-DD")
            continue
        yield RenewalDue(plate or None, vin or None, due, reader.line_num)
