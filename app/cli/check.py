"""`custid check`: the periodic integrity check."""

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.cli import trail
from app.cli.database import use_database
from app.cli.refusals import command_settings
from app.core.errors import UNAVAILABLE, NotFound, as_custid_error
from app.core.grammar import written_period
from app.logs import configure_logging
from app.settings import Settings

if TYPE_CHECKING:
    from app.core.forecast import SchemeForecast
    from app.core.gaps import PartitionGaps
    from app.core.integrity import IntegrityReport, KeyReport
    from schemes import Catalog


def check(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    scheme: str | None = typer.Option(
        None,
        "--scheme",
        help="List every gap of this scheme's period, with its cause, instead of the check.",
    ),
    period: str | None = typer.Option(
        None, "--period", help="With --scheme: e.g. 20231015, - for none; default: the current."
    ),
    partition: str | None = typer.Option(
        None, "--partition", help="With --scheme: only this partition, e.g. region=SH."
    ),
    audit: bool = typer.Option(
        False,
        "--audit",
        help="Recompute the trail's hash chain instead, and name the first event that differs.",
    ),
    checkpoint: Path | None = typer.Option(  # noqa: B008 - typer declares options this way
        None,
        "--checkpoint",
        help="With --audit: write a signed checkpoint of the verified head to this file.",
    ),
) -> None:
    """Check every scheme: counters not behind, no duplicates; report gaps, utilisation and
    the exhaustion forecast.

    Exits 0 when all is well, 1 when a counter is behind, a number is duplicated, a
    scheme's current period is used up or will be before it ends at its recent rate, 2
    when a backend cannot be reached. With
    --scheme it lists the gaps of one period (every sequence value not stored, with
    its cause) and exits 0. With --audit it recomputes the trail's hash chain: exit 0
    when it holds, 1 naming the first event that differs.
    """
    if audit:
        trail.audit(as_json, checkpoint)
    from app.catalog import service_schemes

    settings = command_settings()
    configure_logging("error")  # the report is the output; start-up notices would be noise
    # A bad scheme file is named before the database is looked at.
    schemes = service_schemes(settings)
    use_database()
    try:
        if scheme is not None:
            found = asyncio.run(run_gaps(settings, schemes, scheme, period, partition))
            typer.echo(format_gaps(*found, as_json=as_json))
            raise typer.Exit(0)
        report = asyncio.run(run_check(settings, schemes))
    except UNAVAILABLE as exc:
        typer.echo(f"custid check: {as_custid_error(exc).detail}", err=True)
        raise typer.Exit(2) from exc
    except NotFound as exc:  # no such scheme, or no such period of it
        typer.echo(f"custid check: {exc.detail}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    raise typer.Exit(0 if report.ok else 1)


async def run_gaps(
    settings: Settings,
    schemes: "Catalog",
    scheme: str,
    period: str | None,
    partition: str | None,
) -> "tuple[str, str, list[PartitionGaps]]":
    """The scheme's name, the period's key and the gaps of its partitions."""
    from app.core.clock import system_clock
    from app.core.gaps import period_gaps, scheme_period
    from app.core.metrics import Metrics
    from app.services import running_services

    async with running_services(
        settings, schemes, system_clock, Metrics(), background=False
    ) as services:
        found = services.issuer.scheme(scheme)
        key = found.period(system_clock()) if period is None else scheme_period(found, period)
        return found.name, key, await period_gaps(services.db, found.name, key, partition)


def format_gaps(scheme: str, period: str, partitions: "list[PartitionGaps]", as_json: bool) -> str:
    """The gaps of one period, as JSON or as lines an operator reads."""
    if as_json:
        listing = {
            "scheme": scheme,
            "period": written_period(period),
            "partitions": [part.as_dict() for part in partitions],
        }
        return json.dumps(listing, indent=2)
    from app.core.gaps import CAUSE_EXPLAINED

    lines = []
    for part in partitions:
        lines.append(
            f"{scheme} period {written_period(period)} partition {part.partition or '-'}: "
            f"{part.missing} of 1..{part.highest_seq} missing"
        )
        for gap in part.gaps:
            values = str(gap.first) if gap.first == gap.last else f"{gap.first}-{gap.last}"
            lines.append(f"  {values:<15} {gap.cause.value:<19} {CAUSE_EXPLAINED[gap.cause]}")
        if part.truncated:
            lines.append("  (more gaps than listed)")
    if not partitions:
        lines.append(f"{scheme} period {written_period(period)}: no numbers stored")
    return "\n".join(lines)


async def run_check(settings: Settings, schemes: "Catalog") -> "IntegrityReport":
    """The integrity report of the database and counters `settings` point at."""
    from app.core.clock import system_clock
    from app.core.integrity import check_integrity
    from app.core.metrics import Metrics
    from app.services import running_services

    async with running_services(
        settings, schemes, system_clock, Metrics(), background=False
    ) as services:
        return await check_integrity(services.usage, settings.forecast_window)


def counter_cell(key: "KeyReport") -> str:
    """The counter column: its value, `missing`, or `-` where the scheme counts nothing."""
    if not key.sequenced:
        return "-"
    return "missing" if key.counter is None else str(key.counter)


def table(header: list[str], rows: list[list[str]], right_aligned: set[int]) -> list[str]:
    """Rows as lines, each column as wide as its widest cell."""
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(
            cell.rjust(width) if i in right_aligned else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]


def forecast_line(forecast: "SchemeForecast") -> str:
    """One scheme's forecast: its partition that runs out first, and when."""
    first = forecast.first
    assert first is not None
    where = f"{forecast.scheme} {forecast.period or '-'} {first.partition or '-'}"
    if first.exhausts_at is None:
        return f"forecast {where}: not issuing lately, does not run out"
    when = f"{first.exhausts_at:%Y-%m-%d %H:%M} UTC"
    verdict = "BEFORE its period ends" if first.before_period_end else "after its period ends"
    return f"forecast {where}: {first.rate_per_hour:,.1f}/h, runs out {when}, {verdict}"


def format_report(report: "IntegrityReport") -> str:
    """The report as a table an operator reads."""
    header = ["scheme", "period", "partition", "numbers", "highest", "counter", "gaps", "used", ""]
    rows = [
        [
            key.scheme,
            key.period or "-",
            key.partition or "-",
            str(key.numbers),
            str(key.highest_seq or "-"),
            counter_cell(key),
            str(key.gaps),
            "-" if key.utilisation is None else f"{key.utilisation:.1%}",
            "COUNTER BEHIND" if key.counter_behind else "",
        ]
        for key in report.keys
    ]
    lines = table(header, rows, right_aligned={3, 4, 5, 6, 7})
    if not report.keys:
        lines.append("(no numbers issued yet)")
    for key in report.keys:
        if key.gap_examples:
            runs = ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in key.gap_examples)
            lines.append(
                f"gaps in {key.scheme} {key.period or '-'} {key.partition or '-'}: "
                f"{key.gaps} missing, e.g. {runs}"
            )
    current = ", ".join(
        f"{scheme} {ratio:.1%}" for scheme, ratio in sorted(report.current_utilisation.items())
    )
    lines.append(f"current period utilisation: {current or '-'}")
    lines += [forecast_line(forecast) for forecast in report.forecasts if forecast.partitions]
    if report.unknown_schemes:
        lines.append(f"schemes stored but not configured: {', '.join(report.unknown_schemes)}")
    lines += [f"PROBLEM: {problem}" for problem in report.problems]
    lines.append("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    return "\n".join(lines)
