"""`custid serve` and `custid migrate`."""

import asyncio
import gc
import os
import shutil
import signal
import tempfile
from pathlib import Path
from types import FrameType

import typer
import uvicorn
from fastapi import FastAPI

from app.cli.database import with_database
from app.core.access import Gatekeeper, InsecureBinding, is_loopback
from app.core.metrics import MULTIPROC_ENV
from app.logs import configure_logging
from app.settings import Settings, get_settings
from app.store.database import Database
from app.store.migrations import upgrade_to_head


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default CUSTID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CUSTID_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default CUSTID_WORKERS)."),
) -> None:
    """Serve the HTTP API. On the embedded SQLite default, migrate the file first."""
    settings = get_settings()
    if host is not None:
        settings = settings.model_copy(update={"host": host})
    configure_logging(settings.log_level)
    if settings.is_embedded:
        upgrade_to_head(settings.sqlalchemy_url)
    try:
        asyncio.run(refuse_open_public_port(settings))
    except InsecureBinding as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    # The app decides whether auth is needed from the address it is bound to, and
    # uvicorn builds it (in every worker) from the environment.
    os.environ["CUSTID_HOST"] = settings.host
    get_settings.cache_clear()
    worker_count = workers or settings.workers
    own_metrics_dir = prepare_metrics_dir(worker_count)
    # uvicorn drains on SIGTERM (no new connections, requests in flight finish), then
    # re-raises the signal to whatever handler was there before it. A drained stop is a
    # clean stop, so that handler exits 0 instead of dying by the signal (exit 143).
    signal.signal(signal.SIGTERM, exit_cleanly)
    try:
        uvicorn.run(
            "app.cli.serve:serving_app",
            factory=True,
            host=settings.host,
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


def serving_app() -> FastAPI:
    """The application as each worker of `custid serve` builds it, its heap settled for serving."""
    # Imported here: the parent process of several workers never builds the app itself.
    from app.main import create_app

    app = create_app()
    settle_heap()
    return app


def settle_heap() -> None:
    """Tune the garbage collector for a long-lived server, once its start-up objects exist.

    Every request allocates (and frees) a few hundred objects; with the
    default thresholds the collector ran about 150 times a second under load,
    each pass scanning the ~150,000 objects of FastAPI, pydantic and
    SQLAlchemy that live as long as the process: 15 % of a busy worker's CPU
    went to finding no garbage. Frozen, those objects are never scanned again;
    a larger first generation makes a pass rare. Request garbage is freed by
    reference counting, so cycles are what waits longer to be collected.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(10_000, 20, 100)


async def refuse_open_public_port(settings: Settings) -> None:
    """Refuse an open public port before serving; the app checks again in every worker."""
    if settings.auth == "disabled" or is_loopback(settings.host):
        return  # nothing to refuse; the app logs its own warning

    async def check(db: Database) -> None:
        await Gatekeeper(db, settings.auth, settings.host).check_startup()

    await with_database(settings, check)


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


def migrate() -> None:
    """Bring the database schema to the newest migration."""
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    typer.echo("database schema is at the newest migration")
