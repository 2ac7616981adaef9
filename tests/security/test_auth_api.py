"""Only authorised callers may issue, read or change numbers; some routes stay open."""

import asyncio
import re
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.access import InsecureBinding
from app.core.api_keys import revoke_key
from app.core.audit import Actor
from app.core.scopes import Scope
from app.main import create_app
from app.settings import Settings
from app.store.database import Database
from app.store.models import (
    ApiKey,
    IdempotencyKey,
    IssuedNumber,
    NumberEvent,
    WebhookSubscription,
)
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, started_client

OPEN_PATHS = {"/healthz", "/readyz", "/metrics"}
PROBLEM = "application/problem+json"
# A valid body for each route that takes one, so that only the key can be what stops it.
BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/v1/schemes/{scheme}/numbers"): {"ref": "crm:acct-1"},
    ("post", "/v1/schemes/{scheme}/numbers/batch"): {"count": 2},
    ("post", "/v1/numbers/{number}/retire"): {"reason": "test"},
    ("post", "/v1/numbers/{number}/replace"): {"reason": "test"},
    ("post", "/v1/webhooks"): {"url": "https://crm.example.com/hooks"},
    ("patch", "/v1/webhooks/{subscription}"): {"status": "paused"},
    ("post", "/v1/webhooks/{subscription}/redeliver"): {"from_event": "evt_1"},
}
# The first number of `daily` on the test clock's day: what an admitted issue answers.
FIRST_NUMBER = "20231015001"


def assert_refused_for_want_of_a_key(response: httpx.Response) -> None:
    """401, as a problem that says how to present a key, with the scheme to present it by."""
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["code"] == "unauthorized"


