"""The compiled normalisation agrees with the profile read rule by rule, and the records it
builds are what pydantic validation of the same values gives, on every golden file and on
generated files (``epoi sample`` with every fault, and the fast engine's generator).

``_loops.extract`` compiles a profile's rules once into a table by segment id and reads a
loop in one pass; ``reference_extract`` below is the contract it replaces, written the plain
way: for each rule, the first segment it matches (later rules win for a repeated field)."""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from _fast_gen import make_811
from _transforms_edi import policy_blocks
from epoi.parsers import PolicyBlock, Segment, validate
from epoi.parsers._policies import iter_policies
from epoi.sample import FaultOptions, generate
from epoi.schemas.policy import Address, NormalizedRecord, PolicyReport, RecordKey, Vehicle
from epoi.transforms import REFERENCE_PROFILE, EditContext, FieldRule, Profile, normalize
from epoi.transforms._loops import Found, Loop, split

FIXTURES = Path(__file__).parent / "fixtures"
TODAY = date(2026, 11, 27)
CONTEXT = EditContext(received_at=datetime(2026, 12, 20, 9, 30, tzinfo=UTC), today=TODAY)


def reference_extract(segments: Sequence[Segment], kind: str, profile: Profile) -> Loop:
    fields: dict[str, Found] = {}
    for rule in profile.rules_for(kind):  # type: ignore[arg-type]
        for segment in segments:
            if segment.id == rule.segment and (
                rule.qualifier is None
                or segment.get(rule.qualifier[0]).strip() == rule.qualifier[1]
            ):
                fields[rule.field] = Found(segment.get(rule.element), segment, rule.element_name)
                break
    return Loop(tuple(segments), fields)


def _file_blocks(path: Path) -> list[PolicyBlock]:
    data = path.read_bytes()
    verdict = validate(io.BytesIO(data), name=path.name, engine="fast")
    return list(iter_policies(io.BytesIO(data), verdict, name=path.name))


def _golden_files() -> list[Path]:
    return sorted(p for p in FIXTURES.rglob("*.x12") if "acks" not in p.parts)


def _corpus(tmp: Path) -> Iterator[tuple[str, list[PolicyBlock]]]:
    for path in _golden_files():
        yield path.name, _file_blocks(path)
        # The transforms' own cutter too: it keeps policies of sets the validator rejects.
        try:
            yield f"{path.name} (loose)", policy_blocks(path.read_text("latin-1"), file=path.name)
        except Exception:  # noqa: BLE001 - not every golden file has a well-formed envelope
            pass
    gen = tmp / "gen.x12"
    gen.write_text(make_811(40, vehicles_per_policy=3, sets=2))
    yield "make_811", _file_blocks(gen)
    # Segments a rule matches twice (the first wins), empty and short elements.
    twice = (make_811(3, vehicles_per_policy=2)
             .replace("REF*IG*PA0000001~", "REF*IG*PA0000001~REF*IG*SECOND~REF*IG~")
             .replace("DTM*007*20261101~", "DTM*007~DTM*007*20261102~", 2)
             .replace("N3*1500 CAPITOL MALL~", "N3~N3*1500 CAPITOL MALL*STE 2~")
             .replace("VEH*1*1HGCM82633A004352*2003*ZZ*HOND~",
                      "VEH*1*1HGCM82633A004352~VEH*2*X*1999~", 1))
    yield "repeated segments", policy_blocks(twice, file="twice.x12")
    faults = FaultOptions(vin_typos=0.2, bad_check_digits=0.1, missing_dates=0.2, wrong_counts=0.0)
    summary = generate(400, tmp / "sample", today=TODAY, seed=3, carriers=2, faults=faults,
                       policies_per_file=200, policies_per_set=70)
    for path in sorted((tmp / "sample").glob("*.x12")):
        yield path.name, _file_blocks(path)
    assert summary.policies == 400


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, list[PolicyBlock]]]:
    out = list(_corpus(tmp_path_factory.mktemp("compiled")))
    assert sum(len(b) for _, b in out) > 500  # the corpus really holds policies
    return out


def _reference_split(block: PolicyBlock, profile: Profile) -> list[Loop]:
    loops = split(block, profile)  # the cut into loops; each loop read again by the reference
    kinds = [("insurer", loops.insurer), ("state", loops.state), ("policy", loops.policy)]
    kinds += [("insured", loop) for loop in loops.insureds]
    kinds += [("vehicle", loop) for loop in loops.vehicles]
    return [reference_extract(loop.segments, k, profile) for k, loop in kinds]


def _compiled_split(block: PolicyBlock, profile: Profile) -> list[Loop]:
    loops = split(block, profile)
    return [loops.insurer, loops.state, loops.policy, *loops.insureds, *loops.vehicles]


