"""The `custid` command: serve, migrate, check, import, openapi, API keys, webhooks, secrets.

Each command loads the service's heavier modules (SQLAlchemy, FastAPI, Redis)
when it runs, not when the command line is parsed: `custid serve --workers N`
starts N processes that each load everything for themselves, and the one that
starts them should not spend a second or two loading it too.
"""

from importlib.metadata import version

import typer

from app.cli import check, export, imports, keys, openapi, secrets, serve, trail, webhooks

cli = typer.Typer(
    help="custid: issues unique, structured business numbers.\n\n"
    "Exit codes: 0 done; 1 something to put right first (a setting, the scheme file, the "
    "database, an address in use); 2 a backend did not answer, the command line was wrong, "
    "or serve would open a public address with no API key.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def show_version(asked: bool) -> None:
    if asked:
        typer.echo(f"custid {version('custid')}")
        raise typer.Exit()


@cli.callback()
def options(
    print_version: bool = typer.Option(
        False, "--version", callback=show_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """custid: issues unique, structured business numbers."""
    # A command's notices (a key file created, ...) go to stderr: its stdout is its answer.
    # `custid serve` logs to stdout again, as a server does.
    from app.logs import configure_logging

    configure_logging(stream="stderr")


cli.command()(serve.serve)
cli.command()(serve.migrate)
cli.command()(check.check)
cli.command()(openapi.openapi)
cli.command("import")(imports.import_numbers)
cli.command("verify-checkpoint")(trail.verify_checkpoint)
cli.command("export")(export.export_numbers)
cli.add_typer(keys.keys, name="keys")
cli.add_typer(webhooks.webhooks, name="webhooks")
cli.add_typer(secrets.secrets, name="secrets")


def main() -> None:
    """Run the command; a bad scheme file is one line naming the scheme and field, exit 1."""
    from schemes import SchemeFileError

    try:
        cli()
    except SchemeFileError as exc:
        typer.echo(f"custid: {exc}", err=True)
        raise SystemExit(1) from None
