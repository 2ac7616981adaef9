"""The Redis stream sink: every event `XADD`ed to one stream, for consumers that read streams.

One process at a time publishes (`Database.exclusive`), from a cursor kept in
the database, so a stream reader sees each event once per publication and in
feed order; a publisher that dies before recording its cursor publishes its
last events again (readers deduplicate by the `id` field). The stream is
capped near `maxlen` entries (`MAXLEN ~`): it is a window for live readers,
the feed is the record.
"""

import asyncio
from dataclasses import dataclass

import orjson
import structlog

from app.core.events.feed import events_after
from app.encoding import json_bytes
from app.store import webhooks as cursor_rows
from app.store.database import Database
from app.store.event_feed import START, Position, feed_end
from app.store.redis_connection import RedisClient

log = structlog.get_logger(__name__)

EVENTS_PER_ROUND = 500


@dataclass
class StreamPublisher:
    """Publishes the feed to a Redis stream, from whichever process holds the turn."""

    db: Database
    redis: RedisClient
    stream: str
    maxlen: int = 100_000
    poll_interval_seconds: float = 0.5

    @property
    def cursor_name(self) -> str:
        return f"redis-stream:{self.stream}"

    async def run(self) -> None:
        """Publish for as long as the process serves; a failed round is retried later."""
        while True:
            try:
                published = await self.publish_pending()
            except Exception:  # Redis or the database may be down: try again next round
                log.exception("event_stream_round_failed", stream=self.stream)
                published = 0
            if not published:
                await asyncio.sleep(self.poll_interval_seconds)

    async def start(self) -> Position:
        """Where publishing stands. A stream configured for the first time gets the events
        from now on, not all history; called before the process serves, so that none of the
        events its requests write is passed over."""
        async with self.db.transaction() as session:
            await cursor_rows.start_cursor(session, self.cursor_name, await feed_end(session))
            return await cursor_rows.cursor(session, self.cursor_name) or START

    async def publish_pending(self) -> int:
        """Add the events not yet published to the stream; how many there were."""
        async with self.db.exclusive(f"custid:{self.cursor_name}") as mine:
            if not mine:
                return 0
            after = await self.start()
            events = await events_after(self.db, after, limit=EVENTS_PER_ROUND)
            if not events:
                return 0
            async with self.redis.pipeline(transaction=False) as pipeline:
                for event in events:
                    pipeline.xadd(
                        self.stream,
                        {
                            "id": event.id,
                            "type": event.type,
                            "event": json_bytes(event.payload(), option=orjson.OPT_UTC_Z),
                        },
                        maxlen=self.maxlen,
                        approximate=True,
                    )
                await pipeline.execute()
            async with self.db.transaction() as session:
                await cursor_rows.move_cursor(session, self.cursor_name, events[-1].position)
            return len(events)
