"""Abuse limits: a key's own rate, failed authentications per client address, shared
through Redis when there is one; a flood of made-up tokens costs no database lookup."""

import asyncio
import json
import re
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import httpx
import pytest
from typer.testing import CliRunner

from app.cli import cli
from app.core import api_keys
from app.core.api_keys import NewKey, create_key
from app.core.audit import Actor
from app.core.scopes import Scope
from app.settings import Settings
from app.store.database import Database
from custid_testing.backends import TEST_SCHEMES, stored_numbers
from custid_testing.in_process import FrozenClock, bearer, started_client
from custid_testing.servers import RedisServer, ServiceProcess
from custid_testing.servers import create_key as create_cli_key

ISSUE = "/v1/schemes/daily/numbers"
RateKeyMaker = Callable[..., Awaitable[NewKey]]


@pytest.fixture
def make_rated_key(database: Database, clock: FrozenClock) -> RateKeyMaker:
    async def make(rate: str | None, name: str = "rated") -> NewKey:
        return await create_key(
            database, name, list(Scope), clock, Actor(None, "test"), rate_limit=rate
        )

    return make


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every token the gatekeeper looked up in the database."""
    looked_up: list[str] = []
    real = api_keys.caller_for_token

    async def counted(db: Database, token: str) -> Any:
        looked_up.append(token)
        return await real(db, token)

    monkeypatch.setattr("app.core.access.caller_for_token", counted)
    return looked_up


def assert_rate_limited(response: httpx.Response, policy: str, quota: int, window: int) -> None:
    problem = response.json()
    assert response.status_code == 429
    assert response.headers["content-type"] == "application/problem+json"
    assert (problem["code"], problem["status"], problem["policy"]) == ("rate_limited", 429, policy)
    retry_after = int(response.headers["retry-after"])
    assert 1 <= retry_after <= window
    assert response.headers["ratelimit-policy"] == f'"{policy}";q={quota};w={window}'
    assert re.fullmatch(rf'"{policy}";r=0;t=\d+', response.headers["ratelimit"])


async def test_a_key_past_its_rate_gets_429_and_issues_nothing(
    client: httpx.AsyncClient, make_rated_key: RateKeyMaker, settings: Settings
) -> None:
    limited = await make_rated_key("3/minute")
    other = await make_rated_key(None, name="unlimited")

    answers = [(await client.post(ISSUE, headers=bearer(limited))) for _ in range(5)]
    others = [(await client.post(ISSUE, headers=bearer(other))).status_code for _ in range(5)]

    assert [a.status_code for a in answers[:3]] == [201, 201, 201]
    for refused in answers[3:]:
        assert_rate_limited(refused, "key", 3, 60)
    assert others == [201] * 5
    assert len(await stored_numbers(settings.sqlalchemy_url)) == 8


async def test_keys_without_a_rate_of_their_own_follow_the_default(
    settings: Settings, clock: FrozenClock, make_rated_key: RateKeyMaker
) -> None:
    plain = await make_rated_key(None)
    generous = await make_rated_key("10/minute", name="generous")
    defaulted = settings.model_copy(update={"key_rate_limit": "2/minute"})
    async with started_client(defaulted, clock) as http:
        by_default = [(await http.post(ISSUE, headers=bearer(plain))).status_code for _ in range(3)]
        own = [(await http.post(ISSUE, headers=bearer(generous))).status_code for _ in range(3)]

    assert by_default == [201, 201, 429]
    assert own == [201, 201, 201]


async def test_a_made_up_token_flood_is_refused_without_database_lookups(
    settings: Settings,
    clock: FrozenClock,
    make_rated_key: RateKeyMaker,
    lookups: list[str],
) -> None:
    legitimate = await make_rated_key(None)
    strict = settings.model_copy(update={"client_rate_limit": "5/minute"})
    async with started_client(strict, clock) as http:
        assert (await http.post(ISSUE, headers=bearer(legitimate))).status_code == 201
        flood = [await http.post(ISSUE, headers=bearer(f"custid_made-up-{n}")) for n in range(40)]
        meanwhile = await http.post(ISSUE, headers=bearer(legitimate))
        unknown_before = await http.post(ISSUE, headers=bearer("custid_made-up-x"))
        open_route = await http.get("/healthz")

    assert [r.status_code for r in flood[:5]] == [401] * 5
    for refused in flood[5:]:
        assert_rate_limited(refused, "address", 5, 60)
    assert len(lookups) == 1 + 5  # the legitimate key once, then five made-up tokens
    assert meanwhile.status_code == 201  # a key found valid before still gets through
    assert unknown_before.status_code == 429
    assert open_route.status_code == 200


async def test_a_refused_token_is_not_looked_up_again_at_once(
    client: httpx.AsyncClient, make_rated_key: RateKeyMaker, lookups: list[str]
) -> None:
    await make_rated_key(None)  # keys are required from now on

    answers = [
        (await client.post(ISSUE, headers=bearer("custid_revoked-or-wrong"))).status_code
        for _ in range(20)
    ]

    assert answers[:3] == [401, 401, 401]
    assert lookups == ["custid_revoked-or-wrong"]


async def test_requests_without_a_key_count_as_failures_too(
    settings: Settings, clock: FrozenClock, make_rated_key: RateKeyMaker
) -> None:
    await make_rated_key(None)
    strict = settings.model_copy(update={"client_rate_limit": "2/minute"})
    async with started_client(strict, clock) as http:
        answers = [(await http.post(ISSUE)).status_code for _ in range(4)]

    assert answers == [401, 401, 429, 429]


async def rated_key(settings: Settings, clock: FrozenClock, rate: str) -> NewKey:
    """A key of all scopes limited to `rate`, in `settings`' database."""
    db = Database.connect(settings.sqlalchemy_url, timeout_seconds=5)
    try:
        return await create_key(db, "rated", list(Scope), clock, Actor(None, "test"), False, rate)
    finally:
        await db.dispose()


