"""Who is calling: the bearer token of every request, looked up by its hash, and what its
role may do.  No token, or one that is unknown, expired or revoked: 401.  A valid token
asking for what its role may not have: 403.  A carrier's token acts in the carrier's scope
(``epoi._access.CarrierScope``), so another carrier's submission is simply not found."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .._access import CarrierScope
from ..store import TokenInfo, TokenRole, token_for_secret
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


def authorize(ctx: Context, request: Request, credentials: HTTPAuthorizationCredentials | None,
              *roles: TokenRole) -> Caller:  # fmt: skip
    """The caller, if its token is valid and its role one of ``roles``.  Blocking (one
    indexed read): call it from a sync route or through the thread pool."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(401, "AUTH-MISSING", "a bearer token is required", _CHALLENGE)
    with ctx.store.session(readonly=True) as session:
        token = token_for_secret(session, credentials.credentials, ctx.clock())
    if token is None:
        raise ApiError(401, "AUTH-INVALID", "the token is unknown, expired or revoked",
                       _CHALLENGE)  # fmt: skip
    # For the access log: which token, never its secret.
    request.state.token_id = token.id
    request.state.role = token.role.value
    if token.role not in roles:
        raise ApiError(403, "FORBIDDEN", f"a {token.role.value} token may not use this route")
    return Caller(token)
