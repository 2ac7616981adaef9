"""How full each scheme's current period is, read from the counters and the database."""

from dataclasses import dataclass, field

from app.core.backends import database_guard
from app.core.errors import BackendUnavailable
from app.core.issuer import Issuer
from app.store import statistics
from schemes import Scheme


def draws_at_random(scheme: Scheme) -> bool:
    """True for kinds that draw numbers from a space instead of counting a sequence."""
    return scheme.kind == "random"


@dataclass(frozen=True)
class Utilisation:
    """Share used of each scheme's current period (0 to 1)."""

    sequence: dict[str, float] = field(default_factory=dict)
    random_space: dict[str, float] = field(default_factory=dict)


async def current_utilisation(issuer: Issuer) -> Utilisation:
    """One cheap query per scheme; a scheme whose backend does not answer is left out."""
    now = issuer.clock()
    used = Utilisation()
    for scheme in issuer.schemes.values():
        period = scheme.period(now)
        try:
            if draws_at_random(scheme):
                async with database_guard(issuer.retry_after), issuer.sessions() as session:
                    issued = await statistics.count_in_period(session, scheme.name, period)
                used.random_space[scheme.name] = issued / scheme.capacity
            else:
                values = await issuer.counter.period_values(scheme.name, period)
                used.sequence[scheme.name] = max(values.values(), default=0) / scheme.capacity
        except BackendUnavailable:
            continue
    return used
