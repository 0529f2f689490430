"""The app: the routes of every role over one settings object, one store and one clock.

``create_app(settings, store, clock)`` is what tests and ``epoi serve`` build; uvicorn's
worker processes (``--workers N``) each build their own through :func:`app_from_env`.
"""

from __future__ import annotations

import gc
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import text

from .. import _logging
from .._clock import Clock, utc_now
from ..config import Settings
from ..pipeline import open_store
from ..store import Store, token_for_secret
from . import _auditor, _carrier, _coverage
from ._auth import TokenCache
from ._context import Context, context
from ._errors import GuardMiddleware, error_body, install_error_handlers
from ._reader import CoverageReader


def create_app(settings: Settings, store: Store, clock: Clock = utc_now) -> FastAPI:
    """The service over ``store`` (migrated by the caller: ``epoi serve`` checks it is)."""
    ctx = Context(settings, store, clock, TokenCache(settings.token_cache_seconds),
                  CoverageReader(store))

    @asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        _warm_up(ctx)
        # What the worker has built so far lives as long as it does: frozen out of the
        # collector's sight, a full collection no longer walks it (measured: 60 ms for
        # 130,000 objects on the 2-core machine, a pause every coverage check behind it
        # would wait for).
        gc.freeze()
        try:
            yield
        finally:
            ctx.coverage.close()

    app = FastAPI(
        lifespan=lifespan,
        title="epoi",
        version="1",
        summary="e-POI online: carriers submit 811 files, the renewal system checks coverage, "
                "auditors read reports",
        description="Every route but `/health` takes a bearer token from `epoi tokens issue`. "
                    "Every error is a JSON body `{\"code\", \"message\"}`.",
    )  # fmt: skip
    app.state.epoi = ctx
    install_error_handlers(app)
    app.add_middleware(_coverage.CoverageLane)  # inside the guard: logged, bugs are 500s
    app.add_middleware(GuardMiddleware, settings=settings)
    app.include_router(_carrier.router)
    app.include_router(_coverage.router)
    app.include_router(_auditor.router)

    @app.get("/health", tags=["load balancer"], summary="Up, with its database reachable")
    async def health(request: Request) -> JSONResponse:
        try:
            await run_in_threadpool(_ping, context(request))
        except Exception as exc:
            _logging.get_logger("epoi.api").warning("health_failed",
                                                   error_type=type(exc).__name__)
            return JSONResponse(error_body("STORE-CONNECT", "the database is unreachable"),
                                status_code=503)
        return JSONResponse({"status": "ok"})

    return app


def _warm_up(ctx: Context) -> None:
    """The first token read and the first check of a worker, done before it serves: the
    ORM compiles its statements on first use (measured: 40 ms, a stall for every request
    queued behind it) and the reader opens its connection.  Both read nothing real."""
    with ctx.store.session(readonly=True) as session:
        token_for_secret(session, "", ctx.clock())
    ctx.coverage.warm_up()


def _ping(ctx: Context) -> None:
    with ctx.store.engine.connect() as conn:
        conn.execute(text("SELECT 1"))


# ``epoi serve --workers N`` hands its --log-level to the worker processes in this variable.
WORKER_LOG_LEVEL = "EPOI_SERVE_LOG_LEVEL"


def app_from_env() -> FastAPI:
    """uvicorn's factory in each worker process: settings from the environment, logging
    configured as in the parent (JSON lines, personal data redacted, its level)."""
    _logging.configure(os.environ.get(WORKER_LOG_LEVEL, "WARNING").upper())
    settings = Settings()
    store = open_store(settings)

    app = create_app(settings, store)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[None]:
        async with inner(a):
            yield
        store.dispose()

    app.router.lifespan_context = lifespan
    return app
