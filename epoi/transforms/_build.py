"""From the profile's loops to the state schema: normalised values and lineage."""

from __future__ import annotations

from datetime import date
from typing import TypedDict

from ..parsers import PolicyBlock, Segment
from ..schemas.policy import Address, Insured, PolicyReport, RecordKey, Vehicle
from . import _values as v
from ._loops import Loop, PolicyLoops
from ._profile import Profile

__all__ = ["build_report", "set_position"]


def set_position(segment: Segment | None, block: PolicyBlock) -> int | None:
    """Position within the transaction set, ST = 1."""
    return None if segment is None else segment.position - block.set_start + 1


def _address(loop: Loop) -> Address | None:
    lines = tuple(
        line
        for line in (v.text(loop.value("address_line_1")), v.text(loop.value("address_line_2")))
        if line
    )
    city = v.text(loop.value("city"))
    state = v.text(loop.value("address_state"))
    zip_ = v.zip_code(loop.value("zip"))
    if not (lines or city or state or zip_):
        return None
    return Address(lines=lines, city=city, state=state, zip=zip_)


class _InsuredCommon(TypedDict):
    """The fields an individual and an organisation insured both carry."""

    licence_number: str | None
    licence_state: str | None
    date_of_birth: date | None
    address: Address | None


def _insured(loop: Loop, profile: Profile) -> Insured:
    common: _InsuredCommon = {
        "licence_number": v.text(loop.value("licence_number")),
        "licence_state": v.text(loop.value("licence_state")),
        "date_of_birth": v.parse_ccyymmdd(loop.value("date_of_birth")),
        "address": _address(loop),
    }
    if loop.value("entity_type") == profile.organisation_code:
        is_fein = loop.value("id_qualifier").upper() == profile.fein_qualifier
        fein = v.text(loop.value("id")) if is_fein else None
        return Insured(
            kind="organisation", organisation_name=v.text(loop.value("name")), fein=fein, **common
        )
    return Insured(
        kind="individual",
        last_name=v.text(loop.value("name")),
        first_name=v.text(loop.value("first_name")),
        middle_name=v.text(loop.value("middle_name")),
        **common,
    )


def _vehicle(loop: Loop) -> Vehicle:
    return Vehicle(
        vin=v.vin(loop.value("vin")),
        model_year=v.year(loop.value("model_year")),
        make=v.text(loop.value("make")),
        transaction=v.text(loop.value("transaction")),
        transaction_date=v.parse_ccyymmdd(loop.value("transaction_date")),
    )


def build_report(block: PolicyBlock, loops: PolicyLoops, profile: Profile) -> PolicyReport:
    policy = loops.policy
    naic = v.text(loops.insurer.value("carrier_naic"))
    number = v.text(policy.value("policy_number"))
    ttype = v.text(policy.value("transaction_type"))
    effective = v.parse_ccyymmdd(policy.value("effective_date"))
    key = RecordKey(
        carrier_naic=naic,
        policy_number=number,
        transaction_type=ttype,
        effective_date=effective,
        sender_id=block.sender_id.strip(),
        interchange=block.interchange,
        group=block.group,
        transaction_set=block.transaction_set,
        policy_position=set_position(policy.first, block) or 0,
    )
    return PolicyReport(
        carrier_naic=naic,
        insurer_name=v.text(loops.insurer.value("insurer_name")),
        jurisdiction=v.text(loops.state.value("jurisdiction")),
        policy_number=number,
        transaction_type=ttype,
        policy_type=v.text(policy.value("policy_type")),
        effective_date=effective,
        expiration_date=v.parse_ccyymmdd(policy.value("expiration_date")),
        cancellation_date=v.parse_ccyymmdd(policy.value("cancellation_date")),
        insureds=tuple(_insured(loop, profile) for loop in loops.insureds),
        vehicles=tuple(_vehicle(loop) for loop in loops.vehicles),
        file=block.file,
        sender_id=block.sender_id.strip(),
        interchange=block.interchange,
        group=block.group,
        transaction_set=block.transaction_set,
        submission_ref=block.submission_ref.strip(),
        report_date=v.parse_ccyymmdd(block.report_date),
        test=block.test,
        key=key,
    )
