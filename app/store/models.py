"""The tables. Alembic migrations are the only way they change; a test keeps the two in step."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# Stable constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# The text of keys: numbers, scheme names, periods, partitions, refs. Compared byte by byte
# on PostgreSQL (collation "C"): every unique index on them is built and probed with memcmp
# instead of the locale's rules, which an import of a million numbers feels in each of its
# index entries, and nothing orders them for a reader by language. SQLite compares text by
# its bytes already (BINARY).
def key_text(length: int) -> String:
    """A key column's type: `String(length)`, collation "C" on PostgreSQL."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


# SQLite only auto-increments a column declared exactly INTEGER.
BigIntegerId = BigInteger().with_variant(Integer(), "sqlite")
Attributes = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in UTC on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class IssuedNumber(Base):
    """One number, issued once. `number` UNIQUE is the final guard against duplicates."""

    __tablename__ = "issued_numbers"
    __table_args__ = (
        UniqueConstraint("scheme", "period", "partition", "seq"),
        # Most numbers name no operator and were never reserved: indexing only those that
        # do spares every issue and import two index entries per number.
        *(
            Index(
                f"ix_issued_numbers_{column}",
                column,
                postgresql_where=text(f"{column} IS NOT NULL"),
                sqlite_where=text(f"{column} IS NOT NULL"),
            )
            for column in ("operator", "reservation_id")
        ),
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(key_text(64), unique=True)
    scheme: Mapped[str] = mapped_column(key_text(64))
    scheme_version: Mapped[int] = mapped_column(Integer)
    period: Mapped[str] = mapped_column(key_text(32))
    partition: Mapped[str] = mapped_column(key_text(128))
    # Null for kinds that draw numbers at random instead of counting them.
    seq: Mapped[int | None] = mapped_column(BigInteger)
    attributes: Mapped[dict[str, Any]] = mapped_column(Attributes)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default="issued", server_default="issued")
    replaced_by: Mapped[str | None] = mapped_column(key_text(64))
    # The API key that issued it; null when auth was off.
    issued_by: Mapped[str | None] = mapped_column(String(32))
    # The person who asked for it (X-Operator), if named.
    operator: Mapped[str | None] = mapped_column(String(64))
    # Loaded with the number, oldest first: a record is always shown with its refs.
    refs: Mapped[list["NumberRef"]] = relationship(
        primaryjoin="IssuedNumber.number == foreign(NumberRef.number)",
        order_by="NumberRef.id",
        lazy="selectin",
        viewonly=True,
    )
    # The reservation that holds (or held) it, if it was reserved before it was issued.
    reservation_id: Mapped[str | None] = mapped_column(String(32))
    # Why a reserved number was voided (status `voided`): it is never issued again.
    void_reason: Mapped[str | None] = mapped_column(Text)
    # When it was retired: a recycling scheme's quarantine counts from here.
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def ref(self) -> str | None:
        """The first of its refs as one string (`crm:acct-991`), as refs were once given."""
        return str(self.refs[0]) if self.refs else None


# The system of a ref given without one (`acct-991` rather than `crm:acct-991`).
DEFAULT_REF_SYSTEM = "default"


class NumberRef(Base):
    """One of a number's external refs: the id another system knows it by."""

    __tablename__ = "number_refs"
    __table_args__ = (
        # One {system, id}, one number per scheme; one ref per system on a number. Led by
        # (system, id), the first also finds a ref in any scheme (`?ref=crm:acct-991`).
        UniqueConstraint("system", "ref_id", "scheme"),
        UniqueConstraint("number", "system"),
    )

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(key_text(64))
    scheme: Mapped[str] = mapped_column(key_text(64))
    system: Mapped[str] = mapped_column(key_text(64))
    ref_id: Mapped[str] = mapped_column(key_text(256))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
    added_by: Mapped[str | None] = mapped_column(String(32))

    def __str__(self) -> str:
        return self.ref_id if self.system == DEFAULT_REF_SYSTEM else f"{self.system}:{self.ref_id}"


