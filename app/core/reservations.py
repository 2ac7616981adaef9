"""Reservations: numbers held for a while, then confirmed into issued numbers or voided.

    reserve ──▶ held ──confirm──▶ confirmed   (its numbers: reserved → issued)
                  ├────void─────▶ voided      (its numbers: reserved → voided, with the reason)
                  └──TTL is up──▶ expired     (likewise, reason "expired")

A reservation's numbers are stored when it is made, with status `reserved`,
through the issuer like any others (the same counters, collisions, unique
indexes, Idempotency-Keys), so no one else can get them; a voided number stays
stored and is never issued again. A gapless scheme's reservation holds no
number: its values are assigned at confirm time, in strict order (see
`issuing/gapless.py`). Each step writes its events in its own transaction.
Expiry happens twice over: a sweeper in every process voids what is due, and
confirming a reservation past its time voids it there and then and answers 409
`reservation_expired`.
"""

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor, Events, record
from app.core.clock import Clock
from app.core.errors import (
    InvalidAttributes,
    InvalidReservationTtl,
    RefConflict,
    RefForManyNumbers,
    ReservationExpired,
    ReservationNotFound,
    ReservationSettled,
)
from app.core.events.feed import EVENT_TYPES
from app.core.issuing.batches import ISSUED, IssuedBatch, StoreHook
from app.core.issuing.idempotency import IdempotencyClaim, IdempotencyKeys
from app.core.issuing.issuer import ANONYMOUS, Issuer
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.core.refs import ExternalRef, ref_columns
from app.store import refs as ref_rows
from app.store import reservations as reservation_rows
from app.store.database import Database
from app.store.models import IssuedNumber, ReservationRow
from app.store.reservations import HELD
from schemes import SchemeDefinition

log = structlog.get_logger(__name__)

CONFIRMED, VOIDED, EXPIRED = "confirmed", "voided", "expired"
ID_PREFIX = "rsv_"
EXPIRED_REASON = "expired"
# A voided number always says why; this when the caller did not.
UNSTATED_REASON = "no reason given"
# Reservations expired per sweep and transaction; a backlog takes several sweeps.
EXPIRED_PER_SWEEP = 100


@dataclass(frozen=True)
class ReservationState:
    """A reservation as it stands, with the numbers it holds or held."""

    reservation: ReservationRow
    numbers: list[IssuedNumber]
    # True when this answers an Idempotency-Key that an earlier request used.
    replayed: bool = False


def new_reservation_id() -> str:
    return f"{ID_PREFIX}{secrets.token_hex(8)}"


def hold_for(scheme: SchemeDefinition, ttl_seconds: int | None) -> timedelta:
    """How long a reservation of `scheme` holds: its default, or what was asked within bounds."""
    if ttl_seconds is None:
        return scheme.reservation_ttl
    longest = int(scheme.max_reservation_ttl.total_seconds())
    if ttl_seconds > longest:
        raise InvalidReservationTtl(scheme.name, ttl_seconds, longest)
    return timedelta(seconds=ttl_seconds)


