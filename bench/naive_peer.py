"""The naive peer (phase b): what a reasonable developer writes first.

One Redis INCR for the sequence and one single-row INSERT per request, through
an asyncpg connection pool, into a table shaped like custid's `issued_numbers`.
No batching, no resync after Redis loses data, no problem details: the baseline
custid's single-number issuing is compared against.

    NAIVE_DATABASE_URL=postgresql://... NAIVE_REDIS_URL=redis://... \
        uvicorn bench.naive_peer:create_app --factory --workers N
"""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from pydantic import BaseModel
from redis.asyncio import Redis

INSERT = """
INSERT INTO {table} (number, scheme, scheme_version, period, partition, seq, attributes, issued_at)
VALUES ($1, $2, 1, $3, '', $4, '{{}}', $5)
"""


class IssueRequest(BaseModel):
    attributes: dict[str, str] = {}


def create_app() -> FastAPI:
    """The peer app, configured from NAIVE_DATABASE_URL, NAIVE_REDIS_URL and NAIVE_TABLE."""
    database_url = os.environ["NAIVE_DATABASE_URL"]
    redis_url = os.environ["NAIVE_REDIS_URL"]
    insert = INSERT.format(table=os.environ.get("NAIVE_TABLE", "naive_numbers"))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await asyncpg.create_pool(database_url)
        app.state.redis = Redis.from_url(redis_url)
        yield
        await app.state.redis.aclose()
        await app.state.pool.close()

    app = FastAPI(title="naive peer", lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/schemes/{scheme}/numbers", status_code=201)
    async def issue_number(
        scheme: str, request: Request, body: IssueRequest | None = None
    ) -> dict[str, Any]:
        now = datetime.now(UTC)
        period = now.strftime("%Y%m%d")
        seq = await request.app.state.redis.incr(f"naive:{scheme}:{period}")
        number = f"{period}{seq:012d}"
        await request.app.state.pool.execute(insert, number, scheme, period, seq, now)
        return {"number": number, "scheme": scheme, "period": period, "seq": seq, "issued_at": now}

    return app
