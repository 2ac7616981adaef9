"""Delivering events to webhook subscriptions: at least once, in order, signed, retried.

Every service process runs a `WebhookDeliverer`. For each active subscription
whose next attempt is due it takes the subscription's lock
(`Database.exclusive`: one holder across every process and replica, released if
the holder dies) and posts the events after the subscription's position, one at
a time and in order, then moves the position past those the receiver accepted
(any 2xx): once per turn of up to `EVENTS_PER_TURN` events, in a commit that
does not wait for the disk. Events its filters pass over are passed over for
good: a turn that finds none of its own moves the position to the end of the
feed, and a subscription at the end takes no turn (no lock, no reads), so idle
subscriptions cost a round nothing, however many there are. Receivers may see an
event again (a process or database killed before the position moved): the
`webhook-id` header (the event id) lets them keep it once. Each post is signed
the Standard Webhooks way (`signing.py`) with the subscription's secrets, opened
from the key ring for the turn and never kept, and goes out on the process's one
HTTP session (`http.py`), which keeps connections to a receiver alive. A turn's
lock and reads cost as much as a few posts, so a subscription that has caught up
waits the poll interval before its next turn: under steady issuing its events go
out in turns of many, not a few at a time as they commit; a full turn (a
backlog) is followed by the next at once.

A failure (no answer, another status) stops the subscription at that event:
it is tried again after an exponential backoff with jitter, or after the
receiver's `Retry-After` if that is longer. A subscription that has failed
for longer than the retry horizon is marked `failing` and left alone until an
admin resumes it or asks for a redelivery; its events stay in the feed.
Deliveries run beside issuing, on connections of their own, with a timeout:
a slow or dead receiver holds up nothing but its own subscription. They share
the process's CPU with issuing, though, so while issuing is backlogged they
yield: short turns with a pause between them, and the backlog goes out at full
speed once the load drops.
"""

import asyncio
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import orjson
import structlog

from app.core.clock import Clock
from app.core.errors import InvalidWebhookTarget, SecretKeysMissing
from app.core.events.feed import Event, events_after
from app.core.events.signing import signed_headers
from app.core.events.subscriptions import ACTIVE, FAILING, RETRY_AT_ONCE, signing_secrets
from app.core.events.targets import check_target
from app.core.metrics import Metrics
from app.core.sealing import KeyRing, SecretUnreadable
from app.encoding import json_bytes
from app.store import event_feed
from app.store import webhooks as webhook_rows
from app.store.database import Database
from app.store.event_feed import Position
from app.store.models import WebhookSubscription

if TYPE_CHECKING:
    from app.core.events.http import WebhookClient

log = structlog.get_logger(__name__)

# Events posted per turn on a subscription's lock, so replicas take turns on long backlogs.
# A turn's lock, reads and position write are spread over many events; a process killed
# mid-turn sends them again.
EVENTS_PER_TURN = 500
# While issuing is backlogged: fewer events per turn and a pause after each, which
# bounds deliveries to ~40 events/s per subscription and leaves the CPU to issuing.
BUSY_EVENTS_PER_TURN = 20
BUSY_PAUSE_SECONDS = 0.5
# Subscriptions taking their turn at once, per process. A turn holds a pooled connection
# for its lock while it posts, for as long as the receiver takes (a dead one: the whole
# timeout), and opens short sessions beside it: however many subscriptions are due, the
# deliveries never take the connections the API's requests need.
TURNS_AT_ONCE = 5


@dataclass(frozen=True)
class Attempt:
    """What one post of one event came to."""

    delivered: bool
    error: str | None = None
    # Seconds the receiver asked us to wait (Retry-After), if it did.
    retry_after: float | None = None


@dataclass(frozen=True)
class Turn:
    """What one subscription's turn came to."""

    delivered: int
    # Whether it posted as many events as a turn takes: more may be waiting behind them.
    full: bool = False


NO_TURN = Turn(0)


