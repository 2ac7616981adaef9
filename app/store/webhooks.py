"""Queries on webhook subscriptions and the feed cursors of custid's own consumers."""

from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.dialect import upsert_insert
from app.store.event_feed import Position
from app.store.models import EventCursor, WebhookSubscription


async def find(session: AsyncSession, subscription_id: str) -> WebhookSubscription | None:
    """The subscription with id `subscription_id`."""
    return await session.get(WebhookSubscription, subscription_id)


async def all_subscriptions(session: AsyncSession) -> list[WebhookSubscription]:
    """Every subscription, oldest first."""
    statement = select(WebhookSubscription).order_by(
        WebhookSubscription.created_at, WebhookSubscription.id
    )
    return list((await session.execute(statement)).scalars())


async def due(session: AsyncSession, now: datetime) -> list[WebhookSubscription]:
    """Active subscriptions whose next delivery may be tried now."""
    statement = (
        select(WebhookSubscription)
        .where(
            WebhookSubscription.status == "active",
            or_(
                WebhookSubscription.next_attempt_at.is_(None),
                WebhookSubscription.next_attempt_at <= now,
            ),
        )
        .order_by(WebhookSubscription.id)
    )
    return list((await session.execute(statement)).scalars())


async def change(session: AsyncSession, subscription_id: str, **values: Any) -> None:
    """Set `values` on one subscription."""
    await session.execute(
        update(WebhookSubscription)
        .where(WebhookSubscription.id == subscription_id)
        .values(**values)
    )


async def record_progress(
    session: AsyncSession, subscription_id: str, since: Position, **values: Any
) -> bool:
    """Set `values` on a subscription still at position `since` (an admin who moved it
    meanwhile wins); whether it was. The commit does not wait for the disk: a position
    lost in a crash only means that events are sent again, which receivers expect."""
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SET LOCAL synchronous_commit = off"))
    result = await session.execute(
        update(WebhookSubscription)
        .where(
            WebhookSubscription.id == subscription_id,
            WebhookSubscription.position_txid == since.txid,
            WebhookSubscription.position_id == since.id,
        )
        .values(**values)
    )
    return bool(getattr(result, "rowcount", 0))


async def remove(session: AsyncSession, subscription_id: str) -> bool:
    """Delete a subscription; whether there was one."""
    result = await session.execute(
        delete(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def cursor(session: AsyncSession, name: str) -> Position | None:
    """Where the consumer called `name` has read to, if it has started."""
    found = await session.get(EventCursor, name)
    return None if found is None else Position(found.position_txid, found.position_id)


async def start_cursor(session: AsyncSession, name: str, position: Position) -> None:
    """Create the cursor called `name` at `position`, unless it exists (whoever came first)."""
    insert = upsert_insert(session)
    await session.execute(
        insert(EventCursor)
        .values(name=name, position_txid=position.txid, position_id=position.id)
        .on_conflict_do_nothing(index_elements=[EventCursor.name])
    )


async def move_cursor(session: AsyncSession, name: str, position: Position) -> None:
    """Record that the consumer called `name` has read up to `position`."""
    await session.execute(
        update(EventCursor)
        .where(EventCursor.name == name)
        .values(position_txid=position.txid, position_id=position.id)
    )


def position(subscription: WebhookSubscription) -> Position:
    """How far `subscription` has been delivered."""
    return Position(subscription.position_txid, subscription.position_id)


def position_values(at: Position) -> dict[str, int]:
    """The columns that store a subscription's position."""
    return {"position_txid": at.txid, "position_id": at.id}
