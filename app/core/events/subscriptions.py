"""Webhook subscriptions: who receives which events, managed by admins over the API or CLI.

A subscription names an http(s) URL, the event types and schemes it wants
(none named: all), and gets a secret shown once, with which every delivery to
it is signed. It starts at the end of the feed: it receives what happens from
then on. Paused, it keeps its place; `redeliver` moves its place back to an
event, so that event and every later one are sent again.

Secrets are stored sealed under the key ring (`app/core/sealing.py`), never in
the clear. Rotating one hands out a new secret and keeps the old one signing
beside it for an overlap, so receivers switch without a failed delivery.
"""

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.core.audit import Actor
from app.core.clock import Clock
from app.core.errors import (
    EventNotFound,
    SecretKeysMissing,
    UnknownEventType,
    WebhookNotFound,
)
from app.core.events.backlog import Watcher, first_waiting
from app.core.events.feed import ACTIONS_OF_TYPE, actions_of, cursor_of, event_row_id
from app.core.events.signing import new_secret
from app.core.events.targets import check_target
from app.core.sealing import KeyRing
from app.store import event_feed
from app.store import webhooks as webhook_rows
from app.store.database import Database
from app.store.event_feed import Position
from app.store.models import WebhookSubscription

ACTIVE, PAUSED, FAILING = "active", "paused", "failing"
ID_PREFIX = "whk_"
# The longest a rotated secret may go on signing beside its successor.
MAX_SECRET_OVERLAP = timedelta(days=30)


@dataclass(frozen=True)
class Subscription:
    """A webhook subscription as admins see it: never its secret."""

    id: str
    url: str
    event_types: list[str]
    schemes: list[str]
    description: str | None
    status: str
    position: str  # the feed cursor of the last event delivered, as the API names it
    attempts: int
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    created_by: str | None
    # Until when the secret replaced by the last rotation still signs deliveries too.
    previous_secret_until: datetime | None = None

    @classmethod
    def of(cls, row: WebhookSubscription) -> "Subscription":
        return cls(
            id=row.id,
            url=row.url,
            event_types=list(row.event_types),
            schemes=list(row.schemes),
            description=row.description,
            status=row.status,
            position=cursor_of(webhook_rows.position(row)),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            failing_since=row.failing_since,
            last_error=row.last_error,
            created_at=row.created_at,
            updated_at=row.updated_at,
            created_by=row.created_by,
            previous_secret_until=row.previous_secret_until,
        )


@dataclass(frozen=True)
class NewSubscription:
    """A subscription just created, with the only copy of its secret handed out."""

    subscription: Subscription
    secret: str


def sealing_context(subscription_id: str) -> str:
    """What a subscription's sealed secrets are bound to: they open on its row only."""
    return f"webhook-secret:{subscription_id}"


def signing_secrets(row: WebhookSubscription, key_ring: KeyRing | None, now: datetime) -> list[str]:
    """The secrets a delivery to `row` is signed with now: its own, and the one its last
    rotation replaced while the overlap lasts. `SecretUnreadable` or `SecretKeysMissing`
    when the ring cannot open them."""
    if key_ring is None:
        raise SecretKeysMissing()
    context = sealing_context(row.id)
    found = [key_ring.open(row.secret_sealed, context)]
    until = row.previous_secret_until
    if row.previous_secret_sealed is not None and until is not None and until > now:
        found.append(key_ring.open(row.previous_secret_sealed, context))
    return found


