"""Secrets sealed at rest and kept out of logs: webhook secrets encrypted under the key ring
(rotated with `custid secrets rotate`), API keys and console sessions stored as hashes,
and no bound SQL parameter in any log line."""

import asyncio
import base64
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import cli
from app.core.events import subscriptions
from app.core.events.subscriptions import sealing_context
from app.core.scopes import Scope
from app.core.sealing import KEY_FILE_NAME, KeyRing, SecretUnreadable, new_key
from app.settings import Settings, get_settings
from app.store.migrations import alembic_config
from custid_testing.backends import TABLES, TEST_SCHEMES, database_at_revision, empty_tables
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, started_client
from custid_testing.servers import TEST_SECRET_KEYS

HOOKS = "/v1/webhooks"
PUBLIC_URL = "https://93.184.216.34/hooks/custid"
# The revision before secrets were sealed.
CLEAR_SECRETS = "f4c7e2a9b8d1"
runner = CliRunner()


async def everything_stored(database_url: str) -> str:
    """Every value of every table, as one text to search."""
    engine = create_async_engine(database_url)
    values = []
    async with engine.connect() as connection:
        for table in TABLES:
            for row in await connection.execute(text(f"SELECT * FROM {table}")):
                values += [str(value) for value in row]
    await engine.dispose()
    return "\n".join(values)


async def sealed_secrets(database_url: str) -> dict[str, tuple[str, str | None]]:
    """Each subscription's stored (sealed) secret and previous secret."""
    engine = create_async_engine(database_url)
    async with engine.connect() as connection:
        rows = await connection.execute(
            text("SELECT id, secret_sealed, previous_secret_sealed FROM webhook_subscriptions")
        )
        found = {row[0]: (row[1], row[2]) for row in rows}
    await engine.dispose()
    return found


async def test_no_secret_is_stored_in_the_clear(
    client: httpx.AsyncClient, make_key: KeyMaker, settings: Settings
) -> None:
    key = await make_key(*Scope)
    created = (await client.post(HOOKS, json={"url": PUBLIC_URL}, headers=bearer(key))).json()
    rotated = (await client.post(f"{HOOKS}/{created['id']}/secret", headers=bearer(key))).json()
    webhook_secrets = [created["secret"], rotated["secret"]]

    stored = await everything_stored(settings.sqlalchemy_url)
    sealed = await sealed_secrets(settings.sqlalchemy_url)

    assert key.token not in stored
    for secret in webhook_secrets:
        assert secret.removeprefix("whsec_") not in stored
        assert base64.b64decode(secret.removeprefix("whsec_")).hex() not in stored
    current, previous = sealed[created["id"]]
    assert current.startswith("v1.")
    assert previous is not None
    assert previous.startswith("v1.")


async def test_a_sealed_secret_opens_only_with_its_key_and_on_its_own_row() -> None:
    ring = KeyRing.parse(new_key())
    sealed = ring.seal("whsec_abc", sealing_context("whk_1"))

    assert ring.open(sealed, sealing_context("whk_1")) == "whsec_abc"
    with pytest.raises(SecretUnreadable):
        ring.open(sealed, sealing_context("whk_2"))  # copied onto another subscription
    with pytest.raises(SecretUnreadable):
        KeyRing.parse(new_key()).open(sealed, sealing_context("whk_1"))
    tampered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SecretUnreadable):
        ring.open(tampered, sealing_context("whk_1"))


def test_a_key_ring_refuses_keys_that_are_not_32_bytes() -> None:
    with pytest.raises(ValueError, match="key 2 is not base64 of 32 bytes"):
        KeyRing.parse(f"{new_key()},c2hvcnQ=")


async def test_the_embedded_default_keeps_its_key_in_a_file_only_its_owner_reads(
    tmp_path: Path, sqlite_database: str, clock: FrozenClock
) -> None:
    await empty_tables(sqlite_database)
    settings = Settings(
        database_url=sqlite_database,
        data_dir=tmp_path,
        schemes_file=TEST_SCHEMES,
    )
    async with started_client(settings, clock) as http:
        created = (await http.post(HOOKS, json={"url": PUBLIC_URL})).json()
    key_file = tmp_path / KEY_FILE_NAME
    ring = KeyRing.parse(key_file.read_text().strip())
    sealed = (await sealed_secrets(sqlite_database))[created["id"]][0]

    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert ring.open(sealed, sealing_context(created["id"])) == created["secret"]