@dataclass
class Reservations:
    """Reserves, confirms and voids numbers; expires what is due."""

    issuer: Issuer
    db: Database
    clock: Clock
    operators: Operators
    metrics: Metrics
    idempotency: IdempotencyKeys

    async def find(self, reservation_id: str) -> ReservationState:
        """The reservation and its numbers, or `ReservationNotFound`."""
        async with self.db.session() as session:
            row = await reservation_rows.find_reservation(session, reservation_id)
            if row is None:
                raise ReservationNotFound(reservation_id)
            numbers = await reservation_rows.held_numbers(session, reservation_id)
        return ReservationState(row, numbers)

    async def reserve(
        self,
        scheme_name: str,
        count: int,
        attributes: Mapping[str, str],
        ttl_seconds: int | None,
        actor: Actor,
        claim: IdempotencyClaim | None = None,
    ) -> ReservationState:
        """Hold `count` numbers of a scheme for its TTL (or `ttl_seconds`, within its bound)."""
        scheme = self.issuer.scheme(scheme_name)
        hold = hold_for(scheme, ttl_seconds)
        reservation_id = new_reservation_id()

        async def add_reservation(session: AsyncSession, batch: IssuedBatch) -> None:
            await reservation_rows.add_reservation(
                session,
                id=reservation_id,
                scheme=scheme.name,
                count=count,
                attributes=dict(batch.attributes),
                status=HELD,
                created_at=batch.issued_at,
                expires_at=batch.issued_at + hold,
                created_by=actor.key_id,
            )

        if scheme.gapless:
            batch = await self._hold_a_place(
                scheme, attributes, reservation_id, add_reservation, actor, claim
            )
        else:
            batch = await self.issuer.reserve(
                scheme.name,
                count,
                attributes,
                reservation=reservation_id,
                actor=actor,
                claim=claim,
                hold=add_reservation,
            )
        assert batch.reservation is not None
        return replace(await self.find(batch.reservation), replayed=batch.replayed)

    async def _hold_a_place(
        self,
        scheme: SchemeDefinition,
        attributes: Mapping[str, str],
        reservation_id: str,
        add_reservation: StoreHook,
        actor: Actor,
        claim: IdempotencyClaim | None,
    ) -> IssuedBatch:
        """A gapless scheme's reservation: it holds a place in line, no number yet."""
        # Nothing is assigned yet: attributes given now are checked now, the rest at confirm.
        kept = self.issuer.checked_attributes(scheme, attributes) if attributes else {}

        async def hold(session: AsyncSession) -> IssuedBatch:
            now = self.clock()
            batch = IssuedBatch(
                scheme.name, scheme.version, "", "", kept, now, None, reservation=reservation_id
            )
            await add_reservation(session, batch)
            await record(
                session,
                Events().add(
                    Action.RESERVED,
                    actor,
                    now,
                    details={"scheme": scheme.name, "reservation": reservation_id},
                ),
            )
            return batch

        return await self.idempotency.write_once(claim, hold)

    async def confirm(
        self,
        reservation_id: str,
        attributes: Mapping[str, str] | None,
        ref: str | None,
        actor: Actor,
        claim: IdempotencyClaim | None = None,
    ) -> ReservationState:
        """Turn a held reservation's numbers into issued ones (a gapless scheme's are assigned
        now); `ReservationExpired` once its time is up."""
        await self.operators.admit(actor)
        await self._expire_if_due(reservation_id)
        held = (await self.find(reservation_id)).reservation
        scheme = self.issuer.scheme(held.scheme)
        if ref is not None and held.count != 1:
            raise RefForManyNumbers(reservation_id, held.count)
        merged = {**held.attributes, **(attributes or {})}
        if scheme.gapless:
            batch = await self._confirm_gapless(held, scheme, merged, ref, actor, claim)
        else:
            if attributes:
                self._check_unchanged(scheme, held.attributes, merged)
            batch = await self.idempotency.write_once(
                claim, lambda session: self._confirm_held(session, held, ref, actor)
            )
        return replace(await self.find(reservation_id), replayed=batch.replayed)

    async def void(
        self,
        reservation_id: str,
        reason: str | None,
        actor: Actor,
        claim: IdempotencyClaim | None = None,
    ) -> ReservationState:
        """Void a held reservation: its numbers are stored as voided and never issued."""
        await self.operators.admit(actor)
        await self._expire_if_due(reservation_id)
        why = reason or UNSTATED_REASON
        batch = await self.idempotency.write_once(
            claim,
            lambda session: self._release(session, reservation_id, VOIDED, why, actor),
        )
        return replace(await self.find(reservation_id), replayed=batch.replayed)

    async def expire_due(self) -> int:
        """Expire held reservations whose time is up; how many."""
        async with self.db.session() as session:
            due = await reservation_rows.due_for_expiry(session, self.clock(), EXPIRED_PER_SWEEP)
        expired = 0
        for reservation_id in due:
            expired += await self._expire_if_due(reservation_id)
        if expired:
            log.info("reservations_expired", count=expired)
        return expired

    async def _expire_if_due(self, reservation_id: str) -> bool:
        """Expire the reservation if it is held past its time; whether it was."""
        async with self.db.transaction() as session:
            try:
                await self._release(session, reservation_id, EXPIRED, EXPIRED_REASON, ANONYMOUS)
            except (ReservationNotFound, ReservationSettled, ReservationExpired):
                return False
        return True

    async def _release(
        self,
        session: AsyncSession,
        reservation_id: str,
        to_status: str,
        reason: str | None,
        actor: Actor,
    ) -> IssuedBatch:
        """Void a held reservation's numbers (`to_status` voided, or expired if it is due)."""
        now = self.clock()
        due_by = now if to_status == EXPIRED else None
        row = await reservation_rows.settle(
            session, reservation_id, to_status, now, reason=reason, due_by=due_by
        )
        if row is None:
            raise await self._refusal(session, reservation_id, to_status, now)
        voided = await reservation_rows.release_numbers(
            session, reservation_id, VOIDED, void_reason=reason
        )
        details = {"scheme": row.scheme, "reservation": reservation_id}
        numbers: Sequence[str | None] = voided or (None,)  # a gapless reservation holds none
        await record(
            session,
            Events().add(
                Action.VOIDED, actor, now, numbers=numbers, reason=reason, details=details
            ),
        )
        self.metrics.count_events(EVENT_TYPES[Action.VOIDED], len(voided))
        return result_of(row, list(voided))

    async def _confirm_held(
        self, session: AsyncSession, held: ReservationRow, ref: str | None, actor: Actor
    ) -> IssuedBatch:
        now = self.clock()
        row = await reservation_rows.settle(session, held.id, CONFIRMED, now, live_at=now)
        if row is None:
            raise await self._refusal(session, held.id, CONFIRMED, now)
        wanted = None if ref is None else ExternalRef.parse(ref)
        if wanted is not None and (
            known := await ref_rows.number_of_ref(session, row.scheme, wanted.system, wanted.id)
        ):
            raise ref_taken(row.scheme, wanted, known.number)
        confirmed = await reservation_rows.release_numbers(session, held.id, ISSUED)
        refs = [] if wanted is None else [wanted.as_dict()]
        if wanted is not None:
            columns = ref_columns(row.scheme, confirmed, [wanted], [now], [actor.key_id])
            if not await ref_rows.insert_refs(session, columns):  # taken meanwhile
                raise ref_taken(row.scheme, wanted, "another number")
        details = {"scheme": row.scheme, "reservation": held.id, "ref": ref}
        await record(
            session,
            Events().add(
                Action.CONFIRMED, actor, now, numbers=confirmed, details=details, refs=refs
            ),
        )
        self.metrics.count_issued(row.scheme, len(confirmed))
        self.metrics.count_events(EVENT_TYPES[Action.CONFIRMED], len(confirmed))
        return result_of(row, list(confirmed))

    async def _confirm_gapless(
        self,
        held: ReservationRow,
        scheme: SchemeDefinition,
        attributes: Mapping[str, str],
        ref: str | None,
        actor: Actor,
        claim: IdempotencyClaim | None,
    ) -> IssuedBatch:
        async def settle(session: AsyncSession, batch: IssuedBatch) -> None:
            now = batch.issued_at
            if await reservation_rows.settle(session, held.id, CONFIRMED, now, live_at=now) is None:
                raise await self._refusal(session, held.id, CONFIRMED, now)

        wanted = None if ref is None else ExternalRef.parse(ref)
        if wanted is not None:
            async with self.db.session() as session:
                known = await ref_rows.number_of_ref(session, scheme.name, wanted.system, wanted.id)
            if known is not None:
                raise ref_taken(scheme.name, wanted, known.number)
        batch = await self.issuer.confirm(
            scheme.name,
            held.count,
            attributes,
            reservation=held.id,
            actor=actor,
            ref=ref,
            claim=claim,
            settle=settle,
        )
        if not batch.created and not batch.replayed and wanted is not None:
            raise ref_taken(scheme.name, wanted, batch.numbers[0])  # won by a concurrent request
        return batch

    def _check_unchanged(
        self, scheme: SchemeDefinition, reserved: Mapping[str, str], merged: Mapping[str, str]
    ) -> None:
        """Attributes shape a number: once it is reserved they can only be confirmed as they
        were."""
        kept = self.issuer.checked_attributes(scheme, merged)
        for name, value in kept.items():
            if reserved.get(name) != value:
                raise InvalidAttributes(
                    scheme.name,
                    name,
                    f"the numbers were reserved with {reserved.get(name)!r}; "
                    "attributes are fixed once a number is reserved",
                )

    async def _refusal(
        self, session: AsyncSession, reservation_id: str, action: str, now: datetime
    ) -> Exception:
        """Why a reservation could not be settled: missing, past its time, or settled."""
        row = await reservation_rows.find_reservation(session, reservation_id)
        if row is None:
            return ReservationNotFound(reservation_id)
        if row.status == EXPIRED or (row.status == HELD and row.expires_at <= now):
            return ReservationExpired(reservation_id, row.expires_at)
        return ReservationSettled(reservation_id, row.status, action)


def result_of(row: ReservationRow, numbers: list[str]) -> IssuedBatch:
    """What an Idempotency-Key keeps of a confirm or void: which reservation, which numbers."""
    return IssuedBatch(
        row.scheme,
        0,
        "",
        "",
        dict(row.attributes),
        row.settled_at or row.created_at,
        None,
        numbers,
        status=row.status,
        reservation=row.id,
    )


def ref_taken(scheme: str, ref: ExternalRef, number: str) -> RefConflict:
    """A confirmation's ref names a number already: a reserved number cannot take it."""
    return RefConflict(ref.system, ref.id, scheme, number, "a ref names one number")
