"""Recent activity, as the console shows it: issuance per hour and per day, held reservations,
the latest events of the feed, and the trail searched by operator, ref system and time."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from app.core import grammar
from app.core.errors import InvalidOperator
from app.core.events.feed import Event, event_of
from app.core.operators import check_operator_shape
from app.store import activity as activity_rows
from app.store.database import Database
from app.store.models import NumberEvent, ReservationRow
from schemes import SchemeDefinition

TRAIL_SEARCH_LIMIT = 200


@dataclass(frozen=True)
class Issuance:
    """Numbers of a scheme issued per hour (UTC hours) and per day (in the scheme's zone)."""

    hours: list[tuple[datetime, int]]
    days: list[tuple[date, int]]


async def issuance(
    db: Database, scheme: SchemeDefinition, now: datetime, hours: int, days: int
) -> Issuance:
    """The last `hours` hours and `days` days of `scheme`'s issuance, empty ones included."""
    this_hour = now.replace(minute=0, second=0, microsecond=0)
    today = now.astimezone(scheme.zone).date()
    first_day = today - timedelta(days=days - 1)
    since = min(
        this_hour - timedelta(hours=hours - 1),
        datetime.combine(first_day, datetime.min.time(), scheme.zone) - timedelta(hours=1),
    )
    async with db.session() as session:
        counted = dict(await activity_rows.issued_per_hour(session, scheme.name, since))
    per_hour = [
        (hour, counted.get(hour, 0))
        for hour in (this_hour - timedelta(hours=back) for back in range(hours - 1, -1, -1))
    ]
    per_day = dict.fromkeys((first_day + timedelta(days=d) for d in range(days)), 0)
    for hour, count in counted.items():
        day = hour.astimezone(scheme.zone).date()
        if day in per_day:
            per_day[day] += count
    return Issuance(per_hour, list(per_day.items()))


async def held_reservations(db: Database, limit: int = 200) -> list[ReservationRow]:
    """Reservations still held, the soonest to expire first."""
    async with db.session() as session:
        return await activity_rows.held_reservations(session, limit)


async def latest_events(db: Database, limit: int = 100) -> list[Event]:
    """The newest events of the feed, newest first."""
    async with db.session() as session:
        rows = await activity_rows.latest_events(session, limit)
    return [event_of(row) for row in rows]


class InvalidTrailSearch(ValueError):
    """A trail search naming a malformed operator, ref system or time range."""


async def search_trail(
    db: Database,
    *,
    operator: str | None,
    ref_system: str | None,
    since: datetime | None,
    before: datetime | None,
) -> list[NumberEvent]:
    """Up to `TRAIL_SEARCH_LIMIT` trail events matching every filter given, newest first;
    `InvalidTrailSearch` saying which filter is malformed."""
    if operator is not None:
        try:
            check_operator_shape(operator)
        except InvalidOperator as exc:
            raise InvalidTrailSearch(exc.detail) from exc
    if ref_system is not None and not grammar.REF_SYSTEM.fits(ref_system):
        raise InvalidTrailSearch(
            f"ref system {ref_system!r} is not a system name: 1 to 64 letters, digits, "
            "'_', '.' or '-', starting with a letter or digit"
        )
    if since is not None and before is not None and since >= before:
        raise InvalidTrailSearch("the time range is empty: 'from' must be before 'before'")
    async with db.session() as session:
        return await activity_rows.search_trail(
            session,
            operator=operator,
            ref_system=ref_system,
            since=since,
            before=before,
            limit=TRAIL_SEARCH_LIMIT,
        )