class ReservationRow(Base):
    """Numbers held for a while: confirmed into issued numbers, or voided (by request or expiry).

    A gapless scheme's reservation holds no number: its values are assigned at confirm time.
    """

    __tablename__ = "reservations"
    __table_args__ = (Index("ix_reservations_status_expires_at", "status", "expires_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scheme: Mapped[str] = mapped_column(key_text(64))
    count: Mapped[int] = mapped_column(Integer)
    attributes: Mapped[dict[str, Any]] = mapped_column(Attributes)
    status: Mapped[str] = mapped_column(String(16))  # held, confirmed, voided or expired
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)  # why it was voided
    created_by: Mapped[str | None] = mapped_column(String(32))


class SequenceGap(Base):
    """Sequence values custid knows were skipped, and why (see `app/core/gaps.py`)."""

    __tablename__ = "sequence_gaps"
    __table_args__ = (Index("ix_sequence_gaps_key", "scheme", "period", "partition", "first_seq"),)

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    scheme: Mapped[str] = mapped_column(key_text(64))
    period: Mapped[str] = mapped_column(key_text(32))
    partition: Mapped[str] = mapped_column(key_text(128))
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    cause: Mapped[str] = mapped_column(String(32))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NumberEvent(Base):
    """The audit trail and the event feed: one row per issue, retire, replace, and API key
    created or revoked, written in the transaction of the change it describes."""

    __tablename__ = "number_events"
    __table_args__ = (Index("ix_number_events_txid_id", "txid", "id"),)

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(key_text(64), index=True)
    key_id: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(32))
    reason: Mapped[str | None] = mapped_column(Text)
    request_id: Mapped[str | None] = mapped_column(String(128))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    details: Mapped[dict[str, Any]] = mapped_column(Attributes)
    # The person acting (X-Operator), if named.
    operator: Mapped[str | None] = mapped_column(String(64))
    # The number's refs as they stood after the change ({"system", "id"} each).
    refs: Mapped[list[dict[str, str]] | None] = mapped_column(Attributes)
    # On PostgreSQL the id of the transaction that wrote the event (by default); 0 on
    # SQLite, whose single writer commits in id order. The feed reads events in (txid, id)
    # order, up to the oldest transaction still running, so none commits behind a reader.
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    # SHA-256 over the event's content and the hash of the event before it in its write
    # (see `app/store/chain.py`); null only on an event custid did not write.
    hash: Mapped[str | None] = mapped_column(String(64))


class TrailBlock(Base):
    """One write of trail events: which they are, how many, the last one's hash; and, once
    sealed, its place in the chain and the link that covers it and every block before."""

    __tablename__ = "trail_blocks"
    __table_args__ = (Index("ix_trail_blocks_txid_first_event", "txid", "first_event"),)

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    # The writing transaction, as its events record it (0 on SQLite).
    txid: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    first_event: Mapped[int] = mapped_column(BigInteger)
    last_event: Mapped[int] = mapped_column(BigInteger)
    events: Mapped[int] = mapped_column(Integer)
    head: Mapped[str] = mapped_column(String(64))
    position: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    link: Mapped[str | None] = mapped_column(String(64))


class WebhookSubscription(Base):
    """A receiver of events: where, which ones, and how far its deliveries have come."""

    __tablename__ = "webhook_subscriptions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # The signing secret, sealed (app/core/sealing.py); shown in the clear once, when made.
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation, the secret it replaced, also signing deliveries until `previous_until`.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    event_types: Mapped[list[str]] = mapped_column(Attributes)  # empty: every type
    schemes: Mapped[list[str]] = mapped_column(Attributes)  # empty: every scheme
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # active, paused or failing
    # The feed position of the last event delivered (or passed over by the filters).
    position_txid: Mapped[int] = mapped_column(BigInteger)
    position_id: Mapped[int] = mapped_column(BigInteger)
    # Consecutive failed attempts at the next event, and when to try it again.
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by: Mapped[str | None] = mapped_column(String(32))


class EventCursor(Base):
    """How far a consumer inside custid (the Redis stream) has read the feed."""

    __tablename__ = "event_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    position_txid: Mapped[int] = mapped_column(BigInteger)
    position_id: Mapped[int] = mapped_column(BigInteger)


class IdempotencyKey(Base):
    """An answered Idempotency-Key and the result it answered with.

    The row is written in the transaction that issues the result's numbers, so
    it exists exactly when they do.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("api_key_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    # "" when auth is off: NULL would let the same key be claimed twice.
    api_key_id: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))
    # The domain result of the request (its numbers and their fields), not an HTTP body.
    result: Mapped[dict[str, Any]] = mapped_column(Attributes)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class ApiKey(Base):
    """A caller's key: only the SHA-256 of its secret is stored."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list[str]] = mapped_column(Attributes)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Every request with this key must name the acting operator.
    require_operator: Mapped[bool] = mapped_column(Boolean, server_default=text("false"))
    # Requests it may make, e.g. "100/second"; null: the service's default (if any).
    rate_limit: Mapped[str | None] = mapped_column(String(32))


class ConsoleSession(Base):
    """A console sign-in: the cookie holds a random id; only its SHA-256 is stored."""

    __tablename__ = "console_sessions"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Signed in again after this, however busy (the idle expiry comes from last_seen_at).
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # Signed out, or its key revoked.
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class TextRepair(Base):
    """A stored value the upgrade to the text grammar escaped (or could not), and what it was.

    `original` and `repaired` are JSON texts of the values; `repaired` is null where the
    escaped form was taken (a ref id another ref of the scheme already had).
    """

    __tablename__ = "text_repairs"

    id: Mapped[int] = mapped_column(BigIntegerId, primary_key=True, autoincrement=True)
    table_name: Mapped[str] = mapped_column(String(64))
    column_name: Mapped[str] = mapped_column(String(64))
    row_key: Mapped[str] = mapped_column(String(128))
    original: Mapped[str] = mapped_column(Text)
    repaired: Mapped[str | None] = mapped_column(Text)
    repaired_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CounterRow(Base):
    """The database counter: the last sequence value handed out per key."""

    __tablename__ = "counters"

    scheme: Mapped[str] = mapped_column(key_text(64), primary_key=True)
    period: Mapped[str] = mapped_column(key_text(32), primary_key=True)
    partition: Mapped[str] = mapped_column(key_text(128), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
