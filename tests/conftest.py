"""Fixtures: the backends the service tests run against, and an in-process client.

The PostgreSQL + Redis backend uses the machine's shared servers (a database
of its own, created and dropped here; counter keys under a prefix of its own),
and the run fails rather than skips when they are not there. Tests that
disturb a backend start their own servers (see `custid_testing/servers.py`).
What tests import lives in `custid_testing`; this file holds only fixtures.
"""

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import pytest
import redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from app.core.api_keys import NewKey, create_key
from app.core.audit import Actor
from app.core.scopes import Scope
from app.settings import Settings, get_settings
from app.store.database import Database
from app.store.migrations import upgrade_to_head
from custid_testing.backends import (
    SHARED_POSTGRES,
    SHARED_REDIS,
    TEST_SCHEMES,
    create_database,
    drop_database,
    empty_tables,
    run_as_admin,
)
from custid_testing.in_process import FrozenClock, KeyMaker, Report, started_client
from custid_testing.redis_topologies import RedisClusterGroup, SentinelGroup
from custid_testing.servers import TEST_SECRET_KEYS, PostgresServer, RedisServer

BACKENDS = ["postgres", "embedded"]


@pytest.fixture(scope="session")
def shared_postgres() -> str:
    """The machine's PostgreSQL; its absence fails the run."""
    try:
        asyncio.run(run_as_admin(SHARED_POSTGRES, "SELECT 1"))
    except (OSError, asyncpg.PostgresError) as exc:
        pytest.fail(f"PostgreSQL is required at {SHARED_POSTGRES}: {exc}", pytrace=False)
    return SHARED_POSTGRES


@pytest.fixture(scope="session")
def shared_redis() -> str:
    """The machine's Redis; its absence fails the run. Tests never flush it."""
    client = redis.Redis.from_url(SHARED_REDIS, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required at {SHARED_REDIS}: {exc}", pytrace=False)
    finally:
        client.close()
    return SHARED_REDIS


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of the test's own, free to flush, kill and restart."""
    server = RedisServer().start()
    yield server
    server.destroy()


@pytest.fixture
def sentinel_group() -> Iterator[SentinelGroup]:
    """A Redis primary, two replicas and three Sentinels of the test's own."""
    group = SentinelGroup().start()
    yield group
    group.destroy()


@pytest.fixture
def redis_cluster() -> Iterator[RedisClusterGroup]:
    """A Redis Cluster of three primaries, each with a replica, of the test's own."""
    cluster = RedisClusterGroup().start()
    yield cluster
    cluster.destroy()


@pytest.fixture(scope="module")
def fault_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL of the module's own, free to stop, crash and restart."""
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture
def fault_database(fault_postgres: PostgresServer) -> str:
    """A new migrated database on `fault_postgres`."""
    return create_database(fault_postgres.url)


@pytest.fixture(scope="session")
def postgres_database(shared_postgres: str) -> Iterator[str]:
    """A migrated database of this test run's own on the shared PostgreSQL."""
    url = create_database(shared_postgres)
    yield url
    drop_database(shared_postgres, url)


@pytest.fixture(scope="session")
def sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated embedded SQLite file."""
    path = tmp_path_factory.mktemp("embedded") / "custid.db"
    url = f"sqlite+aiosqlite:///{path}"
    upgrade_to_head(url)
    return url


@pytest.fixture(params=BACKENDS)
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Settings for one backend: PostgreSQL + Redis, or the embedded default."""
    if request.param == "postgres":
        database_url = request.getfixturevalue("postgres_database")
        redis_url: str | None = request.getfixturevalue("shared_redis")
        # A server database is given its key ring; the embedded one makes a key file.
        secret_keys: str | None = TEST_SECRET_KEYS
    else:
        database_url = request.getfixturevalue("sqlite_database")
        redis_url = secret_keys = None
    asyncio.run(empty_tables(database_url))
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        redis_key_prefix=f"custid-test-{uuid.uuid4().hex[:12]}",
        schemes_file=TEST_SCHEMES,
        data_dir=tmp_path,
        secret_keys=secret_keys,
    )


@pytest.fixture
def cli_on_postgres(
    postgres_database: str, shared_redis: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """The settings a `custid` command of this test reads from its environment: the test
    run's PostgreSQL, emptied, and the shared Redis under a key prefix of its own."""
    asyncio.run(empty_tables(postgres_database))
    for name, value in {
        "CUSTID_DATABASE_URL": postgres_database,
        "CUSTID_REDIS_URL": shared_redis,
        "CUSTID_REDIS_KEY_PREFIX": f"custid-test-{uuid.uuid4().hex[:12]}",
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_SECRET_KEYS": TEST_SECRET_KEYS,
    }.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Report:
    """Keep a line of observed figures for the run's summary, even when output is captured
    and when the test runs in a worker process of `pytest -n`."""

    def write(line: str) -> None:
        request.node.user_properties.append((FIGURES, line))

    return write


FIGURES = "observed figure"
collected_figures: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    """Collect the figures of each test's run, in this process or sent back by a worker."""
    if report.when == "call":
        figures = [value for name, value in report.user_properties if name == FIGURES]
        collected_figures.extend(str(figure) for figure in figures)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if collected_figures:
        terminalreporter.section("observed figures")
        for line in collected_figures:
            terminalreporter.write_line(line)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2023, 10, 15, 9, 30, tzinfo=UTC))


@pytest.fixture
def redis_settings(postgres_database: str, own_redis: RedisServer, tmp_path: Path) -> Settings:
    """PostgreSQL with a redis-server of the test's own, which it may flush or rewrite."""
    asyncio.run(empty_tables(postgres_database))
    return Settings(
        database_url=postgres_database,
        secret_keys=TEST_SECRET_KEYS,
        redis_url=own_redis.url,
        redis_key_prefix=f"resync-{uuid.uuid4().hex[:8]}",
        redis_timeout_seconds=0.5,
        schemes_file=TEST_SCHEMES,
        data_dir=tmp_path,
    )


@pytest.fixture
async def redis_client(
    redis_settings: Settings, clock: FrozenClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with started_client(redis_settings, clock) as client:
        yield client


@pytest.fixture
def redis_key(redis_settings: Settings) -> Callable[[str], str]:
    """The Redis key of a scheme's counter on the test clock's day, 2023-10-15."""
    return lambda scheme: f"{redis_settings.redis_key_prefix}:{scheme}:20231015:"


@pytest.fixture
async def client(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """The app on the backend under test, at the test's clock."""
    async with started_client(settings, clock) as http:
        yield http


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    """The test's database as the core takes it, beside the app's own."""
    db = Database.connect(settings.sqlalchemy_url, timeout_seconds=5)
    yield db
    await db.dispose()


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database, beside the app's own, to arrange and inspect rows."""
    engine = create_async_engine(settings.sqlalchemy_url)
    yield async_sessionmaker(engine, expire_on_commit=False)
    await engine.dispose()


@pytest.fixture
def make_key(database: Database, clock: FrozenClock) -> KeyMaker:
    """Creates an API key with the given scopes; once one exists, the app requires keys."""

    async def make(*scopes: Scope, name: str = "test", require_operator: bool = False) -> NewKey:
        return await create_key(
            database, name, scopes, clock, Actor(None, "test-setup"), require_operator
        )

    return make
