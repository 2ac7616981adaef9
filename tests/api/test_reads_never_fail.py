"""Whatever a write accepts, every read returns: text drawn from the whole of Unicode (lone
surrogates, controls and line separators included) is written through every write route that
takes text, and whatever was accepted is read back, as given, through every read route and
the event feed. What is refused is a 4xx problem, and changes nothing."""

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app.settings import Settings
from custid_testing.in_process import FrozenClock, started_client

PROBLEM = "application/problem+json"
# Every code point, lone surrogates too, with the troublesome ones drawn often.
TEXT = st.text(st.characters(codec=None, exclude_categories=()), min_size=1, max_size=12) | st.text(
    st.sampled_from("a-Z9:. \t\n\x00\x01\x7f\x85\x9f\xa0\u2028\u3000\ufeff\ud800\U0001f600"),
    min_size=1,
    max_size=8,
)


# Each example imports a number of its own.
STAFF_NUMBERS = (f"HR-{seq:04d}" for seq in itertools.count(1))


class Caller:
    """Requests with bodies written as JSON writes them (lone surrogates as escapes)."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def post(self, path: str, body: Any = None) -> httpx.Response:
        content = json.dumps(body) if body is not None else b""
        answer = await self.client.post(
            path, content=content, headers={"content-type": "application/json"}
        )
        return checked(answer)

    async def get(self, path: str, **params: str) -> httpx.Response:
        return checked(await self.client.get(path, params=params))


def checked(answer: httpx.Response) -> httpx.Response:
    """The answer, once it is known to be no server error and any error to be a problem."""
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        assert answer.headers["content-type"] == PROBLEM, answer.text
        assert answer.json()["code"], answer.text
    return answer


def writable(text: str) -> bool:
    """Whether `text` can travel in a URL at all (a lone surrogate cannot be encoded)."""
    return not any("\ud800" <= character <= "\udfff" for character in text)


async def every_event(caller: Caller) -> AsyncIterator[dict[str, Any]]:
    """The whole feed, page by page."""
    after: str | None = None
    while True:
        page = await caller.get("/v1/events", limit="100", **({"after": after} if after else {}))
        events = page.json()["events"]
        for event in events:
            yield event
        if not events:
            return
        after = page.json()["next_cursor"]


async def write_and_read(caller: Caller, text: str) -> int:
    """Write `text` everywhere text is taken; read back whatever was accepted. How many
    writes took it."""
    number = (await caller.post("/v1/schemes/daily/numbers", {})).json()["number"]
    accepted: list[tuple[str, Any]] = []

    issued = await caller.post("/v1/schemes/daily/numbers", {"ref": f"crm:{text}"})
    if issued.status_code in (200, 201):
        accepted.append(("ref", issued.json()["number"]))
        found = await caller.get("/v1/numbers", ref=f"crm:{text}")
        assert [r["number"] for r in found.json()["numbers"]] == [issued.json()["number"]]
    added = await caller.post(f"/v1/numbers/{number}/refs", {"system": "erp", "id": text})
    if added.status_code in (200, 201):
        accepted.append(("added", number))
        record = (await caller.get(f"/v1/numbers/{number}")).json()
        assert {"system": "erp", "id": text} in record["refs"]
    retired = await caller.post(f"/v1/numbers/{number}/retire", {"reason": text})
    if retired.status_code == 200:
        trail = (await caller.get(f"/v1/numbers/{number}/events")).json()["events"]
        assert trail[-1]["reason"] == text
    held = (await caller.post("/v1/schemes/daily/reservations", {})).json()
    void = await caller.post(f"/v1/reservations/{held['id']}/void", {"reason": text})
    if void.status_code == 200:
        voided = held["numbers"][0]["number"]
        assert (await caller.get(f"/v1/numbers/{voided}")).json()["void_reason"] == text
    hook = await caller.post(
        "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "description": text}
    )
    if hook.status_code == 201:
        shown = await caller.get(f"/v1/webhooks/{hook.json()['id']}")
        assert shown.json()["description"] == text
        await caller.client.delete(f"/v1/webhooks/{hook.json()['id']}")
    staff = next(STAFF_NUMBERS)
    imported = await caller.post(
        "/v1/schemes/staff/imports",
        {"rows": [{"number": staff, "issued_at": "2023-10-15", "refs": [f"imp:{text}"]}]},
    )
    if imported.status_code == 201:
        accepted.append(("imported", staff))
        record = (await caller.get(f"/v1/numbers/{staff}")).json()
        assert record["refs"] == [{"system": "imp", "id": text}]

    # Every read of every number, and the whole feed, answer.
    for _, stored in accepted + [("plain", number)]:
        await caller.get(f"/v1/numbers/{stored}")
        await caller.get(f"/v1/numbers/{stored}/events")
        await caller.get(f"/v1/numbers/{stored}/validation")
    await caller.get("/v1/numbers", limit="1000")
    await caller.get("/v1/webhooks")
    assert [event async for event in every_event(caller)]
    if writable(text):  # as a query parameter and a path segment: answered, never a 5xx
        await caller.get("/v1/numbers", ref=text, operator=text, scheme=text)
        await caller.get(f"/v1/numbers/{quote(text, safe='')}/validation")
        await caller.get(f"/v1/schemes/daily/periods/{quote(text, safe='')}/gaps")
    return len(accepted) + (retired.status_code == 200) + (void.status_code == 200)


def test_whatever_a_write_accepts_every_read_returns(
    settings: Settings, clock: FrozenClock
) -> None:
    allowed = settings.model_copy(update={"webhook_allow_private": True})
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    client = loop.run_until_complete(stack.enter_async_context(started_client(allowed, clock)))
    caller = Caller(client)
    taken = []
    try:

        @hypothesis_settings(
            max_examples=25,
            deadline=None,
            derandomize=True,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(text=TEXT)
        def writes_are_read_back(text: str) -> None:
            taken.append(loop.run_until_complete(write_and_read(caller, text)))

        writes_are_read_back()
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
    # Texts were taken as well as refused: the reads had something to return.
    assert sum(taken) > len(taken), taken
