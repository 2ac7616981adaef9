"""Every command says which database it uses; one that reads or changes what is stored never
creates a database, and says where it looked when there is none."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import inspect
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner, Result

from app.cli import cli
from app.settings import get_settings
from app.store.migrations import alembic_config, head_revision
from custid_testing.backends import TEST_SCHEMES, create_database, drop_database

runner = CliRunner()

# Commands that only read, or change what is already stored.
USING_WHAT_IS_THERE = [
    ["keys", "list"],
    ["keys", "list", "--json"],
    ["keys", "revoke", "key_0000000000000000"],
    ["check"],
    ["check", "--scheme", "daily"],
    ["webhooks", "list"],
    ["webhooks", "show", "whk_0000000000000000"],
    ["webhooks", "delete", "whk_0000000000000000"],
]


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """No database settings at all: the commands take the defaults, as a new user's do."""
    for name in ("CUSTID_DATA_DIR", "CUSTID_DATABASE_URL", "CUSTID_REDIS_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CUSTID_SCHEMES_FILE", str(TEST_SCHEMES))
    get_settings.cache_clear()
    yield monkeypatch
    get_settings.cache_clear()


def invoke(*args: str) -> Result:
    get_settings.cache_clear()  # each command reads its settings as a new process would
    return runner.invoke(cli, list(args))


@pytest.mark.parametrize("args", USING_WHAT_IS_THERE, ids=" ".join)
def test_a_command_on_what_is_stored_creates_no_database_and_says_where_it_looked(
    environment: pytest.MonkeyPatch, tmp_path: Path, args: list[str]
) -> None:
    environment.chdir(tmp_path)

    result = invoke(*args)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"custid: no database at {tmp_path / 'data' / 'custid.db'} (CUSTID_DATA_DIR 'data' is "
        "taken from the current directory): run this where `custid serve` runs, or set "
        "CUSTID_DATA_DIR"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_key_created_in_one_directory_is_found_from_another_only_by_its_data_dir(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    served_from, elsewhere = tmp_path / "custid", tmp_path / "elsewhere"
    served_from.mkdir()
    elsewhere.mkdir()
    database = served_from / "data" / "custid.db"

    environment.chdir(served_from)
    created = invoke("keys", "create", "--name", "crm", "--scope", "numbers:read")
    listed_there = invoke("keys", "list", "--json")
    environment.chdir(elsewhere)
    listed_elsewhere = invoke("keys", "list")
    environment.setenv("CUSTID_DATA_DIR", str(served_from / "data"))
    listed_by_data_dir = invoke("keys", "list", "--json")

    assert created.exit_code == 0, created.output
    notices = created.stderr.splitlines()
    assert f"custid: created the embedded database {database}" in notices
    key_file_notices = [json.loads(line) for line in notices if "secret_key_file_created" in line]
    assert [notice["path"] for notice in key_file_notices] == [
        str(served_from / "data" / "secret-keys")
    ]
    assert listed_there.stderr.splitlines() == [f"custid: using the embedded database {database}"]
    assert '"name": "crm"' in listed_there.stdout
    assert listed_elsewhere.exit_code == 1
    assert listed_elsewhere.stderr.startswith(
        f"custid: no database at {elsewhere / 'data' / 'custid.db'} "
    )
    assert list(elsewhere.iterdir()) == []
    assert listed_by_data_dir.stdout == listed_there.stdout


def test_an_embedded_file_an_older_custid_left_is_not_migrated_by_a_read(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "custid.db"
    command.upgrade(alembic_config(f"sqlite+aiosqlite:///{database}"), "b4e1d2c3a9f0")
    environment.setenv("CUSTID_DATA_DIR", str(tmp_path))

    listed = invoke("keys", "list")

    assert listed.exit_code == 1
    assert listed.stderr.splitlines() == [
        f"custid: using the embedded database {database}",
        f"custid: the embedded database {database} is at migration b4e1d2c3a9f0, this custid "
        f"needs {head_revision()}: run `custid migrate`",
    ]
    assert asyncio.run(table_names(f"sqlite+aiosqlite:///{database}")) == {
        "alembic_version",
        "api_keys",
        "counters",
        "idempotency_keys",
        "issued_numbers",
        "number_events",
    }


async def table_names(url: str) -> set[str]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        names = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
    await engine.dispose()
    return names


@pytest.fixture
def unmigrated_postgres(shared_postgres: str) -> Iterator[str]:
    url = create_database(shared_postgres, revision=None)
    yield url
    drop_database(shared_postgres, url)


def test_a_postgresql_database_is_named_without_its_password_and_never_migrated_by_a_read(
    environment: pytest.MonkeyPatch, unmigrated_postgres: str
) -> None:
    # The shared server trusts every login, so the password is carried but never checked.
    url = make_url(unmigrated_postgres).set(password="hunter2")
    environment.setenv("CUSTID_DATABASE_URL", url.render_as_string(hide_password=False))
    shown = url.render_as_string(hide_password=True)

    listed = invoke("webhooks", "list")
    checked = invoke("check")

    assert listed.exit_code == checked.exit_code == 1
    assert listed.stderr.splitlines() == [
        f"custid: using the database {shown}",
        f"custid: the database {shown} has no custid tables: run `custid migrate`",
    ]
    assert "hunter2" not in listed.output + checked.output
    assert asyncio.run(table_names(unmigrated_postgres)) == set()


def test_migrate_names_the_database_it_brought_up_to_date(
    environment: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    environment.chdir(tmp_path)

    first = invoke("migrate")
    again = invoke("migrate")

    database = tmp_path / "data" / "custid.db"
    expected = f"the embedded database {database} is at the newest migration, {head_revision()}"
    assert first.stdout.splitlines() == again.stdout.splitlines() == [expected]
    assert database.exists()
