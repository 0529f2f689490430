"""A carrier's routes: submit a file, follow its submissions, fetch their acks and
error returns, and see its reported vehicles that are still without a match.

Everything is read in the carrier's scope (``epoi.store._access``): another carrier's submission
is "no submission N", the same 404 as one that does not exist.

An upload is the body itself (the raw X12), streamed chunk by chunk into the archive
(``intake.ArchiveWriter``) with its sha256 computed on the way and the size limit
(``EPOI_MAX_UPLOAD_BYTES``) enforced as it arrives; then ``intake.submit_archived`` does
what ``epoi submit`` does with a file: record, validate, TA1/997, duplicates recognised; and,
as ``epoi submit`` does, with a broker configured its queued units are published to the
workers (``pipeline.publish_queued``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials

from .. import _logging
from ..intake import ArchiveWriter, SubmissionResult, submit_archived
from ..pipeline import (
    AckFile,
    ack_files,
    publish_queued,
    submission_doc,
    submission_in_scope,
    submissions_in_scope,
)
from ..reports import ReportOptions, unmatched_report
from ..store import TokenRole
from ._auth import Caller, Credentials, authorize
from ._context import Context, context
from ._errors import ApiError

router = APIRouter(tags=["carrier"])
_log = _logging.get_logger("epoi.api")

# What an X12 body may be sent as.
X12_TYPES = ("application/edi-x12", "application/octet-stream", "text/plain")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def _carrier(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> tuple[Context, Caller]:
    """What every carrier route starts with: the context and the calling carrier.  Blocking
    when the token is not cached (see ``authorize``)."""
    ctx = context(request)
    return ctx, authorize(ctx, request, credentials, TokenRole.CARRIER)


def _ack_files(ctx: Context, caller: Caller, submission_id: int) -> list[AckFile]:
    """The TA1s, 997s and error-return 811s of a submission in the caller's scope."""
    return ack_files(ctx.store, caller.scope, submission_id, home=ctx.settings.home)


def _public(result: SubmissionResult, request: Request) -> dict[str, Any]:
    """``epoi submit --json`` for one file, with the ack files as links instead of the
    server's paths."""
    doc = result.as_dict()
    doc.pop("archive_path")
    doc["acks"] = [str(request.url_for("ack_file", submission_id=result.submission_id,
                                       name=Path(p).name).path) for p in result.acks]
    return doc


@router.post(
    "/v1/submissions",
    status_code=201,
    summary="Submit an 811 file (the raw X12 as the body)",
    openapi_extra={"requestBody": {"required": True, "content": {
        t: {"schema": {"type": "string", "format": "binary"}} for t in X12_TYPES}}},
    responses={200: {"description": "the same bytes were submitted before (duplicate)"},
               413: {"description": "over EPOI_MAX_UPLOAD_BYTES"},
               415: {"description": "not an X12 content type"}},
)
async def submit(
    request: Request,
    credentials: Credentials,
    name: str | None = Query(None, description="the file's name, kept with the submission"),
) -> JSONResponse:
    """Archived first (sha256 returned), then validated and acknowledged (TA1, 997) as
    `epoi submit FILE --carrier NAIC` does; a garbage or truncated file is archived and
    answered with its TA1 and coded error like any other."""
    ctx, caller = await run_in_threadpool(_carrier, request, credentials)
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in X12_TYPES:
        raise ApiError(415, "CONTENT-TYPE", "send the file as " + ", ".join(X12_TYPES))
    if name is not None and not _NAME.fullmatch(name):
        raise ApiError(422, "REQUEST-INVALID", "name: letters, digits, '.', '_' and '-'")
    limit = ctx.settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        _log.warning("upload_refused", carrier=caller.token.carrier_naic, declared=int(declared),
                     limit=limit)  # fmt: skip
        raise ApiError(413, "UPLOAD-TOO-LARGE", f"an upload is at most {limit} bytes")
    with ArchiveWriter(ctx.settings) as writer:
        async for chunk in request.stream():
            writer.write(chunk)
            if writer.size > limit:
                # Leaving the block deletes the partial file: the log line is all that stays.
                _log.warning("upload_refused", carrier=caller.token.carrier_naic,
                             received=writer.size, limit=limit)  # fmt: skip
                raise ApiError(413, "UPLOAD-TOO-LARGE", f"an upload is at most {limit} bytes")
        archived = await run_in_threadpool(writer.commit)
    result = await run_in_threadpool(
        submit_archived, archived, name or "upload.x12", store=ctx.store,
        settings=ctx.settings, clock=ctx.clock, carrier=caller.token.carrier_naic,
    )  # fmt: skip
    if not result.duplicate:  # scale-out: the workers take it up now, as after `epoi submit`
        await run_in_threadpool(publish_queued, ctx.store, ctx.settings, [result.submission_id])
    return JSONResponse(_public(result, request), status_code=200 if result.duplicate else 201)


