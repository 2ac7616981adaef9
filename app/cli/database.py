"""The database a command works on: named first, and opened only as far as the command may.

Every command says on stderr which database it uses (`custid serve` in its `serving`
log line). The embedded file is `CUSTID_DATA_DIR/custid.db`, and a relative
`CUSTID_DATA_DIR` (the default, `data`) is taken from the current directory by the
server and every command alike, so the line names the absolute path.

A command that reads or changes what is stored (`keys list`, `keys revoke`, `check`,
`webhooks list`, `export`, ...) opens the database as it is, with `use_database()` or
`run_on_database(work)`: a missing embedded file, a PostgreSQL database that does not
exist or one that is not at the newest migration stops it with one line saying where
it looked and what to do, and nothing is created or migrated. A command that adds the
first thing of its kind (`keys create`, `webhooks create`, `import`) passes
`creates=True`: the embedded file is made if missing and brought to the newest
migration, as `custid serve` does, and the line says so. PostgreSQL is migrated by
`custid migrate` alone.
"""

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import typer

from app.cli.refusals import Refused, Unreachable, command_settings
from app.core.errors import CustidError, as_custid_error
from app.settings import Settings
from app.store.errors import StoreError

if TYPE_CHECKING:
    from app.store.database import Database

T = TypeVar("T")
Work = Callable[["Database"], Awaitable[T]]


def run_on_database(work: Work[T], *, creates: bool = False) -> T:
    """Run `work` on the command's database (see `use_database`); a custid error exits 1
    with its detail."""
    settings = use_database(creates=creates)
    try:
        return asyncio.run(with_database(settings, work))
    except (CustidError, StoreError) as exc:
        typer.echo(f"custid: {as_custid_error(exc).detail}", err=True)
        raise typer.Exit(1) from exc


def use_database(*, creates: bool = False) -> Settings:
    """The command's settings, once its database is named on stderr and found ready.

    Without `creates` nothing is created or migrated: a database that is missing, not
    reachable or not at the newest migration is `Refused` (or `Unreachable`), saying
    where the command looked. With it, the embedded file is created if missing and
    migrated, as `custid serve` would (PostgreSQL is migrated by `custid migrate` only).
    """
    settings = command_settings()
    file = embedded_file(settings)
    if file is not None and creates:
        existed = file.exists()
        migrate_database(settings)
        done = "using" if existed else "created"
        typer.echo(f"custid: {done} {database_in_use(settings)}", err=True)
        return settings
    if file is not None and not file.exists():
        raise Refused(f"no database at {file}{relative_to_here(settings)}")
    typer.echo(f"custid: using {database_in_use(settings)}", err=True)
    asyncio.run(require_newest_schema(settings))
    return settings


async def with_database(settings: Settings, work: Work[T]) -> T:
    """`work` on a short-lived connection pool."""
    from app.store.database import Database

    db = Database.connect(settings.sqlalchemy_url, settings.backend_timeout_seconds)
    try:
        return await work(db)
    finally:
        await db.dispose()


def embedded_file(settings: Settings) -> Path | None:
    """The SQLite file the settings name (absolute), or None for PostgreSQL."""
    if not settings.is_embedded:
        return None
    _, _, path = settings.sqlalchemy_url.partition(":///")
    return Path(path).resolve()


def database_in_use(settings: Settings) -> str:
    """The database as messages name it: the embedded file's path, or the URL without
    its password."""
    file = embedded_file(settings)
    if file is not None:
        return f"the embedded database {file}"
    from sqlalchemy.engine import make_url

    return f"the database {make_url(settings.sqlalchemy_url).render_as_string(hide_password=True)}"


def relative_to_here(settings: Settings) -> str:
    """Where a relative data directory was taken from, and how to point elsewhere."""
    if settings.database_url is not None or settings.data_dir.is_absolute():
        return ""
    return (
        f" (CUSTID_DATA_DIR {str(settings.data_dir)!r} is taken from the current directory): "
        "run this where `custid serve` runs, or set CUSTID_DATA_DIR"
    )


