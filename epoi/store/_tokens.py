"""Bearer tokens of the HTTP service: who may call it, as what, until when.

A token is a random secret shown once when it is issued; only its sha256 is stored, so a
copy of the database does not let anyone call the service.  A token has a role (a carrier,
the state's renewal system, an auditor), a carrier for the carrier role, an expiry, and
can be revoked.  Operators issue, list and revoke them (``epoi tokens``); the service only
looks them up (:func:`token_for_secret`).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import CheckConstraint, ForeignKey, String, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from ..errors import ConfigError
from ._base import Base, UtcDateTime
from ._models import Carrier, _str_enum

# The secret's prefix makes a leaked token recognisable (secret scanners, logs).
SECRET_PREFIX = "epoi_"


class TokenRole(enum.StrEnum):
    CARRIER = "carrier"  # a carrier's own submissions, acks and vehicles
    RENEWAL = "renewal"  # the state's renewal system: coverage checks
    AUDITOR = "auditor"  # the reports


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        # A carrier token names its carrier; the state's roles name none.
        CheckConstraint(
            "(role = 'carrier') = (carrier_id IS NOT NULL)", name="carrier_role_has_carrier"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    secret_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[TokenRole] = mapped_column(_str_enum(TokenRole, "token_role"))
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("carriers.id"), index=True)
    label: Mapped[str | None] = mapped_column(String(120))  # who it was issued to
    created_at: Mapped[datetime] = mapped_column(UtcDateTime())
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """A token as the service and the operator see it (never the secret)."""

    id: int
    role: TokenRole
    carrier_id: int | None
    carrier_naic: str | None
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    def active(self, now: datetime) -> bool:
        return self.revoked_at is None and now < self.expires_at

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id, "role": self.role.value, "carrier": self.carrier_naic,
            "label": self.label, "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }  # fmt: skip


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _info(token: ApiToken, naic: str | None) -> TokenInfo:
    return TokenInfo(token.id, token.role, token.carrier_id, naic, token.label,
                     token.created_at, token.expires_at, token.revoked_at)  # fmt: skip


def issue_token(
    session: Session,
    *,
    role: TokenRole,
    now: datetime,
    valid_for: timedelta,
    carrier_naic: str | None = None,
    label: str | None = None,
) -> tuple[TokenInfo, str]:
    """A new token and its secret (returned this once, stored only as a hash)."""
    carrier: Carrier | None = None
    if role is TokenRole.CARRIER:
        if carrier_naic is None:
            raise ConfigError("USAGE", "a carrier token needs --carrier NAIC")
        carrier = session.scalars(select(Carrier).where(Carrier.naic == carrier_naic)).one_or_none()
        if carrier is None:
            raise ConfigError("CARRIER", f"no carrier with NAIC {carrier_naic} is registered")
    elif carrier_naic is not None:
        raise ConfigError("USAGE", f"a {role.value} token acts for the state, not for a carrier")
    if valid_for <= timedelta(0):
        raise ConfigError("USAGE", "a token must be valid for some time")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(secret_sha256=hash_secret(secret), role=role,
                     carrier_id=carrier.id if carrier else None, label=label,
                     created_at=now, expires_at=now + valid_for)  # fmt: skip
    session.add(token)
    session.flush()
    return _info(token, carrier.naic if carrier else None), secret


def _rows(session: Session, *where: object) -> list[TokenInfo]:
    stmt = (select(ApiToken, Carrier.naic)
            .join(Carrier, Carrier.id == ApiToken.carrier_id, isouter=True)
            .where(*where).order_by(ApiToken.id))  # type: ignore[arg-type]  # fmt: skip
    return [_info(t, naic) for t, naic in session.execute(stmt)]


def token_for_secret(session: Session, secret: str, now: datetime) -> TokenInfo | None:
    """The active token with this secret; None for an unknown, expired or revoked one."""
    found = _rows(session, ApiToken.secret_sha256 == hash_secret(secret))
    return found[0] if found and found[0].active(now) else None


def list_tokens(session: Session) -> list[TokenInfo]:
    return _rows(session)


def revoke_token(session: Session, token_id: int, now: datetime) -> TokenInfo:
    """Revoke a token (again is harmless: the first revocation time stays)."""
    token = session.get(ApiToken, token_id)
    if token is None:
        raise ConfigError("TOKEN", f"no token {token_id}")
    if token.revoked_at is None:
        token.revoked_at = now
        session.flush()
    return _rows(session, ApiToken.id == token_id)[0]
