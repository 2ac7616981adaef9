"""Running one piece of async database work from a command."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from app.core.errors import CustidError
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.store.database import Database

T = TypeVar("T")
Work = Callable[["Database"], Awaitable[T]]


def run_on_database(work: Work[T]) -> T:
    """Run `work` against the configured database; a custid error exits 1 with its detail."""
    settings = get_settings()
    if settings.is_embedded:
        from app.store.migrations import upgrade_configured

        upgrade_configured(settings)
    try:
        return asyncio.run(with_database(settings, work))
    except CustidError as exc:
        typer.echo(f"custid: {exc.detail}", err=True)
        raise typer.Exit(1) from exc


async def with_database(settings: Settings, work: Work[T]) -> T:
    """`work` on a short-lived connection pool."""
    from app.store.database import Database

    db = Database.connect(
        settings.sqlalchemy_url, settings.backend_timeout_seconds, settings.retry_after_seconds
    )
    try:
        return await work(db)
    finally:
        await db.dispose()
