"""Golden tests of the business edits (companion guide §4): the clean fixture policy yields
no finding; each fault, planted alone, yields exactly its code, with its severity, level and
location."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from _transforms_edi import fixture, policy_blocks
from epoi.config import Settings
from epoi.transforms import CATALOGUE, EditContext, PriorInfo, check, normalize

CLEAN = fixture("clean_policy.x12")
CONTEXT = EditContext(
    received_at=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
    today=date(2026, 11, 27),
    expected_naic="12345",
)
REPORTED = PriorInfo(reported=True)


def _record(text: str, context: EditContext = CONTEXT):
    (block,) = policy_blocks(text)
    return normalize(block, context=context)


def _plant(*edits: tuple[str, str]) -> str:
    text = CLEAN
    for old, new in edits:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    return text


def _prior(info: PriorInfo):
    return lambda naic, policy: info


# code, planted fault(s) (old, new), context changes, expected (position in set, segment, element)
CASES = [
    ("E001", [("NI*12345~", "NI*1234~")], {}, (4, "NM1", "NM109")),
    ("E001", [("NI*12345~", "NI*~")], {}, (4, "NM1", "NM109")),
    ("E001", [("NM1*IN*2*ACME MUTUAL INSURANCE CO*****NI*12345~\n", "")], {}, (3, "HL", None)),
    ("E001", [], {"expected_naic": "54321"}, (4, "NM1", "NM109")),
    ("E101", [("REF*IG*PA1234567~", "REF*IG~")], {}, (9, "REF", "REF02")),
    ("E101", [("REF*IG*PA1234567~\n", "")], {}, (7, "HL", None)),
    ("E102", [("TT*NBS*", "TT*NEW*")], {}, (10, "SI", "SI03")),
    ("E102", [("PT*PV~", "PT*XX~")], {}, (10, "SI", "SI05")),
    ("E103", [("DTM*007*20261101~\n", "")], {}, (7, "HL", None)),
    ("E103", [("DTM*007*20261101", "DTM*007*20261131")], {}, (11, "DTM", "DTM02")),
    ("E103", [("TT*NBS*", "TT*RWL*"), ("DTM*036*20270501~\n", "")], {}, (7, "HL", None)),
    ("E103", [("TT*NBS*", "TT*XLC*")], {"prior": _prior(REPORTED)}, (7, "HL", None)),
    ("E104", [("DTM*036*20270501", "DTM*036*20261101")], {}, (12, "DTM", "DTM02")),
    (
        "E105",
        [("TT*NBS*", "TT*XLC*"), ("DTM*036*20270501~", "DTM*036*20270501~\nDTM*177*20261031~")],
        {"prior": _prior(REPORTED)},
        (13, "DTM", "DTM02"),
    ),
    ("E106", [("DTM*007*20261101", "DTM*007*20270127")], {}, (11, "DTM", "DTM02")),
    ("E107", [("NM1*IL*1*GARCIA*", "NM1*IL*1**")], {}, (13, "NM1", "NM103")),
    (
        "E107",
        [("NM1*IL*1*GARCIA*MARIA*L~\nN3*1500 CAPITOL MALL~\nN4*SACRAMENTO*CA*95814~\n"
          "REF*0B*D1234567*CA~\nDMG*D8*19800115~\n", "")],
        {},
        (7, "HL", None),
    ),
    ("E108", [("DMG*D8*19800115", "DMG*D8*19800230")], {}, (17, "DMG", "DMG02")),
    ("E108", [("DMG*D8*19800115", "DMG*D8*20261128")], {}, (17, "DMG", "DMG02")),
    ("E108", [("DMG*D8*19800115", "DMG*D8*19051127")], {}, (17, "DMG", "DMG02")),
    ("E109", [("REF*0B*D1234567*CA", "REF*0B*D123456*CA")], {}, (16, "REF", "REF02")),
    ("E109", [("REF*0B*D1234567*CA", "REF*0B*12345678*CA")], {}, (16, "REF", "REF02")),
    ("E109", [("REF*0B*D1234567*CA", "REF*0B*AB-123*NV")], {}, (16, "REF", "REF02")),
    (
        "E110",
        [],
        {"prior": _prior(PriorInfo(accepted=frozenset({("NBS", date(2026, 11, 1))}),
                                   reported=True))},
        (9, "REF", "REF02"),
    ),
    ("E111", [("TT*NBS*", "TT*REI*")], {}, (10, "SI", "SI03")),
    (
        "E112",
        [
            ("HL*4*3*5*0~\nLX*1~\nVEH*1*1HGCM82633A004352*2003*ZZ*HOND~\n", ""),
            ("HL*3*2*4*1", "HL*3*2*4*0"),
        ],
        {},
        (10, "SI", "SI05"),
    ),
    ("E201", [("VEH*1*1HGCM82633A004352*", "VEH*1**")], {}, (20, "VEH", "VEH02")),
    ("E202", [("1HGCM82633A004352", "1HGCM82633A00435")], {}, (20, "VEH", "VEH02")),
    ("E203", [("1HGCM82633A004352", "1HGCM82633A0O4352")], {}, (20, "VEH", "VEH02")),
    ("E203", [("1HGCM82633A004352", "1HGCM82633A00435.")], {}, (20, "VEH", "VEH02")),
    ("E204", [("1HGCM82633A004352", "1HGCM82643A004352")], {}, (20, "VEH", "VEH02")),
    ("E205", [("*2003*ZZ*", "**ZZ*")], {}, (20, "VEH", "VEH03")),
    ("E205", [("*2003*ZZ*", "*1899*ZZ*")], {}, (20, "VEH", "VEH03")),
    ("E205", [("*2003*ZZ*", "*2029*ZZ*")], {}, (20, "VEH", "VEH03")),
    ("E206", [("*2003*ZZ*", "*2004*ZZ*")], {}, (20, "VEH", "VEH03")),
    ("E207", [("*2003*ZZ*HOND~", "*2003~")], {}, (20, "VEH", "VEH05")),
    ("E301", [("DTM*007*20261101", "DTM*007*20261027")], {}, (11, "DTM", "DTM02")),
    (
        "E301",
        [("TT*NBS*", "TT*CHG*"), ("DTM*007*20261101", "DTM*007*20261012")],
        {},
        (11, "DTM", "DTM02"),
    ),
    (
        "E301",
        [("TT*NBS*", "TT*XLC*"), ("DTM*036*20270501~", "DTM*036*20270501~\nDTM*177*20261001~"),
         ("DTM*007*20261101", "DTM*007*20260901")],
        {"prior": _prior(REPORTED)},
        (13, "DTM", "DTM02"),
    ),
]


def test_the_clean_policy_has_no_finding():
    record = _record(CLEAN)
    assert record.errors == ()
    assert record.status == "accepted"


@pytest.mark.parametrize(
    ("code", "faults", "changes", "where"),
    CASES,
    ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)],
)
def test_one_fault_yields_exactly_its_code(code, faults, changes, where):
    record = _record(_plant(*faults), replace(CONTEXT, **changes))
    assert [e.code for e in record.errors] == [code]
    (error,) = record.errors
    rule = CATALOGUE[code]
    assert (error.severity, error.level) == (rule.severity, rule.level)
    assert (error.segment_position, error.segment_id, error.element) == where
    assert record.status == ("rejected" if rule.severity == "error" else "warned")
    assert (error.vehicle_index == 0) == (rule.level == "vehicle")


def test_every_code_of_the_guide_is_in_the_catalogue_and_tested():
    guide = {"E001", *(f"E1{n:02d}" for n in range(1, 13)), *(f"E20{n}" for n in range(1, 8)),
             "E301"}
    # E100 (a syntax error inside the policy that no other code names) comes from the
    # validation engines, not from a planted value: tests/test_scope.py covers it
    assert set(CATALOGUE) == guide | {"E100"}
    assert {c[0] for c in CASES} == guide


def test_limits_sit_exactly_on_their_boundaries():
    # 30 days after the effective date is on time, 31 is late; 60 days ahead is fine, 61 is not.
    assert _record(_plant(("DTM*007*20261101", "DTM*007*20261028"))).errors == ()
    assert [
        e.code for e in _record(_plant(("DTM*007*20261101", "DTM*007*20261027"))).errors
    ] == ["E301"]
    assert _record(_plant(("DTM*007*20261101", "DTM*007*20270126"))).errors == ()
    # Age in completed years: 120 (turning 121 tomorrow) is allowed, 121 today is not.
    assert _record(_plant(("DMG*D8*19800115", "DMG*D8*19051128"))).errors == ()
    assert [
        e.code for e in _record(_plant(("DMG*D8*19800115", "DMG*D8*19051127"))).errors
    ] == ["E108"]
    # Before 1981 a VIN need not have 17 characters (nor a check digit).
    assert _record(_plant(("*2003*ZZ*", "*1980*ZZ*"), ("1HGCM82633A004352", "ABC123"))).errors == ()


def test_limits_come_from_the_settings():
    settings = Settings(late_new_days=10, future_effective_days=5, _env_file=None)
    ctx = EditContext.from_settings(
        settings, received_at=CONTEXT.received_at, today=CONTEXT.today, expected_naic="12345"
    )
    assert (ctx.late_new_days, ctx.late_change_days, ctx.future_effective_days) == (10, 45, 5)
    assert [e.code for e in _record(CLEAN, ctx).errors] == ["E301"]


def test_edits_use_the_receipt_time_not_today():
    # Reprocessing a year later does not make a timely report late.
    later = replace(CONTEXT, today=date(2027, 11, 27))
    assert [e.code for e in _record(CLEAN, later).errors] == []


def test_prior_lookup_gets_normalised_keys():
    asked = []

    def prior(naic, policy):
        asked.append((naic, policy))
        return PriorInfo()

    _record(_plant(("REF*IG*PA1234567", "REF*IG* pa1234567 ")), replace(CONTEXT, prior=prior))
    assert asked == [("12345", "PA1234567")]


def test_several_faults_are_all_reported_in_file_order():
    text = _plant(
        ("NI*12345~", "NI*ABCDE~"),
        ("DTM*036*20270501", "DTM*036*20261001"),
        ("1HGCM82633A004352", "1HGCM82643A004352"),
        ("*2003*ZZ*HOND~", "*2003~"),
    )
    record = _record(text)
    assert [(e.code, e.segment_position) for e in record.errors] == [
        ("E001", 4), ("E104", 12), ("E204", 20), ("E207", 20)
    ]
    assert record.status == "rejected"


def test_vehicle_findings_carry_the_vehicle_index():
    second = "HL*5*3*5*0~\nLX*2~\nVEH*2*1HGCM82643A004352*2003*ZZ*HOND~\n"
    text = _plant(("VEH*1*1HGCM82633A004352*2003*ZZ*HOND~\n",
                   "VEH*1*1HGCM82633A004352*2003*ZZ*HOND~\n" + second))
    record = _record(text)
    assert [(e.code, e.vehicle_index, e.segment_position) for e in record.errors] == [
        ("E204", 1, 23)
    ]


def test_messages_hold_no_data_values():
    text = _plant(
        ("DMG*D8*19800115", "DMG*D8*19800230"),
        ("REF*0B*D1234567*CA", "REF*0B*Q99*CA"),
        ("1HGCM82633A004352", "1HGCM82643A004352"),
        ("NM1*IL*1*GARCIA*", "NM1*IL*1**"),
    )
    record = _record(text)
    assert {e.code for e in record.errors} == {"E107", "E108", "E109", "E204"}
    for e in record.errors:
        for value in ("19800230", "Q99", "1HGCM82643A004352", "MARIA", "1500", "95814"):
            assert value not in e.message


def test_as_issue_carries_code_and_location():
    record = _record(_plant(("1HGCM82633A004352", "1HGCM82643A004352")))
    issue = record.errors[0].as_issue(record.report.policy_number)
    assert (issue.code, issue.policy_number, issue.segment_position, issue.element) == (
        "E204", "PA1234567", 20, "VEH02"
    )


def _same_findings(block, context: EditContext) -> None:
    """``check`` (``epoi validate``) finds what ``normalize`` finds, for the same block."""
    record, checked = normalize(block, context=context), check(block, context=context)
    assert checked.errors == record.errors
    assert checked.status == record.status
    assert checked.report.policy_number == record.report.policy_number
    key = checked.report.key
    assert (key.interchange, key.group, key.transaction_set) == (
        record.report.key.interchange, record.report.key.group, record.report.key.transaction_set)


@pytest.mark.parametrize(("code", "faults", "changes", "where"), CASES)
def test_check_finds_what_normalize_finds(code, faults, changes, where):
    (block,) = policy_blocks(_plant(*faults))
    _same_findings(block, replace(CONTEXT, **changes))


@pytest.mark.parametrize("name", ["messy_policies.x12", "mixed_set.x12", "clean_policy.x12"])
def test_check_finds_what_normalize_finds_on_the_fixtures(name):
    for block in policy_blocks(fixture(name)):
        _same_findings(block, CONTEXT)


def test_check_finds_what_normalize_finds_on_the_samples():
    """Every policy of the samples and of the test fixtures as ``epoi validate`` reads them
    (accepted sets, syntax-rejected policies among them: E100)."""
    from pathlib import Path

    from epoi.parsers import iter_policies, validate

    root = Path(__file__).parent
    files = [*sorted((root.parent / "sample_edi").glob("*.x12")),
             *sorted((root / "fixtures").glob("*/*.x12"))]
    context = replace(CONTEXT, expected_naic=None)
    seen = 0
    for path in files:
        with path.open("rb") as stream:
            verdict = validate(stream, name=path.name)
        with path.open("rb") as stream:
            for block in iter_policies(stream, verdict, name=path.name):
                _same_findings(block, context)
                seen += 1
    assert seen > 100
