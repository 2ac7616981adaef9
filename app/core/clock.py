"""Where "now" comes from, so tests can stand at midnight in any zone."""

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The current instant, aware, in UTC."""
    return datetime.now(UTC)
