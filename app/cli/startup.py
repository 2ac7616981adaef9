"""What `custid serve` makes sure of before it says `serving`: the database answers at the
newest migration, a public address has keys to ask for, Redis answers, and the address
is free. Each failure is one line and an exit code (see `refusals`), never a traceback
from inside a worker.
"""

import errno
import socket

from app.cli.database import database_in_use, failure_reason, require_newest_schema
from app.cli.refusals import Refused, Unreachable
from app.core.addresses import is_loopback
from app.logs import redact
from app.settings import Settings

# As uvicorn's own: connections that arrive before a worker accepts them wait here.
BACKLOG = 2048
BIND_FAILURES = {
    errno.EADDRINUSE: "another process is listening there",
    errno.EACCES: "permission denied (ports below 1024 need privileges)",
    errno.EADDRNOTAVAIL: "no interface of this machine has that address",
}


async def check_backends(settings: Settings) -> None:
    """Refused (or Unreachable) unless the backends are as serving needs them."""
    if not settings.is_embedded:  # the embedded file was migrated just before
        await require_newest_schema(settings)
    if settings.auth != "disabled" and not is_loopback(settings.host):
        await refuse_open_public_port(settings)
    await require_redis(settings)


async def refuse_open_public_port(settings: Settings) -> None:
    """`InsecureBinding` if the service, bound beyond loopback, has no key to ask for."""
    from app.cli.database import with_database
    from app.core.access import Gatekeeper
    from app.store.database import Database

    async def check(db: Database) -> None:
        await Gatekeeper(db, settings.auth, settings.host).check_startup()

    await with_database(settings, check)


async def require_redis(settings: Settings) -> None:
    """Unreachable unless the Redis the settings name answers a PING.

    Once serving, an outage falls back to the database counter; at start, a Redis that
    does not answer is far more often a wrong address than an outage, and a counter
    that never reaches Redis would go unnoticed.
    """
    if settings.redis_url is None and settings.redis_sentinels is None:
        return
    from redis.asyncio.sentinel import MasterNotFoundError

    from app.store.redis_connection import open_redis

    try:
        async with open_redis(settings) as redis:
            assert redis is not None
            await redis.ping()
    except Exception as exc:  # whatever redis-py raised, Redis did not answer
        if isinstance(exc, MasterNotFoundError):
            why = f"no Sentinel named a primary for {settings.redis_sentinel_service!r}"
        else:
            why = failure_reason(exc, settings.redis_timeout_seconds)
        raise Unreachable(
            f"cannot reach {redis_in_use(settings)}: {why}: start it, or unset "
            f"{redis_variable(settings)} to count in the database"
        ) from None


def redis_in_use(settings: Settings) -> str:
    """The Redis as messages name it, without its password."""
    if settings.redis_sentinels is not None:
        return f"Redis through the Sentinels {settings.redis_sentinels}"
    assert settings.redis_url is not None
    kind = "the Redis Cluster node" if settings.redis_cluster else "Redis at"
    return f"{kind} {redact(settings.redis_url.get_secret_value())}"


def redis_variable(settings: Settings) -> str:
    return "CUSTID_REDIS_SENTINELS" if settings.redis_sentinels is not None else "CUSTID_REDIS_URL"


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to `host:port` and listening, for the workers to accept on."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(BACKLOG)
    except OSError as exc:
        listener.close()
        why = BIND_FAILURES.get(exc.errno or 0, exc.strerror or str(exc))
        if isinstance(exc, socket.gaierror):
            why = f"unknown host ({exc.strerror})"
        raise Refused(f"cannot listen on {host}:{port}: {why}") from None
    listener.set_inheritable(True)
    return listener


def serving_fields(settings: Settings, url: str, workers: int) -> dict[str, object]:
    """What the `serving` line says: where to call, read the docs and the console, and
    which database it serves from."""
    return {
        "url": url,
        "docs": f"{url}/docs",
        "console": f"{url}/console",
        "workers": workers,
        "database": database_in_use(settings),
    }