def protected_operations(openapi: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every (method, path, operation) of the OpenAPI document except the open probes."""
    return [
        (method, path, operation)
        for path, operations in openapi["paths"].items()
        if path not in OPEN_PATHS
        for method, operation in operations.items()
    ]


def required_scope(operation: dict[str, Any]) -> str:
    """The scope a route needs, as its documented 403 example names it."""
    examples = operation["responses"]["403"]["content"][PROBLEM]["examples"]
    return str(examples["forbidden"]["value"]["required_scope"])


async def table_sizes(sessions: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    async with sessions() as session:
        return {
            model.__tablename__: (
                await session.execute(select(func.count()).select_from(model))
            ).scalar_one()
            for model in (IssuedNumber, NumberEvent, IdempotencyKey, ApiKey, WebhookSubscription)
        }


async def test_every_route_refuses_callers_without_a_valid_key_and_changes_nothing(
    client: httpx.AsyncClient,
    make_key: KeyMaker,
    sessions: async_sessionmaker[AsyncSession],
    database: Database,
    clock: FrozenClock,
) -> None:
    everything = await make_key(*Scope)
    issued = await client.post("/v1/schemes/daily/numbers", headers=bearer(everything))
    number = issued.json()["number"]
    revoked = await make_key(*Scope, name="revoked")
    await revoke_key(database, revoked.key.id, clock, Actor(None, "test"))
    openapi = (await client.get("/openapi.json")).json()
    operations = protected_operations(openapi)
    assert len(operations) >= 7
    failures = []

    for method, template, operation in operations:
        path = re.sub(
            r"\{(\w+)\}", lambda m: {"scheme": "daily", "number": number}.get(m[1], "x"), template
        )
        scope = required_scope(operation)
        lacking = await make_key(*(s for s in Scope if s.value != scope), name="lacking")
        cases = {
            "no key": ({}, 401),
            "unknown key": (bearer("custid_not-a-key"), 401),
            "revoked key": (bearer(revoked), 401),
            f"key without {scope}": (bearer(lacking), 403),
        }
        before = await table_sizes(sessions)
        for case, (headers, expected) in cases.items():
            response = await client.request(
                method,
                path,
                headers={**headers, "Idempotency-Key": "k1"},
                json=BODIES.get((method, template)),
            )
            problem = response.json() if response.headers["content-type"] == PROBLEM else {}
            if response.status_code != expected or problem.get("status") != expected:
                failures.append(f"{method.upper()} {path} with {case}: {response.status_code}")
            if expected == 401 and response.headers.get("www-authenticate") != "Bearer":
                failures.append(f"{method.upper()} {path} with {case}: no WWW-Authenticate")
        if await table_sizes(sessions) != before:
            failures.append(f"{method.upper()} {path}: a refused request changed the database")
        if {"ApiKey": []} not in operation.get("security", []):
            failures.append(f"{method.upper()} {template}: no bearer security in OpenAPI")
        if "401" not in operation["responses"]:
            failures.append(f"{method.upper()} {template}: no documented 401")

    assert failures == []


async def test_open_probes_and_docs_need_no_key(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    await make_key(Scope.READ)

    health, ready, document, docs = [
        await client.get(path) for path in ("/healthz", "/readyz", "/openapi.json", "/docs")
    ]

    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert (ready.status_code, ready.json()["status"]) == (200, "ready")
    assert (document.status_code, document.json()["info"]["title"]) == (200, "custid")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text


async def test_openapi_offers_bearer_auth(client: httpx.AsyncClient) -> None:
    openapi = (await client.get("/openapi.json")).json()

    assert openapi["components"]["securitySchemes"]["ApiKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key from `custid keys create`, sent as "
        "`Authorization: Bearer <key>`.",
    }


async def test_each_scope_opens_its_routes(client: httpx.AsyncClient, make_key: KeyMaker) -> None:
    issuer, reader, admin = [await make_key(s) for s in (Scope.ISSUE, Scope.READ, Scope.ADMIN)]

    issued = await client.post("/v1/schemes/daily/numbers", headers=bearer(issuer))
    number = issued.json()["number"]
    read = await client.get(f"/v1/numbers/{number}", headers=bearer(reader))
    retired = await client.post(
        f"/v1/numbers/{number}/retire", json={"reason": "test"}, headers=bearer(admin)
    )

    assert (issued.status_code, read.status_code, retired.status_code) == (201, 200, 200)
    assert read.json()["issued_by"] == issuer.key.id


async def test_each_number_records_the_key_that_issued_it(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.ISSUE, Scope.READ)

    batch = await client.post(
        "/v1/schemes/daily/numbers/batch", json={"count": 2}, headers=bearer(key)
    )
    records = [
        (await client.get(f"/v1/numbers/{number}", headers=bearer(key))).json()
        for number in batch.json()["numbers"]
    ]

    assert [record["issued_by"] for record in records] == [key.key.id, key.key.id]


async def test_loopback_without_keys_is_open(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/daily/numbers")

    assert response.status_code == 201
    assert response.json()["issued_by"] is None


async def test_required_auth_refuses_callers_even_before_any_key_exists(
    settings: Settings, clock: FrozenClock
) -> None:
    async with started_client(settings.model_copy(update={"auth": "required"}), clock) as client:
        response = await client.post("/v1/schemes/daily/numbers")

    assert_refused_for_want_of_a_key(response)


async def test_disabled_auth_lets_everyone_in(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    await make_key(Scope.READ)

    async with started_client(settings.model_copy(update={"auth": "disabled"}), clock) as client:
        response = await client.post("/v1/schemes/daily/numbers")

    assert response.status_code == 201
    assert response.json()["number"] == FIRST_NUMBER


async def test_refuses_to_start_beyond_loopback_without_keys(
    settings: Settings, clock: FrozenClock
) -> None:
    app = create_app(settings.model_copy(update={"host": "0.0.0.0"}), clock=clock)

    with pytest.raises(InsecureBinding, match="CUSTID_AUTH=disabled"):
        async with app.router.lifespan_context(app):
            pass


async def test_starts_beyond_loopback_with_a_key_and_requires_it(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.ISSUE)

    async with started_client(settings.model_copy(update={"host": "0.0.0.0"}), clock) as client:
        refused = await client.post("/v1/schemes/daily/numbers")
        admitted = await client.post("/v1/schemes/daily/numbers", headers=bearer(key))

    assert_refused_for_want_of_a_key(refused)
    assert (admitted.status_code, admitted.json()["number"]) == (201, FIRST_NUMBER)


async def test_starts_beyond_loopback_without_keys_when_auth_is_disabled(
    settings: Settings, clock: FrozenClock
) -> None:
    disabled = settings.model_copy(update={"host": "0.0.0.0", "auth": "disabled"})

    async with started_client(disabled, clock) as client:
        admitted = await client.post("/v1/schemes/daily/numbers")

    assert (admitted.status_code, admitted.json()["number"]) == (201, FIRST_NUMBER)


async def test_a_revoked_key_stops_working_within_the_cache_interval(
    settings: Settings,
    clock: FrozenClock,
    make_key: KeyMaker,
    database: Database,
) -> None:
    key = await make_key(Scope.ISSUE)
    quick = settings.model_copy(update={"auth_cache_seconds": 0.2})
    async with started_client(quick, clock) as client:
        before = await client.post("/v1/schemes/daily/numbers", headers=bearer(key))
        await revoke_key(database, key.key.id, clock, Actor(None, "test"))
        await asyncio.sleep(0.3)
        after = await client.post("/v1/schemes/daily/numbers", headers=bearer(key))

    assert (before.status_code, before.json()["number"]) == (201, FIRST_NUMBER)
    assert_refused_for_want_of_a_key(after)


async def test_the_first_key_closes_the_loopback_door_at_once(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    async with started_client(settings, clock) as client:
        open_door = await client.post("/v1/schemes/daily/numbers")
        await make_key(Scope.ISSUE)
        closed = await client.post("/v1/schemes/daily/numbers")

    assert (open_door.status_code, open_door.json()["number"]) == (201, FIRST_NUMBER)
    assert_refused_for_want_of_a_key(closed)
