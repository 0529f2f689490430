"""The pyx12 reference engine (epoi.parsers._pyx12) and the 811 map it runs with.

Golden files: every ``tests/fixtures/pyx12/*.x12`` has the expected verdict next to it as
``.json``.  After a deliberate change, regenerate them with
``EPOI_REGEN_GOLDEN=1 pytest tests/test_pyx12_engine.py`` and review the diff by eye; the
explicit expectations in ``EXPECTED`` below guard the codes that matter whatever the goldens
say.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import pytest

from epoi.parsers import ValidationOptions
from epoi.parsers._maps import MAP_PATH, load_811_map
from epoi.parsers._pyx12 import validate
from epoi.schemas.verdict import FileVerdict

FIXTURES = Path(__file__).parent / "fixtures" / "pyx12"
REGEN = os.environ.get("EPOI_REGEN_GOLDEN") == "1"
DEFAULT = ValidationOptions()
KNOWN_ACME = ValidationOptions(known_senders=frozenset({("ZZ", "ACMEINS")}))
# Personal data of the guide's example insured: must never appear in a message.
PERSONAL = ("GARCIA", "MARIA", "1500 CAPITOL", "SACRAMENTO", "95814", "D1234567", "19800115")

OK_SET = ("A", [])
OK_GROUP = ("A", [], (1, 1, 1))


def _options(name: str) -> ValidationOptions:
    return KNOWN_ACME if name.startswith("ta1_006") else DEFAULT


def _verdict(name: str, options: ValidationOptions | None = None) -> FileVerdict:
    return validate(FIXTURES / f"{name}.x12", name=f"{name}.x12", options=options or _options(name))


def _summary(v: FileVerdict) -> dict:
    """The codes a differential test compares: file error, TA1, AK9, AK5 per set."""
    return {
        "accepted": v.accepted,
        "error": v.error.code if v.error else None,
        "interchanges": [
            {
                "control": ic.control_number,
                "ta1": (ic.ta1.ack_code, ic.ta1.note_code),
                "groups": [
                    {
                        "ak9": (
                            g.ack_code,
                            g.error_codes,
                            (g.sets_included, g.sets_received, g.sets_accepted),
                        ),
                        "sets": [(s.ack_code, s.error_codes) for s in g.transaction_sets],
                    }
                    for g in ic.groups
                ],
            }
            for ic in v.interchanges
        ],
    }


def _one(ta1=("A", "000"), ak9=OK_GROUP, sets=(OK_SET,), accepted=False, control="000000101"):
    return {
        "accepted": accepted,
        "error": None,
        "interchanges": [
            {
                "control": control,
                "ta1": ta1,
                "groups": [{"ak9": ak9, "sets": list(sets)}],
            }
        ],
    }


def _rejected_set(*codes: str):
    return {"ak9": ("R", [], (1, 1, 0)), "sets": [("R", list(codes))]}


EXPECTED: dict[str, dict] = {
    "guide_example": _one(accepted=True),
    "ta1_001_iea02_mismatch": _one(ta1=("R", "001")),
    "ta1_006_unknown_sender": _one(ta1=("R", "006")),
    "ta1_008_receiver": _one(ta1=("R", "008")),
    "ta1_021_iea01_count": _one(ta1=("R", "021")),
    # pyx12 checks ISA16 against the X12 extended character set, which has no "^"
    "ta1_027_caret_component_separator": _one(ta1=("R", "027")),
    "ak9_1_group_not_supported": _one(ak9=("R", ["1"], (1, 1, 0)), sets=()),
    "ak9_4_ge02_mismatch": _one(ak9=("R", ["4"], (1, 1, 1))),
    "ak9_5_ge01_count": _one(ak9=("R", ["5"], (2, 1, 1))),
    "ak5_3_se02_mismatch": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["3"])]),
    "ak5_4_se01_count": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["4"])]),
    "ak5_6_st01_not_811": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["6"])]),
    "ak3_1_unexpected_segment": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["5"])]),
    "ak3_1_hl_level_not_allowed": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["5"])]),
    "ak3_3_missing_mandatory_big": _one(ak9=("R", [], (1, 1, 0)), sets=[("R", ["5"])]),
    # an element error inside the policy's HL subtree rejects the policy alone: the set is
    # accepted with errors noted (guide §3, scope of a rejection)
    "ak4_5_vin_too_long": _one(ak9=("E", [], (1, 1, 1)), sets=[("E", ["5"])], accepted=True),
    "ak4_7_bad_transaction_type": _one(ak9=("E", [], (1, 1, 1)), sets=[("E", ["5"])],
                                       accepted=True),
    "ak4_8_bad_date": _one(ak9=("E", [], (1, 1, 1)), sets=[("E", ["5"])], accepted=True),
    "ok_multi_interchange": {
        "accepted": True,
        "error": None,
        "interchanges": [
            {
                "control": "000000101",
                "ta1": ("A", "000"),
                "groups": [
                    {"ak9": ("A", [], (2, 2, 2)), "sets": [OK_SET, OK_SET]},
                    {"ak9": OK_GROUP, "sets": [OK_SET]},
                ],
            },
            {
                "control": "000000102",
                "ta1": ("A", "000"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
            {
                "control": "000000103",
                "ta1": ("A", "000"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
        ],
    },
    "ta1_022_missing_iea": {
        "accepted": False,
        "error": None,
        "interchanges": [
            {
                "control": "000000101",
                "ta1": ("R", "022"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
            {
                "control": "000000102",
                "ta1": ("A", "000"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
        ],
    },
    "ta1_025_duplicate_isa13": {
        "accepted": False,
        "error": None,
        "interchanges": [
            {
                "control": "000000101",
                "ta1": ("A", "000"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
            {
                "control": "000000101",
                "ta1": ("R", "025"),
                "groups": [{"ak9": OK_GROUP, "sets": [OK_SET]}],
            },
        ],
    },
    "file_empty": {"accepted": False, "error": "FILE-EMPTY", "interchanges": []},
    "file_binary": {"accepted": False, "error": "FILE-BINARY", "interchanges": []},
    "file_no_isa": {"accepted": False, "error": "FILE-NO-ISA", "interchanges": []},
    "file_bad_isa": {"accepted": False, "error": "FILE-BAD-ISA", "interchanges": []},
    "file_truncated": {
        "accepted": False,
        "error": "FILE-TRUNCATED",
        "interchanges": [
            {
                "control": "000000101",
                "ta1": ("R", "023"),
                "groups": [
                    {"ak9": ("R", ["3"], (0, 1, 0)), "sets": [("R", ["2"])]},
                ],
            }
        ],
    },
}

# (ack, code, segment id, position in set, loop id, element, data element) of each issue.
EXPECTED_ISSUES: dict[str, list[tuple]] = {
    "ak3_1_unexpected_segment": [("AK3", "1", "N3", 3, None, None, None)],
    "ak3_3_missing_mandatory_big": [("AK3", "3", "BIG", 2, None, None, None)],
    "ak4_5_vin_too_long": [
        ("AK4", "5", "VEH", 20, "2000D", "VEH02", "539"),
    ],
    "ak4_7_bad_transaction_type": [
        ("AK4", "7", "SI", 10, "2000C", "SI03", "234"),
    ],
    "ak4_8_bad_date": [
        ("AK4", "8", "DTM", 12, "2000C", "DTM02", "373"),
    ],
}


def _fixture_names() -> list[str]:
    return sorted(p.stem for p in FIXTURES.glob("*.x12"))


def test_every_fixture_has_expectations():
    assert set(_fixture_names()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_codes(name: str):
    assert json.loads(json.dumps(_summary(_verdict(name)))) == json.loads(
        json.dumps(EXPECTED[name])
    )


@pytest.mark.parametrize("name", sorted(EXPECTED_ISSUES))
def test_segment_and_element_issues(name: str):
    (ts,) = _verdict(name).interchanges[0].groups[0].transaction_sets
    got = [
        (i.ack, i.code, i.segment_id, i.segment_position, i.loop_id, i.element, i.data_element)
        for i in ts.errors
    ]
    assert got == EXPECTED_ISSUES[name]


@pytest.mark.parametrize("name", _fixture_names())
def test_golden(name: str):
    got = _verdict(name).model_dump(mode="json")
    golden = FIXTURES / f"{name}.json"
    if REGEN:
        golden.write_text(json.dumps(got, indent=2, sort_keys=True) + "\n")
    assert got == json.loads(golden.read_text())


def test_policy_and_vehicle_counts_and_policy_number_on_issues():
    v = _verdict("ak4_5_vin_too_long")
    (ts,) = v.interchanges[0].groups[0].transaction_sets
    assert (ts.policies, ts.vehicles) == (1, 1)
    assert {i.policy_number for i in ts.errors} == {"PA1234567"}
    multi = _verdict("ok_multi_interchange")
    sets = [s for ic in multi.interchanges for g in ic.groups for s in g.transaction_sets]
    assert [(s.policies, s.vehicles) for s in sets] == [(1, 1)] * 5


def test_hl_level_not_allowed_is_not_counted_as_a_policy():
    (ts,) = _verdict("ak3_1_hl_level_not_allowed").interchanges[0].groups[0].transaction_sets
    assert ts.policies == 0 and ts.vehicles == 1
    first = ts.errors[0]
    assert (first.ack, first.code, first.segment_id, first.segment_position) == (
        "AK3",
        "1",
        "HL",
        7,
    )


def test_interchange_header_fields_and_delimiters():
    ics = _verdict("ok_multi_interchange").interchanges
    first, second, third = ics
    assert (first.sender_qualifier, first.sender_id, first.receiver_id) == (
        "ZZ",
        "ACMEINS",
        "EPOISTATE",
    )
    assert (first.date, first.time, first.version) == ("261127", "0930", "00401")
    assert first.ack_requested and not first.test
    assert (first.element_separator, first.component_separator, first.segment_terminator) == (
        "*",
        ":",
        "~",
    )
    assert (second.element_separator, second.component_separator, second.segment_terminator) == (
        "|",
        ">",
        "\n",
    )
    assert second.test and not second.ack_requested
    assert (third.element_separator, third.segment_terminator) == ("^", "'")
    g = first.groups[0]
    assert (g.functional_id, g.version, g.sender, g.receiver) == (
        "CI",
        "004010",
        "ACMEINS",
        "EPOISTATE",
    )


def test_unknown_sender_is_fine_when_senders_are_not_given():
    assert _verdict("ta1_006_unknown_sender", DEFAULT).accepted


def test_receiver_comes_from_the_options():
    other = ValidationOptions(receiver_id="OTHERSTATE")
    assert _verdict("ta1_008_receiver", other).accepted
    v = _verdict("guide_example", other)
    assert (v.interchanges[0].ta1.ack_code, v.interchanges[0].ta1.note_code) == ("R", "008")


def test_bytes_and_path_give_the_same_verdict():
    data = (FIXTURES / "ak4_8_bad_date.x12").read_bytes()
    assert validate(data, name="ak4_8_bad_date.x12", options=DEFAULT) == _verdict("ak4_8_bad_date")
    assert validate(
        str(FIXTURES / "ak4_8_bad_date.x12"), name="ak4_8_bad_date.x12", options=DEFAULT
    ) == _verdict("ak4_8_bad_date")


def test_errors_beyond_the_limit_are_counted_not_listed():
    full = _verdict("ak3_1_hl_level_not_allowed").interchanges[0].groups[0].transaction_sets[0]
    assert len(full.errors) > 3 and full.errors_truncated == 0
    capped = _verdict("ak3_1_hl_level_not_allowed", ValidationOptions(max_errors_per_set=3))
    ts = capped.interchanges[0].groups[0].transaction_sets[0]
    assert ts.errors == full.errors[:3]
    assert ts.errors_truncated == len(full.errors) - 3
    assert ts.ack_code == "R"


def test_no_personal_data_in_messages_or_pyx12_logs(caplog):
    caplog.set_level(logging.DEBUG)
    bad = (FIXTURES / "guide_example.x12").read_text()
    bad = bad.replace("GARCIA*MARIA", "garcía*MARIA").replace("19800115", "19801315")
    bad = bad.replace("D1234567*CA", "D1234567*XX")
    v = validate(bad.encode("latin-1"), name="pii.x12", options=DEFAULT)
    # errors inside the policy: the policy is rejected, the set accepted with errors noted
    assert v.interchanges[0].groups[0].transaction_sets[0].rejected_policies == [7]
    texts = [
        i.message
        for ic in v.interchanges
        for g in ic.groups
        for s in g.transaction_sets
        for i in s.errors
    ]
    assert texts  # the faults were found ...
    for name in _fixture_names():
        got = _verdict(name)
        if got.error:
            texts.append(got.error.message)
        texts += [
            i.message
            for ic in got.interchanges
            for g in ic.groups
            for s in g.transaction_sets
            for i in s.errors
        ]
    texts += [r.getMessage() for r in caplog.records]
    for text in texts:  # ... and named without the values
        for value in PERSONAL + ("garcía", "19801315"):
            assert value not in text


@pytest.mark.parametrize("cut", range(110, 620, 51))
def test_truncated_anywhere_never_raises(cut: int):
    data = (FIXTURES / "guide_example.x12").read_bytes()[:cut]
    v = validate(data, name="cut.x12", options=DEFAULT)
    assert not v.accepted
    assert v.error is not None and v.error.code == "FILE-TRUNCATED"


def test_pyx12_failure_becomes_a_file_error():
    # A second GE: pyx12's reader pops past the ISA and indexes an empty stack; the
    # engine reports it as content outside a group instead of crashing.
    text = (FIXTURES / "guide_example.x12").read_text().replace("GE*1*101~", "GE*1*101~\nGE*1*101~")
    v = validate(text.encode(), name="two_ge.x12", options=DEFAULT)
    assert v.error is None
    assert (v.interchanges[0].ta1.ack_code, v.interchanges[0].ta1.note_code) == ("R", "024")
    # An interchange pyx12 cannot read at all: a leading blank before a nested ISA.
    text = (FIXTURES / "guide_example.x12").read_text().replace("BIG*", " ISA*", 1)
    v = validate(text.encode(), name="nested_isa.x12", options=DEFAULT)
    assert not v.accepted
    assert v.error is not None and v.error.code == "FILE-PYX12"
    assert v.error.message == "pyx12 could not validate the interchange (X12Error)"


# --- the map ---------------------------------------------------------------------------


def test_map_folder_is_a_complete_pyx12_map_path():
    names = {p.name for p in MAP_PATH.iterdir()}
    assert {
        "maps.xml",
        "x12.control.00401.xml",
        "811.4010.xml",
        "997.4010.xml",
        "dataele.xml",
        "codes.xml",
    } <= names
    m = load_811_map()
    assert m.id == "811"
    hl = m.getnodebypath("/ISA_LOOP/GS_LOOP/ST_LOOP/DETAIL/2000A/2000B/2000C/2000D/HL")
    assert hl.children[2].valid_codes == ["5"]
    veh02 = m.getnodebypath(
        "/ISA_LOOP/GS_LOOP/ST_LOOP/DETAIL/2000A/2000B/2000C/2000D/VEH"
    ).children[1]
    assert (veh02.data_type, veh02.min_len, veh02.max_len) == ("AN", 1, 17)


def test_map_files_are_written_for_the_profile():
    import pyx12.codes
    import pyx12.dataele

    codes = pyx12.codes.ExternalCodes(str(MAP_PATH))
    assert set(codes.codes) == {"jurisdictions"}
    assert len(codes.codes["jurisdictions"]["codes"]) == 56  # 50 states, DC, 5 territories
    assert codes.isValid("jurisdictions", "DC") and not codes.isValid("jurisdictions", "ON")
    elements = pyx12.dataele.DataElements(str(MAP_PATH)).dataele
    assert len(elements) < 100
    # every data element the maps use is defined
    for map_file in ("811.4010.xml", "997.4010.xml", "x12.control.00401.xml"):
        text = (MAP_PATH / map_file).read_text()
        used = {part.split("</data_ele>")[0] for part in text.split("<data_ele>")[1:]}
        assert used - {"C030"} <= set(elements), map_file


def test_a_997_parses_back_with_the_same_map_path():
    import pyx12.params
    import pyx12.x12n_document

    ack = (
        "ISA*00*          *00*          *ZZ*EPOISTATE      *ZZ*ACMEINS        "
        "*261127*0931*U*00401*000000001*0*P*:~\n"
        "GS*FA*EPOISTATE*ACMEINS*20261127*0931*1*X*004010~\n"
        "ST*997*0001~\nAK1*CI*101~\nAK2*811*0001~\nAK3*VEH*20*2000D*8~\nAK4*2*539*5~\n"
        "AK5*R*5~\nAK9*R*1*1*0~\nSE*8*0001~\nGE*1*1~\nIEA*1*000000001~\n"
    )
    out = io.StringIO()
    ok = pyx12.x12n_document.x12n_document(
        pyx12.params.params(), io.StringIO(ack), None, None, None, out, map_path=str(MAP_PATH)
    )
    assert ok, out.getvalue()
    bad = ack.replace("AK2*811*", "AK2*810*")
    assert not pyx12.x12n_document.x12n_document(
        pyx12.params.params(),
        io.StringIO(bad),
        None,
        None,
        None,
        io.StringIO(),
        map_path=str(MAP_PATH),
    )


@pytest.mark.parametrize(
    "name",
    [
        "ok_multi_interchange",
        "ak4_5_vin_too_long",
        "ak3_3_missing_mandatory_big",
        "ak5_4_se01_count",
        "ak9_4_ge02_mismatch",
        "ak3_1_hl_level_not_allowed",
    ],
)
def test_997_written_from_this_verdict_is_valid_against_the_997_map(name: str):
    """Round trip: engine verdict -> epoi's 997 writer -> pyx12 with this map_path."""
    from datetime import datetime

    import pyx12.params
    import pyx12.x12n_document

    from epoi.parsers import AckEnvelope, write_997

    verdict = _verdict(name)
    written = 0
    for n, ic in enumerate(verdict.interchanges, start=1):
        for g, group in enumerate(ic.groups, start=1):
            env = AckEnvelope("ZZ", "EPOISTATE", "EPOISTATE", n, g, datetime(2026, 11, 27, 9, 31))
            text = write_997(ic, group, env)
            out = io.StringIO()
            ok = pyx12.x12n_document.x12n_document(
                pyx12.params.params(),
                io.StringIO(text),
                None,
                None,
                None,
                out,
                map_path=str(MAP_PATH),
            )
            assert ok, (text, out.getvalue())
            written += 1
    assert written >= 1
