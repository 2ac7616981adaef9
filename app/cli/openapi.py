"""`custid openapi`: the API's OpenAPI document, as the committed `openapi.json` holds it."""

from pathlib import Path
from typing import Annotated

import typer

from app.cli.refusals import command_settings


def openapi(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the document to this file, not stdout."),
    ] = None,
) -> None:
    """Print (or write) the OpenAPI document of this version of custid."""
    from app.api.pages import openapi_text
    from app.main import create_app

    document = openapi_text(create_app(command_settings()))
    if output is None:
        typer.echo(document, nl=False)
    else:
        output.write_text(document, encoding="utf-8")
        typer.echo(f"wrote {output}", err=True)
