"""The business edits of companion guide §4.

Each edit has a stable code, a severity (an error rejects the record, a warning accepts it)
and a level; each finding says where: the segment's position in the transaction set, its
id and the element.  When the faulty element is absent, the finding points at the segment
that should have carried it if there is one, else at the loop's HL.  Messages name the
field, never its value (guide §3: personal data stays out of messages).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

from ..parsers import AK3_TEXT, AK4_TEXT, PolicyBlock, Segment
from ..schemas import vin as vin_rules
from ..schemas.policy import BusinessError, Insured, Level, PolicyReport, Severity, Vehicle
from ._build import InsuredFacts, ReportFacts, VehicleFacts, set_position
from ._context import EditContext, PriorInfo
from ._loops import Loop, PolicyLoops

__all__ = ["CATALOGUE", "EditRule", "Report", "run_edits"]

# the report, or only what the edits read of it (``epoi validate``)
Report = PolicyReport | ReportFacts


@dataclass(frozen=True, slots=True)
class EditRule:
    code: str
    severity: Severity
    level: Level
    rule: str


def _catalogue(*rows: tuple[str, Severity, Level, str]) -> Mapping[str, EditRule]:
    return MappingProxyType({row[0]: EditRule(*row) for row in rows})


CATALOGUE = _catalogue(
    ("E001", "error", "insurer", "NAIC code missing, not 5 digits, or not the carrier's own"),
    ("E100", "error", "policy",
     "an element or segment error inside the policy's loops that no other code names"),
    ("E101", "error", "policy", "policy number missing"),
    ("E102", "error", "policy", "transaction type or policy type not in the code list"),
    ("E103", "error", "policy",
     "a date the transaction type requires is missing or not a real date"),
    ("E104", "error", "policy", "expiration date not after effective date"),
    ("E105", "error", "policy", "cancellation date before effective date"),
    ("E106", "warning", "policy", "effective date too far in the future"),
    ("E107", "error", "policy", "no insured name"),
    ("E108", "error", "policy", "date of birth not a real date, in the future, or age over 120"),
    ("E109", "warning", "policy", "driver licence number does not fit the issuing state's format"),
    ("E110", "warning", "policy", "duplicate of an accepted report"),
    ("E111", "warning", "policy", "XLC or REI for a policy this carrier never reported"),
    ("E112", "error", "policy", "vehicle-specific policy with no vehicle"),
    ("E201", "error", "vehicle", "VIN missing"),
    ("E202", "error", "vehicle", "VIN not 17 characters for model year 1981 or later"),
    ("E203", "error", "vehicle", "VIN contains I, O, Q or a character outside A-Z, 0-9"),
    ("E204", "error", "vehicle", "VIN check digit (position 9) wrong"),
    ("E205", "error", "vehicle", "model year missing or out of range"),
    ("E206", "warning", "vehicle", "model year disagrees with the VIN year code (position 10)"),
    ("E207", "warning", "vehicle", "make missing"),
    ("E301", "warning", "policy", "reported late"),
)

_DATE_LABELS = {
    "effective_date": "effective date",
    "expiration_date": "expiration date",
    "cancellation_date": "cancellation date",
}
_VIN_ALPHABET = re.compile(r"[A-HJ-NPR-Z0-9]*")


class _Findings:
    def __init__(self, block: PolicyBlock) -> None:
        self._block = block
        self.items: list[BusinessError] = []

    def add(
        self,
        code: str,
        message: str,
        where: tuple[Segment | None, str | None],
        vehicle_index: int | None = None,
    ) -> None:
        rule = CATALOGUE[code]
        segment, element = where
        self.items.append(
            BusinessError(
                code=code,
                severity=rule.severity,
                level=rule.level,
                message=message,
                segment_position=set_position(segment, self._block),
                segment_id=segment.id if segment is not None else None,
                element=element,
                vehicle_index=vehicle_index,
            )
        )


def _where(loop: Loop, name: str) -> tuple[Segment | None, str | None]:
    return loop.where(name)


# A profile's licence formats compiled once: ``re.fullmatch(pattern, ...)`` looks the
# pattern up in re's own cache on every call.
_PATTERNS: dict[str, re.Pattern[str]] = {}


def _full_match(pattern: str, value: str) -> bool:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        if len(_PATTERNS) > 256:
            _PATTERNS.clear()
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled.fullmatch(value) is not None


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _insurer(loops: PolicyLoops, report: Report, ctx: EditContext, out: _Findings) -> None:
    naic, insurer = report.carrier_naic, loops.insurer
    if not naic:
        out.add("E001", "NAIC company code missing", _where(insurer, "carrier_naic"))
    elif not (len(naic) == 5 and naic.isdigit() and naic.isascii()):
        out.add("E001", "NAIC company code is not 5 digits", _where(insurer, "carrier_naic"))
    elif ctx.expected_naic is not None and naic != ctx.expected_naic.strip():
        out.add(
            "E001",
            "NAIC company code is not the sending carrier's",
            _where(insurer, "carrier_naic"),
        )


def _policy(loops: PolicyLoops, report: Report, ctx: EditContext, out: _Findings) -> None:
    profile, policy = ctx.profile, loops.policy
    ttype, ptype = report.transaction_type, report.policy_type
    if not report.policy_number:
        out.add("E101", "policy number missing", _where(policy, "policy_number"))
    if ttype not in profile.transaction_types:
        out.add(
            "E102",
            "transaction type missing or not in the code list",
            _where(policy, "transaction_type"),
        )
    if ptype not in profile.policy_types:
        out.add(
            "E102", "policy type missing or not in the code list", _where(policy, "policy_type")
        )

    eff, exp, canc = report.effective_date, report.expiration_date, report.cancellation_date
    required = profile.required_dates.get(ttype or "", ("effective_date",))
    values = policy.values
    # the report holds each date as ``build_report`` parsed it from the same value
    for (name, label), parsed in zip(_DATE_LABELS.items(), (eff, exp, canc), strict=True):
        raw = values.get(name, "")
        if not raw and name in required:
            out.add("E103", f"{label} missing", _where(policy, name))
        elif raw and parsed is None:
            # An optional date that is present but not a date is flagged too: dropping it
            # silently would change what the carrier reported.
            out.add("E103", f"{label} is not a real date", _where(policy, name))

    if eff and exp and exp <= eff:
        out.add(
            "E104",
            "expiration date is not after the effective date",
            _where(policy, "expiration_date"),
        )
    if eff and canc and canc < eff:
        out.add(
            "E105",
            "cancellation date is before the effective date",
            _where(policy, "cancellation_date"),
        )
    if eff and (eff - ctx.today).days > ctx.future_effective_days:
        out.add(
            "E106",
            f"effective date is more than {ctx.future_effective_days} days in the future",
            _where(policy, "effective_date"),
        )

    _insureds(loops, report, ctx, out)

    if report.carrier_naic and report.policy_number and ttype:
        prior: PriorInfo = ctx.prior(report.carrier_naic, report.policy_number)
        if eff and (ttype, eff) in prior.accepted:
            out.add(
                "E110",
                "same carrier, policy, transaction type and effective date already accepted",
                _where(policy, "policy_number"),
            )
        if ttype in profile.never_reported_types and not prior.reported:
            out.add(
                "E111",
                f"{ttype} for a policy this carrier never reported",
                _where(policy, "transaction_type"),
            )

    if ptype in profile.vehicle_specific_policy_types and not loops.vehicles:
        out.add(
            "E112", "vehicle-specific policy type with no vehicle", _where(policy, "policy_type")
        )

    _late(loops, report, ctx, out)


def _insureds(loops: PolicyLoops, report: Report, ctx: EditContext, out: _Findings) -> None:
    profile = ctx.profile
    if not loops.insureds:
        out.add("E107", "no insured name", (loops.policy.first, None))
    # The report's insureds were built one per loop (``build_report``): the same length.
    insureds: tuple[Insured | InsuredFacts, ...] = report.insureds
    for loop, insured in zip(loops.insureds, insureds, strict=True):
        if not insured.name:
            out.add("E107", "insured name missing", _where(loop, "name"))
        if loop.has("date_of_birth"):
            born = insured.date_of_birth
            if born is None:
                out.add("E108", "date of birth is not a real date", _where(loop, "date_of_birth"))
            elif born > ctx.today:
                out.add("E108", "date of birth is in the future", _where(loop, "date_of_birth"))
            elif _age(born, ctx.today) > profile.max_age_years:
                out.add(
                    "E108",
                    f"date of birth implies an age over {profile.max_age_years}",
                    _where(loop, "date_of_birth"),
                )
        if insured.licence_number:
            # The issuing state is REF03; without it, the policy's jurisdiction.
            state = insured.licence_state or report.jurisdiction or ""
            pattern = profile.licence_formats.get(state, profile.default_licence_format)
            if not _full_match(pattern, insured.licence_number):
                out.add(
                    "E109",
                    "driver licence number does not fit the issuing state's format",
                    _where(loop, "licence_number"),
                )


def _late(loops: PolicyLoops, report: Report, ctx: EditContext, out: _Findings) -> None:
    profile, ttype = ctx.profile, report.transaction_type
    received = ctx.received_at.date()
    if ttype in profile.new_coverage_types and report.effective_date:
        if (received - report.effective_date).days > ctx.late_new_days:
            out.add(
                "E301",
                f"new coverage reported more than {ctx.late_new_days} days"
                " after its effective date",
                _where(loops.policy, "effective_date"),
            )
    elif ttype in profile.change_types:
        name = "cancellation_date" if ttype == profile.cancellation_type else "effective_date"
        took_effect = (
            report.cancellation_date if name == "cancellation_date" else report.effective_date
        )
        if took_effect and (received - took_effect).days > ctx.late_change_days:
            out.add(
                "E301",
                f"{ttype} reported more than {ctx.late_change_days} days after it took effect",
                _where(loops.policy, name),
            )


def _vehicles(loops: PolicyLoops, report: Report, ctx: EditContext, out: _Findings) -> None:
    profile = ctx.profile
    newest = ctx.today.year + profile.model_year_ahead
    # The report's vehicles were built one per loop (``build_report``): the same length.
    vehicles: tuple[Vehicle | VehicleFacts, ...] = report.vehicles
    for i, (loop, vehicle) in enumerate(zip(loops.vehicles, vehicles, strict=True)):
        vin, year = vehicle.vin, vehicle.model_year
        # A–Z and 0–9 without I, O, Q (E203); with 17 of them, the VIN's year code is read
        alphabet = _VIN_ALPHABET.fullmatch(vin) is not None if vin else False
        if not vin:
            out.add("E201", "VIN missing", _where(loop, "vin"), i)
        else:
            # Without a usable model year the VIN is held to the 17-character standard.
            standard = year is None or year >= profile.vin_standard_from
            if standard and len(vin) != vin_rules.VIN_LENGTH:
                out.add("E202", "VIN is not 17 characters", _where(loop, "vin"), i)
            if not alphabet:
                out.add(
                    "E203",
                    "VIN contains I, O, Q or a character outside A-Z, 0-9",
                    _where(loop, "vin"),
                    i,
                )
            elif (
                standard
                and len(vin) == vin_rules.VIN_LENGTH
                and not vin_rules.check_digit_ok(vin)
            ):
                out.add("E204", "VIN check digit (position 9) is wrong", _where(loop, "vin"), i)
        if year is None or not profile.model_year_min <= year <= newest:
            out.add("E205", "model year missing or out of range", _where(loop, "model_year"), i)
        elif (
            vin
            and year >= profile.vin_standard_from
            and alphabet
            and len(vin) == vin_rules.VIN_LENGTH  # vin_rules.has_valid_characters
            and not vin_rules.year_code_matches(vin, year)
        ):
            out.add(
                "E206",
                "model year disagrees with the VIN year code (position 10)",
                _where(loop, "model_year"),
                i,
            )
        if not vehicle.make:
            out.add("E207", "make missing", _where(loop, "make"), i)


_SEGMENT_ID = re.compile(r"[A-Z0-9]{2,3}")


def _syntax(block: PolicyBlock, out: _Findings) -> None:
    """A policy rejected for an element or segment error inside its HL subtree (guide §3,
    scope of a rejection): each AK3/AK4 error that a business error already names (one on
    the same segment and element, say E101 for ``REF*IG*``, E102 for an SI03 not in the
    code list, E203 for a VIN character) is left to it; any other is E100, with the
    segment's position and the element in the message."""
    named: set[tuple[int | None, str | None]] = set()
    for e in out.items:
        if e.severity == "error":
            named.add((e.segment_position, e.segment_id))
            if e.element:
                named.add((e.segment_position, e.element))
    seen: set[tuple[int | None, str | None, str]] = set()
    for issue in block.syntax_errors:
        where = issue.element if issue.ack == "AK4" and issue.element else issue.segment_id
        position = issue.segment_position
        if (position, where) in named or (position, where, issue.code) in seen:
            continue
        seen.add((issue.segment_position, where, issue.code))
        segment_id = issue.segment_id if _SEGMENT_ID.fullmatch(issue.segment_id or "") else None
        # no ":" in a message: it is the usual component separator of the echo
        if issue.ack == "AK4" and issue.element and segment_id:
            what = f"{issue.element} {AK4_TEXT.get(issue.code, 'data element error')}"
        else:
            what = f"{segment_id or 'segment'} {AK3_TEXT.get(issue.code, 'segment error')}"
        out.items.append(BusinessError(
            code="E100", severity="error", level="policy",
            message=f"{what} (segment {issue.segment_position})",
            segment_position=issue.segment_position, segment_id=segment_id,
            element=issue.element if segment_id else None,
        ))
    if not block.syntax_errors:
        # the set's error limit left no detail: the policy is rejected all the same
        out.items.append(BusinessError(
            code="E100", severity="error", level="policy",
            message="syntax error in the record (detail beyond the set's error limit)",
            segment_position=set_position(block.policy[0] if block.policy else None, block),
            segment_id="HL" if block.policy else None,
        ))


def run_edits(
    block: PolicyBlock, loops: PolicyLoops, report: Report, ctx: EditContext
) -> list[BusinessError]:
    out = _Findings(block)
    _insurer(loops, report, ctx, out)
    _policy(loops, report, ctx, out)
    _vehicles(loops, report, ctx, out)
    if block.syntax_rejected:
        _syntax(block, out)
    # File order, as ``epoi validate --json`` lists findings.
    if len(out.items) < 2:
        return out.items
    return sorted(out.items, key=lambda e: e.segment_position or 0)