async def test_replicas_share_a_key_s_rate_through_redis(
    redis_settings: Settings, clock: FrozenClock
) -> None:
    limited = await rated_key(redis_settings, clock, "4/minute")
    async with (
        started_client(redis_settings, clock) as one,
        started_client(redis_settings, clock) as two,
    ):
        answers = []
        for replica in (one, two, one, two, one, two):
            answers.append((await replica.post(ISSUE, headers=bearer(limited))).status_code)

    assert answers == [201, 201, 201, 201, 429, 429]


async def test_with_redis_down_limits_are_counted_in_the_process_and_nothing_fails(
    redis_settings: Settings, own_redis: RedisServer, clock: FrozenClock
) -> None:
    limited = await rated_key(redis_settings, clock, "3/minute")
    async with started_client(redis_settings, clock) as http:
        first = (await http.post(ISSUE, headers=bearer(limited))).status_code
        await asyncio.to_thread(own_redis.stop)
        after = [(await http.post(ISSUE, headers=bearer(limited))).status_code for _ in range(4)]

    assert first == 201
    assert 500 not in after
    assert after[-1] == 429  # counted again, locally, from the moment Redis went away
    assert after.count(201) <= 3


async def test_every_keyed_route_documents_429_with_its_headers(
    client: httpx.AsyncClient,
) -> None:
    openapi = (await client.get("/openapi.json")).json()
    keyed = [
        (path, method, operation)
        for path, item in openapi["paths"].items()
        for method, operation in item.items()
        if operation.get("security")
    ]

    assert keyed
    for path, method, operation in keyed:
        documented = operation["responses"].get("429")
        assert documented is not None, (method, path)
        assert {"Retry-After", "RateLimit", "RateLimit-Policy"} <= set(documented["headers"])


runner = CliRunner()


def test_a_key_is_created_with_its_rate(cli_on_postgres: Settings) -> None:
    created = runner.invoke(
        cli, ["keys", "create", "--name", "crm", "--scope", "numbers:issue", "--rate", "100/s"]
    )
    refused = runner.invoke(
        cli, ["keys", "create", "--name", "crm", "--scope", "numbers:issue", "--rate", "lots"]
    )
    listed = json.loads(runner.invoke(cli, ["keys", "list", "--json"]).stdout)

    assert created.exit_code == 0, created.output
    assert "rate:   100/second" in created.stdout
    assert refused.exit_code == 2
    assert "--rate" in refused.output
    assert [key["rate_limit"] for key in listed] == ["100/second"]


