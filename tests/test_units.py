"""A normalize unit's payload gives back exactly the policy blocks it was made of: the
compact text form (version 2), and the JSON form (version 1) it falls back to and still reads."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

from epoi.intake import Chunk, decode_chunk, encode_chunk
from epoi.parsers import Segment, validate
from epoi.parsers._policies import iter_policies
from epoi.sample import FaultOptions, generate


def _blocks(tmp_path: Path):
    summary = generate(120, tmp_path, today=date(2026, 11, 27), seed=4, carriers=2,
                       policies_per_set=25, faults=FaultOptions(vin_typos=0.1, missing_dates=0.1))
    out = []
    for path in summary.files:
        data = Path(path).read_bytes()
        verdict = validate(io.BytesIO(data), name=str(path), engine="fast")
        out += list(iter_policies(io.BytesIO(data), verdict, name=str(path)))
    assert len(out) == 120
    return out


def test_the_compact_payload_gives_back_the_blocks(tmp_path):
    blocks = _blocks(tmp_path)
    by_set: dict[tuple[str, str, str], list] = {}
    for b in blocks:
        by_set.setdefault((b.interchange, b.group, b.transaction_set), []).append(b)
    for chunk in by_set.values():
        for size in (1, 7, len(chunk)):
            part = chunk[:size]
            text = encode_chunk(part)
            assert text.startswith("2\n")
            assert decode_chunk(text) == part


def test_a_chunk_decodes_only_the_blocks_asked_for(tmp_path):
    """The pipeline's process takes the first pass from a worker and decodes only the
    policies reported before: their number, positions and sender need no decoding."""
    everything = _blocks(tmp_path)
    first = everything[0]
    blocks = [b for b in everything
              if (b.interchange, b.transaction_set) == (first.interchange, first.transaction_set)]
    blocks = blocks[:9]
    chunk = Chunk(encode_chunk(blocks))
    assert len(chunk) == len(blocks) == 9
    assert chunk.sender_id == first.sender_id
    assert [chunk.policy_position(n) for n in range(9)] == [
        b.policy[0].position - b.set_start + 1 for b in blocks]
    assert chunk._blocks.count(None) == 9  # nothing decoded yet
    assert chunk[4] == blocks[4]
    assert chunk._blocks.count(None) == 8
    assert list(chunk) == blocks and chunk[2:5] == blocks[2:5]


def test_an_element_is_read_from_the_text_form_as_the_decoded_block_holds_it(tmp_path):
    """``Chunk.element_of``: the policy number (REF*IG, REF02) of every policy, read without
    decoding it, is the decoded block's; a segment the policy lacks, or a JSON payload,
    gives None (decode the block to know)."""
    blocks = _blocks(tmp_path)[:9]
    chunk = Chunk(encode_chunk(blocks))
    numbers = [next(s.fields[2] for s in b.policy if s.fields[:2] == ["REF", "IG"])
               for b in blocks]
    assert [chunk.element_of(n, "REF", "IG", 2) for n in range(9)] == numbers
    assert chunk._blocks.count(None) == 9  # nothing decoded
    assert chunk.element_of(0, "REF", "ZZ", 2) is None
    assert chunk.element_of(0, "REF", "IG", 40) == ""
    weird = replace(blocks[1], policy=(*blocks[1].policy[:2], Segment(
        [*blocks[1].policy[2].fields[:-1], "A\x1fB"], blocks[1].policy[2].position),
        *blocks[1].policy[3:]))
    assert Chunk(encode_chunk([blocks[0], weird])).element_of(0, "REF", "IG", 2) is None


def test_data_that_holds_a_separator_falls_back_to_json(tmp_path):
    blocks = _blocks(tmp_path)[:3]
    odd = blocks[1].policy[2]
    weird = replace(blocks[1], policy=(*blocks[1].policy[:2],
                                       Segment([*odd.fields[:-1], "A\x1fB\x1cC"], odd.position),
                                       *blocks[1].policy[3:]))
    chunk = [blocks[0], weird, blocks[2]]
    text = encode_chunk(chunk)
    assert json.loads(text)["version"] == 1
    assert decode_chunk(text) == chunk
    assert [Chunk(text).policy_position(n) for n in range(3)] == [
        b.policy[0].position - b.set_start + 1 for b in chunk]
    # Segments that do not follow each other in the file keep their positions too.
    gap = replace(blocks[0], policy=tuple(Segment(s.fields, s.position + 2 * n)
                                          for n, s in enumerate(blocks[0].policy)))
    assert decode_chunk(encode_chunk([gap])) == [gap]


def test_an_empty_chunk_and_a_version_1_payload_are_read():
    assert decode_chunk(encode_chunk([])) == []
    assert decode_chunk(json.dumps({"version": 1, "set": None, "states": [], "blocks": []})) == []


def test_a_policy_rejected_for_its_syntax_goes_as_json_with_its_issues(tmp_path):
    from epoi.schemas.verdict import Issue

    blocks = _blocks(tmp_path)[:3]
    issue = Issue(code="7", message="invalid code value", ack="AK4", segment_position=12,
                  segment_id="SI", element="SI03", element_position=3)
    bad = replace(blocks[1], syntax_rejected=True, syntax_errors=(issue,))
    text = encode_chunk([blocks[0], bad, blocks[2]])
    assert json.loads(text)["version"] == 1
    assert decode_chunk(text) == [blocks[0], bad, blocks[2]]


def test_the_plan_encodes_from_the_file_texts_the_payload_the_blocks_give(tmp_path):
    """``encode_policies`` (the plan's, from segment texts) writes exactly the payload
    ``encode_chunk`` writes for the same policies split into blocks: on generated sets, on
    the scope fixtures (policies rejected for their syntax go as JSON) and on a file whose
    terminator is a newline."""
    from epoi.intake import encode_policies
    from epoi.parsers import iter_raw_policies

    fixtures = Path(__file__).parent / "fixtures"
    summary = generate(120, tmp_path, today=date(2026, 11, 27), seed=4, carriers=2,
                       policies_per_set=25, faults=FaultOptions(vin_typos=0.1, missing_dates=0.1))
    paths = [Path(p) for p in summary.files] + sorted((fixtures / "scope").glob("*.x12")) + [
        fixtures / "fast" / "newline_terminators.x12"]
    forms = set()
    for path in paths:
        data = path.read_bytes()
        verdict = validate(io.BytesIO(data), name=str(path), engine="fast")
        raws = list(iter_raw_policies(io.BytesIO(data), verdict, name=str(path)))
        assert [r.block() for r in raws] == list(iter_policies(io.BytesIO(data), verdict,
                                                               name=str(path)))
        by_set: dict[tuple[str, str, str], list] = {}
        for r in raws:
            h = r.heading
            by_set.setdefault((h.interchange, h.group, h.transaction_set), []).append(r)
        for chunk in by_set.values():
            for part in (chunk[:1], chunk[:7], chunk):
                text = encode_policies(part)
                assert text == encode_chunk([r.block() for r in part]), path
                forms.add(text[0])
    assert forms == {"2", "{"}  # both payload forms were made


def test_a_block_made_straight_from_the_walk_is_the_raw_policys_block():
    """``iter_policies`` makes each block without a ``RawPolicy`` in between: the same block,
    also for a policy whose segments do not follow each other (``positions``) and for one
    rejected for its syntax with or without the detail."""
    from epoi.parsers._options import SetHeading
    from epoi.parsers._policies import _Set

    heading = SetHeading(file="f.x12", interchange="1", sender_id="S", test=False, group="2",
                         transaction_set="0001", set_start=3, report_date="", submission_ref="")
    for rejected in ({}, {7: []}, {7: ["an issue"]}):
        for gap in (False, True):
            blocks = []
            for take in (_Set.take, _Set.take_block):
                ctx = _Set(heading=heading, separator="*", rejected=dict(rejected))  # type: ignore[arg-type]
                ctx.open_policy("HL*3*2*4*1", 9)
                ctx.texts.append("REF*IG*P1")
                if gap:
                    ctx.skip()
                    ctx.positions.append(12)  # type: ignore[union-attr]
                    ctx.texts.append("HL*4*3*5*0")
                out = take(ctx)
                blocks.append(out.block() if take is _Set.take else out)  # type: ignore[union-attr]
            assert blocks[0] == blocks[1]
            assert blocks[1].syntax_rejected == bool(rejected)
            assert [s.position for s in blocks[1].policy] == ([9, 10, 12] if gap else [9, 10])