def test_compiled_loops_agree_with_the_rules_read_one_by_one(corpus):
    for name, blocks in corpus:
        for block in blocks:
            compiled = _compiled_split(block, REFERENCE_PROFILE)
            assert compiled == _reference_split(block, REFERENCE_PROFILE), name


def test_compiled_loops_agree_for_a_profile_that_fills_a_field_twice(corpus):
    # A state profile may name two sources of one field: the later rule that matched wins.
    extra = (FieldRule("policy", "REF", (1, "ZZ"), 2, "policy_number"),
             FieldRule("vehicle", "VEH", None, 1, "make"),
             FieldRule("insured", "N4", None, 3, "city"))
    profile = replace(REFERENCE_PROFILE, name="twice", rules=REFERENCE_PROFILE.rules + extra)
    for name, blocks in corpus:
        for block in blocks:
            assert _compiled_split(block, profile) == _reference_split(block, profile), name


def test_records_are_what_pydantic_validation_of_their_values_gives(corpus):
    seen = set()
    for name, blocks in corpus:
        for block in blocks:
            record = normalize(block, context=CONTEXT)
            again = NormalizedRecord.model_validate(record.model_dump())
            assert again == record, name
            assert again.model_dump_json() == record.model_dump_json(), name
            seen.add(record.status)
    assert seen == {"accepted", "warned", "rejected"}


def test_loop_values_and_locations_agree_with_the_fields_read_rule_by_rule(corpus):
    # ``split`` keeps each field's stripped value and finds its location on demand; the
    # reference loop derives both from its ``fields``.
    names = {r.field for r in REFERENCE_PROFILE.rules} | {"no_such_field"}
    for name, blocks in corpus:
        for block in blocks:
            for loop, ref in zip(_compiled_split(block, REFERENCE_PROFILE),
                                 _reference_split(block, REFERENCE_PROFILE), strict=True):
                assert loop.values == {k: f.value.strip() for k, f in ref.fields.items()}, name
                for field in names:
                    assert loop.where(field) == ref.where(field), (name, field)
                    assert loop.value(field) == ref.value(field), (name, field)
                    assert loop.has(field) == (field in ref.fields), (name, field)


def _other_insurer(block: PolicyBlock, naic: str) -> PolicyBlock:
    """The same policy from another carrier: new insurer segments, as long as the old."""
    insurer = tuple(
        Segment([*s.fields[:9], naic, *s.fields[10:]] if s.id == "NM1" else list(s.fields),
                s.position)
        for s in block.insurer
    )
    return replace(block, insurer=insurer)


def test_insurer_and_state_loops_are_read_again_for_other_segments(corpus):
    # They are remembered from the previous policy by the identity of their segments.
    block = next(b for _, blocks in corpus for b in blocks if len(b.insurer) > 1)
    first = split(block, REFERENCE_PROFILE)
    same_segments = replace(block, insurer=tuple(list(block.insurer)))
    assert split(same_segments, REFERENCE_PROFILE).insurer is first.insurer
    other = _other_insurer(block, "99999")
    loops = split(other, REFERENCE_PROFILE)
    assert loops.insurer.value("carrier_naic") == "99999"
    assert loops.insurer == reference_extract(other.insurer, "insurer", REFERENCE_PROFILE)
    assert normalize(other, context=CONTEXT).report.carrier_naic == "99999"
    assert normalize(block, context=CONTEXT).report.carrier_naic == first.insurer.value(
        "carrier_naic")
    # another profile object gets its own tables and memo
    twin = replace(REFERENCE_PROFILE, name="twin")
    assert split(block, twin) == split(block, REFERENCE_PROFILE)


def test_records_set_the_fields_each_model_was_built_with(corpus):
    # The report is validated as one nested mapping; its models say which fields were
    # given (``model_fields_set``) as when each was built on its own: all but defaults
    # left out (the schema version; the other kind's names of an insured).
    report_fields = set(PolicyReport.model_fields) - {"schema_version"}
    common = {"kind", "licence_number", "licence_state", "date_of_birth", "address"}
    kinds = {"individual": common | {"last_name", "first_name", "middle_name"},
             "organisation": common | {"organisation_name", "fein"}}
    for name, blocks in corpus:
        for block in blocks:
            record = normalize(block, context=CONTEXT)
            assert record.model_fields_set == {"report", "errors", "status"}, name
            report = record.report
            assert report.model_fields_set == report_fields, name
            assert report.key.model_fields_set == set(RecordKey.model_fields), name
            for insured in report.insureds:
                assert insured.model_fields_set == kinds[insured.kind], name
                if insured.address is not None:
                    assert insured.address.model_fields_set == set(Address.model_fields)
            for vehicle in report.vehicles:
                assert vehicle.model_fields_set == set(Vehicle.model_fields), name
