"""The Alembic migrations build the schema from empty on both backends, matching the models."""

import asyncio
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.migrations import head_revision, upgrade_to_head
from app.store.models import Base
from tests.conftest import create_database, drop_database


def schema_differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def current_revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def inspect_database(url: str) -> tuple[list[object], str | None, set[str]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        differences = await connection.run_sync(schema_differences)
        revision = await connection.run_sync(current_revision)
        tables = set(await connection.run_sync(lambda sync: inspect(sync).get_table_names()))
    await engine.dispose()
    return differences, revision, tables


def test_postgres_upgrades_from_empty_to_a_schema_matching_the_models(
    shared_postgres: str,
) -> None:
    url = create_database(shared_postgres)  # runs every migration from an empty database
    try:
        differences, revision, tables = asyncio.run(inspect_database(url))
    finally:
        drop_database(shared_postgres, url)

    assert differences == []
    assert revision == head_revision()
    assert {"issued_numbers", "counters", "number_events", "idempotency_keys", "api_keys"} <= tables


def test_sqlite_upgrades_from_empty_to_a_schema_matching_the_models(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}"

    upgrade_to_head(url)
    differences, revision, tables = asyncio.run(inspect_database(url))

    assert differences == []
    assert revision == head_revision()
    assert {"issued_numbers", "counters", "number_events", "idempotency_keys", "api_keys"} <= tables


def test_upgrading_twice_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'twice.db'}"

    upgrade_to_head(url)
    upgrade_to_head(url)

    assert asyncio.run(inspect_database(url))[0] == []
