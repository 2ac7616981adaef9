"""SSRF closed by default: webhooks reach no private, loopback or link-local address, in any
of the IPv6 forms that carry one, unless the service is bound to loopback or told to allow
them; the database in use changes nothing."""

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from app.core.events.http import PublicResolver
from app.core.events.targets import is_private
from app.settings import Settings
from custid_testing.in_process import FrozenClock, started_client

HOOKS = "/v1/webhooks"
PUBLIC_URL = "https://93.184.216.34/hooks/custid"
# Each probe an attacker with an admin key would try, as a subscription URL.
PROBES = {
    "cloud metadata": "http://169.254.169.254/latest/meta-data/",
    "loopback": "http://127.0.0.1:8080/hooks",
    "localhost": "http://localhost/hooks",
    "loopback as one number": "http://2130706433/hooks",
    "IPv6 loopback": "http://[::1]/hooks",
    "private network": "http://10.0.0.5/hooks",
    "unspecified": "http://0.0.0.0/hooks",
    "NAT64 metadata": "http://[64:ff9b::a9fe:a9fe]/hooks",
    "NAT64 loopback": "http://[64:ff9b::7f00:1]/hooks",
    "NAT64 private": "http://[64:ff9b::a00:5]/hooks",
    "6to4 loopback": "http://[2002:7f00:1::1]/hooks",
    "6to4 metadata": "http://[2002:a9fe:a9fe::1]/hooks",
    "Teredo loopback client": "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hooks",
    "IPv4-mapped loopback": "http://[::ffff:127.0.0.1]/hooks",
    "IPv4-mapped metadata": "http://[::ffff:169.254.169.254]/hooks",
    "IPv4-compatible loopback": "http://[::127.0.0.1]/hooks",
}


def bound(settings: Settings, host: str, **more: Any) -> Settings:
    """`settings` for a service bound to `host` (auth off: the binding is what counts)."""
    return settings.model_copy(update={"host": host, "auth": "disabled", **more})


@pytest.fixture
async def exposed(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    """The service bound beyond loopback, on the backend under test."""
    async with started_client(bound(settings, "0.0.0.0"), clock) as http:
        yield http


async def test_every_probe_is_refused_when_the_service_is_reachable_from_elsewhere(
    exposed: httpx.AsyncClient,
) -> None:
    kept = (await exposed.post(HOOKS, json={"url": PUBLIC_URL})).json()["id"]
    answers = {}
    for name, url in PROBES.items():
        created = await exposed.post(HOOKS, json={"url": url})
        moved = await exposed.patch(f"{HOOKS}/{kept}", json={"url": url})
        answers[name] = [
            (r.status_code, r.json()["code"], r.headers["content-type"]) for r in (created, moved)
        ]

    refused = [(422, "invalid_webhook_target", "application/problem+json")] * 2
    assert {name: found for name, found in answers.items() if found != refused} == {}
    listed = (await exposed.get(HOOKS)).json()["webhooks"]
    assert [(hook["id"], hook["url"]) for hook in listed] == [(kept, PUBLIC_URL)]


async def test_a_refusal_names_the_address_and_the_setting(exposed: httpx.AsyncClient) -> None:
    problem = (await exposed.post(HOOKS, json={"url": PROBES["NAT64 metadata"]})).json()

    assert problem["field"] == "url"
    assert "64:ff9b::a9fe:a9fe" in problem["detail"]
    assert "CUSTID_WEBHOOK_ALLOW_PRIVATE" in problem["detail"]


@pytest.mark.parametrize(
    ("host", "allow"),
    [("127.0.0.1", None), ("::1", None), ("0.0.0.0", True)],
    ids=["bound-to-loopback", "bound-to-ipv6-loopback", "allowed-explicitly"],
)
async def test_private_targets_are_allowed_on_loopback_or_when_told(
    settings: Settings, clock: FrozenClock, host: str, allow: bool | None
) -> None:
    async with started_client(bound(settings, host, webhook_allow_private=allow), clock) as http:
        answers = [
            (await http.post(HOOKS, json={"url": url})).status_code
            for url in (PROBES["loopback"], PROBES["private network"], PROBES["NAT64 loopback"])
        ]

    assert answers == [201, 201, 201]


async def test_told_not_to_even_a_loopback_service_refuses_private_targets(
    settings: Settings, clock: FrozenClock
) -> None:
    closed = settings.model_copy(update={"webhook_allow_private": False})
    async with started_client(closed, clock) as http:
        refused = await http.post(HOOKS, json={"url": PROBES["loopback"]})

    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_webhook_target")


def test_the_default_follows_the_binding_not_the_database() -> None:
    sqlite = "sqlite+aiosqlite:////tmp/custid.db"
    postgres = "postgresql+asyncpg://custid@db/custid"

    assert Settings(database_url=sqlite, host="127.0.0.1").webhooks_may_reach_private
    assert Settings(database_url=postgres, host="127.0.0.1").webhooks_may_reach_private
    assert not Settings(database_url=sqlite, host="0.0.0.0").webhooks_may_reach_private
    assert not Settings(database_url=postgres, host="0.0.0.0").webhooks_may_reach_private
    assert Settings(host="0.0.0.0", webhook_allow_private=True).webhooks_may_reach_private


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("64:ff9b::5db8:d822", False),  # NAT64 of 93.184.216.34
        ("2002:5db8:d822::1", False),  # 6to4 of it
        ("::ffff:93.184.216.34", False),
        ("2606:4700:4700::1111", False),
        ("64:ff9b:1::a00:5", True),  # local-use NAT64 of 10.0.0.5
        ("2001:0:a00:5:0:0:6cff:fffe", True),  # Teredo with a private server
        ("fe80::1%eth0", True),
        ("::", True),
    ],
)
def test_ipv6_forms_are_judged_by_the_ipv4_they_carry(address: str, private: bool) -> None:
    assert is_private(address) is private


async def test_names_resolve_to_public_addresses_only_when_connecting() -> None:
    resolver = PublicResolver()
    try:
        with pytest.raises(OSError, match="private or loopback"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()
