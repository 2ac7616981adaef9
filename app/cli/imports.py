"""`custid import --scheme S FILE.csv`: load numbers issued by an older system."""

import asyncio
import getpass
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer

from app.cli.bulk import collector_paused
from app.cli.database import use_database
from app.core.errors import CustidError, ImportRejected, as_custid_error
from app.logs import configure_logging
from app.settings import Settings
from app.store.errors import StoreError

if TYPE_CHECKING:
    from app.core.imports import ImportResult
    from app.core.legacy_rows import LegacyRow

# A million lines move in one transaction: its statements may run for minutes.
IMPORT_STATEMENT_TIMEOUT_SECONDS = 3600.0


def import_numbers(
    file: Path = typer.Argument(  # noqa: B008 - typer declares arguments this way
        ..., exists=True, dir_okay=False, readable=True, help="CSV: number,issued_at[,refs]."
    ),
    scheme: str = typer.Option(..., "--scheme", help="The scheme the numbers belong to."),
    operator: str | None = typer.Option(
        None, "--operator", help="The person importing; kept on every event."
    ),
    progress: bool = typer.Option(True, help="Show a progress bar on a terminal."),
) -> None:
    """Import numbers with their issue dates and refs, all of them or none.

    The file has a header line naming its columns: `number`, `issued_at` (ISO 8601; a
    time without a zone is in the scheme's) and optionally `refs` (`system:id`,
    several separated by spaces). Bad lines are listed by line number and nothing is
    imported; numbers stored already as the file has them are passed over, so the
    same file imported twice imports nothing the second time.
    """
    settings = use_database(creates=True)
    configure_logging("error")
    try:
        with collector_paused(), file.open("rb") as raw:
            result = asyncio.run(run_import(settings, raw, file.name, scheme, operator, progress))
    except ImportRejected as exc:
        for problem in exc.extensions["problems"]:
            typer.echo(f"{file}:{problem['line']}: {problem['problem']}", err=True)
        typer.echo(f"custid import: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    except (CustidError, StoreError) as exc:
        typer.echo(f"custid import: {as_custid_error(exc).detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(
        f"{result.scheme}: {result.lines} lines, {result.imported} numbers imported, "
        f"{result.already_present} already present, {result.refs_added} refs added"
    )


async def run_import(
    settings: Settings,
    raw: IO[bytes],
    name: str,
    scheme: str,
    operator: str | None,
    show_progress: bool,
) -> "ImportResult":
    """Import the CSV file open as `raw`, with a progress bar over its bytes."""
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from app.catalog import service_schemes
    from app.core.audit import Actor
    from app.core.clock import system_clock
    from app.core.legacy_rows import csv_rows
    from app.core.metrics import Metrics
    from app.core.operators import check_operator_shape
    from app.services import running_services

    if operator is not None:
        check_operator_shape(operator)
    patient = settings.model_copy(
        update={"backend_timeout_seconds": IMPORT_STATEMENT_TIMEOUT_SECONDS}
    )
    schemes = service_schemes(settings)
    actor = Actor(None, f"cli:{getpass.getuser()}:{uuid.uuid4().hex[:12]}", operator)
    # The bar is for a person watching: on stderr, so the summary on stdout is all a pipe
    # or a file receives (off a terminal rich would still write a line for it).
    console = Console(stderr=True)
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not (show_progress and console.is_terminal),
        transient=True,
    ) as bar:
        task = bar.add_task(f"importing {name}", total=os.fstat(raw.fileno()).st_size)

        def rows() -> Iterator["LegacyRow"]:
            """The file's rows from its first line (an import may read it twice)."""
            raw.seek(0)
            return csv_rows(raw, scheme)

        def advance(_: int) -> None:
            bar.update(task, completed=raw.tell())

        async with running_services(
            patient, schemes, system_clock, Metrics(), background=False
        ) as services:
            return await services.importer.import_numbers(scheme, rows, actor, progress=advance)
