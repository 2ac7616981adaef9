"""Issuing numbers in a test: one call for a single number or a batch, which fails the test
unless the service issued them, so a test states only what it is about."""

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class Issued:
    """An issue call's answer: the numbers it issued, in order, and the answer's JSON body."""

    numbers: list[str]
    body: dict[str, Any]

    @property
    def number(self) -> str:
        """The one number a single issue answered."""
        [number] = self.numbers
        return number


async def issue(
    client: httpx.AsyncClient, scheme: str = "daily", count: int | None = None, **body: object
) -> Issued:
    """Issue from `scheme` with `body`'s fields: one number (`POST .../numbers`), or with a
    `count` a batch of them (`POST .../numbers/batch`). Anything but 201 fails the test."""
    if count is None:
        response = await client.post(f"/v1/schemes/{scheme}/numbers", json=body)
    else:
        response = await client.post(
            f"/v1/schemes/{scheme}/numbers/batch", json={"count": count, **body}
        )
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    numbers = [answer["number"]] if count is None else list(answer["numbers"])
    return Issued(numbers, answer)
