"""The `custid` command: serve, migrate, check, and API keys."""

import typer

from app.cli import check, keys, serve

cli = typer.Typer(help="custid: issues unique, structured business numbers.", no_args_is_help=True)
cli.command()(serve.serve)
cli.command()(serve.migrate)
cli.command()(check.check)
cli.add_typer(keys.keys, name="keys")


def main() -> None:
    cli()
