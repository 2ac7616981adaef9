"""Fixtures: the backends the service tests run against, and an in-process client.

The PostgreSQL + Redis backend uses the machine's shared servers (a database
of its own, created and dropped here; counter keys under a prefix of its own),
and the run fails rather than skips when they are not there. Tests that
disturb a backend start their own servers (see `tests/servers.py`).
"""

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from starlette import types as asgi

from app.core.api_keys import NewKey, create_key
from app.core.audit import Actor
from app.core.clock import Clock
from app.core.metrics import Metrics
from app.core.scopes import Scope
from app.main import create_app
from app.services import Services, running_services
from app.settings import Settings, get_settings
from app.store.database import Database
from app.store.migrations import alembic_config, upgrade_to_head
from app.store.models import IssuedNumber
from schemes import load_catalog
from tests.redis_topologies import RedisClusterGroup, SentinelGroup
from tests.servers import TEST_SECRET_KEYS, PostgresServer, RedisServer

SHARED_POSTGRES = os.environ.get(
    "CUSTID_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SHARED_REDIS = os.environ.get("CUSTID_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
TEST_SCHEMES = Path(__file__).parent / "data" / "schemes.toml"
BACKENDS = ["postgres", "embedded"]
TABLES = (
    "issued_numbers",
    "number_refs",
    "counters",
    "number_events",
    "idempotency_keys",
    "api_keys",
    "event_cursors",
    "webhook_subscriptions",
    "reservations",
    "sequence_gaps",
    "console_sessions",
    "trail_blocks",
)


class FrozenClock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _admin(url: str, statement: str) -> None:
    connection = await asyncpg.connect(asyncpg_dsn(url), timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def create_database(server_url: str, revision: str | None = "head") -> str:
    """A new database on the PostgreSQL at `server_url`, migrated to `revision` (None: left
    empty); its URL."""
    name = f"custid_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(server_url, f'CREATE DATABASE "{name}"'))
    url = make_url(server_url).set(database=name).render_as_string(hide_password=False)
    if revision is not None:
        command.upgrade(alembic_config(url), revision)
    return url


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    asyncio.run(_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def database_at_revision(
    backend: str, revision: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    """A new database of `backend` ("postgres" or "sqlite") migrated only as far as
    `revision`, to test an upgrade from it; dropped after the test. Its URL."""
    if backend == "postgres":
        server = request.getfixturevalue("shared_postgres")
        url = create_database(server, revision=revision)
        request.addfinalizer(lambda: drop_database(server, url))
        return url
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    command.upgrade(alembic_config(url), revision)
    return url


@pytest.fixture(scope="session")
def shared_postgres() -> str:
    """The machine's PostgreSQL; its absence fails the run."""
    try:
        asyncio.run(_admin(SHARED_POSTGRES, "SELECT 1"))
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


async def empty_tables(database_url: str) -> None:
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        for table in TABLES:
            await connection.execute(text(f"DELETE FROM {table}"))
    await engine.dispose()


async def store_behind_the_counters_back(
    database_url: str, scheme: str, period: str, seq: int
) -> str:
    """Store a number the counter does not know of, so the next insert collides with it."""
    number = f"{period}{seq:03d}"
    engine = create_async_engine(database_url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(IssuedNumber).values(
                number=number,
                scheme=scheme,
                scheme_version=1,
                period=period,
                partition="",
                seq=seq,
                attributes={},
                issued_at=datetime.now(UTC),
            )
        )
    await engine.dispose()
    return number


async def stored_numbers(database_url: str) -> set[str]:
    """Every number in the database's `issued_numbers` table."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(select(IssuedNumber.number))
        numbers = set(rows.scalars())
    await engine.dispose()
    return numbers


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


Report = Callable[[str], None]


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


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if collected_figures:
        terminalreporter.section("observed figures")
        for line in collected_figures:
            terminalreporter.write_line(line)


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(datetime(2023, 10, 15, 9, 30, tzinfo=UTC))


@asynccontextmanager
async def services_for(settings: Settings, clock: Clock) -> AsyncIterator[Services]:
    """The service's own services on `settings`, without the HTTP app around them."""
    schemes = load_catalog(settings.schemes_file, settings.time_zone)
    async with running_services(settings, schemes, clock, Metrics()) as services:
        yield services


@asynccontextmanager
async def started_client(
    settings: Settings, clock: Clock, rng: random.Random | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client talking to a freshly built app, lifespan and all."""
    app = create_app(settings, clock=clock, rng=rng)
    async with app.router.lifespan_context(app) as state:
        transport = httpx.ASGITransport(app=_with_state(app, state or {}))
        async with httpx.AsyncClient(transport=transport, base_url="http://custid") as http:
            yield http


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


def _with_state(app: asgi.ASGIApp, state: Mapping[str, Any] | None) -> asgi.ASGIApp:
    """ASGITransport sends no lifespan events; hand the lifespan's state to each request."""

    async def with_state(scope: asgi.Scope, receive: asgi.Receive, send: asgi.Send) -> None:
        scope["state"] = dict(state or {})
        await app(scope, receive, send)

    return with_state


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


KeyMaker = Callable[..., Awaitable[NewKey]]


@pytest.fixture
def make_key(database: Database, clock: FrozenClock) -> KeyMaker:
    """Creates an API key with the given scopes; once one exists, the app requires keys."""

    async def make(*scopes: Scope, name: str = "test", require_operator: bool = False) -> NewKey:
        return await create_key(
            database, name, scopes, clock, Actor(None, "test-setup"), require_operator
        )

    return make


def bearer(key: NewKey | str) -> dict[str, str]:
    """The header that presents `key`."""
    token = key if isinstance(key, str) else key.token
    return {"Authorization": f"Bearer {token}"}


async def feed_events(
    client: httpx.AsyncClient, count: int, params: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """The feed's events once `count` are readable: on a shared PostgreSQL cluster the feed
    stops before the oldest transaction still running anywhere, which may hold it back."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        events = list((await client.get("/v1/events", params=params)).json()["events"])
        if len(events) >= count or asyncio.get_running_loop().time() > deadline:
            return events
        await asyncio.sleep(0.2)