@pytest.mark.slow
def test_a_served_flood_is_turned_away_before_the_application_per_forwarded_address(
    tmp_path: Path,
) -> None:
    env = {
        "CUSTID_DATA_DIR": str(tmp_path),
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_CLIENT_RATE_LIMIT": "5/minute",
    }
    key = create_cli_key(env, "crm", "numbers:issue")
    service = ServiceProcess(env).start()
    try:
        with service.http(timeout=10) as http:
            legitimate = {"Authorization": f"Bearer {key}"}
            assert http.post(ISSUE, headers=legitimate).status_code == 201
            attacker = {"X-Forwarded-For": "203.0.113.9"}  # through the local (trusted) proxy
            flood = [
                http.post(ISSUE, headers={**attacker, **bearer(f"custid_guess-{n}")})
                for n in range(60)
            ]
            time.sleep(1.1)  # the refusals are logged once a second
            flood.append(http.post(ISSUE, headers={**attacker, **bearer("custid_guess-last")}))
            neighbour = http.post(
                ISSUE, headers={"X-Forwarded-For": "203.0.113.10", **bearer("custid_typo")}
            )
            meanwhile = http.post(ISSUE, headers={**attacker, **legitimate})
    finally:
        service.stop()
    lines = [json.loads(line) for line in service.final_output.splitlines() if line.startswith("{")]
    logged_requests = [line for line in lines if line.get("event") == "request"]
    tallies = [line for line in lines if line.get("event") == "requests_refused"]

    assert [r.status_code for r in flood[:5]] == [401] * 5
    for refused in flood[5:]:
        assert_rate_limited(refused, "address", 5, 60)
        assert refused.headers["x-request-id"]
    assert neighbour.status_code == 401  # another address behind the same proxy
    assert meanwhile.status_code == 201
    assert tallies
    assert {line["address"] for line in tallies} == {"203.0.113.9"}
    assert sum(line["refused"] for line in tallies) >= 50
    assert len(logged_requests) < 20  # no line per refused request


def raw_request(token: str, body: bytes = b"{}", method: str = "POST") -> bytes:
    """A keep-alive request to the issue route, as bytes on the wire."""
    return (
        f"{method} {ISSUE} HTTP/1.1\r\nHost: custid\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


@contextmanager
def connected(service: ServiceProcess) -> Iterator[tuple[socket.socket, BinaryIO]]:
    """A new connection to `service`, and a stream its answers are read from."""
    with (
        socket.create_connection(("127.0.0.1", service.port), timeout=10) as connection,
        connection.makefile("rb") as stream,
    ):
        yield connection, stream


def read_answer(stream: BinaryIO, head: bool = False) -> httpx.Response:
    """The next answer on a connection: status line, headers and a Content-Length body
    (none to a HEAD request)."""
    status = int(stream.readline().split()[1])
    headers = []
    while (line := stream.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip(), value.strip()))
    length = 0 if head else int(httpx.Headers(headers).get("content-length", 0))
    return httpx.Response(status, headers=headers, content=stream.read(length))


@pytest.mark.slow
def test_refusals_on_one_connection_keep_their_order_and_skip_their_bodies(
    tmp_path: Path,
) -> None:
    env = {
        "CUSTID_DATA_DIR": str(tmp_path),
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_CLIENT_RATE_LIMIT": "3/minute",
    }
    key = create_cli_key(env, "crm", "numbers:issue")
    service = ServiceProcess(env).start()
    try:
        with service.http(timeout=10) as http:
            assert http.post(ISSUE, headers={"Authorization": f"Bearer {key}"}).status_code == 201
            failures = [http.post(ISSUE, headers=bearer(f"custid_guess-{n}")) for n in range(3)]
        with connected(service) as (connection, stream):
            # Queued behind a request being answered: refused in their turn.
            connection.sendall(
                raw_request(key) + raw_request("custid_guess-a") + raw_request("custid_guess-b")
            )
            queued = [read_answer(stream) for _ in range(3)]
        with connected(service) as (connection, stream):
            # Refused as its headers arrive, its body still on the way; then the next request.
            body = b'{"attributes": {}}'
            connection.sendall(raw_request("custid_guess-c", body)[: -len(body)])
            refused_early = read_answer(stream)
            connection.sendall(body + raw_request("custid_guess-d", b"", method="HEAD"))
            refused_head = read_answer(stream, head=True)
            connection.sendall(raw_request(key))
            after_the_body = read_answer(stream)
    finally:
        service.stop()

    assert [answer.status_code for answer in failures] == [401] * 3
    assert [answer.status_code for answer in queued] == [201, 429, 429]
    for refused in [*queued[1:], refused_early]:
        assert_rate_limited(refused, "address", 3, 60)
        assert refused.headers["x-request-id"]
    assert refused_head.status_code == 429
    assert int(refused_head.headers["content-length"]) > 0  # what a GET would have answered
    assert after_the_body.status_code == 201
    assert queued[0].json()["number"] != after_the_body.json()["number"]
