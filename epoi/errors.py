"""One exception root for epoi. Every error carries a code and a location.

Codes are stable strings: X12 codes keep their standard numbering prefixed by the
ack that carries them (``TA1-022``, ``AK5-4``), epoi's own use a short word
(``FILE-EMPTY``, ``CONFIG``, ``STORE``).  Messages never contain personal data.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True, slots=True)
class Location:
    """Where in the input an error was found; any part may be unknown."""

    file: str | None = None
    interchange: str | None = None  # ISA13
    group: str | None = None  # GS06
    transaction_set: str | None = None  # ST02
    # 1-based, counted from ST (or from the file's start outside a set)
    segment_position: int | None = None
    segment_id: str | None = None
    element: str | None = None  # e.g. "VEH02"

    def as_dict(self) -> dict[str, object]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    def __str__(self) -> str:
        """``file=a.x12, segment_position=4``; empty when nothing is known."""
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


class EpoiError(Exception):
    """Root of every error epoi raises on purpose."""

    exit_code = 3
    # Queue workers send a message whose handler raised a permanent error straight to
    # epoi.dead instead of retrying it: the same input fails the same way every time.
    permanent = False

    def __init__(self, code: str, message: str, location: Location | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.location = location or Location()

    def __str__(self) -> str:
        # An error about a setting or an id has no place in an input: no "(unknown)" then.
        where = str(self.location)
        return f"[{self.code}] {self.message}" + (f" ({where})" if where else "")

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "location": self.location.as_dict()}


class InputError(EpoiError):
    """The input cannot be read as what it claims to be (bad X12, bad CSV)."""

    exit_code = 1
    permanent = True


class ConfigError(EpoiError):
    """Settings, profiles or arguments are wrong: the operator must fix them."""

    exit_code = 2


class StoreError(EpoiError):
    """The database refused or lost something."""


class QueueError(EpoiError):
    """The broker refused or lost something."""
