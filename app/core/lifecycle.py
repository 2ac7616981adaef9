"""A number's life: issued, then perhaps retired or replaced by a successor. Never edited.

    issued ──retire──▶ retired
       └────replace──▶ replaced (replaced_by → the successor, itself issued)

Every step writes an audit event in the same transaction. A retired or
replaced number stays stored forever, so the unique index on `number` keeps
it from ever being issued again.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor, Events, record
from app.core.clock import Clock
from app.core.errors import InvalidTransition, NumberNotFound
from app.core.events.feed import EVENT_TYPES
from app.core.issuing.batches import ISSUED, IssuedBatch
from app.core.issuing.issuer import Issuer
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.core.refs import refs_as_stored
from app.store import numbers as number_rows
from app.store.database import Database
from app.store.models import IssuedNumber

RETIRED, REPLACED = "retired", "replaced"


@dataclass(frozen=True)
class Replacement:
    """The number that was replaced, as it is now, and its successor."""

    replaced: IssuedNumber
    successor: IssuedBatch


@dataclass
class Lifecycle:
    """Retires numbers and replaces them with successors."""

    issuer: Issuer
    db: Database
    clock: Clock
    operators: Operators
    metrics: Metrics

    async def retire(self, number: str, reason: str, actor: Actor) -> IssuedNumber:
        """Retire an issued number for good; `InvalidTransition` if it is not `issued`."""
        await self.operators.admit(actor)
        now = self.clock()
        async with self.db.session() as session:
            retired = await number_rows.change_status(session, number, RETIRED, retired_at=now)
            if retired is None:
                raise await _refusal(session, number, "retired")
            await record(
                session,
                Events().add(
                    Action.RETIRED,
                    actor,
                    now,
                    numbers=[number],
                    reason=reason,
                    refs=refs_as_stored(retired),
                ),
            )
            await session.commit()
        self.metrics.count_events(EVENT_TYPES[Action.RETIRED])
        return retired

    async def replace(
        self,
        number: str,
        reason: str,
        actor: Actor,
        scheme: str | None = None,
        attributes: Mapping[str, str] | None = None,
    ) -> Replacement:
        """Issue a successor (same scheme unless named) and link the old number to it,
        atomically."""
        async with self.db.session() as session:
            old = await number_rows.find_number(session, number)
        if old is None:
            raise NumberNotFound(number)
        if old.status != ISSUED:
            raise InvalidTransition(number, old.status, "replaced")
        target = scheme or old.scheme
        if attributes is None:
            attributes = dict(old.attributes) if target == old.scheme else {}
        linked: list[IssuedNumber] = []

        async def link(session: AsyncSession, batch: IssuedBatch) -> None:
            successor = batch.numbers[0]
            replaced = await number_rows.change_status(session, number, REPLACED, successor)
            if replaced is None:  # retired or replaced by a concurrent request meanwhile
                raise await _refusal(session, number, "replaced")
            linked.append(replaced)
            # The successor's own `issued` event is written by the issuer.
            await record(
                session,
                Events().add(
                    Action.REPLACED,
                    actor,
                    batch.issued_at,
                    numbers=[number],
                    reason=reason,
                    details={"successor": successor},
                    refs=refs_as_stored(replaced),
                ),
            )

        successor = await self.issuer.issue_successor(
            target, attributes, replacing=number, reason=reason, actor=actor, link=link
        )
        self.metrics.count_events(EVENT_TYPES[Action.REPLACED])
        return Replacement(linked[0], successor)


async def _refusal(session: AsyncSession, number: str, action: str) -> Exception:
    """Why `number` could not be `action`: it does not exist, or its status forbids it."""
    current = await number_rows.find_number(session, number)
    if current is None:
        return NumberNotFound(number)
    return InvalidTransition(number, current.status, action)