@dataclass
class WebhookDeliverer:
    """Posts the feed's events to every active subscription, from one service process."""

    db: Database
    clock: Clock
    metrics: Metrics
    allow_private: bool
    timeout_seconds: float = 10.0
    retry_horizon: timedelta = timedelta(hours=24)
    backoff_max_seconds: float = 900.0
    poll_interval_seconds: float = 0.5
    # Whether issuing is backlogged in this process; deliveries yield to it while it is.
    issuing_busy: Callable[[], bool] = lambda: False
    # Opens the subscriptions' sealed signing secrets.
    key_ring: KeyRing | None = None
    _client: "WebhookClient | None" = field(default=None, init=False)

    async def run(self) -> None:
        """Deliver for as long as the process serves; a failed round is retried later."""
        while True:
            try:
                turns = await self.deliver_due()
            except Exception:  # the database may be down: try again next round
                log.exception("webhook_round_failed")
                turns = []
            if not any(turn.full for turn in turns):
                # Caught up: wait for events to gather, so that they go out in turns of many
                # (a turn's lock and reads cost as much as a few posts) rather than a few
                # at a time as they commit.
                await asyncio.sleep(self.poll_interval_seconds)
            elif self.issuing_busy():
                await asyncio.sleep(BUSY_PAUSE_SECONDS)

    async def deliver_due(self) -> list[Turn]:
        """Deliver what is pending to every subscription due now: what each turn came to."""
        async with self.db.session() as session:
            subscriptions = await webhook_rows.due(session, self.clock())
            # Read before any turn reads its events: a turn that finds none of its own
            # up to here moves past them, and later events all lie beyond it.
            end = await event_feed.feed_end(session)
        turns = asyncio.Semaphore(TURNS_AT_ONCE)

        async def take_turn(subscription_id: str) -> Turn:
            async with turns:
                return await self._take_turn(subscription_id, end)

        # One at the end of the feed has nothing to take a turn for: no lock, no reads.
        behind = [s for s in subscriptions if webhook_rows.position(s) < end]
        return await asyncio.gather(*(take_turn(s.id) for s in behind))

    async def _take_turn(self, subscription_id: str, end: Position) -> Turn:
        async with self.db.exclusive(f"custid:webhook:{subscription_id}") as mine:
            if not mine:
                return NO_TURN  # another process is delivering to it
            async with self.db.session() as session:
                subscription = await webhook_rows.find(session, subscription_id)
            if subscription is None or not self._due(subscription):
                return NO_TURN  # changed while we waited for the lock
            return await self._deliver_pending(subscription, end)

    def _due(self, subscription: WebhookSubscription) -> bool:
        due_at = subscription.next_attempt_at
        return subscription.status == ACTIVE and (due_at is None or due_at <= self.clock())

    async def _deliver_pending(self, subscription: WebhookSubscription, end: Position) -> Turn:
        since = webhook_rows.position(subscription)
        limit = BUSY_EVENTS_PER_TURN if self.issuing_busy() else EVENTS_PER_TURN
        events = await events_after(
            self.db, since, subscription.event_types, subscription.schemes, limit
        )
        if not events:
            if since < end:
                # Its filters passed over every event up to `end`: it moves past them, or
                # every later turn would read them all again only to pass over them.
                async with self.db.transaction() as session:
                    await webhook_rows.record_progress(
                        session, subscription.id, since, **webhook_rows.position_values(end)
                    )
            return NO_TURN
        accepted, failure = await self._post_in_order(subscription, events)
        # One write per turn, not per event: a process killed mid-turn sends the turn's
        # events again, and receivers deduplicate on webhook-id.
        changes: dict[str, object] = {}
        if accepted:
            changes |= RETRY_AT_ONCE | webhook_rows.position_values(accepted[-1].position)
        if failure is not None:
            changes |= self._failure(subscription, *failure, progressed=bool(accepted))
        if changes:
            async with self.db.transaction() as session:
                await webhook_rows.record_progress(session, subscription.id, since, **changes)
        return Turn(len(accepted), full=len(accepted) == limit)

    async def _post_in_order(
        self, subscription: WebhookSubscription, events: list[Event]
    ) -> tuple[list[Event], tuple[Event, Attempt] | None]:
        """Post `events` one after another until one fails: those the receiver accepted,
        and the one it did not, with what came of it."""
        try:
            await check_target(subscription.url, self.allow_private)
        except InvalidWebhookTarget as exc:  # say, a name that now resolves to 10.0.0.5
            self.metrics.count_delivery("refused")
            return [], (events[0], Attempt(False, exc.detail))
        try:
            secrets = signing_secrets(subscription, self.key_ring, self.clock())
        except (SecretUnreadable, SecretKeysMissing) as exc:  # a key left out of the ring
            self.metrics.count_delivery("refused")
            return [], (events[0], Attempt(False, f"cannot sign: {exc}"))
        accepted: list[Event] = []
        for event in events:
            attempt = await self._post(subscription.url, secrets, event)
            if not attempt.delivered:
                return accepted, (event, attempt)
            accepted.append(event)
        return accepted, None

    async def _post(self, url: str, secrets: list[str], event: Event) -> Attempt:
        body = json_bytes(event.payload(), option=orjson.OPT_UTC_Z)
        timestamp = int(self.clock().timestamp())
        headers = signed_headers(secrets, event.id, event.type, timestamp, body)
        started = time.perf_counter()
        answer = await self._http().post(url, body, headers)
        self.metrics.observe_delivery(time.perf_counter() - started)
        if answer.status is not None and 200 <= answer.status < 300:
            self.metrics.count_delivery("delivered")
            return Attempt(True)
        self.metrics.count_delivery("failed")
        if answer.status is None:
            return Attempt(False, answer.error)
        wait = retry_after_seconds(answer.retry_after, self.clock())
        return Attempt(False, f"HTTP {answer.status}", wait)

    def _http(self) -> "WebhookClient":
        if self._client is None:
            from app.core.events.http import WebhookClient  # at first use: see its module

            self._client = WebhookClient(self.timeout_seconds, self.allow_private)
        return self._client

    async def close(self) -> None:
        """Close the connections to receivers."""
        if self._client is not None:
            await self._client.close()

    def _failure(
        self,
        subscription: WebhookSubscription,
        event: Event,
        attempt: Attempt,
        progressed: bool,
    ) -> dict[str, object]:
        """What a failed post changes: the count of attempts at `event`, and when to try it
        again, or, past the retry horizon, that the subscription is failing."""
        now = self.clock()
        # Events delivered earlier in the turn: the receiver was up, this event's count starts.
        attempts = 1 if progressed else subscription.attempts + 1
        failing_since = now if progressed else subscription.failing_since or now
        changes: dict[str, object] = {
            "attempts": attempts,
            "failing_since": failing_since,
            "last_error": attempt.error,
        }
        if now - failing_since >= self.retry_horizon:
            log.error(
                "webhook_failing",
                subscription=subscription.id,
                event_id=event.id,
                url=redacted_url(subscription.url),
                since=failing_since.isoformat(),
                error=attempt.error,
            )
            return changes | {"status": FAILING, "next_attempt_at": None}
        delay = max(self.backoff(attempts), attempt.retry_after or 0.0)
        log.warning(
            "webhook_delivery_failed",
            subscription=subscription.id,
            event_id=event.id,
            url=redacted_url(subscription.url),
            attempt=attempts,
            error=attempt.error,
            retry_in_s=round(delay, 3),
        )
        return changes | {"next_attempt_at": now + timedelta(seconds=delay)}

    def backoff(self, attempts: int) -> float:
        """Seconds before attempt `attempts + 1`: doubling from 1 s up to the cap, with jitter
        so that receivers coming back are not hit by every subscription at once."""
        ceiling = min(self.backoff_max_seconds, 2.0 ** (attempts - 1))
        return random.uniform(ceiling / 2, ceiling)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """The wait a `Retry-After` header asks for (seconds or an HTTP date), if it is valid."""
    if value is None:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit takes "²", which float refuses
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - now).total_seconds(), 0.0)


def redacted_url(url: str) -> str:
    """A URL for the logs: scheme, host, port and path, never its query (tokens live there)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
