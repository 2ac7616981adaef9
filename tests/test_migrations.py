"""The Alembic migrations build exactly the tables the models describe, on both backends."""

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.models import Base


def _differences(connection: Connection) -> list[object]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


async def _compare(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_differences)
    finally:
        await engine.dispose()


@pytest.mark.parametrize("backend", ["postgres_database", "sqlite_database"])
def test_models_match_migrations(backend: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(backend)

    assert asyncio.run(_compare(url)) == []
