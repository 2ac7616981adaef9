"""A scheme's exhaustion forecast as the console's pages say it."""

from fastapi import Request

from app.api.deps import services_of
from app.core.forecast import PartitionForecast, SchemeForecast, forecast_of_usage
from app.core.utilisation import current_utilisation
from schemes import SchemeDefinition


async def scheme_forecast(request: Request, scheme: SchemeDefinition) -> SchemeForecast | None:
    """The scheme's forecast for its current period, as the API gives it; None if drawn."""
    services = services_of(request)
    if not scheme.uses_sequence:
        return None
    now = services.clock()
    usage = await current_utilisation(scheme, services.db, now)
    window = services.settings.forecast_window
    return await forecast_of_usage(scheme, services.db, usage, now, window)


def forecast_text(first: PartitionForecast | None) -> str:
    """A forecast in words, for a table cell."""
    if first is None or first.exhausts_at is None:
        return "not running out"
    when = f"{first.exhausts_at:%Y-%m-%d %H:%M} UTC"
    if first.before_period_end:
        return f"runs out {when}, before its period ends"
    return f"would run out {when}; its period ends first"
