"""`custid check`: the periodic integrity check."""

import asyncio
import json
from typing import TYPE_CHECKING

import typer

from app.core.errors import BackendUnavailable
from app.logs import configure_logging
from app.settings import Settings, get_settings

if TYPE_CHECKING:
    from app.core.integrity import IntegrityReport


def check(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every scheme: counters not behind, no duplicates; report gaps and utilisation.

    Exits 0 when all is well, 1 when a counter is behind or a number is duplicated,
    2 when a backend cannot be reached.
    """
    settings = get_settings()
    configure_logging("error")  # the report is the output; start-up notices would be noise
    try:
        report = asyncio.run(run_check(settings))
    except BackendUnavailable as exc:
        typer.echo(f"custid check: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    raise typer.Exit(0 if report.ok else 1)


async def run_check(settings: Settings) -> "IntegrityReport":
    """The integrity report of the database and counters `settings` point at."""
    from app.core.clock import system_clock
    from app.core.integrity import check_integrity
    from app.core.metrics import Metrics
    from app.services import running_services
    from schemes import load_catalog

    schemes = load_catalog(settings.schemes_file, settings.time_zone)
    async with running_services(settings, schemes, system_clock, Metrics()) as services:
        return await check_integrity(services.issuer)


def format_report(report: "IntegrityReport") -> str:
    """The report as a table an operator reads."""
    lines = [
        f"{'scheme':<12} {'period':<14} {'partition':<10} {'numbers':>8} {'highest':>8} "
        f"{'counter':>8} {'gaps':>6} {'used':>7}"
    ]
    for key in report.keys:
        used = "-" if key.utilisation is None else f"{key.utilisation:.1%}"
        lines.append(
            f"{key.scheme:<12} {key.period or '-':<14} {key.partition or '-':<10} "
            f"{key.numbers:>8} {key.highest_seq or '-':>8} "
            f"{'missing' if key.counter is None else key.counter:>8} {key.gaps:>6} {used:>7}"
            + ("  COUNTER BEHIND" if key.counter_behind else "")
        )
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
    if report.unknown_schemes:
        lines.append(f"schemes stored but not configured: {', '.join(report.unknown_schemes)}")
    lines += [f"PROBLEM: {problem}" for problem in report.problems]
    lines.append("OK" if report.ok else f"FAILED: {len(report.problems)} problem(s)")
    return "\n".join(lines)
