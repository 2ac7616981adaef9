"""Running the Alembic migrations in `migrations/` from code (CLI, start-up, tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str, key_ring: object | None = None) -> Config:
    """An Alembic configuration aimed at `database_url`, independent of the working directory.

    `key_ring` (the core's `KeyRing`, handed down by whoever runs the migrations) seals
    (or, downgrading, opens) the secrets a migration moves; the store only passes it on.
    """
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    config.attributes["key_ring"] = key_ring
    return config


def upgrade_to_head(database_url: str, key_ring: object | None = None) -> None:
    """Apply every migration not yet applied. Must not run inside an event loop."""
    command.upgrade(alembic_config(database_url, key_ring), "head")


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def is_known_revision(revision: str) -> bool:
    """Whether `revision` is one of this custid's migrations (if not, a newer custid's)."""
    try:
        return ScriptDirectory.from_config(alembic_config("")).get_revision(revision) is not None
    except CommandError:
        return False


async def applied_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at; raises if it was never migrated."""
    statement = text("SELECT version_num FROM alembic_version")
    return (await connection.execute(statement)).scalar_one_or_none()


async def schema_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at; None when custid never migrated it."""
    if not await connection.run_sync(has_version_table):
        return None
    return await applied_revision(connection)


def has_version_table(connection: Connection) -> bool:
    return inspect(connection).has_table("alembic_version")
