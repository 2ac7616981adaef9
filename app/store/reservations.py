"""Queries on reservations and the numbers they hold."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import IssuedNumber, ReservationRow

HELD = "held"


async def add_reservation(session: AsyncSession, **fields: Any) -> None:
    """Store a new reservation in the session's transaction."""
    await session.execute(insert(ReservationRow).values(**fields))


async def find_reservation(session: AsyncSession, reservation_id: str) -> ReservationRow | None:
    """The reservation called `reservation_id`, if there is one."""
    return await session.get(ReservationRow, reservation_id, populate_existing=True)


async def settle(
    session: AsyncSession,
    reservation_id: str,
    to_status: str,
    at: datetime,
    *,
    reason: str | None = None,
    live_at: datetime | None = None,
    due_by: datetime | None = None,
) -> ReservationRow | None:
    """Move a held reservation to `to_status`; None if it is not (or no longer) held, or is
    not live at `live_at`, or not due by `due_by`."""
    # The status condition makes the move atomic: of a confirm racing a void, one wins.
    statement = update(ReservationRow).where(
        ReservationRow.id == reservation_id, ReservationRow.status == HELD
    )
    if live_at is not None:
        statement = statement.where(ReservationRow.expires_at > live_at)
    if due_by is not None:
        statement = statement.where(ReservationRow.expires_at <= due_by)
    statement = statement.values(status=to_status, settled_at=at, reason=reason).returning(
        ReservationRow
    )
    return (await session.execute(statement)).scalar_one_or_none()


async def due_for_expiry(session: AsyncSession, now: datetime, limit: int) -> list[str]:
    """Held reservations whose time is up, oldest expiry first."""
    statement = (
        select(ReservationRow.id)
        .where(ReservationRow.status == HELD, ReservationRow.expires_at <= now)
        .order_by(ReservationRow.expires_at)
        .limit(limit)
    )
    return list((await session.execute(statement)).scalars())


async def held_numbers(session: AsyncSession, reservation_id: str) -> list[IssuedNumber]:
    """Every number the reservation holds (or held), in sequence order."""
    statement = (
        select(IssuedNumber)
        .where(IssuedNumber.reservation_id == reservation_id)
        .order_by(IssuedNumber.seq, IssuedNumber.number)
    )
    return list((await session.execute(statement)).scalars())


async def release_numbers(
    session: AsyncSession,
    reservation_id: str,
    to_status: str,
    *,
    void_reason: str | None = None,
) -> Sequence[str]:
    """Move the reservation's reserved numbers to `to_status` (issued or voided); which."""
    statement = (
        update(IssuedNumber)
        .where(IssuedNumber.reservation_id == reservation_id, IssuedNumber.status == "reserved")
        .values(status=to_status, void_reason=void_reason)
        .returning(IssuedNumber.number)
    )
    numbers = (await session.execute(statement)).scalars().all()
    return sorted(numbers)
