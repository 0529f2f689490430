"""Message headers written by the retry and dead-letter paths.

Header values are codes, counts, queue names and times only: never a message text taken from
an exception of unknown origin (it may quote personal data from the input)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from epoi.errors import EpoiError

DEAD_ID = "x-epoi-dead-id"
ERROR_CODE = "x-epoi-error-code"
ERROR_MESSAGE = "x-epoi-error-message"
ORIGINAL_QUEUE = "x-epoi-original-queue"
ORIGINAL_HEADERS = "x-epoi-original-headers"
ATTEMPT = "x-epoi-attempt"
DEAD_AT = "x-epoi-dead-at"
LAST_ERROR_CODE = "x-epoi-last-error-code"
REPLAYED_FROM = "x-epoi-replayed-from"
# Set on a retry copy on transports without delay queues: the worker does not hand the
# message to its handler before this time (seconds since the epoch).
NOT_BEFORE = "x-epoi-not-before"

UNEXPECTED = "UNEXPECTED"
BAD_MESSAGE = "QUEUE-BAD-MESSAGE"
_MAX_MESSAGE = 200

# Headers that describe one trip through the broker and must not follow a message onward.
_TRANSIENT = (
    "x-death",
    "x-first-death-exchange",
    "x-first-death-queue",
    "x-first-death-reason",
    "x-last-death-exchange",
    "x-last-death-queue",
    "x-last-death-reason",
)


def error_code_and_message(exc: BaseException) -> tuple[str, str]:
    """The code and a short message safe to store: an EpoiError's own (they carry no personal
    data by contract); for anything else only the exception's type name."""
    if isinstance(exc, EpoiError):
        return exc.code, exc.message[:_MAX_MESSAGE]
    return UNEXPECTED, f"unexpected {type(exc).__name__} in handler"


def is_permanent(exc: BaseException) -> bool:
    """A permanent error will fail the same way on every attempt: no retry."""
    return bool(getattr(exc, "permanent", False))


def _json_safe(value: Any) -> Any:
    # AMQP headers may hold timestamps and bytes (x-death does); the server-less transport
    # stores headers as JSON, and DeadLetter is JSON, so keep only JSON values.
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def carried(headers: Mapping[str, Any] | None) -> dict[str, Any]:
    """The headers of a message worth keeping when it is published again."""
    drop = (*_TRANSIENT, NOT_BEFORE)
    return {k: _json_safe(v) for k, v in (headers or {}).items() if k not in drop}


def dead_headers(
    *,
    dead_id: str,
    queue: str,
    code: str,
    message: str,
    attempt: int,
    original: Mapping[str, Any] | None,
) -> dict[str, Any]:
    return {
        DEAD_ID: dead_id,
        ERROR_CODE: code,
        ERROR_MESSAGE: message,
        ORIGINAL_QUEUE: queue,
        ATTEMPT: attempt,
        DEAD_AT: datetime.now(UTC).isoformat(),
        ORIGINAL_HEADERS: carried(original),
    }
