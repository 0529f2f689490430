"""Errors as the service answers them: a JSON body ``{"code", "message"}`` (the codes of the
command line where one exists), never a traceback; and the outermost guard that turns a bug
into a 500 with an incident number and writes one access-log line per request.

Neither the access log nor the error log carries personal data: a request is logged by its
route template (``/v1/coverage/{vin}``, not the VIN), its status and its duration; a bug by
its exception type and incident number, the trace going to ``$EPOI_HOME/incidents.log`` as
the command line's does.
"""

from __future__ import annotations

import json
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import _logging
from ..config import Settings
from ..errors import ConfigError, EpoiError, InputError
from ..store import NotFoundError

_log = _logging.get_logger("epoi.api")

_HTTP_CODES = {
    400: "BAD-REQUEST", 401: "AUTH-MISSING", 403: "FORBIDDEN", 404: "NOT-FOUND",
    405: "METHOD-NOT-ALLOWED", 413: "UPLOAD-TOO-LARGE", 415: "CONTENT-TYPE",
}  # fmt: skip


# Library errors that name something that is not there (``ConfigError`` on the command line).
_NOT_FOUND = {"SUBMISSION", "CARRIER", "TOKEN"}


class ApiError(EpoiError):
    """An answer other than success, with its HTTP status."""

    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:  # fmt: skip
        super().__init__(code, message)
        self.status = status
        self.headers = headers


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def _status_of(exc: EpoiError) -> int:
    if isinstance(exc, ApiError):
        return exc.status
    if isinstance(exc, NotFoundError) or exc.code in _NOT_FOUND:
        return 404  # another carrier's submission, or none: the same answer
    if isinstance(exc, ConfigError):
        return 400
    if isinstance(exc, InputError):
        return 422
    return 503  # the store or the queue refused: try again later


async def epoi_error_response(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EpoiError)
    status = _status_of(exc)
    if status >= 500:
        _log.error("request_failed", code=exc.code, error_type=type(exc).__name__)
    return JSONResponse(error_body(exc.code, exc.message), status_code=status,
                        headers=getattr(exc, "headers", None))  # fmt: skip


async def _http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, f"HTTP-{exc.status_code}")
    message = "no such route" if exc.status_code == 404 else str(exc.detail)
    return JSONResponse(error_body(code, message), status_code=exc.status_code,
                        headers=exc.headers)  # fmt: skip


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    # Where and what kind of value is wrong, never the value itself (it may be anything).
    assert isinstance(exc, RequestValidationError)
    parts = []
    for err in exc.errors()[:5]:
        where = ".".join(str(p) for p in err.get("loc", ()))
        parts.append(f"{where}: {err.get('msg', 'invalid')}")
    return JSONResponse(error_body("REQUEST-INVALID", "; ".join(parts) or "invalid request"),
                        status_code=422)  # fmt: skip


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(EpoiError, epoi_error_response)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)


class GuardMiddleware:
    """The outermost layer of the app: one access-log line per request, and any exception
    that got through the handlers (a bug) becomes a 500 JSON answer here instead of a
    traceback on the client or in uvicorn's error log."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        except Exception as exc:
            incident = _logging.record_incident(self.settings.ensure_home, exc,
                                                logger="epoi.api")  # fmt: skip
            if status == 0:
                status = 500
                body = json.dumps(error_body("INTERNAL", f"internal error {incident.id}")).encode()
                await send({"type": "http.response.start", "status": 500,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(body)).encode())]})
                await send({"type": "http.response.body", "body": body})
        finally:
            _access(scope, status, time.perf_counter() - started)


def _access(scope: Scope, status: int, seconds: float) -> None:
    route = scope.get("route")
    state: dict[str, Any] = scope.get("state") or {}
    client = scope.get("client")
    _log.info(
        "http_request",
        method=scope.get("method"),
        route=getattr(route, "path", None) or "(no route)",
        status=status,
        ms=round(seconds * 1000, 1),
        client=client[0] if client else None,
        scheme=scope.get("scheme"),
        token=state.get("token_id"),
        role=state.get("role"),
    )