async def test_without_a_key_ring_a_server_database_makes_no_subscription(
    postgres_database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    await empty_tables(postgres_database)
    keyless = Settings(database_url=postgres_database, schemes_file=TEST_SCHEMES, data_dir=tmp_path)
    async with started_client(keyless, clock) as http:
        refused = await http.post(HOOKS, json={"url": PUBLIC_URL})
        listed = (await http.get(HOOKS)).json()["webhooks"]

    assert (refused.status_code, refused.json()["code"]) == (503, "secret_keys_missing")
    assert "CUSTID_SECRET_KEYS" in refused.json()["detail"]
    assert refused.headers["retry-after"] == "60"  # its operator must act: a minute
    assert listed == []


async def test_a_failed_write_logs_no_secret_and_no_parameter(
    client: httpx.AsyncClient,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = "whsec_" + base64.b64encode(b"s" * 32).decode()
    monkeypatch.setattr(subscriptions, "new_secret", lambda: secret)
    # The same id twice: the second insert fails on the primary key, the secret in flight.
    monkeypatch.setattr("app.core.events.subscriptions.secrets.token_hex", lambda _: "0" * 16)
    first = await client.post(HOOKS, json={"url": PUBLIC_URL})
    capsys.readouterr()

    # In-process, the unexpected error reaches the test too, after it was logged.
    with pytest.raises(IntegrityError) as raised:
        await client.post(HOOKS, json={"url": PUBLIC_URL})
    logged = capsys.readouterr().out

    assert first.status_code == 201
    assert secret not in str(raised.value)
    assert "unexpected_error" in logged
    assert "SQL parameters hidden" in logged
    assert "[parameters:" not in logged
    assert secret not in logged
    assert secret.removeprefix("whsec_") not in logged
    assert "v1." not in logged  # nor the sealed form


@pytest.fixture
def cli_env(
    cli_on_postgres: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[pytest.MonkeyPatch]:
    """`custid` commands on the test PostgreSQL, whose key ring the test changes."""
    yield monkeypatch
    get_settings.cache_clear()


def run(monkeypatch: pytest.MonkeyPatch, ring: str, *args: str) -> str:
    monkeypatch.setenv("CUSTID_SECRET_KEYS", ring)
    get_settings.cache_clear()
    result = runner.invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.stdout


def printed(output: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in output.splitlines())
    return {name.strip(): value.strip() for name, _, value in pairs}


def test_secrets_rotate_seals_everything_again_under_the_first_key(
    cli_env: pytest.MonkeyPatch, cli_on_postgres: Settings
) -> None:
    old, new = TEST_SECRET_KEYS, new_key()
    created = printed(run(cli_env, old, "webhooks", "create", "--url", PUBLIC_URL))
    rotated = printed(run(cli_env, old, "webhooks", "rotate-secret", created["id"]))

    resealed = run(cli_env, f"{new},{old}", "secrets", "rotate")
    again = run(cli_env, f"{new},{old}", "secrets", "rotate")

    current, previous = asyncio.run(sealed_secrets(cli_on_postgres.sqlalchemy_url))[created["id"]]
    only_new = KeyRing.parse(new)
    context = sealing_context(created["id"])
    assert "1 subscription(s) sealed again" in resealed
    assert "0 subscription(s)" in again
    assert only_new.open(current, context) == rotated["secret"]
    assert previous is not None
    assert only_new.open(previous, context) == created["secret"]
    with pytest.raises(SecretUnreadable):
        KeyRing.parse(old).open(current, context)


def test_a_new_key_is_printed_ready_for_the_ring() -> None:
    result = runner.invoke(cli, ["secrets", "new-key"])

    assert result.exit_code == 0
    KeyRing.parse(result.stdout.strip())


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_the_upgrade_seals_clear_secrets_and_the_downgrade_opens_them(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = database_at_revision(backend, CLEAR_SECRETS, request, tmp_path)
    clear = "whsec_legacy-" + "x" * 30
    asyncio.run(execute(url, insert_clear_subscription(clear)))
    ring = KeyRing.parse(TEST_SECRET_KEYS)

    with pytest.raises(RuntimeError, match="CUSTID_SECRET_KEYS"):
        command.upgrade(alembic_config(url), "head")
    command.upgrade(alembic_config(url, ring), "head")
    sealed = asyncio.run(sealed_secrets(url))["whk_legacy"][0]
    stored = asyncio.run(everything_stored(url))
    command.downgrade(alembic_config(url, ring), CLEAR_SECRETS)
    reopened = asyncio.run(fetch(url, "SELECT secret FROM webhook_subscriptions"))

    assert ring.open(sealed, sealing_context("whk_legacy")) == clear
    assert clear not in stored
    assert reopened == clear


def insert_clear_subscription(secret: str) -> str:
    return (
        "INSERT INTO webhook_subscriptions (id, url, secret, event_types, schemes, status, "
        "position_txid, position_id, attempts, created_at, updated_at) VALUES "
        f"('whk_legacy', '{PUBLIC_URL}', '{secret}', '[]', '[]', 'active', 0, 0, 0, "
        "'2026-12-01 00:00:00+00', '2026-12-01 00:00:00+00')"
    )


async def execute(url: str, statement: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


async def fetch(url: str, query: str) -> Any:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        value = (await connection.execute(text(query))).scalar_one()
    await engine.dispose()
    return value
