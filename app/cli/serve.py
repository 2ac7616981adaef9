"""`custid serve` and `custid migrate`."""

import asyncio
import os
import shutil
import signal
import socket
import tempfile
from pathlib import Path
from ssl import CERT_REQUIRED
from types import FrameType
from typing import Any

import structlog
import typer

from app.catalog import service_schemes
from app.cli.database import database_in_use, migrate_database
from app.cli.refusals import command_settings
from app.cli.startup import check_backends, listening_socket, serving_fields
from app.core.addresses import is_loopback
from app.logs import configure_logging
from app.settings import Settings, get_settings

log = structlog.get_logger("custid.serve")


def serve(
    host: str | None = typer.Option(None, help="Address to bind (default CUSTID_HOST)."),
    port: int | None = typer.Option(None, help="Port (default CUSTID_PORT)."),
    workers: int | None = typer.Option(None, help="Worker processes (default CUSTID_WORKERS)."),
) -> None:
    """Serve the HTTP API. On the embedded SQLite default, migrate the file first.

    Nothing is served until the database answers at the newest migration, Redis (if
    configured) answers, and the address listens: any failure is one line and a
    non-zero exit (see `custid --help`).
    """
    settings = command_settings(host=host, port=port, workers=workers)
    configure_logging(settings.log_level)
    # Read here, before any worker starts, so a bad file stops the command with its one line.
    service_schemes(settings)
    if settings.is_embedded:
        migrate_database(settings)
    from app.core.access import InsecureBinding

    try:
        asyncio.run(check_backends(settings))
    except InsecureBinding as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    listener = listening_socket(settings.host, settings.port)
    # The app decides whether auth is needed from the address it is bound to, and
    # uvicorn builds it (in every worker) from the environment.
    os.environ["CUSTID_HOST"] = settings.host
    get_settings.cache_clear()
    own_metrics_dir = prepare_metrics_dir(settings.workers)
    # uvicorn drains on SIGTERM (no new connections, requests in flight finish), then
    # re-raises the signal to whatever handler was there before it. A drained stop is a
    # clean stop, so that handler exits 0 instead of dying by the signal (exit 143).
    signal.signal(signal.SIGTERM, exit_cleanly)
    url = base_url(settings.host, settings.port, https=settings.tls_cert_file is not None)
    warn_if_plaintext_beyond_loopback(settings)
    log.info("serving", **serving_fields(settings, url, settings.workers))
    try:
        run_workers(listener, settings)
    finally:
        listener.close()
        if own_metrics_dir is not None:
            shutil.rmtree(own_metrics_dir, ignore_errors=True)
        log.info("stopped", url=url)


def run_workers(listener: socket.socket, settings: Settings) -> None:
    """Serve on `listener` with `settings.workers` processes (this one, when there is one)."""
    # Loaded here, not with the module: every other command is spared loading the server.
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
        "app.main:serving_app",
        factory=True,
        workers=settings.workers,
        timeout_graceful_shutdown=30,
        log_level="warning",
        log_config=None,
        access_log=False,
        # The app reads forwarded headers itself (CUSTID_FORWARDED_ALLOW_IPS).
        proxy_headers=False,
        # uvicorn's httptools protocol, refusing a flood before the app is called.
        http="app.api.flood_gate:RefusingHttpToolsProtocol",
        **tls_options(settings),
    )
    if settings.workers > 1:
        Multiprocess(config, sockets=[listener]).run()
        return
    server = uvicorn.Server(config)
    server.run(sockets=[listener])
    if not server.started:  # the app's start-up failed; uvicorn logged why
        raise typer.Exit(3)


def base_url(host: str, port: int, https: bool = False) -> str:
    """The URL a client reaches a server bound to `host` at (IPv6 in brackets)."""
    scheme = "https" if https else "http"
    return f"{scheme}://[{host}]:{port}" if ":" in host else f"{scheme}://{host}:{port}"


def tls_options(settings: Settings) -> dict[str, Any]:
    """uvicorn's HTTPS options: the certificate and key, and with a client CA, mutual TLS
    (a caller without a certificate that CA signed is refused in the handshake)."""
    if settings.tls_cert_file is None:
        return {}
    options: dict[str, Any] = {
        "ssl_certfile": str(settings.tls_cert_file),
        "ssl_keyfile": str(settings.tls_key_file),
    }
    if settings.tls_client_ca_file is not None:
        options |= {
            "ssl_ca_certs": str(settings.tls_client_ca_file),
            "ssl_cert_reqs": CERT_REQUIRED,
        }
    return options


def warn_if_plaintext_beyond_loopback(settings: Settings) -> None:
    """Say so when API keys would cross the network unencrypted."""
    if settings.tls_cert_file is None and not is_loopback(settings.host):
        log.warning(
            "serving_plaintext",
            host=settings.host,
            detail="HTTP without TLS beyond loopback: API keys and numbers cross the network "
            "in the clear. Set CUSTID_TLS_CERT_FILE and CUSTID_TLS_KEY_FILE, or put a TLS "
            "proxy in front and bind to 127.0.0.1",
        )


def exit_cleanly(signum: int, frame: FrameType | None) -> None:
    """Exit 0: the signal asked for a stop and the server has already drained."""
    raise SystemExit(0)


def prepare_metrics_dir(workers: int) -> Path | None:
    """Give worker processes an empty directory to share metrics through.

    A `PROMETHEUS_MULTIPROC_DIR` from the environment is emptied (its files are
    counts of an earlier run) and kept; with several workers and none given, a
    temporary one is made, and returned so it can be removed at exit.
    """
    from app.core.metrics import MULTIPROC_ENV

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
    """Bring the database schema to the newest migration (creating the embedded file)."""
    from app.store.migrations import head_revision

    settings = command_settings()
    migrate_database(settings)
    typer.echo(f"{database_in_use(settings)} is at the newest migration, {head_revision()}")
