"""A number's life: issued, then perhaps retired or replaced by a successor. Never edited.

    issued ──retire──▶ retired
       └────replace──▶ replaced (replaced_by → the successor, itself issued)

Every step writes an audit event in the same transaction. A retired or
replaced number stays stored forever, so the unique index on `number` keeps
it from ever being issued again.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor, event_row, record
from app.core.backends import database_guard
from app.core.batches import IssuedBatch
from app.core.errors import InvalidTransition, NumberNotFound
from app.core.idempotency import StoredResponse, current_claim
from app.core.issuer import Issuer
from app.store import numbers as number_rows
from app.store.models import IssuedNumber

ISSUED, RETIRED, REPLACED = "issued", "retired", "replaced"


@dataclass(frozen=True)
class Replacement:
    """The number that was replaced, as it is now, and its successor."""

    replaced: IssuedNumber
    successor: IssuedBatch


async def issue_numbers(
    issuer: Issuer,
    scheme: str,
    count: int,
    attributes: Mapping[str, str],
    actor: Actor,
    ref: str | None = None,
    answer_for: Callable[[IssuedBatch], StoredResponse] | None = None,
) -> IssuedBatch:
    """Issue numbers on behalf of `actor`; the issuer writes an `issued` event for each.

    Under an Idempotency-Key, `answer_for(batch)` is stored for the key's duplicates
    in the same transaction as the numbers.
    """
    claim = current_claim.get()
    if claim is None or answer_for is None:
        return await issuer.issue(scheme, count, attributes, actor=actor, ref=ref)

    async def store_answer(session: AsyncSession, batch: IssuedBatch) -> None:
        await claim.complete(session, answer_for(batch))

    return await issuer.issue(
        scheme, count, attributes, actor=actor, ref=ref, alongside=store_answer
    )


async def retire_number(issuer: Issuer, number: str, reason: str, actor: Actor) -> IssuedNumber:
    """Retire an issued number for good; `InvalidTransition` if it is not `issued`."""
    async with database_guard(issuer.retry_after), issuer.sessions() as session:
        retired = await number_rows.change_status(session, number, RETIRED)
        if retired is None:
            raise await _refusal(session, number, "retired")
        await record(
            session,
            event_row(Action.RETIRED, actor, issuer.clock(), number=number, reason=reason),
        )
        await session.commit()
    return retired


async def replace_number(
    issuer: Issuer,
    number: str,
    reason: str,
    actor: Actor,
    scheme: str | None = None,
    attributes: Mapping[str, str] | None = None,
) -> Replacement:
    """Issue a successor (same scheme unless named) and link the old number to it, atomically."""
    async with database_guard(issuer.retry_after), issuer.sessions() as session:
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
        at = batch.issued_at
        # The successor's own `issued` event is written by the issuer.
        await record(
            session,
            event_row(
                Action.REPLACED,
                actor,
                at,
                number=number,
                reason=reason,
                details={"successor": successor},
            ),
        )

    successor = await issuer.issue(
        target,
        1,
        attributes,
        actor=actor,
        alongside=link,
        reason=reason,
        details={"replaces": number},
    )
    return Replacement(linked[0], successor)


async def _refusal(session: AsyncSession, number: str, action: str) -> Exception:
    """Why `number` could not be `action`: it does not exist, or its status forbids it."""
    current = await number_rows.find_number(session, number)
    if current is None:
        return NumberNotFound(number)
    return InvalidTransition(number, current.status, action)
