"""Units of work: their natural keys and the JSON a normalize unit carries.

A unit key names where the work comes from, e.g. ``sub-12`` (parse the submission),
``sub-12/ic-000000101/gs-101/st-0001/chunk-3`` (normalize the fourth chunk of a set) and the
same with ``/match`` (match what that chunk stored).  The queue message of a unit carries
its key; the stage finds the unit's state and payload in the store by it.

A normalize payload (version 2) is a line with the version, a line of JSON with the set's
shared context and loops (insurer, states) once, then the policy blocks as text: each the
index of its state loop, the file position of its first segment, and its segments (which
follow each other in the file), fields joined by US (0x1f), segments by RS (0x1e), blocks by
FS (0x1c).  Decoding is a few ``str.split`` calls in C, not a JSON document decoded field by
field.  A chunk whose data holds one of those control characters, or whose segments do not
follow each other, or that holds a policy rejected for a syntax error inside it (which
carries its AK3/AK4 issues, ``"syntax"``), is written as version 1: one JSON document with
every segment as ``[position, [id, e1, e2, ...]]``.  Both versions are read (units queued
before an upgrade).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, overload

from ..parsers import PolicyBlock, RawPolicy, Segment, SetHeading
from ..schemas.verdict import Issue

__all__ = [
    "PAYLOAD_VERSION",
    "Chunk",
    "chunk_key",
    "decode_chunk",
    "encode_chunk",
    "encode_policies",
    "group_key",
    "match_key",
    "parse_key",
    "set_key",
    "source_of_match_key",
    "submission_of_key",
]

PAYLOAD_VERSION = 2
_JSON_VERSION = 1
_US, _RS, _GS, _FS = "\x1f", "\x1e", "\x1d", "\x1c"
_SEPARATORS = (_US, _RS, _GS, _FS)


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


def _context(first: SetHeading, insurer: Sequence[Segment]) -> dict[str, Any]:
    return {
        "file": first.file,
        "interchange": first.interchange,
        "sender_id": first.sender_id,
        "test": first.test,
        "group": first.group,
        "transaction_set": first.transaction_set,
        "set_start": first.set_start,
        "report_date": first.report_date,
        "submission_ref": first.submission_ref,
        "insurer": _segs(insurer),
    }


def _state_ids(states: Sequence[Sequence[Segment]]) -> tuple[list[int], list[Any]]:
    # The state loop (HL 2) is shared by many policies: written once, referred to by index.
    seen: dict[tuple[int, ...], int] = {}
    state_loops: list[Any] = []
    ids = []
    for state in states:
        positions = tuple(s.position for s in state)
        state_id = seen.get(positions)
        if state_id is None:
            state_id = seen[positions] = len(state_loops)
            state_loops.append(_segs(state))
        ids.append(state_id)
    return ids, state_loops


def _compact(block: PolicyBlock) -> str | None:
    """A block's policy segments as text, or None when they cannot be (see the module)."""
    policy = block.policy
    if not policy or block.syntax_rejected:
        return None
    start = policy[0].position
    parts = []
    for n, seg in enumerate(policy):
        if seg.position != start + n:
            return None
        parts.append(_US.join(seg.fields))
    text = _RS.join(parts)
    if any(c in text for c in (_GS, _FS)) or any(
        _US in f or _RS in f for seg in policy for f in seg.fields
    ):
        return None
    return f"{start}{_GS}{text}"


def _compact_raw(policy: RawPolicy) -> str | None:
    """``_compact`` of the policy's block, from the file's texts: no segment is split."""
    if policy.syntax_errors is not None or policy.positions is not None:
        return None
    text = _RS.join(policy.texts)
    if _US in text or _GS in text or _FS in text or text.count(_RS) != len(policy.texts) - 1:
        return None
    return f"{policy.start}{_GS}{text.replace(policy.separator, _US)}"


def _json_block(state_id: int, b: PolicyBlock) -> dict[str, Any]:
    out: dict[str, Any] = {"state": state_id, "policy": _segs(b.policy)}
    if b.syntax_rejected:
        # rejected for a syntax error inside it (guide §3): its AK3/AK4 issues go along
        out["syntax"] = [i.model_dump(mode="json") for i in b.syntax_errors]
    return out


def _text_form(head: dict[str, Any], ids: list[int], bodies: list[str | None]) -> str | None:
    head_text = json.dumps(head, separators=(",", ":"))
    if any(b is None for b in bodies) or any(c in head_text for c in _SEPARATORS) or (
        "\n" in head_text
    ):
        return None
    body = _FS.join(f"{i}{_GS}{b}" for i, b in zip(ids, bodies, strict=True))
    return f"{PAYLOAD_VERSION}\n{head_text}\n{body}"


