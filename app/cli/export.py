"""`custid export`: numbers with their refs and trail, as CSV or JSON Lines, to a file or stdout."""

import sys
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING

import typer

from app.cli.bulk import collector_paused
from app.cli.database import run_on_database

if TYPE_CHECKING:
    from app.core.export import ExportFormat
    from app.store.database import Database
    from app.store.exports import ExportFilters


def export_numbers(
    scheme: str | None = typer.Option(None, "--scheme", help="Only this scheme."),
    period: str | None = typer.Option(
        None, "--period", help="Only this period, e.g. 20231015 (- for a scheme that never resets)."
    ),
    operator: str | None = typer.Option(
        None, "--operator", help="Only numbers this operator acted on (any event of the trail)."
    ),
    issued_from: str | None = typer.Option(
        None, "--from", help="Only numbers issued at or after this time (ISO 8601 with a zone)."
    ),
    issued_before: str | None = typer.Option(
        None, "--before", help="Only numbers issued before this time (ISO 8601 with a zone)."
    ),
    export_format: str = typer.Option("csv", "--format", help="csv or jsonl (JSON Lines)."),
    output: Path | None = typer.Option(  # noqa: B008 - typer declares options this way
        None, "--output", "-o", dir_okay=False, help="Write here instead of to stdout."
    ),
    progress: bool = typer.Option(True, help="Show a progress bar on a terminal."),
) -> None:
    """Export numbers with their refs and whole trail, oldest first, in constant memory.

    CSV has one row per number (refs as `system:id` separated by spaces, attributes and
    trail as JSON); JSON Lines one record per line. Every trail event carries its hash.
    """
    with collector_paused():
        run_export(
            scheme, period, operator, issued_from, issued_before, export_format, output, progress
        )


def run_export(
    scheme: str | None,
    period: str | None,
    operator: str | None,
    issued_from: str | None,
    issued_before: str | None,
    export_format: str,
    output: Path | None,
    progress: bool,
) -> None:
    """The export the options describe, written out; one line on stderr and exit 1 for an
    option that is refused."""
    from app.core.errors import CustidError
    from app.core.export import ExportFormat

    try:
        chosen = ExportFormat(export_format)
    except ValueError:
        typer.echo("custid export: --format is csv or jsonl", err=True)
        raise typer.Exit(1) from None
    try:
        filters = export_filters(scheme, period, operator, issued_from, issued_before)
    except (CustidError, ValueError) as exc:
        typer.echo(f"custid export: {getattr(exc, 'detail', exc)}", err=True)
        raise typer.Exit(1) from exc
    show = progress and sys.stderr.isatty()
    if output is None:
        count = run_on_database(
            lambda db: write_export(db, filters, chosen, sys.stdout.buffer, show)
        )
    else:
        with output.open("wb") as target:
            count = run_on_database(lambda db: write_export(db, filters, chosen, target, show))
    typer.echo(f"{count} numbers exported", err=True)


def export_filters(
    scheme: str | None,
    period: str | None,
    operator: str | None,
    issued_from: str | None,
    issued_before: str | None,
) -> "ExportFilters":
    """The filters the options name, each checked: an unknown scheme, an operator of the
    wrong shape, a time without a zone, a period no scheme writes or an empty range is
    refused."""
    from app.catalog import service_schemes
    from app.core import export
    from app.core.errors import UnknownScheme
    from app.core.operators import check_operator_shape
    from app.settings import get_settings

    settings = get_settings()
    catalog = service_schemes(settings)
    if scheme is not None and scheme not in catalog:
        raise UnknownScheme(scheme, catalog)
    if operator is not None:
        check_operator_shape(operator, "--operator")
    return export.export_filters(
        catalog.values() if scheme is None else [catalog[scheme]],
        scheme=scheme,
        period=period,
        operator=operator,
        issued_from=aware_time(issued_from, "--from"),
        issued_before=aware_time(issued_before, "--before"),
    )


def aware_time(text: str | None, option: str) -> datetime | None:
    """An ISO 8601 time with its zone; ValueError naming `option` otherwise."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{option} {text!r} is not an ISO 8601 time") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{option} {text!r} needs a zone, e.g. {text}Z or {text}+08:00")
    return parsed


async def write_export(
    db: "Database",
    filters: "ExportFilters",
    export_format: "ExportFormat",
    target: IO[bytes],
    show_progress: bool,
) -> int:
    """Write the export to `target` a page at a time; how many numbers it held."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from app.core.export import export_bytes, export_size

    exported = 0
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not show_progress,
        transient=True,
    ) as bar:
        total = await export_size(db, filters) if show_progress else None
        task = bar.add_task("exporting", total=total)

        def advance(count: int) -> None:
            nonlocal exported
            exported += count
            bar.update(task, advance=count)

        async for chunk in export_bytes(db, filters, export_format, advance):
            target.write(chunk)
    target.flush()
    return exported
