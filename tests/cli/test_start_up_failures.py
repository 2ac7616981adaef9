"""Start-up mistakes, as a new operator makes them: each is one line naming what is wrong and
what to do, a non-zero exit, no traceback, and nothing served.

Each case runs `custid` as its own process, in an empty directory, with only the settings
the case names: the test process's own `CUSTID_*` variables do not leak in.
"""

import asyncio
import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from app.store.migrations import head_revision
from custid_testing.backends import create_database, drop_database
from custid_testing.servers import free_port, wait_until

pytestmark = pytest.mark.slow


def custid(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """`custid ARGS` with nothing but `env` set, as its own process in `cwd`."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        # A guard, not a measure: on a busy machine a start-up takes tens of seconds.
        timeout=180,
    )


def refused(result: subprocess.CompletedProcess[str]) -> list[str]:
    """What a refused start wrote, checked to be a short refusal: its stderr lines."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    assert '"serving"' not in result.stdout
    lines = result.stderr.splitlines()
    assert 1 <= len(lines) <= 3, result.stderr
    return lines


def as_asyncpg(url: str) -> str:
    """A PostgreSQL URL as custid names it in messages: asyncpg, without the password."""
    return make_url(url).set(drivername="postgresql+asyncpg").render_as_string(hide_password=True)


async def stamp(url: str, revision: str) -> None:
    """Mark the database as migrated to `revision`, as a custid that knows it would."""
    engine = create_async_engine(url)
    async with engine.begin() as connection:
        await connection.execute(
            text("UPDATE alembic_version SET version_num = :revision"), {"revision": revision}
        )
    await engine.dispose()


def written_as(url: str, scheme: str) -> str:
    """The same database URL with another scheme, e.g. `postgres://`."""
    return scheme + "://" + url.split("://", 1)[1]


@pytest.fixture
def empty_database(shared_postgres: str) -> Iterator[str]:
    """A database nobody migrated."""
    url = create_database(shared_postgres, revision=None)
    yield url
    drop_database(shared_postgres, url)


@pytest.fixture
def database_behind(shared_postgres: str) -> Iterator[str]:
    """A database an older custid migrated (API keys, nothing after)."""
    url = create_database(shared_postgres, revision="b4e1d2c3a9f0")
    yield url
    drop_database(shared_postgres, url)


@pytest.fixture
def migrated_database(shared_postgres: str) -> Iterator[str]:
    url = create_database(shared_postgres)
    yield url
    drop_database(shared_postgres, url)


def test_an_unreachable_database_is_named_with_exit_2(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/custid"

    result = custid(tmp_path, "serve", CUSTID_DATABASE_URL=url, CUSTID_PORT=str(free_port()))

    assert refused(result) == [
        f"custid: cannot reach the database postgresql+asyncpg://postgres@127.0.0.1:{port}/custid:"
        " connection refused"
    ]
    assert result.returncode == 2


def test_a_missing_database_says_to_create_it_then_migrate(
    tmp_path: Path, shared_postgres: str
) -> None:
    url = make_url(shared_postgres).set(database="custid_never_created").render_as_string(False)

    result = custid(tmp_path, "serve", CUSTID_DATABASE_URL=url, CUSTID_PORT=str(free_port()))

    assert refused(result) == [
        f"custid: the database {as_asyncpg(url)} does not exist: "
        "create it, then run `custid migrate`"
    ]
    assert result.returncode == 1


def test_an_unmigrated_database_names_custid_migrate(tmp_path: Path, empty_database: str) -> None:
    result = custid(
        tmp_path, "serve", CUSTID_DATABASE_URL=empty_database, CUSTID_PORT=str(free_port())
    )

    assert refused(result) == [
        f"custid: the database {as_asyncpg(empty_database)} has no custid tables: "
        "run `custid migrate`"
    ]
    assert result.returncode == 1


def test_a_database_behind_names_both_migrations_and_custid_migrate(
    tmp_path: Path, database_behind: str
) -> None:
    result = custid(
        tmp_path, "serve", CUSTID_DATABASE_URL=database_behind, CUSTID_PORT=str(free_port())
    )

    assert refused(result) == [
        f"custid: the database {as_asyncpg(database_behind)} is at migration b4e1d2c3a9f0, "
        f"this custid needs {head_revision()}: run `custid migrate`"
    ]
    assert result.returncode == 1


def test_a_database_a_newer_custid_migrated_is_refused(
    tmp_path: Path, migrated_database: str
) -> None:
    asyncio.run(stamp(migrated_database, "ffff0000"))

    result = custid(
        tmp_path, "serve", CUSTID_DATABASE_URL=migrated_database, CUSTID_PORT=str(free_port())
    )

    assert refused(result) == [
        f"custid: the database {as_asyncpg(migrated_database)} is at migration ffff0000, "
        "which this custid does not know: a newer custid migrated it"
    ]


@pytest.mark.parametrize("scheme", ["postgres", "postgresql"])
def test_postgres_and_postgresql_urls_migrate_and_serve_through_asyncpg(
    tmp_path: Path, empty_database: str, scheme: str
) -> None:
    url = written_as(empty_database, scheme)
    port = free_port()

    migrated = custid(tmp_path, "migrate", CUSTID_DATABASE_URL=url)
    with subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve"],
        env={"PATH": os.environ["PATH"], "CUSTID_DATABASE_URL": url, "CUSTID_PORT": str(port)},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as serving:
        assert serving.stdout is not None
        first_line = serving.stdout.readline()
        serving.terminate()

    assert migrated.returncode == 0, migrated.stderr
    assert migrated.stdout.strip() == (
        f"the database {as_asyncpg(empty_database)} is at the newest migration, {head_revision()}"
    )
    assert '"event":"serving"' in first_line
    assert f'"database":"the database {as_asyncpg(empty_database)}"' in first_line


def test_a_url_of_another_database_says_what_to_write_and_keeps_its_password(
    tmp_path: Path,
) -> None:
    result = custid(tmp_path, "serve", CUSTID_DATABASE_URL="mysql://app:hunter2@db/custid")

    assert refused(result) == [
        "custid: invalid setting CUSTID_DATABASE_URL: mysql:// is not a database custid uses: "
        "write postgresql://user:password@host:5432/custid or sqlite:///path/to/custid.db"
    ]
    assert "hunter2" not in result.stderr


def test_an_unreachable_redis_is_named_with_exit_2_and_the_way_to_do_without(
    tmp_path: Path,
) -> None:
    port = free_port()

    result = custid(
        tmp_path,
        "serve",
        CUSTID_REDIS_URL=f"redis://:hunter2@127.0.0.1:{port}/0",
        CUSTID_PORT=str(free_port()),
    )

    assert refused(result) == [
        f"custid: cannot reach Redis at redis://:[redacted]@127.0.0.1:{port}/0: connection "
        "refused: start it, or unset CUSTID_REDIS_URL to count in the database"
    ]
    assert result.returncode == 2


def test_an_address_in_use_is_refused_before_serving(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        result = custid(tmp_path, "serve", CUSTID_PORT=str(port))

    assert refused(result) == [
        f"custid: cannot listen on 127.0.0.1:{port}: another process is listening there"
    ]
    assert result.returncode == 1


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (
            ["--port", "99999"],
            {},
            "--port=99999: Input should be less than or equal to 65535",
        ),
        (
            [],
            {"CUSTID_PORT": "abc"},
            "CUSTID_PORT='abc': Input should be a valid integer, unable to parse string as an "
            "integer",
        ),
        (
            [],
            {"CUSTID_TIME_ZONE": "Mars/Olympus"},
            "CUSTID_TIME_ZONE='Mars/Olympus': unknown IANA time zone 'Mars/Olympus'",
        ),
    ],
)
def test_an_invalid_setting_is_named_with_what_is_wrong(
    tmp_path: Path, args: list[str], env: dict[str, str], message: str
) -> None:
    result = custid(tmp_path, "serve", *args, **env)

    assert refused(result) == [f"custid: invalid setting {message}"]
    assert result.returncode == 1
    assert not (tmp_path / "data").exists()


def test_serving_is_logged_once_the_address_listens(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve"],
            env={"PATH": os.environ["PATH"], "CUSTID_PORT": str(port)},
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(lambda: '"serving"' in log.read_text(), 180, "the serving line")
        # Listening already: a connection is accepted at once, and answered once the app is up.
        with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
            connection.sendall(b"GET /healthz HTTP/1.1\r\nHost: custid\r\n\r\n")
            answer = connection.recv(64)
    finally:
        process.terminate()
        process.wait(30)

    assert answer.startswith(b"HTTP/1.1 200")
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    serving = next(n for n, line in enumerate(lines) if line["event"] == "serving")
    assert lines[serving]["url"] == f"http://127.0.0.1:{port}"
    # Before it, only the embedded start-up's notices (the new key file), no error.
    assert [line["event"] for line in lines[:serving]] in ([], ["secret_key_file_created"])


@pytest.mark.parametrize(
    ("env", "message", "code"),
    [
        (
            {"CUSTID_DATABASE_URL": "postgresql://postgres@127.0.0.1:{closed}/custid"},
            "cannot reach the database postgresql+asyncpg://postgres@127.0.0.1:{closed}/custid: "
            "connection refused",
            2,
        ),
        (
            {"CUSTID_DATABASE_URL": "{server}/custid_never_created"},
            "the database {asyncpg_server}/custid_never_created does not exist: "
            "create it, then run this again",
            1,
        ),
    ],
)
def test_migrate_failures_are_one_line(
    tmp_path: Path, shared_postgres: str, env: dict[str, str], message: str, code: int
) -> None:
    closed = free_port()
    server = shared_postgres.rsplit("/", 1)[0]
    fill = {"closed": closed, "server": server, "asyncpg_server": as_asyncpg(server + "/x")[:-2]}

    result = custid(
        tmp_path, "migrate", **{name: value.format(**fill) for name, value in env.items()}
    )

    assert refused(result) == [f"custid: {message.format(**fill)}"]
    assert result.returncode == code


def test_an_embedded_file_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file, not a directory")
    data = tmp_path / "taken" / "data"

    result = custid(tmp_path, "serve", CUSTID_DATA_DIR=str(data), CUSTID_PORT=str(free_port()))

    assert refused(result) == [
        f"custid: cannot use the embedded database {data / 'custid.db'}: Not a directory"
    ]
    assert result.returncode == 1
