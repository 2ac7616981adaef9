"""The `custid` command: serve, migrate, check."""

import asyncio
import json
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType

import typer
import uvicorn

from app.core.clock import system_clock
from app.core.errors import BackendUnavailable
from app.core.integrity import IntegrityReport, check_integrity
from app.core.metrics import MULTIPROC_ENV, Metrics
from app.logs import configure_logging
from app.services import running_services
from app.settings import Settings, get_settings
from app.store.migrations import upgrade_to_head
from schemes import load_catalog

cli = typer.Typer(help="custid: issues unique, structured business numbers.", no_args_is_help=True)


@cli.command()
def serve(
    host: str | None = typer.Option(None, help="Address to bind (default CUSTID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CUSTID_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default CUSTID_WORKERS)."),
) -> None:
    """Serve the HTTP API. On the embedded SQLite default, migrate the file first."""
    settings = get_settings()
    configure_logging(settings.log_level)
    if settings.is_embedded:
        upgrade_to_head(settings.sqlalchemy_url)
    worker_count = workers or settings.workers
    own_metrics_dir = prepare_metrics_dir(worker_count)
    # uvicorn drains on SIGTERM (no new connections, requests in flight finish), then
    # re-raises the signal to whatever handler was there before it. A drained stop is a
    # clean stop, so that handler exits 0 instead of dying by the signal (exit 143).
    signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=worker_count,
            timeout_graceful_shutdown=30,
            log_level="warning",
            log_config=None,
            access_log=False,
        )
    finally:
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Exit 0: the signal asked for a stop and the server has already drained."""
    raise SystemExit(0)


def prepare_metrics_dir(workers: int) -> Path | None:
    """Give worker processes an empty directory to share metrics through.

    A `PROMETHEUS_MULTIPROC_DIR` from the environment is emptied (its files are
    counts of an earlier run) and kept; with several workers and none given, a
    temporary one is made, and returned so it can be removed at exit.
    """
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
        for stale in directory.glob("*.db"):
            stale.unlink()
        return None
    if workers <= 1:
        return None
    directory = Path(tempfile.mkdtemp(prefix="custid-metrics-"))
    # Set before the workers start: prometheus-client reads it when first imported.
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    typer.echo("database schema is at the newest migration")


@cli.command()
def check(
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Check every scheme: counters not behind, no duplicates; report gaps and utilisation.

    Exits 0 when all is well, 1 when a counter is behind or a number is duplicated,
    2 when a backend cannot be reached.
    """
    settings = get_settings()
    configure_logging("warning")
    try:
        report = asyncio.run(run_check(settings))
    except BackendUnavailable as exc:
        typer.echo(f"custid check: {exc.detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_report(report))
    raise typer.Exit(0 if report.ok else 1)


async def run_check(settings: Settings) -> IntegrityReport:
    """The integrity report of the database and counters `settings` point at."""
    schemes = load_catalog(settings.schemes_file, settings.time_zone)
    async with running_services(settings, schemes, system_clock, Metrics()) as services:
        return await check_integrity(services.issuer)


def format_report(report: IntegrityReport) -> str:
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


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
