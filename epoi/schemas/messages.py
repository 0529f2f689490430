"""Queue message envelopes: what travels between the stages, and what an operator sees in
``epoi dead list``.

A message carries one unit of work (a submission to parse, a transaction set or a chunk of
policies to normalize or match), never a single policy.  ``unit_id`` is the unit's natural key
in the store, so a stage that receives the same envelope twice finds the unit already done.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue

SCHEMA_VERSION: Literal[1] = 1

# One kind per stage queue (epoi.parse, epoi.normalize, epoi.match): the kind names the stage
# that must handle the unit, so routing needs nothing but the envelope.
Kind = Literal["parse", "normalize", "match"]
KINDS: tuple[Kind, ...] = ("parse", "normalize", "match")

_Body = TypeVar("_Body", bound=BaseModel)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(_Frozen):
    """The JSON payload of every queue message.

    ``body`` is plain JSON; each stage owns the pydantic model of its own body and reads it
    with :meth:`body_as`, so this module does not depend on the stages' schemas.
    ``attempt`` starts at 1 and is raised by the retry path only.
    """

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Kind
    unit_id: str = Field(min_length=1, max_length=300)
    attempt: int = Field(1, ge=1)
    body: dict[str, JsonValue] = Field(default_factory=dict)

    @classmethod
    def of(
        cls, kind: Kind, unit_id: str, body: BaseModel | dict[str, Any] | None = None
    ) -> Envelope:
        """Build a first-attempt envelope; a pydantic ``body`` is dumped in JSON mode."""
        data = body.model_dump(mode="json") if isinstance(body, BaseModel) else (body or {})
        return cls(kind=kind, unit_id=unit_id, body=data)

    def body_as(self, model: type[_Body]) -> _Body:
        return model.model_validate(self.body)

    def next_attempt(self) -> Envelope:
        return self.model_copy(update={"attempt": self.attempt + 1})

    def first_attempt(self) -> Envelope:
        return self.model_copy(update={"attempt": 1})


class DeadLetter(_Frozen):
    """One message parked in ``epoi.dead``, as ``epoi dead list`` shows it.

    ``envelope`` is None when the message could not be read as an envelope at all (wrong
    content type, bad JSON, unknown schema); it is kept in the queue all the same.
    """

    id: str  # assigned when the message was dead-lettered; what `epoi dead replay ID` takes
    queue: str  # the queue it failed in
    error_code: str
    error_message: str
    attempt: int
    dead_at: datetime | None = None
    kind: str | None = None
    unit_id: str | None = None
    envelope: Envelope | None = None
    original_headers: dict[str, JsonValue] = Field(default_factory=dict)
