"""End to end on a small world: the registration file read, indexed, and a batch of
policy reports matched; the results are compared with a golden file.

To rewrite the golden file after a deliberate change:
``EPOI_REWRITE_GOLDEN=1 pytest tests/test_matching_golden.py`` and review the diff."""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path

from epoi.matching import InMemoryRegistrationIndex, match_many, read_registrations
from epoi.schemas.policy import Insured, PolicyReport, RecordKey, Vehicle
from epoi.schemas.registration import Registration

HERE = Path(__file__).parent / "fixtures" / "matching"


def person(last: str, first: str, dl: str | None = None, dob: date | None = None) -> Insured:
    return Insured(kind="individual", last_name=last, first_name=first, licence_number=dl,
                   licence_state="CA" if dl else None, date_of_birth=dob)


def policy(n: int, policy_type: str, insureds: tuple[Insured, ...],
           *vehicles: tuple[str, str, int]) -> PolicyReport:
    key = RecordKey(carrier_naic="12345", policy_number=f"PA{n:03d}", transaction_type="NBS",
                    effective_date=date(2026, 11, 1), sender_id="ACMEINS", interchange="101",
                    group="101", transaction_set="0001", policy_position=n)
    return PolicyReport(
        carrier_naic="12345", policy_number=f"PA{n:03d}", transaction_type="NBS",
        policy_type=policy_type, effective_date=date(2026, 11, 1), insureds=insureds,
        vehicles=tuple(Vehicle(vin=v, make=m, model_year=y) for v, m, y in vehicles),
        file="golden.x12", sender_id="ACMEINS", interchange="101", group="101",
        transaction_set="0001", submission_ref="G1", key=key)


REPORTS = [
    # 1: exact VIN, lower case and a blank as a carrier might send it.
    policy(1, "PV", (person("GARCIA", "MARIA"),), ("1hgcm82633a00 4352", "HOND", 2003)),
    # 2: one typo; the registration is under the double surname, the report the first half.
    policy(2, "PV", (person("GARCIA", "ANA"),), ("2T1BURHE3JC012845", "TOYT", 2018)),
    # 3: decoy: one typo away from NGUYEN's car, reported for somebody else -> pending.
    policy(3, "PV", (person("MILLER", "TOM", dl="M9999999"),), ("2T1BURHE3JC012347", "TOYT", 2018)),
    # 4: VIN unusable, licence + make + year.
    policy(4, "PV", (person("OBRIEN", "PAT", dl="B222-2222"),),
           ("1FTFW1ET9DFC99999", "FORD", 2013)),
    # 5: organisation, FEIN + make + year.
    policy(5, "CV", (Insured(kind="organisation", organisation_name="ACME TRUCKING",
                             fein="123456789"),), ("3HSDJAPR4FN999999", "INTL", 2015)),
    # 6: swapped names + date of birth + make + year.
    policy(6, "PV", (person("JOHN", "SMITH", dob=date(1985, 2, 28)),),
           ("5YJ3E1EA2KF999999", "TESL", 2019)),
    # 7: the owner has two TOYT 2009: ambiguous at step 3.
    policy(7, "PV", (person("CHEN", "WEI", dl="C4444444"),), ("JTDKB20U493999999", "TOYT", 2009)),
    # 8: commercial fleet, no vehicles: every vehicle of the FEIN.
    policy(8, "CF", (Insured(kind="organisation", organisation_name="ACME TRUCKING INC",
                             fein="12-3456789"),)),
    # 9: two vehicles, one registered, one not.
    policy(9, "PV", (person("KOWALSKI", "ANNA", dl="K5555555"),),
           ("3VW2K7AJ3EM388202", "VOLK", 2014), ("WBA3A5C53CF256985", "BMW", 2012)),
    # 10: a fleet's near-sequential VINs: one typo from TRK0001 is also two from TRK0002,
    # so step 2 finds both and the record is ambiguous (the cascade does not go on).
    policy(10, "CV", (Insured(kind="organisation", organisation_name="ACME TRUCKING",
                              fein="123456789"),), ("1FUJGLDR3CL000009", "FRHT", 2012)),
]


def test_golden_matches() -> None:
    with (HERE / "golden_registrations.csv").open(newline="", encoding="utf-8") as f:
        rows = list(read_registrations(f, name="golden_registrations.csv"))
    assert all(isinstance(r, Registration) for r in rows)
    index = InMemoryRegistrationIndex(r for r in rows if isinstance(r, Registration))
    got = [r.model_dump(mode="json", exclude={"schema_version"})
           for r in match_many(REPORTS, index)]
    for r in got:  # the policy number says which report; the rest of the key is noise here
        r["report_key"] = r["report_key"].split("|")[6]
    golden = HERE / "golden_matches.json"
    if os.environ.get("EPOI_REWRITE_GOLDEN"):
        golden.write_text(json.dumps(got, indent=1) + "\n", encoding="utf-8")
    assert got == json.loads(golden.read_text(encoding="utf-8"))
