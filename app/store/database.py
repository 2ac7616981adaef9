"""The database: its engine, its sessions, and an outage raised as `StoreUnavailable`.

PostgreSQL through asyncpg, or the embedded SQLite file through aiosqlite.
Everything above the store reaches the database through one `Database`, so
every query reports an unreachable server the same way.
"""

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from sqlalchemy import event, func, select, text
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from app.store.errors import StoreUnavailable
from app.store.tls import postgres_connect_args

# SQLSTATEs of a server that is there but will not serve: any connection
# exception (08...), shutting down, crashed, starting up, out of connections.
UNAVAILABLE_SQLSTATES = ("08", "57P01", "57P02", "57P03", "53300")
# A server that answers but takes no writes: a primary demoted to a standby.
READ_ONLY_SQLSTATE = "25006"
# A server that answers but will not let us in: no such database; no such role, or a
# wrong password.
MISSING_DATABASE_SQLSTATE = "3D000"
REFUSED_LOGIN_SQLSTATES = ("28000", "28P01")
T = TypeVar("T")
# Connections of the driver pool (see `driver_connection`) per process.
DRIVER_POOL_SIZE = 10


def is_database_outage(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached, not that a query was wrong."""
    if isinstance(exc, OperationalError | InterfaceError | PoolTimeoutError):
        return True
    # What sqlite3 raises itself, on the embedded connection used directly
    # (`run_embedded`): as SQLAlchemy's OperationalError wraps it above.
    if isinstance(exc, sqlite3.OperationalError):
        return True
    if isinstance(exc, DBAPIError):
        sqlstate = str(getattr(exc.orig, "sqlstate", None) or "")
        return exc.connection_invalidated or sqlstate.startswith(UNAVAILABLE_SQLSTATES)
    # What asyncpg raises itself, on the driver pool's connections: a closed connection,
    # one a failure left mid-protocol, no host that takes writes.
    if isinstance(exc, asyncpg.InterfaceError | asyncpg.exceptions.InternalClientError):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        return str(exc.sqlstate or "").startswith(UNAVAILABLE_SQLSTATES)
    return isinstance(exc, OSError | TimeoutError)


class Database:
    """The service's database: sessions from one pool; an outage becomes `StoreUnavailable`."""

    def __init__(self, engine: AsyncEngine, timeout: float = 5.0) -> None:
        self.engine = engine
        self._timeout = timeout
        self._sessions = async_sessionmaker(engine, expire_on_commit=False)
        self._driver_pool: asyncpg.Pool | None = None
        self._driver_pool_opening = asyncio.Lock()
        self._local_locks: dict[str, asyncio.Lock] = {}

    @classmethod
    def connect(cls, url: str, timeout_seconds: float) -> "Database":
        """A database for `url`; connections open on first use."""
        return cls(create_engine(url, timeout_seconds), timeout_seconds)

    @property
    def dialect(self) -> str:
        """ "postgresql" or "sqlite"."""
        return self.engine.dialect.name

    @asynccontextmanager
    async def outage_guard(self) -> AsyncIterator[None]:
        """Report an unreachable database as `StoreUnavailable` (retryable), not a crash."""
        try:
            yield
        except Exception as exc:
            if is_database_outage(exc):
                raise StoreUnavailable("database") from exc
            raise

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session; the caller commits what it wants kept."""
        async with self.outage_guard(), self._sessions() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction that commits when the block ends, or rolls back."""
        async with self.outage_guard(), self._sessions.begin() as session:
            yield session

    @asynccontextmanager
    async def driver_connection(self) -> AsyncIterator[asyncpg.Connection]:
        """An asyncpg connection of PostgreSQL, each statement its own transaction.

        For the few statements run for every group of issuing requests, thousands
        of times a second, where SQLAlchemy's work per statement and per checkout
        would cost more than the round trip. These connections come from a small
        pool of asyncpg's own, opened on first use.
        """
        async with self.outage_guard():
            pool = self._driver_pool or await self._open_driver_pool()
            async with pool.acquire() as connection:
                try:
                    yield connection
                except Exception as exc:
                    if is_database_outage(exc) or is_read_only(exc):
                        # This connection may be left mid-protocol by the failure: it must
                        # not go back to the pool (if its loss has not taken it out already).
                        # The server may have failed over, so the others go too, and the
                        # next ones find the primary again (target_session_attrs).
                        with contextlib.suppress(asyncpg.InterfaceError):
                            connection.terminate()
                        await pool.expire_connections()
                        if is_read_only(exc):
                            raise StoreUnavailable("database") from exc
                    raise

    async def run_embedded(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run `work` on the embedded database's connection, in the connection's own thread.

        For the writes of every group of issuing requests on SQLite: the whole
        of `work` costs one hop to that thread, where SQLAlchemy would take one
        per statement. The connection is the pool's one, taken in turn with every
        session, so SQLite still has a single writer.
        """
        async with self.outage_guard(), self.engine.connect() as connection:
            raw = await connection.get_raw_connection()
            driver = raw.driver_connection
            assert driver is not None
            # aiosqlite queues a function for its thread as it does its own calls.
            running = asyncio.ensure_future(driver._execute(work, driver._conn))
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                # The work goes on in the thread whatever the caller does: the connection
                # goes back to the pool (or is closed, at shutdown) only once it is done,
                # never while it still writes, nor after the event loop has gone.
                await asyncio.wait([running])
                raise

    async def _open_driver_pool(self) -> asyncpg.Pool:
        async with self._driver_pool_opening:
            if self._driver_pool is None:
                self._driver_pool = await asyncpg.create_pool(
                    **driver_connect_args(self.engine),
                    min_size=1,
                    max_size=DRIVER_POOL_SIZE,
                    timeout=self._timeout,
                    command_timeout=self._timeout,
                    reset=keep_session,
                    # A generic plan made while a table was nearly empty (a seq scan)
                    # would stay with the connection as the table grows: plan each time.
                    server_settings={"plan_cache_mode": "force_custom_plan"},
                )
            return self._driver_pool

    @asynccontextmanager
    async def exclusive(self, name: str) -> AsyncIterator[bool]:
        """Whether this process now holds the lock called `name` (never waiting for it),
        across every process on the database, until the block ends.

        PostgreSQL's session advisory lock, on a connection kept for the block: a
        process that dies lets it go with its connection. SQLite has one process
        and a lock in memory.
        """
        if self.dialect != "postgresql":
            lock = self._local_locks.setdefault(name, asyncio.Lock())
            if lock.locked():
                yield False
                return
            async with lock:
                yield True
            return
        async with self.outage_guard(), self.engine.connect() as connection:
            await connection.execution_options(isolation_level="AUTOCOMMIT")
            key = text("hashtextextended(:name, 0)").bindparams(name=name)
            held = bool(await connection.scalar(select(func.pg_try_advisory_lock(key))))
            try:
                yield held
            finally:
                if held:
                    await connection.scalar(select(func.pg_advisory_unlock(key)))

    async def dispose(self) -> None:
        """Close every pooled connection."""
        if self._driver_pool is not None:
            await self._driver_pool.close()
            self._driver_pool = None
        await self.engine.dispose()


async def keep_session(connection: asyncpg.Connection) -> None:
    """Skip asyncpg's reset query (a round trip) when a connection goes back to the pool.

    The driver path changes no session state: no SET, LISTEN, advisory lock or
    cursor, and each statement commits on its own. asyncpg still rolls back a
    transaction left open before this runs.
    """


def driver_connect_args(engine: AsyncEngine) -> dict[str, Any]:
    """What asyncpg connects with, as SQLAlchemy reads it from the URL: several hosts
    (`?host=a:5432&host=b:5432`), `target_session_attrs` and TLS (`sslmode`) included."""
    _, connect_args = engine.dialect.create_connect_args(engine.url)
    return postgres_connect_args(dict(connect_args))


def _tls_as_asyncpg_takes_it(
    dialect: Any, connection_record: Any, cargs: Any, cparams: dict[str, Any]
) -> None:
    """libpq's TLS parameters in the URL (`sslmode=verify-full&sslrootcert=...`) become
    the SSL context asyncpg takes, on every new connection."""
    postgres_connect_args(cparams)


def sqlstate_of(exc: BaseException) -> str:
    """The SQLSTATE PostgreSQL answered with, or "" for any other failure."""
    original = exc.orig if isinstance(exc, DBAPIError) else exc
    return str(getattr(original, "sqlstate", None) or "")


def is_read_only(exc: BaseException) -> bool:
    """True when the server refused a write because it is (now) a standby."""
    return sqlstate_of(exc) == READ_ONLY_SQLSTATE


def _demoted_primary_is_a_disconnect(context: ExceptionContext) -> None:
    """A primary demoted to a standby refuses writes on every connection to it: treat
    that as a lost connection, so the pool drops them all and reconnects to the
    writable server (`target_session_attrs=read-write` picks it among the hosts)."""
    if is_read_only(context.original_exception):
        context.is_disconnect = True


def create_engine(url: str, timeout_seconds: float) -> AsyncEngine:
    """An engine for `url`, tuned for its backend."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # One connection, shared in turn: SQLite allows a single writer, and
        # queueing in the pool beats "database is locked" errors.
        engine = create_async_engine(
            parsed,
            # Bound parameters carry secrets (sealed or hashed, still not for logs): an error's
            # message names the statement only.
            hide_parameters=True,
            pool_size=1,
            max_overflow=0,
            pool_timeout=30,
            connect_args={"timeout": timeout_seconds},
        )
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        return engine
    engine = create_async_engine(
        parsed,
        hide_parameters=True,
        # Enough for reads, lifecycle changes and the groups written step by step,
        # so that connections are reused rather than opened and closed under load.
        pool_size=10,
        max_overflow=20,
        pool_timeout=timeout_seconds,
        # No pre-ping: it costs a round trip per checkout, and a demoted primary would
        # pass it. A connection found dead or read-only invalidates the pool, and
        # that one request fails as `StoreUnavailable`, which a caller may retry.
        connect_args={"timeout": timeout_seconds, "command_timeout": timeout_seconds},
    )
    event.listen(engine.sync_engine, "handle_error", _demoted_primary_is_a_disconnect)
    event.listen(engine.sync_engine, "do_connect", _tls_as_asyncpg_takes_it)
    driver_connect_args(engine)  # a bad TLS parameter stops here, not at the first query
    return engine


def _tune_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