@dataclass
class Subscriptions:
    """Creates, changes and removes webhook subscriptions."""

    db: Database
    clock: Clock
    # Whether targets may be private or loopback addresses (see Settings).
    allow_private: bool
    # Seals the signing secrets; None (a server database given no CUSTID_SECRET_KEYS):
    # no subscription can be made.
    key_ring: KeyRing | None = None

    def _sealed(self, secret: str, subscription_id: str) -> str:
        if self.key_ring is None:
            raise SecretKeysMissing()
        return self.key_ring.seal(secret, sealing_context(subscription_id))

    async def create(
        self,
        url: str,
        event_types: Sequence[str],
        schemes: Sequence[str],
        description: str | None,
        actor: Actor,
    ) -> NewSubscription:
        """A new, active subscription; it receives the events that happen from now on."""
        check_event_types(event_types)
        await check_target(url, self.allow_private)
        secret = new_secret()
        subscription_id = ID_PREFIX + secrets.token_hex(8)
        sealed = self._sealed(secret, subscription_id)
        now = self.clock()
        async with self.db.transaction() as session:
            start = await event_feed.feed_end(session)
            subscription = WebhookSubscription(
                id=subscription_id,
                url=url,
                secret_sealed=sealed,
                event_types=sorted(set(event_types)),
                schemes=sorted(set(schemes)),
                description=description,
                status=ACTIVE,
                attempts=0,
                created_at=now,
                updated_at=now,
                created_by=actor.key_id,
                **webhook_rows.position_values(start),
            )
            session.add(subscription)
        return NewSubscription(Subscription.of(subscription), secret)

    async def all(self) -> list[Subscription]:
        """Every subscription, oldest first."""
        async with self.db.session() as session:
            return [Subscription.of(row) for row in await webhook_rows.all_subscriptions(session)]

    async def get(self, subscription_id: str) -> Subscription:
        """The subscription, or `WebhookNotFound`."""
        async with self.db.session() as session:
            found = await webhook_rows.find(session, subscription_id)
        if found is None:
            raise WebhookNotFound(subscription_id)
        return Subscription.of(found)

    async def update(
        self,
        subscription_id: str,
        *,
        url: str | None = None,
        event_types: Sequence[str] | None = None,
        schemes: Sequence[str] | None = None,
        description: str | None = None,
        status: str | None = None,
    ) -> Subscription:
        """Change what is given; resuming a failing subscription retries it at once."""
        changes: dict[str, object] = {}
        if url is not None:
            await check_target(url, self.allow_private)
            changes["url"] = url
        if event_types is not None:
            check_event_types(event_types)
            changes["event_types"] = sorted(set(event_types))
        if schemes is not None:
            changes["schemes"] = sorted(set(schemes))
        if description is not None:
            changes["description"] = description
        if status is not None:
            changes["status"] = status
            if status == ACTIVE:
                changes |= RETRY_AT_ONCE
        return await self._change(subscription_id, changes)

    async def redeliver(self, subscription_id: str, from_event: str) -> Subscription:
        """Send `from_event` and every later event again; the subscription becomes active."""
        row_id = event_row_id(from_event)
        async with self.db.session() as session:
            at = None if row_id is None else await event_feed.position_of(session, row_id)
        if at is None:
            raise EventNotFound(from_event)
        before = Position(at.txid, at.id - 1)
        return await self._change(
            subscription_id,
            {"status": ACTIVE, **RETRY_AT_ONCE, **webhook_rows.position_values(before)},
        )

    async def rotate_secret(self, subscription_id: str, overlap: timedelta) -> NewSubscription:
        """A new secret for the subscription, shown this once; the one it replaces goes on
        signing deliveries beside it for `overlap` (none: it stops at once)."""
        secret = new_secret()
        sealed = self._sealed(secret, subscription_id)
        now = self.clock()
        async with self.db.transaction() as session:
            row = await webhook_rows.find(session, subscription_id)
            if row is None:
                raise WebhookNotFound(subscription_id)
            overlapping = overlap > timedelta(0)
            await webhook_rows.change(
                session,
                subscription_id,
                secret_sealed=sealed,
                previous_secret_sealed=row.secret_sealed if overlapping else None,
                previous_secret_until=now + overlap if overlapping else None,
                updated_at=now,
            )
        return NewSubscription(await self.get(subscription_id), secret)

    async def reseal(self) -> int:
        """Seal every secret again under the key ring's first key; how many were not yet.

        What `custid secrets rotate` runs after a new key is put first in the ring.
        """
        if self.key_ring is None:
            raise SecretKeysMissing()
        ring = self.key_ring
        resealed = 0
        async with self.db.transaction() as session:
            for row in await webhook_rows.all_subscriptions(session):
                context = sealing_context(row.id)
                changes = {
                    column: ring.seal(ring.open(sealed, context), context)
                    for column, sealed in (
                        ("secret_sealed", row.secret_sealed),
                        ("previous_secret_sealed", row.previous_secret_sealed),
                    )
                    if sealed is not None and not ring.is_current(sealed)
                }
                if changes:
                    await webhook_rows.change(session, row.id, **changes)
                    resealed += 1
        return resealed

    async def undelivered_ages(self) -> dict[str, float]:
        """Per subscription not paused: seconds since the oldest event it has not received."""
        now = self.clock()
        async with self.db.session() as session:
            rows = await webhook_rows.all_subscriptions(session)
            end = await event_feed.feed_end(session)
        watching = [row for row in rows if row.status != PAUSED]
        behind = await first_waiting(
            self.db,
            (
                Watcher(row.id, position, set(actions_of(row.event_types)), set(row.schemes))
                for row in watching
                # One at the end of the feed has nothing waiting: no need to walk for it.
                if (position := webhook_rows.position(row)) < end
            ),
        )
        return {
            row.id: (now - behind[row.id]).total_seconds() if row.id in behind else 0.0
            for row in watching
        }

    async def delete(self, subscription_id: str) -> None:
        """Remove a subscription; its events stay in the feed."""
        async with self.db.transaction() as session:
            if not await webhook_rows.remove(session, subscription_id):
                raise WebhookNotFound(subscription_id)

    async def _change(self, subscription_id: str, changes: dict[str, object]) -> Subscription:
        async with self.db.transaction() as session:
            if await webhook_rows.find(session, subscription_id) is None:
                raise WebhookNotFound(subscription_id)
            await webhook_rows.change(session, subscription_id, updated_at=self.clock(), **changes)
        return await self.get(subscription_id)


def check_event_types(event_types: Sequence[str]) -> None:
    """`UnknownEventType` for the first type the feed does not carry."""
    for event_type in event_types:
        if event_type not in ACTIONS_OF_TYPE:
            raise UnknownEventType(event_type, sorted(ACTIONS_OF_TYPE))


# What resuming a subscription clears: its failures, and the wait before its next attempt.
RETRY_AT_ONCE: dict[str, object] = {
    "attempts": 0,
    "next_attempt_at": None,
    "failing_since": None,
    "last_error": None,
}