def encode_chunk(blocks: Sequence[PolicyBlock]) -> str:
    """The payload of a normalize unit: blocks of one transaction set."""
    if not blocks:
        return json.dumps({"version": _JSON_VERSION, "set": None, "states": [], "blocks": []})
    ids, state_loops = _state_ids([b.state for b in blocks])
    head = {"set": _context(blocks[0], blocks[0].insurer), "states": state_loops}
    text = _text_form(head, ids, [_compact(b) for b in blocks])
    if text is not None:
        return text
    doc = {
        "version": _JSON_VERSION,
        **head,
        "blocks": [_json_block(i, b) for i, b in zip(ids, blocks, strict=True)],
    }
    return json.dumps(doc, separators=(",", ":"))


def encode_policies(policies: Sequence[RawPolicy]) -> str:
    """``encode_chunk`` of the policies' blocks, made from the file's texts (the plan of a
    submission reads policies this way): the same payload, without splitting a segment
    unless the chunk must go as JSON."""
    if not policies:
        return encode_chunk([])
    ids, state_loops = _state_ids([p.state for p in policies])
    head = {"set": _context(policies[0].heading, policies[0].insurer), "states": state_loops}
    text = _text_form(head, ids, [_compact_raw(p) for p in policies])
    return text if text is not None else encode_chunk([p.block() for p in policies])


class Chunk(Sequence[PolicyBlock]):
    """A normalize unit's policies as a sequence whose blocks are decoded when first asked
    for: the pipeline's own process needs only the few that were reported before (the
    first pass comes from a worker), and their number and file positions, which the text
    form gives without splitting a single segment."""

    def __init__(self, text: str) -> None:
        self._blocks: list[PolicyBlock | None]
        if text.startswith("{"):
            blocks = _decode_json(text)
            self._items: list[str] = []
            self._blocks = list(blocks)
            self.sender_id = blocks[0].sender_id if blocks else ""
            self.set_start = blocks[0].set_start if blocks else 0
            self._starts = [b.policy[0].position if b.policy else 0 for b in blocks]
            return
        version, head_text, body = (text.split("\n", 2) + ["", ""])[:3]
        if version != str(PAYLOAD_VERSION):
            raise ValueError(f"normalize payload version {version!r} is not {PAYLOAD_VERSION}")
        head = json.loads(head_text)
        self._common = head["set"]
        self._insurer = _unsegs(self._common.pop("insurer"))
        self._states = [_unsegs(s) for s in head["states"]]
        self._items = body.split(_FS) if body else []
        self._blocks = [None] * len(self._items)
        self._starts = [int(item.split(_GS, 2)[1]) for item in self._items]
        self.sender_id = self._common["sender_id"]
        self.set_start = self._common["set_start"]

    def __len__(self) -> int:
        return len(self._blocks)

    @overload
    def __getitem__(self, n: int) -> PolicyBlock: ...
    @overload
    def __getitem__(self, n: slice) -> Sequence[PolicyBlock]: ...
    def __getitem__(self, n: int | slice) -> PolicyBlock | Sequence[PolicyBlock]:
        if isinstance(n, slice):
            return [self[i] for i in range(len(self))[n]]
        block = self._blocks[n]
        if block is None:
            block = self._blocks[n] = self._decode(self._items[n])
        return block

    def policy_position(self, n: int) -> int:
        """The position in its set of policy ``n``'s first segment (its HL), decoded or not."""
        return self._starts[n] - self.set_start + 1

    def element_of(self, n: int, segment_id: str, qualifier: str, element: int) -> str | None:
        """Element ``element`` of policy ``n``'s first ``segment_id`` segment whose first
        element is exactly ``qualifier``, read from the text form without decoding the
        policy; None when the text form does not have it (or the payload is JSON): decode
        the block to know."""
        if not self._items:
            return None
        item = self._items[n]
        at = item.find(f"{_RS}{segment_id}{_US}{qualifier}{_US}")
        if at < 0:
            return None
        end = item.find(_RS, at + 1)
        fields = item[at + 1 : end if end >= 0 else len(item)].split(_US)
        return fields[element] if element < len(fields) else ""

    def _decode(self, item: str) -> PolicyBlock:
        state_id, start, segs = item.split(_GS, 2)
        first = int(start)
        # Segment(f, n) without the named tuple's Python-level __new__ (the reader's way).
        new = tuple.__new__
        policy = tuple([new(Segment, (seg.split(_US), n))
                        for n, seg in enumerate(segs.split(_RS), first)])
        return PolicyBlock(insurer=self._insurer, state=self._states[int(state_id)],
                           policy=policy, **self._common)


def decode_chunk(text: str) -> list[PolicyBlock]:
    """Every block of a normalize payload (``Chunk`` decodes them one by one on demand)."""
    return list(Chunk(text))


def _decode_json(text: str) -> list[PolicyBlock]:
    doc = json.loads(text)
    if doc.get("version") != _JSON_VERSION:
        raise ValueError(f"normalize payload version {doc.get('version')!r} is not {_JSON_VERSION}")
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
