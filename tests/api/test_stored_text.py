"""A database poisoned before writes refused control characters: reads still answer,
`custid check` reports what breaks the text grammar, and the upgrade heals it.

The poison is what the API used to accept: a DEL in a ref id (issue, confirm), control
characters in reasons and webhook descriptions, a C1 control in an attribute value, and
(SQLite only: PostgreSQL refuses it) a NUL in a reason.
"""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from app.core.integrity import check_integrity
from app.settings import Settings
from app.store.migrations import alembic_config, upgrade_to_head
from app.store.models import Base, IssuedNumber, NumberEvent, NumberRef, TextRepair
from custid_testing.backends import TEST_SCHEMES, database_at_revision
from custid_testing.in_process import FrozenClock, services_for, started_client

# The revision before the text grammar's repairs.
BEFORE_REPAIRS = "a0cc83a7a3f7"
AT = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
POISONED_REF = "q\x7fr"
REASON = "dup\x85licate\x01"
VOID_REASON = "gave\x1b[31m up"
ATTRIBUTE = "S\x85H"
DESCRIPTION = "CRM\u2028hooks\x00"


def table(name: str) -> Any:
    return Base.metadata.tables[name]


def number_row(number: str, seq: int, **fields: Any) -> dict[str, Any]:
    row = {
        "number": number,
        "scheme": "daily",
        "scheme_version": 1,
        "period": "20231015",
        "partition": "",
        "seq": seq,
        "attributes": {},
        "issued_at": AT,
        "status": "issued",
        "void_reason": None,
    }
    return row | fields


def event_row(number: str, action: str, **fields: Any) -> dict[str, Any]:
    row = {"number": number, "action": action, "at": AT, "details": {}, "reason": None}
    return row | {"refs": None} | fields


async def poison(url: str, nul: bool) -> None:
    """Rows as the API stored them before it refused control characters."""
    refs = [{"system": "crm", "id": POISONED_REF}]
    reason = REASON + ("\x00" if nul else "")
    description = DESCRIPTION if nul else DESCRIPTION.replace("\x00", "")
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            insert(table("issued_numbers")),
            [
                number_row("20231015001", 1),
                number_row("20231015002", 2, status="retired"),
                number_row("20231015003", 3, status="voided", void_reason=VOID_REASON),
                number_row(
                    "SHA20231015001",
                    1,
                    scheme="regional",
                    partition="region=SH",
                    attributes={"region": ATTRIBUTE},
                ),
            ],
        )
        await connection.execute(
            insert(table("number_refs")),
            [
                {
                    "number": "20231015001",
                    "scheme": "daily",
                    "system": "crm",
                    "ref_id": POISONED_REF,
                    "added_at": AT,
                }
            ],
        )
        await connection.execute(
            insert(table("number_events")),
            [
                event_row(
                    "20231015001",
                    "issued",
                    details={"scheme": "daily", "ref": f"crm:{POISONED_REF}"},
                    refs=refs,
                ),
                event_row("20231015002", "issued"),
                event_row("20231015002", "retired", reason=reason),
                event_row("20231015003", "voided", reason=VOID_REASON),
                event_row("SHA20231015001", "issued"),
            ],
        )
        await connection.execute(
            insert(table("webhook_subscriptions")),
            [
                {
                    "id": "whk_poisoned",
                    "url": "https://crm.example.com/hooks",
                    # Never opened by the reads below: no delivery is attempted while paused.
                    "secret_sealed": "sealed",
                    "event_types": [],
                    "schemes": [],
                    "description": description,
                    "status": "paused",
                    "position_txid": 0,
                    "position_id": 0,
                    "attempts": 0,
                    "created_at": AT,
                    "updated_at": AT,
                }
            ],
        )
    await engine.dispose()


def poisoned_database(
    backend: str, revision: str, request: pytest.FixtureRequest, tmp_path: Path
) -> str:
    url = database_at_revision(backend, revision, request, tmp_path)
    asyncio.run(poison(url, nul=backend == "sqlite"))
    return url


async def read_everything(url: str, data_dir: Path) -> dict[str, httpx.Response]:
    """Every read a caller makes of the poisoned numbers."""
    settings = Settings(database_url=url, schemes_file=TEST_SCHEMES, data_dir=data_dir)
    async with started_client(settings, FrozenClock(AT)) as client:
        return {
            "record": await client.get("/v1/numbers/20231015001"),
            "trail": await client.get("/v1/numbers/20231015002/events"),
            "voided": await client.get("/v1/numbers/20231015003"),
            "validation": await client.get("/v1/numbers/20231015003/validation"),
            "regional": await client.get("/v1/numbers/SHA20231015001"),
            "listing": await client.get("/v1/numbers", params={"limit": 1000}),
            "feed": await client.get("/v1/events", params={"limit": 1000}),
            "webhook": await client.get("/v1/webhooks/whk_poisoned"),
            "webhooks": await client.get("/v1/webhooks"),
            "gaps": await client.get("/v1/schemes/daily/periods/20231015/gaps"),
        }


