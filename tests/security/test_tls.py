"""TLS on every hop: callers to custid (HTTPS, mutual TLS), custid to PostgreSQL
(`sslmode=verify-full`) and custid to Redis (`rediss://`: one server, Sentinel, Cluster).

Every server here is real and started by the test with certificates its own CA
made (custid_testing/certificates.py); a server's certificate from another CA is refused,
and custid never falls back to plaintext.
"""

import asyncio
import json
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.cli.serve import warn_if_plaintext_beyond_loopback
from app.logs import configure_logging
from app.settings import Settings
from app.store.tls import TlsSettingError, postgres_connect_args
from custid_testing.backends import TEST_SCHEMES, asyncpg_dsn, create_database, empty_tables
from custid_testing.certificates import TlsFiles, make_tls_files, other_ca_file
from custid_testing.in_process import FrozenClock, bearer, started_client
from custid_testing.issuing import issue
from custid_testing.redis_topologies import SENTINEL_SERVICE, RedisClusterGroup, SentinelGroup
from custid_testing.servers import TEST_SECRET_KEYS, PostgresServer, RedisServer, ServiceProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    return make_tls_files(tmp_path_factory.mktemp("tls"))


# --- callers to custid --------------------------------------------------------------------


def https_env(data: Path, tls: TlsFiles, **more: str) -> dict[str, str]:
    return {
        "CUSTID_DATA_DIR": str(data),
        "CUSTID_SCHEMES_FILE": str(TEST_SCHEMES),
        "CUSTID_TLS_CERT_FILE": str(tls.cert),
        "CUSTID_TLS_KEY_FILE": str(tls.key),
        **more,
    }


def test_custid_serves_https_and_nothing_else_on_its_port(tmp_path: Path, tls: TlsFiles) -> None:
    service = ServiceProcess(https_env(tmp_path, tls), trust=tls.ca).start()
    try:
        with service.http() as https:
            issued = https.post("/v1/schemes/daily/numbers")
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{service.port}/healthz", timeout=5)
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{service.url}/healthz", timeout=5)  # the system's CAs do not know it
    finally:
        service.stop()
    serving = next(
        json.loads(line)
        for line in service.final_output.splitlines()
        if '"event":"serving"' in line
    )

    assert issued.status_code == 201, issued.text
    assert serving["url"] == f"https://127.0.0.1:{service.port}"
    assert "serving_plaintext" not in service.final_output


def test_with_a_client_ca_callers_must_present_a_certificate_it_signed(
    tmp_path: Path, tls: TlsFiles
) -> None:
    env = https_env(tmp_path, tls, CUSTID_TLS_CLIENT_CA_FILE=str(tls.ca))
    service = ServiceProcess(env, trust=tls.ca, client_cert=(tls.client_cert, tls.client_key))
    service.start()
    try:
        with service.http() as with_certificate:
            answered = with_certificate.get("/healthz")
        anonymous = ssl.create_default_context(cafile=str(tls.ca))
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{service.url}/healthz", verify=anonymous, timeout=5).raise_for_status()
    finally:
        service.stop()

    assert (answered.status_code, answered.json()) == (200, {"status": "ok"})


def test_plaintext_beyond_loopback_is_logged_naming_the_setting(
    capsys: pytest.CaptureFixture[str], tls: TlsFiles
) -> None:
    configure_logging()
    warn_if_plaintext_beyond_loopback(Settings(host="0.0.0.0"))
    warned = capsys.readouterr().out
    warn_if_plaintext_beyond_loopback(Settings(host="127.0.0.1"))
    warn_if_plaintext_beyond_loopback(
        Settings(host="0.0.0.0", tls_cert_file=tls.cert, tls_key_file=tls.key)
    )
    quiet = capsys.readouterr().out

    line = json.loads(warned)
    assert (line["event"], line["level"], line["host"]) == (
        "serving_plaintext",
        "warning",
        "0.0.0.0",
    )
    assert "CUSTID_TLS_CERT_FILE" in line["detail"]
    assert quiet == ""


def test_tls_files_come_in_pairs(tls: TlsFiles) -> None:
    with pytest.raises(ValueError, match="together"):
        Settings(tls_cert_file=tls.cert)
    with pytest.raises(ValueError, match="CUSTID_TLS_CLIENT_CA_FILE"):
        Settings(tls_client_ca_file=tls.ca)


