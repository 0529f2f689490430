"""From the profile's loops to the state schema: normalised values and lineage."""

from __future__ import annotations

from datetime import date
from itertools import repeat

from ..parsers import PolicyBlock, Segment
from ..schemas.policy import PolicyReport
from . import _values as v
from ._loops import Loop, PolicyLoops
from ._profile import Profile

__all__ = ["InsuredFacts", "ReportFacts", "VehicleFacts", "build_report", "report_facts",
           "set_position"]


def set_position(segment: Segment | None, block: PolicyBlock) -> int | None:
    """Position within the transaction set, ST = 1."""
    return None if segment is None else segment.position - block.set_start + 1


# The report is validated once, as one nested mapping (pydantic-core walks it in one call),
# not model by model: about 60 % of the time of building each sub-model on its own, and
# ``model_construct`` is slower still.  The keys are those the models were built with one
# by one, so that ``model_fields_set`` is as before too.
_VALIDATE = PolicyReport.__pydantic_validator__.validate_python


def _address(values: dict[str, str]) -> dict[str, object] | None:
    get, text = values.get, v.text
    line_1, line_2 = text(get("address_line_1", "")), text(get("address_line_2", ""))
    lines = tuple(filter(None, (line_1, line_2)))
    city = text(get("city", ""))
    state = text(get("address_state", ""))
    zip_ = v.zip_code(get("zip", ""))
    if not (lines or city or state or zip_):
        return None
    return {"lines": lines, "city": city, "state": state, "zip": zip_}


def _insured(loop: Loop, profile: Profile) -> dict[str, object]:
    values = loop.values
    get, text = values.get, v.text
    licence_number = text(get("licence_number", ""))
    licence_state = text(get("licence_state", ""))
    born = v.parse_ccyymmdd(get("date_of_birth", ""))
    address = _address(values)
    if get("entity_type", "") == profile.organisation_code:
        is_fein = get("id_qualifier", "").upper() == profile.fein_qualifier
        return {
            "kind": "organisation",
            "organisation_name": text(get("name", "")),
            "fein": text(get("id", "")) if is_fein else None,
            "licence_number": licence_number,
            "licence_state": licence_state,
            "date_of_birth": born,
            "address": address,
        }
    return {
        "kind": "individual",
        "last_name": text(get("name", "")),
        "first_name": text(get("first_name", "")),
        "middle_name": text(get("middle_name", "")),
        "licence_number": licence_number,
        "licence_state": licence_state,
        "date_of_birth": born,
        "address": address,
    }


def _vehicle(loop: Loop) -> dict[str, object]:
    get, text = loop.values.get, v.text
    return {
        "vin": v.vin(get("vin", "")),
        "model_year": v.year(get("model_year", "")),
        "make": text(get("make", "")),
        "transaction": text(get("transaction", "")),
        "transaction_date": v.parse_ccyymmdd(get("transaction_date", "")),
    }


# The insurer's and the state's fields normalised, for the last (insurer, state) loops: a
# set's policies share those loops (``split`` reads them once per set), so these too are
# worked out once per set.  Holding the loops keeps their ids from being reused.
_Head = tuple[Loop, Loop, "str | None", "str | None", "str | None"]
_LAST_HEAD: list[_Head] = []


def _head(loops: PolicyLoops) -> _Head:
    """(insurer, state, NAIC, insurer name, jurisdiction)."""
    if _LAST_HEAD:
        head = _LAST_HEAD[0]
        if head[0] is loops.insurer and head[1] is loops.state:
            return head
    insurer, state = loops.insurer, loops.state
    head = (
        insurer,
        state,
        v.text(insurer.value("carrier_naic")),
        v.text(insurer.value("insurer_name")),
        v.text(state.value("jurisdiction")),
    )
    _LAST_HEAD[:] = [head]
    return head


