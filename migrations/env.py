"""Alembic environment: runs migrations on PostgreSQL (asyncpg) or SQLite (aiosqlite)."""

import asyncio
import logging.config

from alembic import context
from sqlalchemy.engine import Connection

from app.settings import Settings
from app.store.database import create_engine
from app.store.models import Base

config = context.config
if config.config_file_name is not None:
    logging.config.fileConfig(config.config_file_name, disable_existing_loggers=False)


def database_url() -> str:
    url = config.attributes.get("database_url")
    return str(url) if url else Settings().sqlalchemy_url


def run_with(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def run_online() -> None:
    engine = create_engine(database_url(), timeout_seconds=30)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(run_with)
    finally:  # a migration that fails leaves no connection open behind it
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=database_url(), target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(run_online())
