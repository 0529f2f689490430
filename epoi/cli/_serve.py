"""``epoi serve`` (the HTTP service) and ``epoi tokens issue|list|revoke`` (who may call it)."""

from __future__ import annotations

import os
from datetime import timedelta

import click

from .._clock import utc_now
from ..store import TokenRole, issue_token, list_tokens, revoke_token
from ._app import command_store, current_settings, echo_json, guarded, main

# Connections waiting to be accepted: the renewal system opens thousands at once.
LISTEN_BACKLOG = 8192


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="address to listen on (behind the TLS-terminating reverse proxy)")
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1),
              help="server processes")
@click.option("--keep-alive", "keep_alive", default=75, show_default=True,
              type=click.IntRange(1), help="seconds an idle keep-alive connection is kept")
@guarded
def serve(host: str, port: int, workers: int, keep_alive: int) -> None:
    """Serve the HTTP API: carriers submit and read their acks, the renewal system checks
    coverage, auditors read reports.  Plain HTTP: TLS is the reverse proxy's (README).
    X-Forwarded-For/-Proto are believed only from EPOI_TRUSTED_PROXIES.

    \b
    Example:
      EPOI_TRUSTED_PROXIES=127.0.0.1 epoi --log-level INFO serve --port 8080 --workers 2
    """
    import uvicorn  # only the service needs it

    from ..api import WORKER_LOG_LEVEL, create_app
    from ..pipeline import open_store

    settings = current_settings()
    store = open_store(settings)  # a schema or connection problem: exit 2, now
    root = click.get_current_context().find_root()
    level = str(root.params.get("log_level") or "WARNING").lower()
    proxies = settings.trusted_proxy_list
    options = dict(
        host=host, port=port, access_log=False,  # epoi's own access log, without personal data
        log_level=level, proxy_headers=bool(proxies),
        forwarded_allow_ips=proxies or None, timeout_keep_alive=keep_alive,
        backlog=LISTEN_BACKLOG, server_header=False,
    )  # fmt: skip
    if workers == 1:
        try:
            uvicorn.run(create_app(settings, store), **options)  # type: ignore[arg-type]
        finally:
            store.dispose()
        return
    store.dispose()  # each worker process opens its own
    os.environ[WORKER_LOG_LEVEL] = level
    uvicorn.run("epoi.api:app_from_env", factory=True, workers=workers,
                **options)  # type: ignore[arg-type]  # fmt: skip


@main.group("tokens")
def tokens() -> None:
    """Bearer tokens of the HTTP service: issued (shown once), listed, revoked."""


@tokens.command("issue")
@click.option("--role", required=True, type=click.Choice([r.value for r in TokenRole]),
              help="carrier (its own data), renewal (coverage checks) or auditor (reports)")
@click.option("--carrier", "naic", metavar="NAIC", help="the carrier a carrier token acts for")
@click.option("--days", type=click.IntRange(1),
              help="valid for DAYS [default: EPOI_TOKEN_VALID_DAYS]")
@click.option("--label", help="whom it is for, to recognise it in the list")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def tokens_issue(role: str, naic: str | None, days: int | None, label: str | None,
                 as_json: bool) -> None:  # fmt: skip
    """Issue a token.  Its secret is printed this once; only its hash is stored.

    \b
    Example:
      epoi tokens issue --role carrier --carrier 12345 --label "ACME uploads"
      epoi tokens issue --role renewal --days 90
    """
    settings = current_settings()
    with command_store() as store, store.session() as session:
        info, secret = issue_token(
            session, role=TokenRole(role), now=utc_now(), carrier_naic=naic, label=label,
            valid_for=timedelta(days=days or settings.token_valid_days))
    if as_json:
        echo_json({**info.as_dict(), "token": secret})
        return
    who = f" for carrier {info.carrier_naic}" if info.carrier_naic else ""
    click.echo(f"token {info.id}: {info.role.value}{who}, expires {info.expires_at:%Y-%m-%d}")
    click.echo(secret)
    click.echo("the secret is shown only now: hand it over, it cannot be read again", err=True)


@tokens.command("list")
@click.option("--json", "as_json", is_flag=True, help="print one JSON document")
@guarded
def tokens_list(as_json: bool) -> None:
    """List the tokens (never their secrets) with their state.

    \b
    Example:
      epoi tokens list
    """
    with command_store() as store, store.session(readonly=True) as session:
        infos = list_tokens(session)
    now = utc_now()
    if as_json:
        echo_json({"tokens": [{**i.as_dict(), "active": i.active(now)} for i in infos]})
        return
    for i in infos:
        state = "active" if i.active(now) else ("revoked" if i.revoked_at else "expired")
        click.echo(f"{i.id:>4}  {i.role.value:<8} {i.carrier_naic or '-':<6} {state:<8} "
                   f"expires {i.expires_at.isoformat()[:10]}  {i.label or ''}")


@tokens.command("revoke")
@click.argument("token_id", type=int)
@guarded
def tokens_revoke(token_id: int) -> None:
    """Revoke a token: its next request is refused (401).

    \b
    Example:
      epoi tokens revoke 3
    """
    with command_store() as store, store.session() as session:
        info = revoke_token(session, token_id, utc_now())
    click.echo(f"token {info.id} revoked at {info.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


__all__ = ["serve", "tokens"]
