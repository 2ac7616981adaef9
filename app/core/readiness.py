"""Whether the backends answer: behind /readyz and the `custid_backend_up` gauge."""

from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.database import is_database_outage
from app.store.migrations import applied_revision
from app.store.redis_connection import RedisClient

OK = "ok"


async def backend_checks(
    engine: AsyncEngine, redis: RedisClient | None, migration_head: str | None
) -> dict[str, str]:
    """Each check by name (database, migrations, redis when configured): "ok" or what is wrong."""
    checks = {"database": OK, "migrations": OK}
    try:
        async with engine.connect() as connection:
            applied = await applied_revision(connection)
        if applied != migration_head:
            checks["migrations"] = f"at {applied}, expected {migration_head}"
    except Exception as exc:
        if not is_database_outage(exc):
            checks["migrations"] = "not applied"
        else:
            checks["database"] = f"unreachable: {type(exc).__name__}"
            checks["migrations"] = "unknown"
    if redis is not None:
        try:
            await redis.ping()
            checks["redis"] = OK
        except Exception as exc:  # any failure to answer PING means not ready
            checks["redis"] = f"unreachable: {type(exc).__name__}"
    return checks