async def integrity(url: str, data_dir: Path) -> tuple[bool, int, list[str]]:
    settings = Settings(database_url=url, schemes_file=TEST_SCHEMES, data_dir=data_dir)
    async with services_for(settings, FrozenClock(AT)) as services:
        report = await check_integrity(services.usage)
    return report.ok, report.stored_text_count, [str(p) for p in report.stored_text]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_reads_answer_and_check_reports_poisoned_text_until_the_upgrade_heals_it(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = poisoned_database(backend, BEFORE_REPAIRS, request, tmp_path)

    upgrade_to_head(url)
    healed = asyncio.run(read_everything(url, tmp_path))
    ok, count, shown = asyncio.run(integrity(url, tmp_path))
    repairs = asyncio.run(stored_repairs(url))

    assert all(answer.status_code == 200 for answer in healed.values()), {
        name: answer.text for name, answer in healed.items() if answer.status_code != 200
    }
    assert healed["record"].json()["refs"] == [{"system": "crm", "id": "q\\x7fr"}]
    assert healed["record"].json()["ref"] == "crm:q\\x7fr"
    assert healed["trail"].json()["events"][1]["reason"].startswith("dup\\x85licate\\x01")
    assert healed["voided"].json()["void_reason"] == "gave\\x1b[31m up"
    assert healed["regional"].json()["attributes"] == {"region": "S\\x85H"}
    assert healed["webhook"].json()["description"].startswith("CRM\\u2028hooks")
    assert (ok, count, shown) == (True, 0, [])
    assert {(r.table_name, r.column_name) for r in repairs} >= {
        ("number_refs", "ref_id"),
        ("number_events", "reason"),
        ("number_events", "refs"),
        ("number_events", "details"),
        ("issued_numbers", "void_reason"),
        ("issued_numbers", "attributes"),
        ("webhook_subscriptions", "description"),
    }
    kept = {json.loads(r.original) for r in repairs if r.column_name == "ref_id"}
    assert kept == {POISONED_REF}  # what it was, not changed silently


async def stored_repairs(url: str) -> list[TextRepair]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        rows = (await connection.execute(select(TextRepair))).all()
    await engine.dispose()
    return [TextRepair(**row._mapping) for row in rows]


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_the_healed_ref_is_found_and_the_downgrade_puts_the_originals_back(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = poisoned_database(backend, BEFORE_REPAIRS, request, tmp_path)

    upgrade_to_head(url)
    found = asyncio.run(find_by_ref(url, tmp_path, "crm:q\\x7fr"))
    command.downgrade(alembic_config(url), BEFORE_REPAIRS)
    restored = asyncio.run(stored_values(url))

    assert [record["number"] for record in found] == ["20231015001"]
    assert restored["ref_id"] == POISONED_REF
    assert restored["void_reason"] == VOID_REASON
    assert restored["details_ref"] == f"crm:{POISONED_REF}"


async def find_by_ref(url: str, data_dir: Path, ref: str) -> list[dict[str, Any]]:
    settings = Settings(database_url=url, schemes_file=TEST_SCHEMES, data_dir=data_dir)
    async with started_client(settings, FrozenClock(AT)) as client:
        answer = await client.get("/v1/numbers", params={"ref": ref})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["numbers"])


async def stored_values(url: str) -> dict[str, Any]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        ref_id = (await connection.execute(select(NumberRef.ref_id))).scalar_one()
        void_reason = (
            await connection.execute(
                select(IssuedNumber.void_reason).where(IssuedNumber.number == "20231015003")
            )
        ).scalar_one()
        details = (
            await connection.execute(
                select(NumberEvent.details).where(NumberEvent.number == "20231015001")
            )
        ).scalar_one()
        tables = (
            await connection.execute(
                text("SELECT count(*) FROM number_refs")  # the table is there, unchanged
            )
        ).scalar_one()
    await engine.dispose()
    assert tables == 1
    return {"ref_id": ref_id, "void_reason": void_reason, "details_ref": details["ref"]}


@pytest.mark.parametrize("backend", ["postgres", "sqlite"])
def test_check_reports_text_stored_past_the_grammar(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = poisoned_database(backend, "head", request, tmp_path)  # written behind the API's back

    ok, count, shown = asyncio.run(integrity(url, tmp_path))
    reads = asyncio.run(read_everything(url, tmp_path))

    assert not ok
    assert count >= 7
    assert "number_refs.ref_id of 1: U+007F (a control character) at position 2" in shown
    assert any(line.startswith("issued_numbers.attributes of ") for line in shown)
    # Reads show what is stored, whatever it is: none of them fails.
    assert {name: answer.status_code for name, answer in reads.items()} == {
        name: 200 for name in reads
    }
    assert reads["record"].json()["refs"] == [{"system": "crm", "id": POISONED_REF}]
