"""The one settings object, read from `CUSTID_*` environment variables."""

from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SCHEMES_FILE = Path(__file__).resolve().parent.parent / "schemes" / "default.toml"


class Settings(BaseSettings):
    """Everything the service can be told; with nothing set it runs embedded on SQLite."""

    model_config = SettingsConfigDict(env_prefix="CUSTID_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded SQLite file lives."
    )
    database_url: SecretStr | None = Field(
        default=None,
        description="SQLAlchemy URL, e.g. postgresql+asyncpg://user@host/db. "
        "Unset: a SQLite file in data_dir.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="redis://host:port/db (with redis_cluster: any node of the cluster). "
        "Unset, and no redis_sentinels: the database counter serves.",
    )
    redis_cluster: bool = Field(
        default=False, description="redis_url names a node of a Redis Cluster."
    )
    redis_sentinels: str | None = Field(
        default=None,
        description="host:port,host:port of Redis Sentinels that watch the counter's Redis; "
        "in place of redis_url.",
    )
    redis_sentinel_service: str = Field(
        default="mymaster", min_length=1, description="The name the Sentinels monitor it by."
    )
    redis_password: SecretStr | None = Field(
        default=None, description="Password of the Redis servers found through the Sentinels."
    )
    redis_key_prefix: str = Field(
        default="custid", pattern=r"^[A-Za-z0-9_.:-]+$", description="Namespace of counter keys."
    )
    schemes_file: Path = Field(default=DEFAULT_SCHEMES_FILE)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=1)
    time_zone: str = Field(default="UTC", description="IANA zone for schemes that name none.")
    counter_ttl_after_period: timedelta = Field(
        default=timedelta(days=2),
        description="How long a Redis counter outlives the end of its period.",
    )
    forecast_window: timedelta = Field(
        default=timedelta(hours=1),
        gt=timedelta(0),
        description="How far back the exhaustion forecast looks for the issuance rate.",
    )
    max_issue_attempts: int = Field(
        default=8, ge=1, description="Tries per request when a counter turns out to be behind."
    )
    max_random_draws: int = Field(
        default=10, ge=1, description="Draws per request before a random scheme reports exhaustion."
    )
    backend_timeout_seconds: float = Field(default=5.0, gt=0)
    redis_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Redis connect/command timeout; past it, fall back."
    )
    redis_probe_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often to try Redis again while it is down."
    )
    # The Retry-After the HTTP layer answers a retryable error with (a backend down, a
    # full queue); the core says only that an error is retryable.
    retry_after_seconds: int = Field(default=2, ge=1)
    max_queued_numbers: int = Field(
        default=100_000,
        ge=1,
        description="Numbers waiting to be issued per process; past it, 503 overloaded.",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level written to the JSON log on stdout."
    )
    auth: Literal["auto", "required", "disabled"] = Field(
        default="auto",
        description="auto: require API keys once any exists or when bound beyond loopback; "
        "required: always; disabled: never (every caller may do everything).",
    )
    operator_scheme: str | None = Field(
        default=None,
        description="A staff scheme: an operator a request names (X-Operator) must be an "
        "issued, active number of it. Unset: any well-formed operator name.",
    )
    idempotency_ttl: timedelta = Field(
        default=timedelta(hours=24),
        description="How long an Idempotency-Key and its stored response are kept.",
    )
    idempotency_wait_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How long a duplicate request waits for the first one to finish.",
    )
    auth_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long a valid key is trusted; a revoked key stops within this long.",
    )
    idempotency_purge_interval: timedelta = Field(
        default=timedelta(minutes=10), description="How often expired keys are deleted."
    )

    reservation_sweep_interval: timedelta = Field(
        default=timedelta(seconds=30),
        description="How often held reservations past their TTL are expired (voided).",
    )

    webhook_allow_private: bool | None = Field(
        default=None,
        description="Whether webhooks may target private or loopback addresses. "
        "Unset: only while the service is bound to loopback.",
    )
    webhook_timeout_seconds: float = Field(
        default=10.0, gt=0, description="How long a webhook receiver has to answer."
    )
    webhook_retry_horizon: timedelta = Field(
        default=timedelta(hours=24),
        description="How long a failing subscription is retried before it is marked failing.",
    )
    webhook_backoff_max_seconds: float = Field(
        default=900.0, gt=0, description="The longest wait between two attempts at a delivery."
    )
    events_poll_interval_seconds: float = Field(
        default=0.5,
        gt=0,
        description="How often a caught-up deliverer or an idle publisher looks for new events.",
    )
    events_redis_stream: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A Redis stream (on CUSTID_REDIS_URL) to XADD every event to. Unset: none.",
    )
    events_redis_stream_maxlen: int = Field(
        default=100_000, ge=1, description="About how many entries the stream keeps."
    )
    trail_signing_key: SecretStr | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs the trail's checkpoints. Unset: none.",
    )
    trail_seal_interval_seconds: float = Field(
        default=1.0, gt=0, description="How often new trail events are sealed into the chain."
    )

    # Security: TLS on each hop, sealed secrets, console sessions, abuse limits.
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate (chain) `custid serve` serves HTTPS with."
    )
    tls_key_file: Path | None = Field(default=None, description="Its PEM private key.")
    tls_client_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle: callers must present a certificate it signed (mutual TLS).",
    )
    forwarded_allow_ips: str = Field(
        default="127.0.0.1",
        description="Proxies whose X-Forwarded-For/-Proto are believed: addresses or networks, "
        "comma-separated, or *.",
    )
    redis_tls: bool | None = Field(
        default=None,
        description="TLS to Redis. Unset: on for rediss:// URLs; set true for Sentinels over TLS.",
    )
    redis_tls_ca_file: Path | None = Field(
        default=None, description="PEM CA that signed the Redis servers' certificates."
    )
    redis_tls_cert_file: Path | None = Field(
        default=None, description="Client certificate for Redis (tls-auth-clients)."
    )
    redis_tls_key_file: Path | None = Field(default=None, description="Its private key.")
    secret_keys: SecretStr | None = Field(
        default=None,
        description="Key ring sealing secrets at rest: base64 32-byte keys, comma-separated; "
        "the first seals, each opens. Unset on the embedded default: a key file in data_dir.",
    )
    console_idle_timeout: timedelta = Field(
        default=timedelta(minutes=30), description="A console session unused this long ends."
    )
    console_session_lifetime: timedelta = Field(
        default=timedelta(hours=8), description="A console session ends this long after sign-in."
    )
    client_rate_limit: str = Field(
        default="120/minute",
        description="Failed authentications per client address (e.g. 120/minute, 10/s); "
        "past it, requests without a key known to be valid answer 429.",
    )
    key_rate_limit: str | None = Field(
        default=None,
        description="Requests per API key for keys created without --rate. Unset: unlimited.",
    )

    @model_validator(mode="after")
    def _tls_files_in_pairs(self) -> "Settings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set CUSTID_TLS_CERT_FILE and CUSTID_TLS_KEY_FILE together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise ValueError("CUSTID_TLS_CLIENT_CA_FILE needs CUSTID_TLS_CERT_FILE and _KEY_FILE")
        if (self.redis_tls_cert_file is None) != (self.redis_tls_key_file is None):
            raise ValueError(
                "set CUSTID_REDIS_TLS_CERT_FILE and CUSTID_REDIS_TLS_KEY_FILE together"
            )
        return self

    @field_validator("client_rate_limit", "key_rate_limit")
    @classmethod
    def _rate(cls, value: str | None) -> str | None:
        from app.core.rates import canonical_rate

        return None if value is None else canonical_rate(value)

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None:
            return None
        return SecretStr(async_database_url(value.get_secret_value()))

    @field_validator("redis_sentinels")
    @classmethod
    def _sentinel_addresses(cls, value: str | None) -> str | None:
        if value is not None:
            parse_addresses(value)
        return value

    @model_validator(mode="after")
    def _one_redis_topology(self) -> "Settings":
        if self.redis_sentinels is not None and self.redis_url is not None:
            raise ValueError("set CUSTID_REDIS_SENTINELS or CUSTID_REDIS_URL, not both")
        if self.redis_cluster and self.redis_url is None:
            raise ValueError("CUSTID_REDIS_CLUSTER needs CUSTID_REDIS_URL: any node of the cluster")
        return self

    @field_validator("time_zone")
    @classmethod
    def _known_time_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown IANA time zone {value!r}") from exc
        return value

    @property
    def sqlalchemy_url(self) -> str:
        """The database URL, defaulting to the embedded SQLite file."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{(self.data_dir / 'custid.db').resolve()}"

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """The Sentinels to ask where the Redis primary is, or none."""
        return [] if self.redis_sentinels is None else parse_addresses(self.redis_sentinels)

    @property
    def webhooks_may_reach_private(self) -> bool:
        """Whether webhook targets may be private or loopback addresses: only when told so,
        or while nothing beyond this machine can reach the service, whatever the database."""
        if self.webhook_allow_private is not None:
            return self.webhook_allow_private
        from app.core.addresses import is_loopback

        return is_loopback(self.host)

    @property
    def redis_uses_tls(self) -> bool:
        """Whether connections to Redis (and its Sentinels) are TLS."""
        if self.redis_tls is not None:
            return self.redis_tls
        url = self.redis_url.get_secret_value() if self.redis_url is not None else ""
        return url.startswith("rediss://")

    @property
    def is_embedded(self) -> bool:
        """True when the database is the service's own SQLite file."""
        return self.sqlalchemy_url.startswith("sqlite")


# What custid talks to each database through; the URLs other tools write
# (`postgres://`, `postgresql://`) mean the same database through the same driver.
ASYNC_DRIVERS = {
    "postgres": "postgresql+asyncpg",
    "postgresql": "postgresql+asyncpg",
    "postgresql+asyncpg": "postgresql+asyncpg",
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
}


def async_database_url(url: str) -> str:
    """`url` with the driver custid uses; any other kind of URL is refused, saying what to write."""
    scheme, separator, rest = url.partition("://")
    driver = ASYNC_DRIVERS.get(scheme.lower()) if separator else None
    if driver is None:
        # The value may hold a password: at most its scheme is repeated.
        wrong = f"{scheme}:// is not a database custid uses" if separator else "not a URL"
        raise ValueError(
            f"{wrong}: write postgresql://user:password@host:5432/custid "
            "or sqlite:///path/to/custid.db"
        )
    return f"{driver}://{rest}"


def parse_addresses(text: str) -> list[tuple[str, int]]:
    """`host:port,host:port` as pairs; a malformed entry is named in the error."""
    addresses = []
    for entry in text.split(","):
        host, _, port = entry.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{entry.strip()!r} is not host:port")
        addresses.append((host.strip("[]"), int(port)))
    return addresses


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
