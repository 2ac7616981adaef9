"""What figures about issuance are read from: the schemes, the stored numbers, the
counters and the time now. Utilisation, the exhaustion forecast and the periodic check
read the same four, which the running service hands them."""

from dataclasses import dataclass

from app.core.clock import Clock
from app.core.issuing.counters import Counter
from app.store.database import Database
from schemes import Catalog


@dataclass(frozen=True)
class UsageSources:
    schemes: Catalog
    db: Database
    counter: Counter
    clock: Clock
