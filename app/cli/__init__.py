"""The `custid` command: serve, migrate, check, and API keys.

Each command loads the service's heavier modules (SQLAlchemy, FastAPI, Redis)
when it runs, not when the command line is parsed: `custid serve --workers N`
starts N processes that each load everything for themselves, and the one that
starts them should not spend a second or two loading it too.
"""

import typer

from app.cli import check, imports, keys, serve, webhooks

cli = typer.Typer(help="custid: issues unique, structured business numbers.", no_args_is_help=True)
cli.command()(serve.serve)
cli.command()(serve.migrate)
cli.command()(check.check)
cli.command("import")(imports.import_numbers)
cli.add_typer(keys.keys, name="keys")
cli.add_typer(webhooks.webhooks, name="webhooks")


def main() -> None:
    cli()
