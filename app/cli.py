"""The `custid` command: serve, migrate."""

import typer
import uvicorn

from app.settings import get_settings
from app.store.migrations import upgrade_to_head

cli = typer.Typer(help="custid: issues unique, structured business numbers.", no_args_is_help=True)


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default CUSTID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CUSTID_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default CUSTID_WORKERS)."),
) -> None:
    """Serve the HTTP API. On the embedded SQLite default, migrate the file first."""
    settings = get_settings()
    if settings.is_embedded:
        upgrade_to_head(settings.sqlalchemy_url)
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers or settings.workers,
        timeout_graceful_shutdown=30,
        log_level="warning",
    )


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    typer.echo("database schema is at the newest migration")


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
