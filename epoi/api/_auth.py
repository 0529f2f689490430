"""Who is calling: the bearer token of every request, looked up by its hash, and what its
role may do.  No token, or one that is unknown, expired or revoked: 401.  A valid token
asking for what its role may not have: 403.  A carrier's token acts in the carrier's scope
(``epoi.store.CarrierScope``), so another carrier's submission is simply not found.

Each worker process keeps the valid tokens it has read for ``EPOI_TOKEN_CACHE_SECONDS``
(:class:`TokenCache`): a coverage check then costs no token read, and a revocation takes
effect within that many seconds."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..store import CarrierScope, TokenInfo, TokenRole, hash_secret, token_for_secret
from ._context import Context
from ._errors import ApiError

# In the OpenAPI document as the "bearer" scheme; errors are ours (auto_error off).
bearer = HTTPBearer(auto_error=False, description="a token from `epoi tokens issue`")

# A route's ``credentials`` parameter: the Authorization header, None when absent.
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Caller:
    token: TokenInfo

    @property
    def scope(self) -> CarrierScope:
        """What the caller may read: its own carrier's rows, or (the state) everything."""
        t = self.token
        if t.role is TokenRole.CARRIER:
            return CarrierScope(carrier_id=t.carrier_id, naic=t.carrier_naic)
        return CarrierScope.everything()


class TokenCache:
    """Tokens found valid in the store, by the hash of their secret, trusted for ``seconds``
    after the read (expiry is still checked on every request).  Unknown, expired and
    revoked tokens are not kept: they are read again each time."""

    MAX_ENTRIES = 10_000  # a worker sees a handful of tokens; this only bounds a flood

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._found: dict[str, tuple[float, TokenInfo]] = {}

    def get(self, digest: str) -> TokenInfo | None:
        hit = self._found.get(digest)
        if hit is None or time.monotonic() - hit[0] >= self.seconds:
            return None
        return hit[1]

    def put(self, digest: str, token: TokenInfo) -> None:
        if self.seconds <= 0:
            return
        if len(self._found) >= self.MAX_ENTRIES:
            self._found.clear()
        self._found[digest] = (time.monotonic(), token)


def _secret(credentials: HTTPAuthorizationCredentials | None) -> str:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "AUTH-MISSING", "a bearer token is required", _CHALLENGE)
    return credentials.credentials


def _admit(request: Request, token: TokenInfo | None, now: datetime,
           roles: tuple[TokenRole, ...]) -> Caller:  # fmt: skip
    if token is None or not token.active(now):
        raise ApiError(401, "AUTH-INVALID", "the token is unknown, expired or revoked",
                       _CHALLENGE)  # fmt: skip
    # For the access log: which token, never its secret.
    request.state.token_id = token.id
    request.state.role = token.role.value
    if token.role not in roles:
        raise ApiError(403, "FORBIDDEN", f"a {token.role.value} token may not use this route")
    return Caller(token)


def authorize(ctx: Context, request: Request, credentials: HTTPAuthorizationCredentials | None,
              *roles: TokenRole) -> Caller:  # fmt: skip
    """The caller, if its token is valid and its role one of ``roles``.  Blocking when the
    token is not cached (one indexed read): call it from a sync route or through the thread
    pool, or use :func:`authorize_async`."""
    secret = _secret(credentials)
    digest = hash_secret(secret)
    now = ctx.clock()
    token = ctx.tokens.get(digest)
    if token is None:
        with ctx.store.session(readonly=True) as session:
            token = token_for_secret(session, secret, now)
        if token is not None:
            ctx.tokens.put(digest, token)
    return _admit(request, token, now, roles)


async def authorize_async(ctx: Context, request: Request,
                          credentials: HTTPAuthorizationCredentials | None,
                          *roles: TokenRole) -> Caller:  # fmt: skip
    """:func:`authorize` for an async route: a cached token is admitted on the event loop.
    A store read happens on the loop too with SQLite (one indexed read, and the requests
    that arrive meanwhile then find the token cached instead of each reading it in a thread
    of their own); with a server database it goes to the thread pool."""
    token = ctx.tokens.get(hash_secret(_secret(credentials)))
    if token is not None:
        return _admit(request, token, ctx.clock(), roles)
    if ctx.store.dialect == "sqlite":
        return authorize(ctx, request, credentials, *roles)
    return await run_in_threadpool(authorize, ctx, request, credentials, *roles)
