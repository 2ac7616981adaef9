"""Adding and removing a number's refs after issue (`numbers:admin`).

Each change writes its audit event (`ref_added`, `ref_removed`) in its
transaction, carrying the number's refs as they stand after it.
"""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.audit import Action, Actor, Events, record
from app.core.errors import NumberNotFound, RefConflict
from app.core.events.feed import EVENT_TYPES
from app.core.metrics import Metrics
from app.core.operators import Operators
from app.core.refs import ExternalRef, ref_columns, refs_as_stored
from app.store import numbers as number_rows
from app.store import refs as ref_rows
from app.store.database import Database
from app.store.models import IssuedNumber


@dataclass
class RefKeeper:
    """Adds and removes numbers' refs after issue."""

    db: Database
    operators: Operators
    metrics: Metrics

    async def add(
        self, number: str, ref: ExternalRef, actor: Actor, at: datetime
    ) -> tuple[IssuedNumber, bool]:
        """Give `number` the ref; (the number as it is now, whether anything changed).

        The ref it already has is no change; a system it has another id in, or a
        {system, id} naming another number of its scheme, is a `RefConflict`.
        """
        await self.operators.admit(actor)
        async with self.db.session() as session:
            stored = await self._number(session, number)
            for held in stored.refs:
                if held.system == ref.system:
                    if held.ref_id == ref.id:
                        return stored, False
                    raise RefConflict(
                        ref.system,
                        held.ref_id,
                        stored.scheme,
                        number,
                        f"remove it before giving the number another {ref.system} ref",
                    )
            scheme = stored.scheme
            columns = ref_columns(scheme, [number], [ref], [at], [actor.key_id])
            if not await ref_rows.insert_refs(session, columns):
                # Taken by another number (or by this one, concurrently).
                await session.rollback()
                async with self.db.session() as reading:
                    holder = await ref_rows.number_of_ref(reading, scheme, ref.system, ref.id)
                if holder is not None and holder.number == number:
                    return holder, False
                raise RefConflict(
                    ref.system,
                    ref.id,
                    scheme,
                    holder.number if holder is not None else number,
                    "a ref names one number per scheme",
                )
            changed = await self._recorded(session, number, Action.REF_ADDED, ref, actor, at)
            await session.commit()
        self.metrics.count_events(EVENT_TYPES[Action.REF_ADDED])
        return changed, True

    async def remove(
        self, number: str, system: str, actor: Actor, at: datetime
    ) -> tuple[IssuedNumber, bool]:
        """Take away `number`'s ref in `system`; (the number as it is now, whether it had one)."""
        await self.operators.admit(actor)
        async with self.db.session() as session:
            stored = await self._number(session, number)
            removed = await ref_rows.remove_ref(session, number, system)
            if removed is None:
                return stored, False
            ref = ExternalRef(removed.system, removed.ref_id)
            changed = await self._recorded(session, number, Action.REF_REMOVED, ref, actor, at)
            await session.commit()
        self.metrics.count_events(EVENT_TYPES[Action.REF_REMOVED])
        return changed, True

    async def _number(self, session: AsyncSession, number: str) -> IssuedNumber:
        stored = await number_rows.find_number(session, number)
        if stored is None:
            raise NumberNotFound(number)
        return stored

    async def _recorded(
        self,
        session: AsyncSession,
        number: str,
        action: Action,
        ref: ExternalRef,
        actor: Actor,
        at: datetime,
    ) -> IssuedNumber:
        """The number as the change left it, with the change's event added to the session."""
        changed = await number_rows.find_number(session, number, fresh=True)
        assert changed is not None
        await record(
            session,
            Events().add(
                action,
                actor,
                at,
                numbers=[number],
                details=ref.as_dict(),
                refs=refs_as_stored(changed),
            ),
        )
        return changed
