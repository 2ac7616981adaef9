"""Running the Alembic migrations in `migrations/` from code (CLI, start-up, tests)."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


def alembic_config(database_url: str) -> Config:
    """An Alembic configuration aimed at `database_url`, independent of the working directory."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["database_url"] = database_url
    return config


def upgrade_to_head(database_url: str) -> None:
    """Apply every migration not yet applied. Must not run inside an event loop."""
    command.upgrade(alembic_config(database_url), "head")


def head_revision() -> str | None:
    """The newest migration's revision id."""
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


async def applied_revision(connection: AsyncConnection) -> str | None:
    """The revision the database is at; raises if it was never migrated."""
    statement = text("SELECT version_num FROM alembic_version")
    return (await connection.execute(statement)).scalar_one_or_none()
