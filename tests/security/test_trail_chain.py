"""A trail you can prove: every event hashed into one chain, `custid check --audit` naming the
first event that differs, signed checkpoints verified offline; on SQLite and PostgreSQL."""

import asyncio
import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from app.cli import cli
from app.core.trail.seals import seal_all
from app.settings import Settings, get_settings
from app.store.bulk import Same
from app.store.chain import (
    ZERO,
    Digests,
    chain_of_links,
    chained,
    content_from,
    content_of,
    event_hash,
)
from app.store.database import Database
from app.store.migrations import upgrade_to_head
from app.store.trail import block_of
from custid_testing.backends import TEST_SCHEMES, empty_tables
from custid_testing.in_process import FrozenClock, started_client

runner = CliRunner()
LEGACY = (
    "number,issued_at,refs\n"
    "20231014003,2023-10-14T08:00:00+08:00,crm:acct-3\n"
    "20231014009,2023-10-14T10:00:00Z,crm:acct-9 erp:E-9\n"
)


def pem_of(key: Ed25519PrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture(params=["sqlite", "postgres"])
def environment(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Settings]:
    """What `custid` reads from the environment: an embedded file, or PostgreSQL; and a key
    that signs checkpoints."""
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUSTID_SCHEMES_FILE", str(TEST_SCHEMES))
    monkeypatch.setenv("CUSTID_TRAIL_SIGNING_KEY", pem_of(Ed25519PrivateKey.generate()))
    monkeypatch.delenv("CUSTID_REDIS_URL", raising=False)
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_database")
        asyncio.run(empty_tables(url))
        monkeypatch.setenv("CUSTID_DATABASE_URL", url)
    else:
        monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade_to_head(settings.sqlalchemy_url)
    yield settings
    get_settings.cache_clear()


async def write_every_kind_of_event(settings: Settings) -> dict[str, Any]:
    """Issue, batch, retire, replace, add a ref, reserve and confirm, through the API."""
    clock = FrozenClock(datetime(2023, 10, 15, 9, 30, tzinfo=UTC))
    async with started_client(settings, clock) as client:
        single = (await client.post("/v1/schemes/daily/numbers", json={"ref": "crm:a-1"})).json()
        batch = (
            await client.post(
                "/v1/schemes/daily/numbers/batch",
                json={"count": 5},
                headers={"X-Operator": "SALES-0042"},
            )
        ).json()
        retired = batch["numbers"][1]
        await client.post(f"/v1/numbers/{retired}/retire", json={"reason": "duplicate account"})
        await client.post(f"/v1/numbers/{batch['numbers'][2]}/replace", json={"reason": "typo"})
        await client.post(
            f"/v1/numbers/{single['number']}/refs", json={"system": "erp", "id": "C-1"}
        )
        held = (await client.post("/v1/schemes/daily/reservations", json={"count": 2})).json()
        await client.post(f"/v1/reservations/{held['id']}/confirm", json={})
    return {"single": single["number"], "batch": batch["numbers"]}


def audit(*args: str) -> tuple[int, str]:
    result = runner.invoke(cli, ["check", "--audit", *args])
    return result.exit_code, result.stdout + result.stderr


async def execute(settings: Settings, statement: str, **values: Any) -> list[Any]:
    """Run SQL straight on the database, as someone with access to it would."""
    engine = create_async_engine(settings.sqlalchemy_url)
    async with engine.begin() as connection:
        result = await connection.execute(text(statement), values)
        rows = list(result.all()) if result.returns_rows else []
    await engine.dispose()
    return rows


async def event_ids(settings: Settings, number: str) -> list[int]:
    rows = await execute(
        settings, "SELECT id FROM number_events WHERE number = :n ORDER BY id", n=number
    )
    return [row.id for row in rows]


def test_a_trail_written_by_every_kind_of_change_passes_the_audit(
    environment: Settings, tmp_path: Path
) -> None:
    asyncio.run(write_every_kind_of_event(environment))
    legacy = tmp_path / "legacy.csv"
    legacy.write_text(LEGACY)
    # The second file repeats the first's lines: it goes the staging way, and moves one.
    again = tmp_path / "again.csv"
    again.write_text(LEGACY + "20231014011,2023-10-14T11:00:00Z,crm:acct-11\n")
    for path in (legacy, again):
        imported = runner.invoke(cli, ["import", "--scheme", "daily", str(path), "--no-progress"])
        assert imported.exit_code == 0, imported.stderr
    created = runner.invoke(cli, ["keys", "create", "--name", "n", "--scope", "numbers:read"])
    assert created.exit_code == 0

    code, output = audit()

    assert code == 0, output
    assert "OK: the trail matches its chain" in output
    summary = json.loads(runner.invoke(cli, ["check", "--audit", "--json"]).stdout)
    assert summary["ok"] is True
    # 1 + 5 + retire + replace (2) + ref + reserve 2 + confirm 2 + imports 2 + 1 + key
    assert summary["events"] == 18


def test_an_event_edited_in_the_database_is_named_by_the_audit(environment: Settings) -> None:
    numbers = asyncio.run(write_every_kind_of_event(environment))
    target = asyncio.run(event_ids(environment, numbers["batch"][3]))[0]

    asyncio.run(
        execute(
            environment, "UPDATE number_events SET operator = 'SALES-0001' WHERE id = :i", i=target
        )
    )
    code, output = audit()

    assert code == 1
    first = next(line for line in output.splitlines() if line.startswith("FIRST DIFFERENCE"))
    assert f"evt_{target} " in first
    assert "does not match its hash" in first


def test_an_event_deleted_from_the_database_is_detected(environment: Settings) -> None:
    numbers = asyncio.run(write_every_kind_of_event(environment))
    removed = asyncio.run(event_ids(environment, numbers["batch"][3]))[0]
    following = asyncio.run(event_ids(environment, numbers["batch"][4]))[0]

    asyncio.run(execute(environment, "DELETE FROM number_events WHERE id = :i", i=removed))
    code, output = audit()

    assert code == 1
    first = next(line for line in output.splitlines() if line.startswith("FIRST DIFFERENCE"))
    assert f"evt_{following} " in first  # the next event no longer follows its predecessor


def test_a_write_whose_only_event_is_deleted_is_detected(environment: Settings) -> None:
    numbers = asyncio.run(write_every_kind_of_event(environment))
    retire_event = asyncio.run(event_ids(environment, numbers["batch"][1]))[-1]

    asyncio.run(execute(environment, "DELETE FROM number_events WHERE id = :i", i=retire_event))
    code, output = audit()

    assert code == 1
    assert f"the write of evt_{retire_event} recorded 1 events, 0 are stored" in output


def test_an_event_inserted_into_the_database_is_detected(environment: Settings) -> None:
    numbers = asyncio.run(write_every_kind_of_event(environment))

    asyncio.run(
        execute(
            environment,
            "INSERT INTO number_events (number, action, actor, at, details) "
            "VALUES (:n, 'retired', NULL, :at, '{}')",
            n=numbers["single"],
            at=datetime(2023, 10, 15, 10, tzinfo=UTC),
        )
    )
    inserted = asyncio.run(event_ids(environment, numbers["single"]))[-1]
    code, output = audit()

    assert code == 1
    first = next(line for line in output.splitlines() if line.startswith("FIRST DIFFERENCE"))
    assert f"evt_{inserted} (retired {numbers['single']})" in first
    assert "belongs to no recorded write" in first


def test_a_checkpoint_verifies_offline_and_not_once_altered(
    environment: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asyncio.run(write_every_kind_of_event(environment))
    asyncio.run(sealed_whole(environment))
    checkpoint = tmp_path / "checkpoint.json"
    public = tmp_path / "public.pem"
    assert audit("--checkpoint", str(checkpoint))[0] == 0
    signed = json.loads(checkpoint.read_text())
    assert environment.trail_signing_key is not None
    private = environment.trail_signing_key.get_secret_value().encode()
    public.write_bytes(
        serialization.load_pem_private_key(private, None)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # Offline: no database and no private key, only the checkpoint and the public key.
    monkeypatch.setenv("CUSTID_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:9/none")
    monkeypatch.delenv("CUSTID_TRAIL_SIGNING_KEY")
    get_settings.cache_clear()

    valid = runner.invoke(cli, ["verify-checkpoint", str(checkpoint), "--public-key", str(public)])
    checkpoint.write_text(json.dumps({**signed, "events": signed["events"] + 1}))
    altered = runner.invoke(
        cli, ["verify-checkpoint", str(checkpoint), "--public-key", str(public)]
    )
    other_key = tmp_path / "other.pem"
    other_key.write_text(pem_of(Ed25519PrivateKey.generate()))
    checkpoint.write_text(json.dumps(signed))
    foreign = runner.invoke(
        cli, ["verify-checkpoint", str(checkpoint), "--public-key", str(other_key)]
    )

    assert valid.exit_code == 0, valid.stdout
    assert f"position {signed['position']}" in valid.stdout
    assert signed["events"] >= 14
    assert signed["head"] != ZERO
    assert altered.exit_code == 1
    assert "altered" in altered.stdout
    assert foreign.exit_code == 1
    assert "not by the key given" in foreign.stdout


def test_a_trail_rewritten_with_fresh_hashes_no_longer_leads_to_its_checkpoint(
    environment: Settings, tmp_path: Path
) -> None:
    numbers = asyncio.run(write_every_kind_of_event(environment))
    asyncio.run(sealed_whole(environment))
    checkpoint = tmp_path / "checkpoint.json"
    assert audit("--checkpoint", str(checkpoint))[0] == 0
    target = asyncio.run(event_ids(environment, numbers["batch"][0]))[0]

    # Someone who knows how the chain is computed edits an event and recomputes every
    # hash and link after it: the trail is consistent again, but it is not the one signed.
    asyncio.run(rewrite_history(environment, target))
    audited = audit()
    against = runner.invoke(cli, ["verify-checkpoint", str(checkpoint), "--database"])

    assert audited[0] == 0, audited[1]
    assert against.exit_code == 1
    assert "does NOT lead to this checkpoint" in against.stdout


async def sealed_whole(settings: Settings) -> None:
    """Seal every block: on a shared PostgreSQL, another session's open transaction may hold
    sealing back for a while (as it holds the feed back)."""
    db = Database.connect(settings.sqlalchemy_url, 5)
    deadline = asyncio.get_running_loop().time() + 30
    try:
        while asyncio.get_running_loop().time() < deadline:
            head = await seal_all(db)
            blocks = await execute(settings, "SELECT count(*) AS n FROM trail_blocks")
            if head.position == blocks[0].n:
                return
            await asyncio.sleep(0.1)
    finally:
        await db.dispose()


async def rewrite_history(settings: Settings, event_id: int) -> None:
    """Change an event's operator, then recompute its block's hashes and every seal."""
    await execute(settings, "UPDATE number_events SET operator = 'X-1' WHERE id = :i", i=event_id)
    db = Database.connect(settings.sqlalchemy_url, 5)
    try:
        from app.store import trail as trail_rows

        async with db.transaction() as session:
            blocks = [b async for page in trail_rows.every_block(session) for b in page]
            rows = [r async for page in trail_rows.every_event(session) for r in page]
            for block in blocks:
                previous = ZERO
                for row in rows:
                    if row.txid == block.txid and block.first_event <= row.id <= block.last_event:
                        previous = event_hash(previous, content_from(row[3:]))
                        await session.execute(
                            text("UPDATE number_events SET hash = :h WHERE id = :i"),
                            {"h": previous, "i": row.id},
                        )
                await session.execute(
                    text("UPDATE trail_blocks SET head = :h WHERE id = :i"),
                    {"h": previous, "i": block.id},
                )
            fresh = [b async for page in trail_rows.every_block(session) for b in page]
            for block, link in zip(fresh, chain_of_links(ZERO, fresh), strict=True):
                await session.execute(
                    text("UPDATE trail_blocks SET link = :l WHERE id = :i"),
                    {"l": link, "i": block.id},
                )
    finally:
        await db.dispose()


async def test_the_service_seals_new_writes_in_feed_order(
    settings: Settings, clock: FrozenClock
) -> None:
    fast = settings.model_copy(update={"trail_seal_interval_seconds": 0.05})
    async with started_client(fast, clock) as client:
        for _ in range(3):
            assert (await client.post("/v1/schemes/daily/numbers")).status_code == 201
        await client.post("/v1/schemes/daily/numbers/batch", json={"count": 100})
        rows = await sealed_blocks(fast, expected=4)

    assert [row.position for row in rows] == [1, 2, 3, 4]
    assert sorted(rows, key=lambda r: (r.txid, r.first_event)) == rows
    assert rows[-1].events == 100
    blocks = [block_of(row) for row in rows]
    assert [row.link for row in rows] == chain_of_links(ZERO, blocks)


async def sealed_blocks(settings: Settings, expected: int) -> list[Any]:
    """The sealed blocks once `expected` are: on a shared PostgreSQL, another session's open
    transaction may hold sealing back for a while."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        rows = await execute(
            settings,
            "SELECT * FROM trail_blocks WHERE position IS NOT NULL ORDER BY position",
        )
        if len(rows) >= expected or asyncio.get_running_loop().time() > deadline:
            return rows
        await asyncio.sleep(0.05)


async def test_concurrent_writers_and_sealers_agree_on_one_chain(
    settings: Settings, clock: FrozenClock
) -> None:
    async with started_client(settings, clock) as first, started_client(settings, clock) as second:
        requests = [
            client.post("/v1/schemes/daily/numbers/batch", json={"count": 7})
            for client in (first, second)
            for _ in range(10)
        ] + [
            client.post("/v1/schemes/regional/numbers", json={"attributes": {"region": "SH"}})
            for client in (first, second)
            for _ in range(10)
        ]
        answers = await asyncio.gather(*requests)
    db = Database.connect(settings.sqlalchemy_url, 5)
    try:
        await asyncio.gather(seal_all(db), seal_all(db), seal_all(db))
        from app.core.trail.verification import audit_trail

        report = await audit_trail(db)
    finally:
        await db.dispose()

    assert all(answer.status_code == 201 for answer in answers)
    assert report.ok, report.problems
    assert report.events == 10 * 2 * 7 + 10 * 2


def test_the_batch_shortcut_hashes_as_each_event_alone() -> None:
    at = datetime(2023, 10, 15, 9, 30, 0, 123, tzinfo=UTC)
    shared = {
        "action": "issued",
        "at": at,
        "actor": "key_1",
        "operator": None,
        "request_id": "r-1",
        "details": {"scheme": "daily", "ref": None},
        "refs": None,
    }
    numbers = [f"20231015{seq:03d}" for seq in range(1, 40)]
    columns: dict[str, Any] = {name: Same(value) for name, value in shared.items()}
    one_by_one = []
    previous = ZERO
    for number in numbers:
        previous = event_hash(previous, content_of({**shared, "number": number}))
        one_by_one.append(previous)

    assert list(chained({**columns, "number": numbers}).hashes) == one_by_one
    assert list(chained({**columns, "number": numbers, "reason": [None] * 39}).hashes) == one_by_one


def test_what_a_hash_covers_is_written_down() -> None:
    event = {"number": "20231015001", "action": "issued", "at": datetime(2023, 10, 15, tzinfo=UTC)}

    assert content_of(event) == (
        b'["issued","2023-10-15T00:00:00.000000+00:00",null,null,null,null,null,null,null,'
        b'"20231015001"]'
    )


# The last revision before the trail was chained.
BEFORE_THE_CHAIN = "a9d3c5e7f1b2"


async def store_events_before_the_chain(url: str) -> None:
    """A trail as the older schema held it: two transactions' events, no hashes."""
    engine = create_async_engine(url)
    at = datetime(2023, 10, 15, 9, 30, 0, 250_000, tzinfo=UTC)
    for numbers in (["20231015001", "20231015002"], ["20231015003"]):
        async with engine.begin() as connection:
            for number in numbers:
                await connection.execute(
                    text(
                        "INSERT INTO number_events (number, action, actor, at, details, refs) "
                        "VALUES (:number, 'issued', 'key_a', :at, :details, :refs)"
                    ),
                    {
                        "number": number,
                        "at": at,
                        "details": '{"scheme": "daily", "ref": null}',
                        "refs": '[{"system": "crm", "id": "a-1"}]',
                    },
                )
    await engine.dispose()


async def audited(url: str) -> Any:
    from app.core.trail.verification import audit_trail

    db = Database.connect(url, 5)
    try:
        await seal_all(db)
        return await audit_trail(db)
    finally:
        await db.dispose()


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_events_stored_before_the_upgrade_are_chained_by_it_and_a_downgrade_undoes_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    from alembic import command

    from app.store.migrations import alembic_config
    from custid_testing.backends import database_at_revision

    url = database_at_revision(backend, BEFORE_THE_CHAIN, request, tmp_path)
    asyncio.run(store_events_before_the_chain(url))

    upgrade_to_head(url)
    report = asyncio.run(audited(url))
    command.downgrade(alembic_config(url), BEFORE_THE_CHAIN)
    upgrade_to_head(url)
    again = asyncio.run(audited(url))

    assert report.ok, report.problems
    assert report.events == 3
    assert report.blocks == (2 if backend == "postgres" else 1)  # one per transaction
    assert report.sealed_blocks == report.blocks
    assert again.ok
    assert again.head == report.head  # the same events hash to the same chain


def test_packed_digests_read_back_as_the_hex_strings_they_were() -> None:
    digests = [hashlib.sha256(str(n).encode()).digest() for n in range(5)]
    packed = Digests()
    for digest in digests:
        packed.append(digest)

    assert len(packed) == 5
    assert list(packed) == [digest.hex() for digest in digests]
    assert packed[-1] == digests[4].hex()
    assert packed[1:3] == [digests[1].hex(), digests[2].hex()]
    with pytest.raises(IndexError):
        packed[5]
