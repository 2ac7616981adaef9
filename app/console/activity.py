"""The console's pictures and activity pages: a scheme's issuance and forecast, webhooks, held
reservations, the event feed, the trail searched, and the export download."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from markupsafe import Markup
from pydantic import ValidationError

from app.api.deps import services_of
from app.api.export import export_file_name, filters_of
from app.api.models.export import ExportQuery
from app.api.pages import CONSOLE_PATH
from app.api.problems import status_of
from app.console.charts import Bar, Guide, bar_chart
from app.console.forecasts import forecast_text, scheme_forecast
from app.console.routes import CsrfField, FormText, OperatorDep, page
from app.console.session import CsrfRejected, check_csrf
from app.core.activity import (
    InvalidTrailSearch,
    Issuance,
    held_reservations,
    issuance,
    latest_events,
    search_trail,
)
from app.core.errors import CustidError, UnknownScheme, as_custid_error
from app.core.export import ExportFormat, export_bytes
from app.core.forecast import PartitionForecast, SchemeForecast
from app.store.errors import StoreError
from schemes import Scheme, SchemeDefinition

router = APIRouter(prefix=CONSOLE_PATH, include_in_schema=False)
HOURS, DAYS = 24, 30
# What a console form's time field holds: `datetime-local`, read as UTC.
FormTime = Annotated[str, Query(max_length=32)]


def is_daily(scheme: Scheme, now: datetime) -> bool:
    """Whether the scheme's period is a day (so a day's issuance meets its capacity)."""
    end = scheme.period_end(now)
    following = None if end is None else scheme.period_end(end)
    return (
        following is not None
        and end is not None
        and 22 <= (following - end) / timedelta(hours=1) <= 26
    )


@router.get("/schemes/{scheme}")
async def scheme_page(request: Request, operator: OperatorDep, scheme: str) -> HTMLResponse:
    """A scheme's issuance per hour and per day, with its capacity and forecast."""
    services = services_of(request)
    try:
        found = services.issuer.scheme(scheme)
    except UnknownScheme as exc:
        return page(request, "scheme.html", operator, 404, error=exc.detail, scheme=None)
    now = services.clock()
    forecast = await scheme_forecast(request, found)
    first = None if forecast is None else forecast.first
    seen = await issuance(services.db, found, now, HOURS, DAYS)
    return page(
        request,
        "scheme.html",
        operator,
        scheme=found,
        forecast=forecast,
        first=first,
        forecast_text=forecast_text(first),
        hourly=hourly_chart(found, seen, first, now),
        daily=daily_chart(found, seen, forecast, now),
        hours=seen.hours,
        days=seen.days,
        zone=found.zone,
    )


def hourly_chart(
    found: SchemeDefinition, seen: Issuance, first: PartitionForecast | None, now: datetime
) -> Markup:
    """Numbers issued each hour, with the forecast's rate and the rate the rest of the
    period can sustain."""
    zone = found.zone
    rate = 0.0 if first is None else first.rate_per_hour
    guides = []
    if rate > 0:
        guides.append(Guide(f"forecast {rate:,.0f}/h", rate, "forecast"))
    period_end = found.period_end(now)
    if first is not None and period_end is not None and period_end > now:
        hours_left = (period_end - now) / timedelta(hours=1)
        sustainable = max(first.capacity - first.used, 0) / hours_left
        guides.append(
            Guide(f"capacity {sustainable:,.0f}/h to period end", sustainable, "capacity")
        )
    hours = [
        Bar(
            f"{hour.astimezone(zone):%H}",
            count,
            f"{hour.astimezone(zone):%Y-%m-%d %H:00} {zone.key}: {count:,} numbers",
        )
        for hour, count in seen.hours
    ]
    return bar_chart(
        "hourly",
        f"{found.name}: numbers issued per hour, last {HOURS} hours",
        f"Bars: numbers issued each hour ({zone.key}). Dashed line: the forecast's rate. "
        "Solid line: the rate the rest of the period can sustain.",
        hours,
        guides,
    )


def daily_chart(
    found: SchemeDefinition, seen: Issuance, forecast: SchemeForecast | None, now: datetime
) -> Markup:
    """Numbers issued each day, today's as forecast, with the capacity of a day's period."""
    zone = found.zone
    first = None if forecast is None else forecast.first
    rate = 0.0 if first is None else first.rate_per_hour
    today = now.astimezone(zone).date()
    day_end = datetime.combine(today + timedelta(days=1), datetime.min.time(), zone)
    daily_period = found.uses_sequence and is_daily(found, now)
    expected = rate * (day_end - now) / timedelta(hours=1)
    partitions = max(1, len(forecast.partitions) if forecast is not None else 1)
    day_capacity = found.capacity * partitions
    days = [
        Bar(
            f"{day:%m-%d}",
            count,
            f"{day:%Y-%m-%d}: {count:,} numbers",
            # Today as forecast; a day's period cannot issue past its capacity.
            projected=round(
                min(count + expected, found.capacity) if daily_period else count + expected
            )
            if day == today and rate > 0
            else None,
        )
        for day, count in seen.days
    ]
    guides = []
    if daily_period:
        label = f"capacity {day_capacity:,}/day"
        if partitions > 1:
            label += f" ({partitions} partitions)"
        guides.append(Guide(label, day_capacity, "capacity"))
    return bar_chart(
        "daily",
        f"{found.name}: numbers issued per day, last {DAYS} days",
        f"Bars: numbers issued each day ({zone.key}); dashed outline: today as forecast. "
        "Solid line: the capacity of a day's period.",
        days,
        guides,
    )


