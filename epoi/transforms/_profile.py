"""The reference state profile as data: which element of which segment of which loop
feeds which field of the state schema, plus the code lists and formats the business
edits use.  Another state's adaptation of the IIDB guide (other qualifiers, other levels,
other licence formats) is a new ``Profile`` value, not new code (companion guide, intro)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ..schemas.policy import (
    POLICY_TYPES,
    TRANSACTION_TYPES,
    VEHICLE_SPECIFIC_POLICY_TYPES,
    VEHICLE_TRANSACTIONS,
)

LoopKind = Literal["insurer", "state", "policy", "insured", "vehicle"]

__all__ = ["REFERENCE_PROFILE", "FieldRule", "LoopKind", "Profile"]


@dataclass(frozen=True, slots=True)
class FieldRule:
    """``element`` of the first ``segment`` in a ``loop`` whose element ``qualifier[0]``
    equals ``qualifier[1]`` (any such segment when ``qualifier`` is None) fills ``field``."""

    loop: LoopKind
    segment: str
    qualifier: tuple[int, str] | None
    element: int
    field: str

    @property
    def element_name(self) -> str:
        return f"{self.segment}{self.element:02d}"


def _rules(*rows: tuple[LoopKind, str, tuple[int, str] | None, int, str]) -> tuple[FieldRule, ...]:
    return tuple(FieldRule(*row) for row in rows)


# (loop, segment, qualifier (element, code), element, field)
REFERENCE_RULES = _rules(
    ("insurer", "NM1", (1, "IN"), 3, "insurer_name"),
    ("insurer", "NM1", (1, "IN"), 9, "carrier_naic"),
    ("state", "NM1", (1, "ZZ"), 3, "jurisdiction"),
    ("policy", "REF", (1, "IG"), 2, "policy_number"),
    ("policy", "SI", (2, "TT"), 3, "transaction_type"),
    ("policy", "SI", (4, "PT"), 5, "policy_type"),
    ("policy", "DTM", (1, "007"), 2, "effective_date"),
    ("policy", "DTM", (1, "036"), 2, "expiration_date"),
    ("policy", "DTM", (1, "177"), 2, "cancellation_date"),
    ("insured", "NM1", (1, "IL"), 2, "entity_type"),
    ("insured", "NM1", (1, "IL"), 3, "name"),  # last name, or the organisation's name
    ("insured", "NM1", (1, "IL"), 4, "first_name"),
    ("insured", "NM1", (1, "IL"), 5, "middle_name"),
    ("insured", "NM1", (1, "IL"), 8, "id_qualifier"),
    ("insured", "NM1", (1, "IL"), 9, "id"),
    ("insured", "N3", None, 1, "address_line_1"),
    ("insured", "N3", None, 2, "address_line_2"),
    ("insured", "N4", None, 1, "city"),
    ("insured", "N4", None, 2, "address_state"),
    ("insured", "N4", None, 3, "zip"),
    ("insured", "REF", (1, "0B"), 2, "licence_number"),
    ("insured", "REF", (1, "0B"), 3, "licence_state"),
    ("insured", "DMG", (1, "D8"), 2, "date_of_birth"),
    ("vehicle", "VEH", None, 2, "vin"),
    ("vehicle", "VEH", None, 3, "model_year"),
    ("vehicle", "VEH", None, 5, "make"),
    ("vehicle", "SI", (2, "TT"), 3, "transaction"),
    ("vehicle", "DTM", (1, "007"), 2, "transaction_date"),
)


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    rules: tuple[FieldRule, ...]
    # HL03 codes of the levels (IIDB model).
    policy_level: str = "4"
    vehicle_level: str = "5"
    # The segment that opens an insured loop inside the policy level: NM1 with NM101 = IL.
    insured_segment: str = "NM1"
    insured_qualifier: tuple[int, str] = (1, "IL")
    individual_code: str = "1"  # NM102
    organisation_code: str = "2"
    fein_qualifier: str = "FI"  # NM108 of an organisation
    transaction_types: tuple[str, ...] = TRANSACTION_TYPES
    policy_types: tuple[str, ...] = POLICY_TYPES
    vehicle_specific_policy_types: tuple[str, ...] = VEHICLE_SPECIFIC_POLICY_TYPES
    vehicle_transactions: tuple[str, ...] = VEHICLE_TRANSACTIONS
    # Dates each transaction type requires (guide §2); unknown types need the effective date.
    required_dates: Mapping[str, tuple[str, ...]] = field(
        default_factory=lambda: MappingProxyType(
            {
                "NBS": ("effective_date",),
                "RWL": ("effective_date", "expiration_date"),
                "CHG": ("effective_date",),
                "XLC": ("effective_date", "cancellation_date"),
                "REI": ("effective_date",),
            }
        )
    )
    new_coverage_types: tuple[str, ...] = ("NBS", "RWL", "REI")  # E301: late_new_days
    change_types: tuple[str, ...] = ("CHG", "XLC")  # E301: late_change_days
    cancellation_type: str = "XLC"
    never_reported_types: tuple[str, ...] = ("XLC", "REI")  # E111
    # E109: driver licence formats by issuing state (full-match regular expressions).  States
    # without an entry get the default: letters and digits, 1 to 20 (AAMVA's widest).
    licence_formats: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({"CA": r"[A-Z][0-9]{7}"})
    )
    default_licence_format: str = r"[A-Z0-9]{1,20}"
    # E205: model years 1900 .. (current year + 1) + 1, read literally from the guide
    # ("next year + 1"): next year's models are on sale, and one more year of slack.
    model_year_min: int = 1900
    model_year_ahead: int = 2
    # E202: from this model year on, VINs have 17 characters (49 CFR 565).
    vin_standard_from: int = 1981
    max_age_years: int = 120  # E108

    def rules_for(self, loop: LoopKind) -> tuple[FieldRule, ...]:
        return tuple(r for r in self.rules if r.loop == loop)


REFERENCE_PROFILE = Profile(name="reference", rules=REFERENCE_RULES)
