"""What the console shows of recent activity: issuance per hour, held reservations, the latest
events, and the trail searched by operator, ref system and time."""

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Row, func, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.event_feed import EVENT_COLUMNS
from app.store.models import IssuedNumber, NumberEvent, NumberRef, ReservationRow


async def issued_per_hour(
    session: AsyncSession, scheme: str, since: datetime
) -> list[tuple[datetime, int]]:
    """(start of the hour in UTC, numbers issued in it) for each hour since `since` with any."""
    if session.get_bind().dialect.name == "postgresql":
        hour = func.date_trunc("hour", literal_column("issued_at AT TIME ZONE 'UTC'"))
    else:  # SQLite keeps UTC times as text
        hour = func.strftime("%Y-%m-%d %H:00:00", IssuedNumber.issued_at)
    statement = (
        select(hour.label("hour"), func.count())
        .where(IssuedNumber.scheme == scheme, IssuedNumber.issued_at >= since)
        .group_by(hour)
    )
    counts = []
    for started, count in (await session.execute(statement)).all():
        if isinstance(started, str):
            started = datetime.fromisoformat(started)
        counts.append((started.replace(tzinfo=UTC), int(count)))
    return sorted(counts)


async def held_reservations(session: AsyncSession, limit: int) -> list[ReservationRow]:
    """Reservations still held, the soonest to expire first."""
    statement = (
        select(ReservationRow)
        .where(ReservationRow.status == "held")
        .order_by(ReservationRow.expires_at, ReservationRow.id)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def latest_events(session: AsyncSession, limit: int) -> Sequence[Row[Any]]:
    """The newest events about numbers, newest first: rows of `event_feed.EVENT_COLUMNS`."""
    statement = (
        select(*EVENT_COLUMNS)
        .join(IssuedNumber, IssuedNumber.number == NumberEvent.number)
        .order_by(NumberEvent.id.desc())
        .limit(limit)
    )
    return (await session.execute(statement)).all()


async def search_trail(
    session: AsyncSession,
    *,
    operator: str | None,
    ref_system: str | None,
    since: datetime | None,
    before: datetime | None,
    limit: int,
) -> list[NumberEvent]:
    """Trail events, newest first: by `operator`, about numbers with a ref in `ref_system`,
    at or after `since` and before `before` (each if given)."""
    statement = select(NumberEvent)
    if operator is not None:
        statement = statement.where(NumberEvent.operator == operator)
    if ref_system is not None:
        known = select(NumberRef.number).where(NumberRef.system == ref_system)
        statement = statement.where(NumberEvent.number.in_(known))
    if since is not None:
        statement = statement.where(NumberEvent.at >= since)
    if before is not None:
        statement = statement.where(NumberEvent.at < before)
    statement = statement.order_by(NumberEvent.id.desc()).limit(limit)
    return list((await session.execute(statement)).scalars())
