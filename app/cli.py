"""The `custid` command: serve, migrate, and manage API keys."""

import asyncio
import getpass
import os
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
import uvicorn
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import Gatekeeper, InsecureBinding, is_loopback
from app.core.api_keys import NewKey, Scope, create_key, list_keys, revoke_key
from app.core.audit import Actor
from app.core.clock import system_clock
from app.core.errors import CustidError
from app.settings import Settings, get_settings
from app.store.database import create_engine, create_sessionmaker
from app.store.migrations import upgrade_to_head
from app.store.models import ApiKey

cli = typer.Typer(help="custid: issues unique, structured business numbers.", no_args_is_help=True)
keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)
cli.add_typer(keys, name="keys")

T = TypeVar("T")


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default CUSTID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CUSTID_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default CUSTID_WORKERS)."),
) -> None:
    """Serve the HTTP API. On the embedded SQLite default, migrate the file first."""
    settings = get_settings()
    if host is not None:
        settings = settings.model_copy(update={"host": host})
    if settings.is_embedded:
        upgrade_to_head(settings.sqlalchemy_url)
    try:
        asyncio.run(_check_startup(settings))
    except InsecureBinding as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    # The app decides whether auth is needed from the address it is bound to, and
    # uvicorn builds it (in every worker) from the environment.
    os.environ["CUSTID_HOST"] = settings.host
    get_settings.cache_clear()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        timeout_graceful_shutdown=30,
        log_level="warning",
    )


async def _check_startup(settings: Settings) -> None:
    """Refuse an open public port before serving; the app checks again in every worker."""
    if settings.auth == "disabled" or is_loopback(settings.host):
        return  # nothing to refuse; the app logs its own warning

    async def check(sessions: async_sessionmaker[AsyncSession]) -> None:
        await Gatekeeper(sessions, settings.auth, settings.host).check_startup()

    await _with_sessions(settings, check)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    typer.echo("database schema is at the newest migration")


@keys.command("create")
def keys_create(
    name: str = typer.Option(..., "--name", help="Who or what uses the key, e.g. crm-prod."),
    scope: list[Scope] = typer.Option(  # noqa: B008 - typer declares options this way
        ..., "--scope", help="A scope to grant; repeat for several."
    ),
) -> None:
    """Create an API key and print its secret. It is shown this once and never stored."""

    async def create(sessions: async_sessionmaker[AsyncSession]) -> NewKey:
        return await create_key(sessions, name, scope, system_clock, _operator())

    created = _run_on_database(create)
    typer.echo(f"id:     {created.key.id}")
    typer.echo(f"name:   {created.key.name}")
    typer.echo(f"scopes: {' '.join(created.key.scopes)}")
    typer.echo(f"secret: {created.token}")
    typer.echo("Store the secret now: it cannot be shown again. Send it as "
               "`Authorization: Bearer <secret>`.", err=True)


@keys.command("list")
def keys_list() -> None:
    """List every API key (never the secrets), revoked ones included."""
    found = _run_on_database(list_keys)
    typer.echo(f"{'id':<22} {'name':<20} {'scopes':<42} {'created':<26} revoked")
    for key in found:
        typer.echo(
            f"{key.id:<22} {key.name:<20} {' '.join(key.scopes):<42} "
            f"{key.created_at.isoformat(timespec='seconds'):<26} "
            f"{key.revoked_at.isoformat(timespec='seconds') if key.revoked_at else '-'}"
        )


@keys.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id, from `custid keys list`."),
    reason: str | None = typer.Option(None, help="Why; kept in the audit trail."),
) -> None:
    """Revoke an API key: every request with it is refused from now on."""

    async def revoke(sessions: async_sessionmaker[AsyncSession]) -> ApiKey:
        return await revoke_key(sessions, key_id, system_clock, _operator(), reason)

    revoked = _run_on_database(revoke)
    typer.echo(f"revoked {revoked.id} ({revoked.name})")


def _operator() -> Actor:
    """Key changes made at the command line: no API key acted, so the request id names who."""
    return Actor(None, f"cli:{getpass.getuser()}:{uuid.uuid4().hex[:12]}")


def _run_on_database(work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    settings = get_settings()
    if settings.is_embedded:
        upgrade_to_head(settings.sqlalchemy_url)
    try:
        return asyncio.run(_with_sessions(settings, work))
    except CustidError as exc:
        typer.echo(f"custid: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def _with_sessions(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    engine = create_engine(settings.sqlalchemy_url, settings.backend_timeout_seconds)
    try:
        return await work(create_sessionmaker(engine))
    finally:
        await engine.dispose()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