# --- custid to PostgreSQL -----------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_postgres(tls: TlsFiles) -> Iterator[PostgresServer]:
    """A PostgreSQL with `ssl=on` that refuses every TCP connection without TLS."""
    server = PostgresServer().require_tls(tls).start()
    yield server
    server.destroy()


def verified_url(server: PostgresServer, ca: Path, mode: str = "verify-full") -> str:
    return f"{server.url}?sslmode={mode}&sslrootcert={ca}"


def postgres_settings(database_url: str, tmp_path: Path, **more: Any) -> Settings:
    return Settings(
        database_url=database_url,
        secret_keys=TEST_SECRET_KEYS,
        schemes_file=TEST_SCHEMES,
        data_dir=tmp_path,
        **more,
    )


async def tls_sessions(database_url: str) -> tuple[int, bool]:
    """How many client connections the database has, and whether all of them are TLS."""
    connection = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        row = await connection.fetchrow(
            "SELECT count(*) AS connections, bool_and(ssl) AS all_tls FROM pg_stat_ssl "
            "JOIN pg_stat_activity USING (pid) WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    finally:
        await connection.close()
    return int(row["connections"]), bool(row["all_tls"])


async def test_the_service_reaches_postgres_over_verified_tls_only(
    tls_postgres: PostgresServer, tls: TlsFiles, tmp_path: Path, clock: FrozenClock
) -> None:
    plain = await asyncio.to_thread(create_database, verified_url(tls_postgres, tls.ca))
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(asyncpg_dsn(tls_postgres.url), ssl=False)  # no TLS: refused
    async with started_client(postgres_settings(plain, tmp_path), clock) as http:
        single = await http.post("/v1/schemes/daily/numbers")
        batch = await http.post("/v1/schemes/daily/numbers/batch", json={"count": 50})
        found = await http.get(f"/v1/numbers/{single.json()['number']}")
        connections, all_tls = await tls_sessions(plain)

    assert (single.status_code, batch.status_code, found.status_code) == (201, 201, 200)
    assert connections >= 1
    assert all_tls


async def test_a_postgres_certificate_from_another_ca_is_refused(
    tls_postgres: PostgresServer, tls: TlsFiles, tmp_path: Path, clock: FrozenClock
) -> None:
    database = await asyncio.to_thread(create_database, verified_url(tls_postgres, tls.ca))
    stranger = other_ca_file(tmp_path)
    url = f"{database.partition('?')[0]}?sslmode=verify-full&sslrootcert={stranger}"
    settings = postgres_settings(url, tmp_path, auth="required")
    async with started_client(settings, clock) as http:
        # A key to look up takes the service to its database, which it cannot trust.
        refused = await http.post("/v1/schemes/daily/numbers", headers=bearer("custid_any"))
        ready = await http.get("/readyz")

    assert (refused.status_code, refused.json()["code"]) == (503, "backend_unavailable")
    assert "retry-after" in refused.headers
    assert ready.status_code == 503


def test_libpq_ssl_modes_become_what_asyncpg_verifies_with(tls: TlsFiles) -> None:
    full = postgres_connect_args({"sslmode": "verify-full", "sslrootcert": str(tls.ca)})
    ca_only = postgres_connect_args({"sslmode": "verify-ca", "sslrootcert": str(tls.ca)})
    require_with_root = postgres_connect_args({"sslmode": "require", "sslrootcert": str(tls.ca)})

    assert isinstance(full["ssl"], ssl.SSLContext)
    assert (full["ssl"].check_hostname, full["ssl"].verify_mode) == (True, ssl.CERT_REQUIRED)
    assert (ca_only["ssl"].check_hostname, ca_only["ssl"].verify_mode) == (
        False,
        ssl.CERT_REQUIRED,
    )
    assert require_with_root["ssl"].verify_mode == ssl.CERT_REQUIRED  # as libpq does
    assert postgres_connect_args({"sslmode": "disable"}) == {"ssl": False}
    assert "sslrootcert" not in full
    with pytest.raises(TlsSettingError, match="sslmode='verify-everything'"):
        postgres_connect_args({"sslmode": "verify-everything"})


# --- custid to Redis ----------------------------------------------------------------------


@pytest.fixture
def database(sqlite_database: str) -> str:
    """The migrated embedded database, emptied: the counters are Redis's concern here."""
    asyncio.run(empty_tables(sqlite_database))
    return sqlite_database


def redis_settings(database: str, tls: TlsFiles, ca: Path | None = None, **redis: Any) -> Settings:
    return Settings(
        database_url=database,
        redis_key_prefix=f"tls-{uuid.uuid4().hex[:8]}",
        redis_timeout_seconds=0.5,
        redis_probe_interval_seconds=0.2,
        redis_tls_ca_file=ca or tls.ca,
        redis_tls_cert_file=tls.client_cert,
        redis_tls_key_file=tls.client_key,
        schemes_file=TEST_SCHEMES,
        data_dir=Path(make_url(database).database or ".").parent,
        **redis,
    )


async def issue_on_redis(
    settings: Settings, clock: FrozenClock, departments: list[str]
) -> tuple[list[str], dict[str, Any]]:
    """Numbers issued one per department, and what /readyz said after."""
    async with started_client(settings, clock) as http:
        issued = [
            (await issue(http, "staff", attributes={"department": department})).number
            for department in departments
        ]
        ready = (await http.get("/readyz")).json()
    return issued, ready


@pytest.fixture
def tls_redis(tls: TlsFiles) -> Iterator[RedisServer]:
    server = RedisServer(tls=tls).start()
    yield server
    server.destroy()


async def test_the_counter_runs_on_redis_over_tls(
    tls_redis: RedisServer, tls: TlsFiles, database: str, clock: FrozenClock
) -> None:
    settings = redis_settings(database, tls, redis_url=tls_redis.tls_url)

    issued, ready = await issue_on_redis(settings, clock, ["SALES", "OPS"])

    assert ready["counter"] == "redis", ready
    stored = tls_redis.command("KEYS", f"{settings.redis_key_prefix}:staff:*")
    assert stored.count(b"staff") == 2  # both counters live in the TLS server
    assert len(set(issued)) == 2


async def test_a_redis_certificate_from_another_ca_is_refused(
    tls_redis: RedisServer, tls: TlsFiles, database: str, tmp_path: Path, clock: FrozenClock
) -> None:
    stranger = other_ca_file(tmp_path)
    settings = redis_settings(database, tls, ca=stranger, redis_url=tls_redis.tls_url)

    issued, ready = await issue_on_redis(settings, clock, ["SALES"])

    assert ready["counter"] == "database"  # Redis refused: the database counter serves
    assert tls_redis.command("KEYS", f"{settings.redis_key_prefix}:*").startswith(b"*0")
    assert len(issued) == 1


def test_a_redis_url_with_tls_needs_no_extra_switch() -> None:
    assert Settings(redis_url="rediss://cache:6380/0").redis_uses_tls
    assert not Settings(redis_url="redis://cache:6379/0").redis_uses_tls
    assert Settings(redis_sentinels="s1:26379", redis_tls=True).redis_uses_tls


async def test_sentinels_and_their_primary_over_tls(
    tls: TlsFiles, database: str, clock: FrozenClock
) -> None:
    group = await asyncio.to_thread(SentinelGroup(replicas=1, tls=tls).start)
    try:
        settings = redis_settings(
            database,
            tls,
            redis_sentinels=group.tls_addresses,
            redis_sentinel_service=SENTINEL_SERVICE,
            redis_tls=True,
        )
        issued, ready = await issue_on_redis(settings, clock, ["SALES", "OPS", "HR"])
        stored = group.primary.command("KEYS", f"{settings.redis_key_prefix}:staff:*")
    finally:
        await asyncio.to_thread(group.destroy)

    assert ready["counter"] == "redis", ready
    assert stored.count(b"staff") == 3
    assert len(set(issued)) == 3


async def test_a_redis_cluster_over_tls(tls: TlsFiles, database: str, clock: FrozenClock) -> None:
    cluster = await asyncio.to_thread(RedisClusterGroup(tls=tls).start)
    try:
        settings = redis_settings(database, tls, redis_url=cluster.url, redis_cluster=True)
        departments = [f"D{letter}{other}" for letter in "ABC" for other in "ABCD"]
        issued, ready = await issue_on_redis(settings, clock, departments)
        per_master = cluster.keys_per_master(f"{settings.redis_key_prefix}:staff:*")
    finally:
        await asyncio.to_thread(cluster.destroy)

    assert ready["counter"] == "redis", ready
    assert sum(per_master.values()) == len(departments)
    assert len(set(issued)) == len(departments)
