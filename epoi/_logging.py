"""structlog, configured once: JSON lines on stderr when not a terminal, pretty when it is."""

from __future__ import annotations

import logging
import re
import sys
import traceback
import uuid
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

# Keys whose values are personal data whatever they hold.
_PERSONAL_KEY = re.compile(
    r"name|last|first|middle|suffix|dob|birth|licen[cs]e|\bdl\b|_dl|address|street|city|zip|fein|owner|insured",
    re.IGNORECASE,
)
# Values that look like personal data inside any other string (messages, errors): driver
# licence numbers, dashed FEINs (bare 9 digits are control numbers), 8-digit and ISO dates (a
# date of birth cannot be told from others).
_PERSONAL_VALUE = re.compile(
    r"\b[A-Z]\d{7}\b|\b\d{2}-\d{7}\b|\b(?:19|20)\d{2}-?[01]\d-?[0-3]\d\b"
)
REDACTED = "[redacted]"


def _scrub(value: Any) -> Any:
    if isinstance(value, str):
        return _PERSONAL_VALUE.sub(REDACTED, value)
    if isinstance(value, (list, tuple)):
        return type(value)(_scrub(v) for v in value)
    if isinstance(value, dict):
        return {k: (REDACTED if _PERSONAL_KEY.search(str(k)) else _scrub(v))
                for k, v in value.items()}
    return value


def redact_personal_data(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> dict[str, Any]:
    """structlog processor: personal data never reaches a log line (it runs before the
    timestamp is added, so the timestamp itself is not scrubbed)."""
    return {
        k: (REDACTED if k != "event" and _PERSONAL_KEY.search(k) else _scrub(v))
        for k, v in event.items()
    }

_configured = False


def configure(level: str = "INFO") -> None:
    global _configured
    if _configured:
        return
    _configured = True
    renderer = (
        structlog.dev.ConsoleRenderer(colors=False)
        if sys.stderr.isatty()
        else structlog.processors.JSONRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            redact_personal_data,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    # pyx12 logs every error it finds through stdlib logging, with data values in it.
    logging.getLogger("pyx12").setLevel(logging.CRITICAL)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name)


INCIDENTS_LOG = "incidents.log"


@dataclass(frozen=True, slots=True)
class Incident:
    """A bug, numbered: its trace is in ``trace_file`` ($EPOI_HOME/incidents.log), or
    ``problem`` says why no trace could be written."""

    id: str
    trace_file: Path | None
    problem: str | None = None

    @property
    def where(self) -> str:
        if self.trace_file is not None:
            return f"trace in {self.trace_file}"
        return f"no trace written: {self.problem}"


def record_incident(home: Callable[[], Path], exc: BaseException, *,
                    logger: str) -> Incident:  # fmt: skip
    """Number the bug being handled, append its trace to the incidents file under
    ``home()`` (``Settings.ensure_home``) and log one line without it: the command line and
    the HTTP service show the number only, never a traceback.  Never raises: a home that
    cannot be written to is said (``problem``) rather than a file named that is not there."""
    incident = uuid.uuid4().hex[:12]
    trace = traceback.format_exc()
    trace_file: Path | None = None
    problem: str | None = None
    try:
        trace_file = home() / INCIDENTS_LOG
        with trace_file.open("a", encoding="utf-8") as fh:
            fh.write(f"--- incident {incident}\n{trace}\n")
    except Exception as unwritable:
        trace_file = None
        message = getattr(unwritable, "message", None)  # an EpoiError says why itself
        problem = message if isinstance(message, str) else type(unwritable).__name__
    get_logger(logger).error("internal_error", incident=incident, error_type=type(exc).__name__)
    return Incident(incident, trace_file, problem)
