"""Reading numbers out in bulk, with their refs and trail: a page of numbers at a time.

Each page is read in a short session of its own, three queries (numbers,
their refs, their events): an export of millions takes minutes, and a
transaction held open that long would hold back the event feed and the
trail's sealing for every process (see `event_feed.py`).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Row, Select, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.store.models import IssuedNumber, NumberEvent, NumberRef


@dataclass(frozen=True)
class ExportFilters:
    """Which numbers an export holds; None: any."""

    scheme: str | None = None
    period: str | None = None
    # The number has an event in its trail by this operator (issued, retired, ...).
    operator: str | None = None
    issued_from: datetime | None = None
    issued_before: datetime | None = None


NUMBER_COLUMNS = (
    IssuedNumber.id,
    IssuedNumber.number,
    IssuedNumber.scheme,
    IssuedNumber.scheme_version,
    IssuedNumber.period,
    IssuedNumber.partition,
    IssuedNumber.seq,
    IssuedNumber.attributes,
    IssuedNumber.issued_at,
    IssuedNumber.status,
    IssuedNumber.replaced_by,
    IssuedNumber.issued_by,
    IssuedNumber.operator,
    IssuedNumber.void_reason,
)
EVENT_COLUMNS = (
    NumberEvent.number,
    NumberEvent.id,
    NumberEvent.action,
    NumberEvent.at,
    NumberEvent.actor,
    NumberEvent.operator,
    NumberEvent.request_id,
    NumberEvent.reason,
    NumberEvent.details,
    NumberEvent.hash,
)


def _filtered(statement: Select[Any], filters: ExportFilters) -> Select[Any]:
    if filters.scheme is not None:
        statement = statement.where(IssuedNumber.scheme == filters.scheme)
    if filters.period is not None:
        statement = statement.where(IssuedNumber.period == filters.period)
    if filters.issued_from is not None:
        statement = statement.where(IssuedNumber.issued_at >= filters.issued_from)
    if filters.issued_before is not None:
        statement = statement.where(IssuedNumber.issued_at < filters.issued_before)
    if filters.operator is not None:
        acted = exists().where(
            NumberEvent.number == IssuedNumber.number, NumberEvent.operator == filters.operator
        )
        statement = statement.where(acted)
    return statement


async def count_numbers(session: AsyncSession, filters: ExportFilters) -> int:
    """How many numbers the export holds."""
    statement = _filtered(select(func.count()).select_from(IssuedNumber), filters)
    return int((await session.execute(statement)).scalar_one())


async def numbers_after(
    session: AsyncSession, filters: ExportFilters, after_id: int, limit: int
) -> Sequence[Row[Any]]:
    """Up to `limit` numbers past row id `after_id`, oldest first: rows of `NUMBER_COLUMNS`."""
    statement = (
        _filtered(select(*NUMBER_COLUMNS), filters)
        .where(IssuedNumber.id > after_id)
        .order_by(IssuedNumber.id)
        .limit(limit)
    )
    rows: Sequence[Row[Any]] = (await session.execute(statement)).all()
    return rows


async def refs_of(session: AsyncSession, numbers: Sequence[str]) -> Sequence[Row[str, str, str]]:
    """(number, system, ref_id) of every ref of `numbers`, oldest first."""
    statement = (
        select(NumberRef.number, NumberRef.system, NumberRef.ref_id)
        .where(NumberRef.number.in_(numbers))
        .order_by(NumberRef.id)
    )
    return (await session.execute(statement)).all()


async def trails_of(session: AsyncSession, numbers: Sequence[str]) -> Sequence[Row[Any]]:
    """The events of `numbers`, oldest first: rows of `EVENT_COLUMNS`."""
    statement = (
        select(*EVENT_COLUMNS).where(NumberEvent.number.in_(numbers)).order_by(NumberEvent.id)
    )
    return (await session.execute(statement)).all()
