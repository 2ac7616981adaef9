"""The Alembic migrations build the schema from empty on both backends, matching the models."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import insert, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.issuing.batches import IssuedBatch
from app.settings import Settings
from app.store.migrations import alembic_config, head_revision, upgrade_to_head
from app.store.models import Base, IssuedNumber
from custid_testing.backends import (
    TEST_SCHEMES,
    create_database,
    database_at_revision,
    drop_database,
)
from custid_testing.in_process import FrozenClock, started_client

# The last revision whose idempotency keys kept HTTP status and body.
ANSWERS_AS_HTTP_BODIES = "b4e1d2c3a9f0"


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


OLD_ANSWERS = [
    # A single number answered 201, a ref's existing number answered 200, a batch, and a
    # claim whose request was still running at the upgrade.
    (
        "single",
        201,
        {
            "number": "20231015001",
            "scheme": "daily",
            "scheme_version": 1,
            "period": "20231015",
            "partition": "",
            "seq": 1,
            "attributes": {},
            "issued_at": "2023-10-15T09:30:00Z",
            "ref": "crm:1",
            "status": "issued",
            "replaced_by": None,
            "issued_by": "key_a",
        },
    ),
    (
        "known",
        200,
        {
            "number": "20231015002",
            "scheme": "daily",
            "scheme_version": 1,
            "period": "20231015",
            "partition": "",
            "seq": 2,
            "attributes": {},
            "issued_at": "2023-10-15T09:31:00Z",
            "ref": "crm:2",
            "status": "retired",
            "replaced_by": None,
            "issued_by": "key_a",
        },
    ),
    (
        "batch",
        201,
        {
            "scheme": "daily",
            "scheme_version": 1,
            "period": "20231015",
            "partition": "",
            "attributes": {},
            "issued_at": "2023-10-15T09:32:00Z",
            "count": 2,
            "first_seq": 3,
            "last_seq": 4,
            "numbers": ["20231015003", "20231015004"],
        },
    ),
    ("running", None, None),
]


async def store_old_answers(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        for key, status, body in OLD_ANSWERS:
            await connection.execute(
                text(
                    "INSERT INTO idempotency_keys (api_key_id, key, fingerprint, status, "
                    "response, created_at, expires_at) VALUES ('key_a', :key, 'fp', :status, "
                    ":response, :now, :later)"
                ),
                {
                    "key": key,
                    "status": status,
                    "response": None if body is None else json.dumps({"body": body}),
                    "now": datetime(2023, 10, 15, tzinfo=UTC),
                    "later": datetime(2023, 10, 16, tzinfo=UTC),
                },
            )
    await engine.dispose()


async def kept_results(url: str) -> dict[str, IssuedBatch]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(text("SELECT key, result FROM idempotency_keys"))).all()
    await engine.dispose()
    return {
        key: IssuedBatch.from_kept(result if isinstance(result, dict) else json.loads(result))
        for key, result in rows
    }


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_answers_kept_before_the_upgrade_still_answer_their_retries(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_at_revision(backend, ANSWERS_AS_HTTP_BODIES, request, tmp_path)
    asyncio.run(store_old_answers(url))

    upgrade_to_head(url)
    kept = asyncio.run(kept_results(url))

    assert set(kept) == {"single", "known", "batch"}  # the running claim is released
    assert (kept["single"].numbers, kept["single"].first_seq, kept["single"].created) == (
        ["20231015001"],
        1,
        True,
    )
    assert (kept["single"].ref, kept["single"].issued_by) == ("crm:1", "key_a")
    assert (kept["known"].created, kept["known"].status) == (False, "retired")
    assert kept["batch"].numbers == ["20231015003", "20231015004"]
    assert (kept["batch"].first_seq, kept["batch"].last_seq) == (3, 4)
    assert kept["batch"].issued_at == datetime(2023, 10, 15, 9, 32, tzinfo=UTC)


# The last revision before reservations, recorded gaps and retirement times.
BEFORE_RESERVATIONS = "e8b2d4f6a1c3"
RETIRED_AT = datetime(2022, 9, 1, 8, 0, tzinfo=UTC)


async def store_numbers_before_reservations(url: str) -> None:
    """Numbers and their trail as the older schema held them: issued, retired, replaced."""
    issued_at = datetime(2022, 8, 1, tzinfo=UTC)
    sales = {"department": "SALES"}
    # number, scheme, period, partition, seq, attributes, status, replaced_by
    numbers = [
        ("20231015001", "daily", "20231015", "", 1, {}, "issued", None),
        ("20231015002", "daily", "20231015", "", 2, {}, "replaced", "20231015003"),
        ("20231015003", "daily", "20231015", "", 3, {}, "issued", None),
        ("SALES-0001", "badge", "", "department=SALES", 1, sales, "retired", None),
        ("SALES-0002", "badge", "", "department=SALES", 2, sales, "issued", None),
    ]
    columns = ("number", "scheme", "period", "partition", "seq", "attributes", "status")
    rows = [
        dict(zip(columns, row[:7], strict=True))
        | {"replaced_by": row[7], "scheme_version": 1, "issued_at": issued_at}
        for row in numbers
    ]
    events = [(row[0], "issued", issued_at) for row in numbers] + [
        ("20231015002", "replaced", RETIRED_AT),
        ("SALES-0001", "retired", RETIRED_AT),
    ]
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(insert(Base.metadata.tables["issued_numbers"]), rows)
        await connection.execute(
            insert(Base.metadata.tables["number_events"]),
            [
                {"number": number, "action": action, "at": at, "details": {}}
                for number, action, at in events
            ],
        )
    await engine.dispose()


async def after_the_upgrade(url: str, data_dir: Path) -> dict[str, object]:
    """What the upgraded database holds, and what the service does with it."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        retired_at = dict(
            (await connection.execute(select(IssuedNumber.number, IssuedNumber.retired_at))).all()
        )
        holders = set(
            (await connection.execute(select(IssuedNumber.reservation_id))).scalars().all()
        )
    await engine.dispose()
    settings = Settings(database_url=url, schemes_file=TEST_SCHEMES, data_dir=data_dir)
    clock = FrozenClock(datetime(2023, 10, 15, 9, 30, tzinfo=UTC))
    async with started_client(settings, clock) as client:
        issued = await client.post("/v1/schemes/daily/numbers")
        reserved = await client.post("/v1/schemes/daily/reservations")
        badge = await client.post(
            "/v1/schemes/badge/numbers", json={"attributes": {"department": "SALES"}}
        )
        trail = await client.get("/v1/numbers/SALES-0001/events")
        gaps = await client.get("/v1/schemes/daily/periods/20231015/gaps")
    return {
        "retired_at": retired_at,
        "holders": holders,
        "issued": issued.json()["number"],
        "reserved": [record["number"] for record in reserved.json()["numbers"]],
        "badge": badge.json()["number"],
        "trail": [event["action"] for event in trail.json()["events"]],
        "gaps": gaps.json()["partitions"][0]["gaps"],
    }


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_numbers_stored_before_reservations_keep_their_trail_and_their_counting(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_at_revision(backend, BEFORE_RESERVATIONS, request, tmp_path)
    asyncio.run(store_numbers_before_reservations(url))

    upgrade_to_head(url)
    found = asyncio.run(after_the_upgrade(url, tmp_path))

    retired_at = found["retired_at"]
    assert isinstance(retired_at, dict)
    # The quarantine of a number retired before the upgrade counts from its retired event.
    assert retired_at["SALES-0001"] == RETIRED_AT
    assert {retired_at[n] for n in retired_at if n != "SALES-0001"} == {None}
    assert found["holders"] == {None}
    assert found["issued"] == "20231015004"  # counting continues past what is stored
    assert found["reserved"] == ["20231015005"]
    assert found["badge"] == "SALES-0001"  # out of quarantine: recycled
    assert found["trail"] == ["issued", "retired", "reused"]
    assert found["gaps"] == []


# The last revision whose key columns compared by the database's locale.
KEYS_BY_LOCALE = "a9c3e5f7b2d4"
KEY_COLUMNS = {
    ("issued_numbers", "number"),
    ("issued_numbers", "partition"),
    ("number_refs", "system"),
    ("number_refs", "ref_id"),
    ("number_events", "number"),
    ("counters", "period"),
}


async def store_a_number_with_a_ref(url: str) -> None:
    at = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO issued_numbers (number, scheme, scheme_version, period, partition, "
                "seq, attributes, issued_at, status) VALUES ('20231015001', 'daily', 1, "
                "'20231015', '', 1, '{}', :at, 'issued')"
            ),
            {"at": at},
        )
        await connection.execute(
            text(
                "INSERT INTO number_refs (number, scheme, system, ref_id, added_at) "
                "VALUES ('20231015001', 'daily', 'crm', 'acct-1', :at)"
            ),
            {"at": at},
        )
    await engine.dispose()


