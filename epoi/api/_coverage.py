"""The renewal system's routes: is a vehicle insured on a day (``epoi verify`` over HTTP,
the same library call and the same answer), one VIN or up to ``EPOI_MAX_BATCH_VINS``.

The answer names the carrier (NAIC) and the day coverage started; the policy number is
masked (the renewal system needs to know *that* the vehicle is insured, not the policy).

These are the hot routes (thousands of checks a second), so they are async and cheap: the
token comes from the worker's cache (``_auth.TokenCache``), the reads run where they cost
the least (``_reader.CoverageReader``), and the answer is written as JSON bytes directly,
without FastAPI's response-model validation; the models below only document it."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from pydantic import BaseModel
from starlette.types import ASGIApp, Receive, Scope, Send

from ..errors import EpoiError
from ..matching import Verification
from ..reports import mask_policy_number
from ..schemas.vin import has_valid_characters, normalize
from ..store import TokenRole
from ._auth import Credentials, authorize_async, bearer
from ._context import context
from ._errors import ApiError, epoi_error_response

router = APIRouter(tags=["renewal system"])

# A batch body is small (1,000 VINs are ~25 kB); anything far larger is not a batch.
_MAX_BATCH_BODY = 256 * 1024

COVERAGE_EXAMPLE = {
    "vin": "1HGCM82633A004352", "date": "2026-11-27", "insured": True, "plate": "7AAA111",
    "registration_status": "ACTIVE", "carrier_naic": "12345", "policy_number": "**001",
    "coverage_start": "2026-06-01", "coverage_end": "2026-12-01", "unmatched_reports": 0,
}  # fmt: skip


class CoverageAnswer(BaseModel):
    """One vehicle's answer (the OpenAPI document's; the route writes the JSON itself)."""

    vin: str
    date: str
    insured: bool
    plate: str | None
    registration_status: str | None
    carrier_naic: str | None
    policy_number: str | None
    coverage_start: str | None
    coverage_end: str | None
    unmatched_reports: int


class CoverageBatchAnswer(BaseModel):
    date: str
    results: list[CoverageAnswer]


def _json(doc: Any) -> Response:
    return Response(json.dumps(doc, separators=(",", ":")).encode(),
                    media_type="application/json")


def parse_vin(value: str) -> str:
    vin = normalize(value)
    if not has_valid_characters(vin):
        raise ApiError(422, "VIN-INVALID",
                       "a VIN is 17 characters from A-Z and 0-9 without I, O and Q")  # fmt: skip
    return vin


def parse_day(value: str | None, default: date) -> date:
    if value is None:
        return default
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
    except ValueError:
        pass
    return _bad_day()


def _bad_day() -> date:
    raise ApiError(422, "DATE-INVALID", "a date is YYYY-MM-DD")


def coverage_doc(v: Verification) -> dict[str, Any]:
    """``epoi verify --json`` with the policy number masked and without the report key
    (which spells the policy number out)."""
    doc = v.as_dict()
    doc.pop("report")
    doc["policy_number"] = mask_policy_number(doc["policy_number"]) or None
    return doc


@router.get(
    "/v1/coverage/{vin}",
    summary="Is the vehicle insured on a day",
    response_model=CoverageAnswer,
    responses={200: {"content": {"application/json": {"example": COVERAGE_EXAMPLE}}}},
)
async def coverage(
    request: Request,
    credentials: Credentials,
    vin: str,
    date: str | None = None,
) -> Response:
    """Insured on `date` (YYYY-MM-DD, default today) or not, by which carrier and since
    when: the answer of `epoi verify VIN --date DATE`."""
    return await check_coverage(request, credentials, vin, date)


async def check_coverage(request: Request, credentials: HTTPAuthorizationCredentials | None,
                         vin: str, day: str | None) -> Response:  # fmt: skip
    """The single check, for the route above and for :class:`CoverageLane`."""
    ctx = context(request)
    await authorize_async(ctx, request, credentials, TokenRole.RENEWAL)
    wanted, on = parse_vin(vin), parse_day(day, ctx.clock().date())
    (answer,) = await ctx.coverage.verify([wanted], on)
    return _json(coverage_doc(answer))


_SINGLE = "/v1/coverage/"


class CoverageLane:
    """``GET /v1/coverage/{vin}`` straight to :func:`check_coverage`, past FastAPI's
    routing and parameter machinery, which cost a quarter of a check's CPU (measured);
    every other request goes on to the app.  The answers and errors are the route's: the
    same function, errors through the same handler, and the route's template in the scope
    for the access log.  The route stays declared above: it is what the OpenAPI document
    shows, and it serves whatever the lane leaves to it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.route = next(r for r in router.routes if getattr(r, "path", None) == _SINGLE
                          + "{vin}")  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        vin = path[len(_SINGLE):]
        if (scope["type"] != "http" or scope["method"] != "GET" or not path.startswith(_SINGLE)
                or not vin or "/" in vin):
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        request = Request(scope, receive)
        try:
            response = await check_coverage(request, await bearer(request), vin,
                                            request.query_params.get("date"))  # fmt: skip
        except EpoiError as exc:
            response = await epoi_error_response(request, exc)
        await response(scope, receive, send)


@router.post(
    "/v1/coverage",
    summary="Coverage of up to 1,000 vehicles on a day",
    response_model=CoverageBatchAnswer,
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"type": "object", "required": ["vins"], "properties": {
            "vins": {"type": "array", "items": {"type": "string"}, "maxItems": 1000},
            "date": {"type": "string", "format": "date"}}},
        "example": {"vins": ["1HGCM82633A004352"], "date": "2026-11-27"}}}}},
)
async def coverage_batch(
    request: Request,
    credentials: Credentials,
) -> Response:
    """`{"vins": [...], "date": "YYYY-MM-DD"}`: one answer per VIN, in the order asked."""
    ctx = context(request)
    await authorize_async(ctx, request, credentials, TokenRole.RENEWAL)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise ApiError(415, "CONTENT-TYPE", "send the batch as application/json")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > _MAX_BATCH_BODY:
            raise ApiError(413, "BATCH-TOO-LARGE", "the batch body is too large")
    try:
        doc = json.loads(body)
    except ValueError:
        raise ApiError(422, "REQUEST-INVALID", "the body is not JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("vins"), list) or not all(
            isinstance(v, str) for v in doc["vins"]):
        raise ApiError(422, "REQUEST-INVALID", 'the body is {"vins": [VIN, ...], "date": ...}')
    limit = ctx.settings.max_batch_vins
    if len(doc["vins"]) > limit:
        raise ApiError(422, "BATCH-TOO-LARGE", f"at most {limit} VINs per request")
    raw_day = doc.get("date")
    if raw_day is not None and not isinstance(raw_day, str):
        _bad_day()
    day = parse_day(raw_day, ctx.clock().date())
    vins = []
    for i, v in enumerate(doc["vins"]):
        try:
            vins.append(parse_vin(v))
        except ApiError as exc:
            raise ApiError(422, exc.code, f"vins[{i}]: {exc.message}") from None
    answers = await ctx.coverage.verify(vins, day)
    return _json({"date": day.isoformat(), "results": [coverage_doc(a) for a in answers]})