@router.get("/webhooks")
async def webhooks_page(
    request: Request, operator: OperatorDep, done: Annotated[str, Query(max_length=64)] = ""
) -> HTMLResponse:
    return await render_webhooks(
        request, operator, done=f"Redelivery of {done} started." if done else None
    )


async def render_webhooks(
    request: Request,
    operator: Any,
    status_code: int = 200,
    error: str | None = None,
    done: str | None = None,
) -> HTMLResponse:
    """Every subscription: its state, how far behind it is, its failures."""
    subscriptions = services_of(request).subscriptions
    listed = await subscriptions.all()
    behind = await subscriptions.undelivered_ages()
    # The API shows subscriptions to numbers:admin only: a read key sees where they
    # deliver (the origin), not a path or query that may carry the receiver's token.
    targets = {sub.id: sub.url if operator.is_admin else origin_of(sub.url) for sub in listed}
    return page(
        request,
        "webhooks.html",
        operator,
        status_code,
        subscriptions=listed,
        targets=targets,
        behind=behind,
        error=error,
        done=done,
    )


def origin_of(url: str) -> str:
    """`https://host:port` of a URL, without its path or query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@router.post("/webhooks/{subscription}/redeliver")
async def redeliver(
    request: Request,
    operator: OperatorDep,
    subscription: str,
    from_event: FormText,
    csrf_token: CsrfField,
) -> Response:
    """Send a subscription's events again from one of them; `numbers:admin` only."""
    try:
        check_csrf(request, csrf_token)
    except CsrfRejected:
        return await render_webhooks(request, operator, 403, "The form expired; reload the page.")
    if not operator.is_admin:
        return await render_webhooks(request, operator, 403, "Your key lacks numbers:admin.")
    try:
        await services_of(request).subscriptions.redeliver(subscription, from_event.strip())
    except (CustidError, StoreError) as exc:
        error = as_custid_error(exc)
        return await render_webhooks(request, operator, status_of(error), error.detail)
    return RedirectResponse(
        f"{CONSOLE_PATH}/webhooks?{urlencode({'done': subscription})}", status_code=303
    )


@router.get("/reservations")
async def reservations_page(request: Request, operator: OperatorDep) -> HTMLResponse:
    """Reservations still held, the soonest to expire first."""
    services = services_of(request)
    held = await held_reservations(services.db)
    return page(request, "reservations.html", operator, held=held, now=services.clock())


@router.get("/events")
async def events_page(request: Request, operator: OperatorDep) -> HTMLResponse:
    """The newest events of the feed."""
    events = await latest_events(services_of(request).db)
    return page(request, "events.html", operator, events=events)


def form_time(text: str, field: str) -> datetime | None:
    """A `datetime-local` field's value as a UTC instant; ValueError naming the field."""
    if not text.strip():
        return None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{field} is not a date and time: {text!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@router.get("/trail")
async def trail_page(
    request: Request,
    operator: OperatorDep,
    by: Annotated[str, Query(alias="operator", max_length=64)] = "",
    ref_system: Annotated[str, Query(max_length=64)] = "",
    since: Annotated[str, Query(alias="from", max_length=32)] = "",
    before: FormTime = "",
) -> HTMLResponse:
    """Trail events by operator, by ref system and by time range."""
    chosen = {
        "operator": by.strip(),
        "ref_system": ref_system.strip(),
        "from": since,
        "before": before,
    }
    asked = any(value.strip() for value in chosen.values())
    events: list[Any] = []
    error, status_code = None, 200
    if asked:
        try:
            events = await search_trail(
                services_of(request).db,
                operator=chosen["operator"] or None,
                ref_system=chosen["ref_system"] or None,
                since=form_time(since, "From"),
                before=form_time(before, "Before"),
            )
        except (InvalidTrailSearch, ValueError) as exc:
            error, status_code = str(exc), 422
    return page(
        request,
        "trail.html",
        operator,
        status_code,
        chosen=chosen,
        asked=asked,
        events=events,
        error=error,
    )


@router.get("/export")
async def export_page(request: Request, operator: OperatorDep) -> HTMLResponse:
    """The export's form: which numbers, in which format."""
    return page(request, "export.html", operator, scheme_names=sorted(services_of(request).schemes))


@router.get("/export/download")
async def export_download(
    request: Request,
    operator: OperatorDep,
    scheme: Annotated[str, Query(max_length=64)] = "",
    period: Annotated[str, Query(max_length=32)] = "",
    by: Annotated[str, Query(alias="operator", max_length=64)] = "",
    since: Annotated[str, Query(alias="from", max_length=32)] = "",
    before: FormTime = "",
    export_format: Annotated[str, Query(alias="format", max_length=8)] = "csv",
) -> Response:
    """The export itself, as a file to save: the same records as `GET /v1/numbers/export`."""
    services = services_of(request)
    try:
        given = {
            "format": export_format,
            "scheme": scheme,
            "period": period.strip(),
            "operator": by.strip(),
            "issued_from": form_time(since, "From"),
            "issued_before": form_time(before, "Before"),
        }
        query = ExportQuery.model_validate({k: v for k, v in given.items() if v})
        filters = filters_of(query, services)
    except (CustidError, ValueError) as exc:
        if isinstance(exc, ValidationError):
            message = "; ".join(
                f"{'.'.join(str(part) for part in error['loc']) or 'range'}: {error['msg']}"
                for error in exc.errors()
            )
        else:
            message = getattr(exc, "detail", None) or str(exc)
        return page(
            request,
            "export.html",
            operator,
            422,
            error=message,
            scheme_names=sorted(services.schemes),
        )
    chosen = ExportFormat(query.format)
    name = export_file_name(query, services.clock())
    return StreamingResponse(
        export_bytes(services.db, filters, chosen),
        media_type=chosen.media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