@router.get("/v1/submissions", summary="The carrier's submissions and where they stand")
def list_submissions(
    request: Request,
    credentials: Credentials,
) -> dict[str, Any]:
    ctx, caller = _carrier(request, credentials)
    subs = submissions_in_scope(ctx.store, caller.scope)
    return {"submissions": [submission_doc(ctx.store, s) for s in subs]}


@router.get("/v1/submissions/{submission_id}", summary="One submission: `epoi status ID --json`")
def get_submission(
    request: Request,
    credentials: Credentials,
    submission_id: int,
) -> dict[str, Any]:
    ctx, caller = _carrier(request, credentials)
    sub = submission_in_scope(ctx.store, caller.scope, submission_id)
    return submission_doc(ctx.store, sub)


@router.get("/v1/submissions/{submission_id}/acks",
            summary="The TA1, 997 and error-return 811 files of a submission")
def list_acks(
    request: Request,
    credentials: Credentials,
    submission_id: int,
) -> dict[str, Any]:
    ctx, caller = _carrier(request, credentials)
    files = _ack_files(ctx, caller, submission_id)
    return {"submission_id": submission_id, "files": [
        {"kind": f.kind, "control_number": f.control_number, "name": f.name,
         "url": str(request.url_for("ack_file", submission_id=submission_id,
                                    name=f.name).path)}
        for f in files]}  # fmt: skip


@router.get("/v1/submissions/{submission_id}/acks/{name}", name="ack_file",
            summary="One ack or error-return file, as sent",
            response_class=Response,
            responses={200: {"content": {"application/edi-x12": {}}}})
def ack_file(
    request: Request,
    credentials: Credentials,
    submission_id: int,
    name: str,
) -> Response:
    ctx, caller = _carrier(request, credentials)
    for f in _ack_files(ctx, caller, submission_id):
        if f.name != name:
            continue
        try:
            body = f.read_bytes()
        except OSError:
            raise ApiError(503, "ACK-MISSING", "the stored ack is unreadable") from None
        return Response(body, media_type="application/edi-x12",
                        headers={"content-disposition": f'attachment; filename="{name}"'})
    raise ApiError(404, "ACK", f"submission {submission_id} has no file {name}")


@router.get("/v1/vehicles", summary="The carrier's reported vehicles without a match")
def unmatched_vehicles(
    request: Request,
    credentials: Credentials,
    state: str | None = Query(None, pattern="^(pending|unmatched|ambiguous)$",
                              description="only vehicles in this state"),
) -> dict[str, Any]:
    """Pending (registration not found yet, within the window), unmatched (window over)
    or ambiguous (more than one registration fits), oldest first, so that the carrier can
    correct them; the state is the reason.  Personal data is masked."""
    ctx, caller = _carrier(request, credentials)
    now = ctx.clock()
    with ctx.store.session(readonly=True) as session:
        report = unmatched_report(session, ReportOptions(
            scope=caller.scope, masked=True,
            pending_window_days=ctx.settings.pending_window_days, clock=lambda: now))
    vehicles = [v.model_dump(mode="json") for v in report.vehicles
                if state is None or v.state == state]
    return {"carrier": caller.token.carrier_naic, "vehicles": vehicles,
            "truncated": report.truncated}
