"""The auditor's routes: the reports of ``epoi report`` (summary, carrier, unmatched,
timeliness) as JSON, CSV or HTML, built and rendered by ``epoi.reports``.  Always masked:
an unmasked report is an operator's command, written to the access log (``epoi report
--unmasked``), not something handed out over the network."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.orm import Session

from ..reports import (
    Report,
    ReportOptions,
    carrier_report,
    csv_zip,
    render,
    render_csv,
    summary_report,
    timeliness_report,
    unmatched_report,
)
from ..store import TokenRole
from ._auth import Credentials, authorize
from ._context import context
from ._coverage import parse_day
from ._errors import ApiError

router = APIRouter(tags=["auditor"])

_MEDIA = {"json": "application/json", "csv": "text/csv; charset=utf-8",
          "html": "text/html; charset=utf-8", "zip": "application/zip"}  # fmt: skip
_FORMAT = Query("json", description="json, csv or html; csv is one table with `section`, "
                "else a zip of one CSV per table (as `epoi report --format csv --out X.zip`)")
_SECTION = Query(None, description="with format=csv: the one table to return")
_FROM = Query(None, alias="from", description="first day of receipt, YYYY-MM-DD")
_TO = Query(None, description="last day of receipt, YYYY-MM-DD")
_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {m.split(";")[0]: {} for m in _MEDIA.values()}}}


Fmt = Literal["json", "csv", "html"]


@dataclass(frozen=True, slots=True)
class _Asked:
    """The query every report route takes (``epoi report``'s options)."""

    fmt: Fmt
    start: str | None
    end: str | None
    section: str | None


def _asked(format: Fmt = _FORMAT, start: str | None = _FROM, to: str | None = _TO,
           section: str | None = _SECTION) -> _Asked:  # fmt: skip
    return _Asked(format, start, to, section)


Asked = Annotated[_Asked, Depends(_asked)]


def _report(request: Request, credentials: HTTPAuthorizationCredentials | None,
            build: Callable[[Session, ReportOptions], Report], asked: _Asked) -> Response:
    ctx = context(request)
    authorize(ctx, request, credentials, TokenRole.AUDITOR)
    first = parse_day(asked.start, date.min) if asked.start else None
    last = parse_day(asked.end, date.max) if asked.end else None
    if first and last and first > last:
        raise ApiError(422, "USAGE", "from is after to")
    now = ctx.clock()
    with ctx.store.session(readonly=True) as session:
        report = build(session, ReportOptions(
            start=first, end=last, masked=True,
            pending_window_days=ctx.settings.pending_window_days, clock=lambda: now))
    fmt, section = asked.fmt, asked.section
    if fmt != "csv":
        return Response(render(report, fmt), media_type=_MEDIA[fmt])
    if section is None:
        return Response(csv_zip(report), media_type=_MEDIA["zip"])
    try:
        return Response(render_csv(report, section), media_type=_MEDIA["csv"])
    except KeyError:
        tables = ", ".join(s.name for s in report.sections())
        raise ApiError(422, "USAGE", f"no table {section!r} in this report; "
                       f"tables: {tables}") from None


@router.get("/v1/reports/summary", response_class=Response, responses=_RESPONSES,
            summary="Volumes, outcomes, errors, match rates, ageing, late reporting")
def summary(request: Request, credentials: Credentials, asked: Asked) -> Response:
    return _report(request, credentials, summary_report, asked)


@router.get("/v1/reports/carrier/{naic}", response_class=Response, responses=_RESPONSES,
            summary="One carrier: submissions, volumes, outcomes, errors, matches")
def carrier(request: Request, credentials: Credentials, naic: str, asked: Asked) -> Response:
    def build(session: Session, opts: ReportOptions) -> Report:
        return carrier_report(session, opts, naic)

    return _report(request, credentials, build, asked)


@router.get("/v1/reports/unmatched", response_class=Response, responses=_RESPONSES,
            summary="Reported vehicles without a match, oldest first")
def unmatched(request: Request, credentials: Credentials, asked: Asked) -> Response:
    return _report(request, credentials, unmatched_report, asked)


@router.get("/v1/reports/timeliness", response_class=Response, responses=_RESPONSES,
            summary="Late reporting per carrier and days from taking effect to receipt")
def timeliness(request: Request, credentials: Credentials, asked: Asked) -> Response:
    return _report(request, credentials, timeliness_report, asked)
