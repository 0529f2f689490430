"""The unit every parser stage hands on: one X12 segment with its place in the file."""

from __future__ import annotations

from typing import NamedTuple


class Delimiters(NamedTuple):
    """The separators one interchange declares in its ISA."""

    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str | None = None  # ISA11 in 00501 and later; 00401 has none


class Segment(NamedTuple):
    """One segment: ``fields[0]`` is the segment id, ``fields[n]`` is element n (X12 numbering).

    ``position`` is the 1-based ordinal of the segment in the file; the validators
    derive the position within a transaction set (ST = 1) from it.
    """

    fields: list[str]
    position: int

    @property
    def id(self) -> str:
        return self.fields[0]

    def get(self, n: int) -> str:
        """Element n (1-based) or "" when absent."""
        f = self.fields
        return f[n] if n < len(f) else ""
