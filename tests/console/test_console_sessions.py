"""Console sign-ins are server-side sessions: a random id in the cookie, its hash in the
database, ended by sign-out, revocation, idleness or age; forms carry a CSRF token bound
to the session; the cookie is Secure whenever the browser came over HTTPS."""

import hashlib
import re
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.api_keys import NewKey, revoke_key
from app.core.audit import Actor
from app.core.console_sessions import csrf_token
from app.core.scopes import Scope
from app.settings import Settings
from app.store.database import Database
from app.store.models import ConsoleSession
from custid_testing.in_process import FrozenClock, KeyMaker, bearer, started_client

CONSOLE = "/console"
SESSION_COOKIE = "custid_console"


def form_token(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found is not None, page.text
    return found.group(1)


async def sign_in(http: httpx.AsyncClient, key: NewKey | str) -> httpx.Response:
    """Sign in as a browser does: the sign-in page, then its form."""
    token = key if isinstance(key, str) else key.token
    page = await http.get(f"{CONSOLE}/login")
    return await http.post(
        f"{CONSOLE}/login", data={"api_key": token, "csrf_token": form_token(page)}
    )


def session_cookie(response: httpx.Response) -> str:
    """The Set-Cookie header that hands out the session."""
    return next(
        value
        for name, value in response.headers.multi_items()
        if name == "set-cookie" and value.startswith(f"{SESSION_COOKIE}=")
    )


@pytest.fixture
async def admin(make_key: KeyMaker) -> NewKey:
    return await make_key(*Scope, name="operator")


async def stored_sessions(sessions: async_sessionmaker[AsyncSession]) -> list[ConsoleSession]:
    async with sessions() as session:
        return list((await session.execute(select(ConsoleSession))).scalars())


async def test_signing_in_begins_a_session_whose_cookie_holds_only_a_random_id(
    client: httpx.AsyncClient,
    admin: NewKey,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    signed_in = await sign_in(client, admin)
    cookie = session_cookie(signed_in)
    session_id = client.cookies[SESSION_COOKIE]
    home = await client.get(CONSOLE)
    stored = await stored_sessions(sessions)

    assert (signed_in.status_code, signed_in.headers["location"]) == (303, CONSOLE)
    assert session_id != admin.token
    assert len(session_id) >= 40
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert "Secure" not in cookie  # plain http, no proxy said otherwise
    assert home.status_code == 200
    assert admin.key.id in home.text
    assert [(s.id_hash, s.key_id) for s in stored] == [
        (hashlib.sha256(session_id.encode()).hexdigest(), admin.key.id)
    ]


async def test_two_sign_ins_are_two_sessions(client: httpx.AsyncClient, admin: NewKey) -> None:
    await sign_in(client, admin)
    first = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    await sign_in(client, admin)

    assert client.cookies[SESSION_COOKIE] != first


async def test_a_form_token_of_another_session_or_an_injected_cookie_changes_nothing(
    client: httpx.AsyncClient, admin: NewKey, make_key: KeyMaker
) -> None:
    number = (await client.post("/v1/schemes/daily/numbers", headers=bearer(admin))).json()[
        "number"
    ]
    attacker = await make_key(Scope.READ, name="attacker")
    await sign_in(client, attacker)
    attackers_session = client.cookies[SESSION_COOKIE]
    client.cookies.clear()
    await sign_in(client, admin)
    victims_session = client.cookies[SESSION_COOKIE]
    retire = f"{CONSOLE}/numbers/{number}/retire"

    with_attackers_token = await client.post(
        retire, data={"reason": "forged", "csrf_token": csrf_token(attackers_session)}
    )
    client.cookies.set("custid_console_csrf", "planted", path=CONSOLE)
    with_planted_cookie = await client.post(
        retire, data={"reason": "forged", "csrf_token": "planted"}
    )
    record = (await client.get(f"/v1/numbers/{number}", headers=bearer(admin))).json()
    genuine = await client.post(
        retire, data={"reason": "duplicate", "csrf_token": csrf_token(victims_session)}
    )

    assert with_attackers_token.status_code == 403
    assert with_planted_cookie.status_code == 403
    assert record["status"] == "issued"
    assert genuine.status_code == 303


async def test_signing_out_ends_the_session_for_good(
    client: httpx.AsyncClient, admin: NewKey, sessions: async_sessionmaker[AsyncSession]
) -> None:
    await sign_in(client, admin)
    session_id = client.cookies[SESSION_COOKIE]
    signed_out = await client.post(f"{CONSOLE}/logout", data={"csrf_token": csrf_token(session_id)})
    client.cookies.set(SESSION_COOKIE, session_id, path=CONSOLE)  # a copy kept by someone
    replayed = await client.get(CONSOLE)

    assert (signed_out.status_code, signed_out.headers["location"]) == (303, f"{CONSOLE}/login")
    assert (replayed.status_code, replayed.headers["location"]) == (
        303,
        f"{CONSOLE}/login?expired=1",
    )
    assert all(s.ended_at is not None for s in await stored_sessions(sessions))


async def test_revoking_the_key_ends_its_sessions(
    client: httpx.AsyncClient,
    admin: NewKey,
    database: Database,
    clock: FrozenClock,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await sign_in(client, admin)
    assert (await client.get(CONSOLE)).status_code == 200

    await revoke_key(database, admin.key.id, clock, Actor(None, "test"))
    after = await client.get(CONSOLE)

    assert after.headers["location"] == f"{CONSOLE}/login?expired=1"
    assert all(s.ended_at is not None for s in await stored_sessions(sessions))


async def test_a_session_ends_after_its_idle_timeout(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.READ)
    short = settings.model_copy(update={"console_idle_timeout": timedelta(minutes=5)})
    async with started_client(short, clock) as http:
        await sign_in(http, key)
        clock.now += timedelta(minutes=4)
        used = await http.get(CONSOLE)
        clock.now += timedelta(minutes=4)
        still = await http.get(CONSOLE)  # 4 minutes after its last use
        clock.now += timedelta(minutes=5, seconds=1)
        idle = await http.get(CONSOLE)

    assert (used.status_code, still.status_code) == (200, 200)
    assert idle.headers["location"] == f"{CONSOLE}/login?expired=1"


async def test_a_session_ends_at_its_lifetime_however_busy(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.READ)
    async with started_client(settings, clock) as http:
        await sign_in(http, key)
        answers = []
        for _ in range(8 * 4):  # every quarter of an hour for eight hours
            clock.now += timedelta(minutes=15)
            answers.append((await http.get(CONSOLE)).status_code)

    assert answers[:-1] == [200] * 31
    assert answers[-1] == 303


async def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.READ)
    forwarded = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}

    async def through_proxy(http: httpx.AsyncClient) -> str:
        # The browser spoke HTTPS to the proxy: it sends back the Secure form cookie, which
        # this plain-http test client would keep to itself.
        token = form_token(await http.get(f"{CONSOLE}/login", headers=forwarded))
        answer = await http.post(
            f"{CONSOLE}/login",
            data={"api_key": key.token, "csrf_token": token},
            headers={**forwarded, "Cookie": f"custid_console_csrf={token}"},
        )
        return session_cookie(answer)

    async with started_client(settings, clock) as http:  # the proxy is on 127.0.0.1: trusted
        behind_proxy = await through_proxy(http)
    untrusting = settings.model_copy(update={"forwarded_allow_ips": "10.20.30.40"})
    async with started_client(untrusting, clock) as http:
        not_believed = await through_proxy(http)
    async with started_client(settings, clock) as http:
        http.base_url = httpx.URL("https://custid")
        direct = session_cookie(await sign_in(http, key))

    assert "Secure" in behind_proxy
    assert "Secure" not in not_believed
    assert "Secure" in direct


async def test_a_session_works_on_every_replica(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.READ)
    async with started_client(settings, clock) as one, started_client(settings, clock) as two:
        await sign_in(one, key)
        two.cookies.set(SESSION_COOKIE, one.cookies[SESSION_COOKIE], path=CONSOLE)
        elsewhere = await two.get(CONSOLE)

    assert elsewhere.status_code == 200
    assert key.key.id in elsewhere.text  # the console's home, signed in as the key


async def test_failed_sign_ins_count_against_the_address(
    settings: Settings, clock: FrozenClock, make_key: KeyMaker
) -> None:
    key = await make_key(Scope.READ)
    strict = settings.model_copy(update={"client_rate_limit": "3/minute"})
    async with started_client(strict, clock) as http:
        guesses = [(await sign_in(http, f"custid_guess-{n}")).status_code for n in range(5)]
        genuine = await sign_in(http, key)  # the right key, from the same address: refused too

    assert guesses[:3] == [401, 401, 401]
    assert guesses[3:] == [429, 429]
    assert genuine.status_code == 429
    assert "Too many failed sign-ins" in genuine.text


async def test_a_key_without_read_cannot_sign_in(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    issuer = await make_key(Scope.ISSUE)

    refused = await sign_in(client, issuer)

    assert refused.status_code == 403
    assert SESSION_COOKIE not in client.cookies