async def keys_and_collations(url: str) -> tuple[list[tuple[str, str, str]], dict[str, str]]:
    """The stored numbers with their refs, and the collation of each key column named in
    `KEY_COLUMNS` that has one of its own (PostgreSQL only: SQLite compares bytes)."""
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        stored = (
            await connection.execute(
                text(
                    "SELECT n.number, r.system, r.ref_id FROM issued_numbers n "
                    "JOIN number_refs r ON r.number = n.number ORDER BY n.number"
                )
            )
        ).all()
        collations: dict[str, str] = {}
        if connection.dialect.name == "postgresql":
            rows = await connection.execute(
                text(
                    "SELECT table_name, column_name, collation_name "
                    "FROM information_schema.columns "
                    "WHERE table_schema = 'public' AND collation_name IS NOT NULL"
                )
            )
            collations = {f"{t}.{c}": str(n) for t, c, n in rows if (t, c) in KEY_COLUMNS}
    await engine.dispose()
    return [tuple(row) for row in stored], collations


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_key_columns_compare_bytes_after_the_upgrade_and_by_locale_after_a_downgrade(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_at_revision(backend, KEYS_BY_LOCALE, request, tmp_path)
    asyncio.run(store_a_number_with_a_ref(url))

    upgrade_to_head(url)
    upgraded = asyncio.run(keys_and_collations(url))
    command.downgrade(alembic_config(url), KEYS_BY_LOCALE)
    downgraded = asyncio.run(keys_and_collations(url))
    upgrade_to_head(url)
    again = asyncio.run(keys_and_collations(url))
    differences = asyncio.run(inspect_database(url))[0]

    kept = [("20231015001", "crm", "acct-1")]
    assert upgraded[0] == downgraded[0] == again[0] == kept
    if backend == "postgres":
        named = {f"{table}.{column}" for table, column in KEY_COLUMNS}
        assert upgraded[1] == again[1] == dict.fromkeys(named, "C")
        assert downgraded[1] == {}  # the database's own collation again
    else:
        assert upgraded[1] == downgraded[1] == {}
    assert differences == []
