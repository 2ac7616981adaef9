"""The system under test: PostgreSQL, Redis, custid, the naive peer (and granian serving
custid, for bench/engines.py), all of the run's own.

Servers come from `custid_testing/servers.py` (free loopback ports, a throwaway cluster);
each is registered on an ExitStack as soon as it exists, so a failure or Ctrl-C
anywhere stops everything started so far.
"""

import asyncio
import os
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

from custid_testing.backends import asyncpg_dsn
from custid_testing.servers import PostgresServer, RedisServer, ServiceProcess, wait_until

SCHEME_NAME = "bench"
# Twelve sequence digits: a day's period holds 10**12 - 1 numbers, so no run exhausts it.
SCHEME_FILE = """\
[schemes.bench]
kind = "timestamp"
description = "Benchmark scheme: date + 12-digit daily sequence"
format = "%Y%m%d"
width = 12
"""
NAIVE_TABLE = "naive_numbers"
PGBENCH_TABLE = "bench_rows"


def start_postgres(cleanup: ExitStack) -> PostgresServer:
    """A durable cluster (fsync and synchronous_commit on), as users run PostgreSQL:
    with fsync off a per-request commit costs nothing and flatters the naive peer."""
    server = PostgresServer(durable=True)
    cleanup.callback(server.destroy)
    return server.start()


def start_redis(cleanup: ExitStack) -> RedisServer:
    server = RedisServer()
    cleanup.callback(server.stop)
    return server.start()


@dataclass(frozen=True)
class Backends:
    """The run's own PostgreSQL and Redis, migrated, and custid's settings for them."""

    postgres: PostgresServer
    redis: RedisServer
    # CUSTID_* variables only; a ServiceProcess adds the rest of the environment itself.
    env: dict[str, str]

    @property
    def process_env(self) -> dict[str, str]:
        """The whole environment of a custid command run on these backends."""
        return {**os.environ, **self.env}

    def api_key(self) -> str:
        """A new key that may issue and read numbers; its secret."""
        return create_api_key(self.process_env)


def start_backends(cleanup: ExitStack, scheme_file: Path, **settings: str) -> Backends:
    """A durable PostgreSQL and a Redis of the run's own, migrated by `custid migrate`,
    for custid with `scheme_file` and any further `settings` (CUSTID_* variables)."""
    postgres, redis = start_postgres(cleanup), start_redis(cleanup)
    env = {
        "CUSTID_DATABASE_URL": postgres.url,
        "CUSTID_REDIS_URL": redis.url,
        "CUSTID_SCHEMES_FILE": str(scheme_file),
        **settings,
    }
    backends = Backends(postgres, redis, env)
    migrate(backends.process_env)
    return backends


def create_api_key(env: dict[str, str]) -> str:
    """A key that may issue and read, created as an operator does; its secret.

    custid is measured as it runs in production, checking a key on every request.
    """
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "app.cli",
            "keys",
            "create",
            "--name",
            "bench",
            "--scope",
            "numbers:issue",
            "--scope",
            "numbers:read",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    secret = next(
        (
            line.split(":", 1)[1].strip()
            for line in created.stdout.splitlines()
            if line.startswith("secret:")
        ),
        None,
    )
    if secret is None:
        raise RuntimeError(f"custid keys create printed no secret:\n{created.stdout}")
    return secret


def migrate(env: dict[str, str]) -> None:
    """`custid migrate`, as an operator runs it."""
    subprocess.run(
        [sys.executable, "-m", "app.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


def execute(database_url: str, statements: list[str]) -> None:
    async def run() -> None:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        try:
            for statement in statements:
                await connection.execute(statement)
        finally:
            await connection.close()

    asyncio.run(run())


def fetch_value(database_url: str, query: str) -> int:
    async def run() -> int:
        connection = await asyncpg.connect(asyncpg_dsn(database_url), timeout=10)
        try:
            return int(await connection.fetchval(query))
        finally:
            await connection.close()

    return asyncio.run(run())


def create_copy_table(database_url: str, table: str) -> None:
    """A table shaped like issued_numbers (columns, unique indexes), with its own id sequence
    and a sequence numbering pgbench's batches."""
    execute(
        database_url,
        [
            f"DROP TABLE IF EXISTS {table}",
            f"CREATE TABLE {table} (LIKE issued_numbers"
            " INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES)",
            # The copied id default draws from issued_numbers' sequence: give it its own.
            f"ALTER TABLE {table} ALTER COLUMN id DROP DEFAULT",
            f"ALTER TABLE {table} ALTER COLUMN id ADD GENERATED BY DEFAULT AS IDENTITY",
            f"DROP SEQUENCE IF EXISTS {table}_batches",
            f"CREATE SEQUENCE {table}_batches",
        ],
    )


def write_scheme_file(directory: Path) -> Path:
    path = directory / "bench-schemes.toml"
    path.write_text(SCHEME_FILE)
    return path


def start_server(service: ServiceProcess, arguments: list[str], what: str, timeout: float) -> None:
    """Run `python arguments...` as `service`'s process, its output in its log, and wait
    until it answers."""
    service.process = subprocess.Popen(
        [sys.executable, *arguments],
        env=service.env,
        stdout=service.log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(service._ready, timeout, f"{what} on port {service.port}")


class NaivePeerProcess(ServiceProcess):
    """The naive peer under uvicorn, with the same worker count as custid."""

    def start(self) -> "NaivePeerProcess":
        arguments = ["-m", "uvicorn", "bench.naive_peer:create_app", "--factory"]
        arguments += ["--host", "127.0.0.1", "--port", str(self.port)]
        arguments += ["--workers", str(self.workers), "--log-level", "warning"]
        start_server(self, [*arguments, "--no-access-log"], "naive peer", 30)
        return self


class GranianProcess(ServiceProcess):
    """The app `custid serve` serves, under granian with the same worker count.

    `custid serve` checks the backends and binds before its workers build the app; here
    the backends are already migrated and answering, so granian builds it directly.
    """

    def start(self) -> "GranianProcess":
        arguments = ["-m", "granian", "--interface", "asgi", "--factory"]
        arguments += ["--host", "127.0.0.1", "--port", str(self.port)]
        arguments += ["--workers", str(self.workers), "--http", "1", "--loop", "uvloop"]
        arguments += ["--no-ws", "--log-level", "warning", "app.main:serving_app"]
        start_server(self, arguments, "granian", 60)
        return self


def start_service(cleanup: ExitStack, service: ServiceProcess, keep_log: Path) -> float:
    """Start `service`; the seconds from process start until /readyz (or /healthz) says 200.

    Its log is copied to `keep_log` before it is stopped.
    """
    cleanup.callback(service.stop)
    cleanup.callback(lambda: keep_log.write_text(_output(service)))
    started = time.monotonic()
    service.start()  # returns once /healthz answers
    probe = "/readyz" if not isinstance(service, NaivePeerProcess) else "/healthz"

    def ready() -> bool:
        try:
            with service.http(timeout=1) as client:
                return client.get(probe).status_code == 200
        except httpx.HTTPError:
            return False

    wait_until(ready, 30, f"{service.url}{probe}")
    return time.monotonic() - started


def _output(service: ServiceProcess) -> str:
    """What the service wrote, also once a failed start has stopped it and removed its log."""
    return service.output() if Path(service.log.name).exists() else service.final_output