def migrate_database(settings: Settings, then: str = "run this again") -> None:
    """Bring the database to the newest migration, creating the embedded file if need be;
    what the database or the file system refuses is `Refused` (or `Unreachable`) in one
    line. `then` is the step after creating a missing PostgreSQL database."""
    from sqlalchemy.exc import DBAPIError

    from app.core.sealing import KeyRingMissing, configured_key_ring
    from app.store.database import is_database_outage, sqlstate_of
    from app.store.migrations import upgrade_to_head

    where = database_in_use(settings)
    try:
        upgrade_to_head(settings.sqlalchemy_url, configured_key_ring(settings))
    except KeyRingMissing as exc:  # secrets to seal and no CUSTID_SECRET_KEYS
        raise Refused(str(exc)) from None
    except (OSError, DBAPIError) as exc:
        if settings.is_embedded:
            why = exc.strerror if isinstance(exc, OSError) else first_line(exc)
            raise Refused(f"cannot use {where}: {why}") from None
        # The database's own refusals are one line; anything else is a bug to show whole.
        if not (is_database_outage(exc) or sqlstate_of(exc)):
            raise
        raise connection_refusal(exc, where, settings.backend_timeout_seconds, then) from None


async def require_newest_schema(settings: Settings) -> None:
    """Refused unless the database answers, lets custid in and is at the newest migration."""
    from app.store.database import create_engine
    from app.store.migrations import head_revision, is_known_revision, schema_revision

    where = database_in_use(settings)
    engine = create_engine(settings.sqlalchemy_url, settings.backend_timeout_seconds)
    try:
        async with engine.connect() as connection:
            applied = await schema_revision(connection)
    except Exception as exc:
        raise connection_refusal(exc, where, settings.backend_timeout_seconds) from None
    finally:
        await engine.dispose()
    head = head_revision()
    if applied is None:
        raise Refused(f"{where} has no custid tables: run `custid migrate`")
    if applied == head:
        return
    if not is_known_revision(applied):
        raise Refused(
            f"{where} is at migration {applied}, which this custid does not know: "
            "a newer custid migrated it"
        )
    raise Refused(
        f"{where} is at migration {applied}, this custid needs {head}: run `custid migrate`"
    )


def connection_refusal(
    exc: BaseException, where: str, timeout_seconds: float, then: str = "run `custid migrate`"
) -> Refused:
    """What a failure to connect to the database means, as one line; `then` is the step
    after creating a missing database."""
    from app.store.database import (
        MISSING_DATABASE_SQLSTATE,
        REFUSED_LOGIN_SQLSTATES,
        is_database_outage,
        sqlstate_of,
    )

    state = sqlstate_of(exc)
    if state == MISSING_DATABASE_SQLSTATE:
        return Refused(f"{where} does not exist: create it, then {then}")
    if state in REFUSED_LOGIN_SQLSTATES:
        return Refused(f"{where} refused the login: {first_line(exc)}")
    if is_database_outage(exc):
        return Unreachable(f"cannot reach {where}: {failure_reason(exc, timeout_seconds)}")
    return Refused(f"{where} failed: {first_line(exc)}")


def failure_reason(exc: BaseException, timeout_seconds: float) -> str:
    """Why a connection failed, in a few words (a driver's error may wrap the reason)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cause, socket.gaierror):
            return f"unknown host ({cause.strerror})"
        if isinstance(cause, TimeoutError):
            return f"no answer within {timeout_seconds:g} s"
        cause = cause.__cause__ or cause.__context__
    return first_line(exc)


def first_line(exc: BaseException) -> str:
    """The first line of what an error says (of the driver's error, under SQLAlchemy's)."""
    original = getattr(exc, "orig", None) or exc
    text = str(original).strip()
    return text.splitlines()[0].rstrip(".") if text else type(original).__name__