def build_report(block: PolicyBlock, loops: PolicyLoops, profile: Profile) -> PolicyReport:
    policy = loops.policy
    get, text, ccyymmdd = policy.values.get, v.text, v.parse_ccyymmdd
    _, _, naic, insurer_name, jurisdiction = _head(loops)
    number = text(get("policy_number", ""))
    ttype = text(get("transaction_type", ""))
    effective = ccyymmdd(get("effective_date", ""))
    sender_id = block.sender_id.strip()
    report: PolicyReport = _VALIDATE({
        "carrier_naic": naic,
        "insurer_name": insurer_name,
        "jurisdiction": jurisdiction,
        "policy_number": number,
        "transaction_type": ttype,
        "policy_type": text(get("policy_type", "")),
        "effective_date": effective,
        "expiration_date": ccyymmdd(get("expiration_date", "")),
        "cancellation_date": ccyymmdd(get("cancellation_date", "")),
        "insureds": tuple(map(_insured, loops.insureds, repeat(profile))),
        "vehicles": tuple(map(_vehicle, loops.vehicles)),
        "file": block.file,
        "sender_id": sender_id,
        "interchange": block.interchange,
        "group": block.group,
        "transaction_set": block.transaction_set,
        "submission_ref": block.submission_ref.strip(),
        "report_date": ccyymmdd(block.report_date),
        "test": block.test,
        "key": {
            "carrier_naic": naic,
            "policy_number": number,
            "transaction_type": ttype,
            "effective_date": effective,
            "sender_id": sender_id,
            "interchange": block.interchange,
            "group": block.group,
            "transaction_set": block.transaction_set,
            "policy_position": set_position(policy.first, block) or 0,
        },
    })
    return report


# What the business edits read of a report, without the report (``epoi validate`` prints the
# findings, never the report: validating the nested mapping into models was a sixth of its
# second pass).  Each value is the very expression ``build_report`` puts in its mapping, which
# pydantic keeps as given (the right types, no coercion), so the edits see the same values.


class InsuredFacts:
    __slots__ = ("date_of_birth", "licence_number", "licence_state", "name")
    name: str | None
    licence_number: str | None
    licence_state: str | None
    date_of_birth: date | None

    def __init__(self, loop: Loop) -> None:
        get, text = loop.values.get, v.text
        # ``Insured.name``: the organisation's name or the last name, both from "name"
        self.name = text(get("name", ""))
        self.licence_number = text(get("licence_number", ""))
        self.licence_state = text(get("licence_state", ""))
        self.date_of_birth = v.parse_ccyymmdd(get("date_of_birth", ""))


class VehicleFacts:
    __slots__ = ("make", "model_year", "vin")
    vin: str | None
    model_year: int | None
    make: str | None

    def __init__(self, loop: Loop) -> None:
        get = loop.values.get
        self.vin = v.vin(get("vin", ""))
        self.model_year = v.year(get("model_year", ""))
        self.make = v.text(get("make", ""))


class ReportFacts:
    """A report's fields the business edits read, and its set's identity (``interchange``,
    ``group``, ``transaction_set``; ``key`` is the object itself) for ``merged_sets``."""

    __slots__ = ("cancellation_date", "carrier_naic", "effective_date", "expiration_date",
                 "group", "insureds", "interchange", "jurisdiction", "policy_number",
                 "policy_type", "transaction_set", "transaction_type", "vehicles")
    carrier_naic: str | None
    jurisdiction: str | None
    policy_number: str | None
    transaction_type: str | None
    policy_type: str | None
    effective_date: date | None
    expiration_date: date | None
    cancellation_date: date | None
    insureds: tuple[InsuredFacts, ...]
    vehicles: tuple[VehicleFacts, ...]
    interchange: str
    group: str
    transaction_set: str

    @property
    def key(self) -> ReportFacts:
        return self


def report_facts(block: PolicyBlock, loops: PolicyLoops, profile: Profile) -> ReportFacts:
    """``build_report``'s values that the business edits read, unvalidated."""
    get, text, ccyymmdd = loops.policy.values.get, v.text, v.parse_ccyymmdd
    f = ReportFacts()
    _, _, f.carrier_naic, _, f.jurisdiction = _head(loops)
    f.policy_number = text(get("policy_number", ""))
    f.transaction_type = text(get("transaction_type", ""))
    f.policy_type = text(get("policy_type", ""))
    f.effective_date = ccyymmdd(get("effective_date", ""))
    f.expiration_date = ccyymmdd(get("expiration_date", ""))
    f.cancellation_date = ccyymmdd(get("cancellation_date", ""))
    f.insureds = tuple(map(InsuredFacts, loops.insureds))
    f.vehicles = tuple(map(VehicleFacts, loops.vehicles))
    f.interchange, f.group, f.transaction_set = (
        block.interchange, block.group, block.transaction_set)
    return f
