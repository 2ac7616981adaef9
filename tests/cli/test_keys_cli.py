"""`custid keys create/list/revoke` against an embedded SQLite file, and `serve`'s refusal."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.settings import Settings, get_settings
from app.store.database import Database
from app.store.events import events_of_key
from app.store.models import NumberEvent
from custid_testing.backends import TEST_SCHEMES
from custid_testing.in_process import FrozenClock, bearer, started_client

runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The CLI's settings come from the environment: point them at a fresh embedded file."""
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    # `serve` hands its --host to its workers through the environment; undo that afterwards.
    monkeypatch.setenv("CUSTID_HOST", "127.0.0.1")
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def create(*args: str) -> dict[str, str]:
    result = runner.invoke(cli, ["keys", "create", *args])
    assert result.exit_code == 0, result.output
    fields = (line.partition(":") for line in result.stdout.splitlines())
    return {name.strip(): value.strip() for name, _, value in fields}


def key_events(key_id: str) -> list[NumberEvent]:
    async def read() -> list[NumberEvent]:
        db = Database.connect(get_settings().sqlalchemy_url, timeout_seconds=5)
        try:
            async with db.session() as session:
                return await events_of_key(session, key_id)
        finally:
            await db.dispose()

    return asyncio.run(read())


def test_create_shows_the_secret_once_and_list_never(data_dir: Path) -> None:
    created = create("--name", "crm", "--scope", "numbers:issue", "--scope", "numbers:read")

    listed = runner.invoke(cli, ["keys", "list"])

    assert created["secret"].startswith("custid_")
    assert created["scopes"] == "numbers:issue numbers:read"
    assert listed.exit_code == 0
    assert created["id"] in listed.stdout
    assert "crm" in listed.stdout
    assert created["secret"] not in listed.stdout
    assert created["secret"] not in (data_dir / "custid.db").read_bytes().decode(errors="replace")


def test_an_unknown_scope_is_refused(data_dir: Path) -> None:
    result = runner.invoke(cli, ["keys", "create", "--name", "x", "--scope", "numbers:all"])

    assert result.exit_code == 2


def test_revoke_marks_the_key_and_both_changes_are_audited(data_dir: Path) -> None:
    created = create("--name", "crm", "--scope", "numbers:admin")

    revoked = runner.invoke(cli, ["keys", "revoke", created["id"], "--reason", "leaked"])
    again = runner.invoke(cli, ["keys", "revoke", created["id"]])
    listed = runner.invoke(cli, ["keys", "list"])

    assert revoked.exit_code == 0
    assert again.exit_code == 1
    row = next(line for line in listed.stdout.splitlines() if line.startswith(created["id"]))
    assert row.split()[-1] != "-"  # the revoked column holds when
    events = key_events(created["id"])
    assert [(e.action, e.reason) for e in events] == [
        ("key_created", None),
        ("key_revoked", "leaked"),
    ]
    assert all(e.request_id and e.request_id.startswith("cli:") for e in events)
    assert events[0].details == {"name": "crm", "scopes": ["numbers:admin"]}


def test_revoking_an_unknown_key_says_so(data_dir: Path) -> None:
    create("--name", "crm", "--scope", "numbers:read")

    result = runner.invoke(cli, ["keys", "revoke", "key_nosuch"])

    assert result.exit_code == 1
    assert "no API key 'key_nosuch'" in result.output


async def test_a_key_from_the_cli_opens_the_api(data_dir: Path, clock: FrozenClock) -> None:
    created = await asyncio.to_thread(create, "--name", "crm", "--scope", "numbers:issue")
    settings = Settings(data_dir=data_dir, schemes_file=TEST_SCHEMES)

    async with started_client(settings, clock) as client:
        without = await client.post("/v1/schemes/daily/numbers")
        with_key = await client.post("/v1/schemes/daily/numbers", headers=bearer(created["secret"]))

    assert (without.status_code, with_key.status_code) == (401, 201)
    assert with_key.json()["issued_by"] == created["id"]


async def test_a_key_created_to_require_an_operator_refuses_requests_without_one(
    data_dir: Path, clock: FrozenClock
) -> None:
    created = await asyncio.to_thread(
        create, "--name", "desk", "--scope", "numbers:issue", "--require-operator"
    )
    settings = Settings(data_dir=data_dir, schemes_file=TEST_SCHEMES)

    async with started_client(settings, clock) as client:
        without = await client.post("/v1/schemes/daily/numbers", headers=bearer(created["secret"]))
        named = await client.post(
            "/v1/schemes/daily/numbers",
            headers={**bearer(created["secret"]), "X-Operator": "SALES-0042"},
        )

    assert created["requires an operator"] == "yes"
    assert (without.status_code, without.json()["code"]) == (422, "operator_required")
    assert (named.status_code, named.json()["operator"]) == (201, "SALES-0042")
    events = await asyncio.to_thread(key_events, created["id"])
    assert events[0].details["require_operator"] is True


def test_serve_refuses_a_public_address_without_keys(data_dir: Path) -> None:
    result = runner.invoke(cli, ["serve", "--host", "0.0.0.0"])

    assert result.exit_code == 2
    assert "no API key exists" in result.output


def test_keys_list_json_gives_every_key_without_its_secret(data_dir: Path) -> None:
    created = create("--name", "crm", "--scope", "numbers:read")
    runner.invoke(cli, ["keys", "revoke", created["id"]])

    listed = runner.invoke(cli, ["keys", "list", "--json"])

    assert listed.exit_code == 0
    [key] = json.loads(listed.stdout)
    assert key["id"] == created["id"]
    assert key["name"] == "crm"
    assert key["scopes"] == ["numbers:read"]
    assert key["revoked_at"] is not None
    assert created["secret"] not in listed.stdout


def test_revoking_twice_says_the_key_is_already_revoked(data_dir: Path) -> None:
    created = create("--name", "crm", "--scope", "numbers:read")
    runner.invoke(cli, ["keys", "revoke", created["id"]])

    again = runner.invoke(cli, ["keys", "revoke", created["id"]])

    assert again.exit_code == 1
    assert again.stderr.splitlines() == [
        f"custid: using the embedded database {data_dir / 'custid.db'}",
        f"custid: API key {created['id']!r} is already revoked",
    ]
