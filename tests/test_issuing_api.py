"""Issuing numbers over HTTP, on PostgreSQL + Redis and on the embedded backend."""

from datetime import UTC, datetime

import httpx

PROBLEM = "application/problem+json"


async def test_issues_a_daily_number_with_date_and_sequence(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/daily/numbers")

    assert response.status_code == 201
    body = response.json()
    assert body["number"] == "20231015001"
    assert body["scheme"] == "daily"
    assert body["period"] == "20231015"
    assert body["seq"] == 1
    assert datetime.fromisoformat(body["issued_at"]) == datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
    assert response.headers["location"] == "/v1/numbers/20231015001"
