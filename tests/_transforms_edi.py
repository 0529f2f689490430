"""Test helper for the transforms tests: guide-style 811 text → ``PolicyBlock``s.

Segments come from the parsers' reader; the cutting into policy blocks is deliberately
tiny (no validation): ``iter_policies`` belongs to the parsers, and the transforms only
need well-formed blocks to work on."""

from __future__ import annotations

import io
from pathlib import Path

from epoi.parsers import PolicyBlock, Segment
from epoi.parsers._reader import read_segments

FIXTURES = Path(__file__).parent / "fixtures" / "transforms"


def tokenize(text: str) -> list[Segment]:
    return list(read_segments(io.BytesIO(text.encode("latin-1"))))


def policy_blocks(text: str, *, file: str = "test.x12") -> list[PolicyBlock]:
    """Every policy of every set, with its insurer and state loops and envelope context."""
    blocks: list[PolicyBlock] = []
    isa = gs = st = big = None
    insurer: list[Segment] = []
    state: list[Segment] = []
    policy: list[Segment] | None = None
    current: list[Segment] | None = None

    def flush() -> None:
        nonlocal policy
        if policy is not None:
            blocks.append(
                PolicyBlock(
                    file=file,
                    interchange=isa.get(13),
                    sender_id=isa.get(6).strip(),
                    test=isa.get(15) == "T",
                    group=gs.get(6),
                    transaction_set=st.get(2),
                    set_start=st.position,
                    report_date=big.get(1),
                    submission_ref=big.get(2),
                    insurer=tuple(insurer),
                    state=tuple(state),
                    policy=tuple(policy),
                )
            )
        policy = None

    for seg in tokenize(text):
        if seg.id == "ISA":
            isa = seg
        elif seg.id == "GS":
            gs = seg
        elif seg.id == "ST":
            st, insurer, state = seg, [], []
        elif seg.id == "BIG":
            big = seg
        elif seg.id == "HL":
            level = seg.get(3)
            if level == "1":
                flush()
                insurer = [seg]
                current = insurer
            elif level == "2":
                flush()
                state = [seg]
                current = state
            elif level == "4":
                flush()
                policy = [seg]
                current = policy
            else:
                current.append(seg)
        elif seg.id in ("SE", "GE", "IEA"):
            flush()
            current = None
        elif current is not None:
            current.append(seg)
    flush()
    return blocks


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="latin-1")
