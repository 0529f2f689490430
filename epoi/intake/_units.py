"""Units of work: their natural keys and the JSON a normalize unit carries.

A unit key names where the work comes from, e.g. ``sub-12`` (parse the submission),
``sub-12/ic-000000101/gs-101/st-0001/chunk-3`` (normalize the fourth chunk of a set) and the
same with ``/match`` (match what that chunk stored).  The queue message of a unit carries
its key; the stage finds the unit's state and payload in the store by it.

A normalize payload is one JSON document: a schema version, the set's shared context and
loops (insurer, states) once, and the policy blocks with their segments as lists of strings
with their file positions, ``[position, [id, e1, e2, ...]]``; a policy rejected for a syntax
error inside it also carries its AK3/AK4 issues (``"syntax"``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..parsers import PolicyBlock, Segment
from ..schemas.verdict import Issue

__all__ = [
    "PAYLOAD_VERSION",
    "chunk_key",
    "decode_chunk",
    "encode_chunk",
    "group_key",
    "match_key",
    "parse_key",
    "set_key",
    "source_of_match_key",
    "submission_of_key",
]

PAYLOAD_VERSION = 1


def parse_key(submission_id: int) -> str:
    return f"sub-{submission_id}"


def group_key(submission_id: int, interchange: str, group: str) -> str:
    return f"sub-{submission_id}/ic-{interchange}/gs-{group}"


def set_key(group: str, transaction_set: str) -> str:
    return f"{group}/st-{transaction_set}"


def chunk_key(set_key_: str, chunk: int) -> str:
    return f"{set_key_}/chunk-{chunk}"


def match_key(chunk_key_: str) -> str:
    return f"{chunk_key_}/match"


def submission_of_key(unit_key: str) -> int:
    """The submission a unit key belongs to: 12 for ``sub-12`` and all the keys below it."""
    head = unit_key.split("/", 1)[0]
    if not head.startswith("sub-") or not head[4:].isdigit():
        raise ValueError(f"not a unit key: {unit_key!r}")
    return int(head[4:])


def source_of_match_key(match_key_: str) -> str:
    """The normalize unit whose records a match unit matches (``match_key``'s inverse)."""
    return match_key_.removesuffix("/match")


def _segs(segments: Sequence[Segment]) -> list[Any]:
    return [[s.position, list(s.fields)] for s in segments]


def _unsegs(items: list[Any]) -> tuple[Segment, ...]:
    return tuple(Segment(fields, position) for position, fields in items)


def encode_chunk(blocks: Sequence[PolicyBlock]) -> str:
    """The payload of a normalize unit: blocks of one transaction set."""
    if not blocks:
        return json.dumps({"version": PAYLOAD_VERSION, "set": None, "states": [], "blocks": []})
    first = blocks[0]
    # The state loop (HL 2) is shared by many policies: written once, referred to by index.
    states: dict[tuple[int, ...], int] = {}
    state_loops: list[Any] = []
    out_blocks = []
    for b in blocks:
        positions = tuple(s.position for s in b.state)
        state_id = states.get(positions)
        if state_id is None:
            state_id = states[positions] = len(state_loops)
            state_loops.append(_segs(b.state))
        out_block: dict[str, Any] = {"state": state_id, "policy": _segs(b.policy)}
        if b.syntax_rejected:
            # rejected for a syntax error inside it (guide §3): its AK3/AK4 issues go along
            out_block["syntax"] = [i.model_dump(mode="json") for i in b.syntax_errors]
        out_blocks.append(out_block)
    doc = {
        "version": PAYLOAD_VERSION,
        "set": {
            "file": first.file,
            "interchange": first.interchange,
            "sender_id": first.sender_id,
            "test": first.test,
            "group": first.group,
            "transaction_set": first.transaction_set,
            "set_start": first.set_start,
            "report_date": first.report_date,
            "submission_ref": first.submission_ref,
            "insurer": _segs(first.insurer),
        },
        "states": state_loops,
        "blocks": out_blocks,
    }
    return json.dumps(doc, separators=(",", ":"))


def decode_chunk(text: str) -> list[PolicyBlock]:
    doc = json.loads(text)
    if doc.get("version") != PAYLOAD_VERSION:
        raise ValueError(f"normalize payload version {doc.get('version')!r} is not {PAYLOAD_VERSION}")
    common = doc["set"]
    if common is None:
        return []
    insurer = _unsegs(common.pop("insurer"))
    states = [_unsegs(s) for s in doc["states"]]
    return [
        PolicyBlock(insurer=insurer, state=states[b["state"]], policy=_unsegs(b["policy"]),
                    syntax_rejected="syntax" in b,
                    syntax_errors=tuple(Issue.model_validate(i) for i in b.get("syntax", ())),
                    **common)
        for b in doc["blocks"]
    ]
