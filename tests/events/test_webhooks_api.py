"""Admins subscribe URLs to events over the API and the CLI; bad subscriptions are refused."""

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from app.api.models.webhooks import Webhook
from app.cli import cli
from app.settings import get_settings
from custid_testing.in_process import feed_events

HOOKS = "/v1/webhooks"
# A literal public address: checking it needs no DNS, and nothing here answers on it.
PUBLIC_URL = "https://93.184.216.34/hooks/custid"
LOOPBACK_URL = "http://127.0.0.1:9/hooks"


async def subscribe(client: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await client.post(HOOKS, json={"url": PUBLIC_URL, **fields})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_a_subscription_shows_its_secret_once(client: httpx.AsyncClient) -> None:
    created = await subscribe(
        client, event_types=["number.issued"], schemes=["daily"], description="CRM"
    )

    shown = (await client.get(f"{HOOKS}/{created['id']}")).json()
    listed = (await client.get(HOOKS)).json()["webhooks"]

    assert created["id"].startswith("whk_")
    assert created["secret"].startswith("whsec_")
    assert len(created["secret"]) > 40
    assert (created["url"], created["event_types"], created["schemes"]) == (
        PUBLIC_URL,
        ["number.issued"],
        ["daily"],
    )
    assert (created["status"], created["attempts"], created["description"]) == ("active", 0, "CRM")
    assert "secret" not in shown
    assert all("secret" not in hook for hook in listed)
    assert shown == {k: v for k, v in created.items() if k != "secret"}
    assert [hook["id"] for hook in listed] == [created["id"]]


async def test_a_new_subscription_starts_at_the_end_of_the_feed(
    client: httpx.AsyncClient,
) -> None:
    await client.post("/v1/schemes/daily/numbers")
    await feed_events(client, 1)  # readable, not held back by another test's transaction
    feed_end = (await client.get("/v1/events")).json()["next_cursor"]

    created = await subscribe(client)

    assert created["position"] == feed_end


async def test_admins_change_pause_resume_and_delete_subscriptions(
    client: httpx.AsyncClient,
) -> None:
    hook = (await subscribe(client))["id"]

    changed = await client.patch(
        f"{HOOKS}/{hook}", json={"event_types": ["number.retired"], "description": "ERP"}
    )
    paused = await client.post(f"{HOOKS}/{hook}/pause")
    resumed = await client.post(f"{HOOKS}/{hook}/resume")
    deleted = await client.delete(f"{HOOKS}/{hook}")
    gone = await client.get(f"{HOOKS}/{hook}")

    assert changed.status_code == 200
    assert (changed.json()["event_types"], changed.json()["description"]) == (
        ["number.retired"],
        "ERP",
    )
    assert changed.json()["url"] == PUBLIC_URL  # what was left out stays
    assert (paused.json()["status"], resumed.json()["status"]) == ("paused", "active")
    assert deleted.status_code == 204
    assert (gone.status_code, gone.json()["code"]) == (404, "not_found")
    assert (await client.get(HOOKS)).json()["webhooks"] == []


async def test_redelivery_moves_the_subscription_back_to_an_event(
    client: httpx.AsyncClient,
) -> None:
    hook = (await subscribe(client))["id"]
    await client.post("/v1/schemes/daily/numbers/batch", json={"count": 3})
    before_first = (await client.get(f"{HOOKS}/{hook}")).json()["position"]
    events = await feed_events(client, 3, {"after": before_first})
    await client.post(f"{HOOKS}/{hook}/pause")

    redelivery = await client.post(
        f"{HOOKS}/{hook}/redeliver", json={"from_event": events[1]["id"]}
    )
    from_there = await client.get("/v1/events", params={"after": redelivery.json()["position"]})
    unknown = await client.post(f"{HOOKS}/{hook}/redeliver", json={"from_event": "evt_999999"})

    assert redelivery.status_code == 200
    assert redelivery.json()["status"] == "active"
    assert [e["id"] for e in from_there.json()["events"]] == [e["id"] for e in events[1:]]
    assert (unknown.status_code, unknown.json()["code"]) == (404, "not_found")


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"url": "ftp://93.184.216.34/hooks"}, "url", "invalid_webhook_target"),
        ({"url": "not a url"}, "url", "invalid_webhook_target"),
        ({"url": "https://user:pw@93.184.216.34/"}, "url", "invalid_webhook_target"),
        ({"url": PUBLIC_URL, "event_types": ["number.invented"]}, "event_types", None),
        ({"url": PUBLIC_URL, "schemes": ["no-such-scheme"]}, "schemes", None),
        ({"url": PUBLIC_URL, "secret": "mine"}, "secret", None),
        ({"event_types": ["number.issued"]}, "url", None),
    ],
    ids=["ftp", "not-a-url", "credentials", "unknown-type", "unknown-scheme", "extra", "no-url"],
)
async def test_bad_subscriptions_are_refused_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str, code: str | None
) -> None:
    response = await client.post(HOOKS, json=body)

    problem = response.json()
    assert response.status_code == 422, problem
    assert response.headers["content-type"] == "application/problem+json"
    if code is not None:
        assert (problem["code"], problem["field"]) == (code, field)
    else:
        assert field in problem["errors"][0]["loc"], problem
    assert (await client.get(HOOKS)).json()["webhooks"] == []


async def test_unknown_subscriptions_are_404(client: httpx.AsyncClient) -> None:
    for method, path, body in [
        ("GET", f"{HOOKS}/whk_0000000000000000", None),
        ("PATCH", f"{HOOKS}/whk_0000000000000000", {"status": "paused"}),
        ("POST", f"{HOOKS}/whk_0000000000000000/pause", None),
        ("POST", f"{HOOKS}/whk_0000000000000000/redeliver", {"from_event": "evt_1"}),
        ("DELETE", f"{HOOKS}/whk_0000000000000000", None),
    ]:
        response = await client.request(method, path, json=body)
        assert (response.status_code, response.json()["code"]) == (404, "not_found"), path


runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(cli, ["webhooks", *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def fields(output: str) -> dict[str, str]:
    """The `name: value` lines the CLI prints about a subscription."""
    pairs = (line.partition(":") for line in output.splitlines())
    return {name.strip(): value.strip() for name, _, value in pairs}


def test_the_cli_manages_subscriptions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTID_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CUSTID_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    try:
        created = fields(
            invoke("create", "--url", PUBLIC_URL, "--type", "number.issued", "--description", "CRM")
        )
        hook = created["id"]
        paused = invoke("pause", hook)
        shown = fields(invoke("show", hook))
        listed = invoke("list")
        listed_json = json.loads(invoke("list", "--json"))
        refused = runner.invoke(cli, ["webhooks", "create", "--url", "ftp://x/"])
        deleted = invoke("delete", hook)
        after = invoke("list", "--json")
    finally:
        get_settings.cache_clear()

    assert created["secret"].startswith("whsec_")
    assert created["types"] == "number.issued"
    assert "paused" in paused
    assert (shown["description"], shown["status"]) == ("CRM", "paused")
    assert hook in listed
    # Every field is named as the API names it (the feed position included), times in ISO 8601.
    [as_json] = listed_json
    assert set(as_json) == set(Webhook.model_fields)
    assert as_json["position"]
    assert datetime.fromisoformat(as_json["created_at"]).tzinfo is not None
    assert created["secret"] not in listed
    assert refused.exit_code == 1
    assert "http" in refused.output
    assert hook in deleted
    assert after.strip() == "[]"
