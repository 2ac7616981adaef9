"""`custid keys create|list|revoke`: API keys, managed at the command line."""

import getpass
import json
import uuid
from typing import TYPE_CHECKING, Any

import typer

from app.cli.database import run_on_database
from app.cli.text_options import of_kind
from app.core import grammar
from app.core.scopes import Scope

if TYPE_CHECKING:
    from app.core.api_keys import NewKey
    from app.core.audit import Actor
    from app.store.database import Database
    from app.store.models import ApiKey

keys = typer.Typer(help="Create, list and revoke API keys.", no_args_is_help=True)


@keys.command("create")
def keys_create(
    name: str = typer.Option(
        ...,
        "--name",
        help="Who or what uses the key, e.g. crm-prod.",
        callback=of_kind(grammar.NAME),
    ),
    scope: list[Scope] = typer.Option(  # noqa: B008 - typer declares options this way
        ...,
        "--scope",
        metavar="SCOPE",
        help="A scope to grant (numbers:issue, numbers:read, numbers:admin); repeat for several.",
    ),
    if_no_keys: bool = typer.Option(
        False,
        "--if-no-keys",
        help="Create the key only if no key exists yet (a deployment's first key); "
        "otherwise create nothing and exit 0.",
    ),
    require_operator: bool = typer.Option(
        False,
        "--require-operator",
        help="Refuse its requests that name no acting operator (X-Operator or `operator`).",
    ),
    rate: str | None = typer.Option(
        None,
        "--rate",
        metavar="RATE",
        help="The most requests it may make, e.g. 100/s, 6000/minute (past it: 429). "
        "Default: CUSTID_KEY_RATE_LIMIT, if set.",
    ),
) -> None:
    """Create an API key and print its secret. It is shown this once and never stored."""

    from app.core.api_keys import any_key_exists, create_key
    from app.core.clock import system_clock
    from app.core.rates import canonical_rate

    try:
        rate_limit = None if rate is None else canonical_rate(rate)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--rate") from exc

    async def create(db: "Database") -> "NewKey | None":
        if if_no_keys and await any_key_exists(db):
            return None
        return await create_key(
            db, name, scope, system_clock, _operator(), require_operator, rate_limit
        )

    created = run_on_database(create, creates=True)
    if created is None:
        typer.echo("an API key exists already: none created", err=True)
        return
    typer.echo(f"id:     {created.key.id}")
    typer.echo(f"name:   {created.key.name}")
    typer.echo(f"scopes: {' '.join(created.key.scopes)}")
    if require_operator:
        typer.echo("requires an operator: yes")
    if rate_limit is not None:
        typer.echo(f"rate:   {rate_limit}")
    typer.echo(f"secret: {created.token}")
    typer.echo(
        "Store the secret now: it cannot be shown again. Send it as "
        "`Authorization: Bearer <secret>`.",
        err=True,
    )


@keys.command("list")
def keys_list(
    as_json: bool = typer.Option(False, "--json", help="Print the keys as a JSON array."),
) -> None:
    """List every API key (never the secrets), revoked ones included."""
    from app.core.api_keys import list_keys

    found = run_on_database(list_keys)
    if as_json:
        typer.echo(json.dumps([key_as_dict(key) for key in found], indent=2))
        return
    typer.echo(f"{'id':<22} {'name':<20} {'scopes':<42} {'created':<26} revoked")
    for key in found:
        typer.echo(
            f"{key.id:<22} {key.name:<20} {' '.join(key.scopes):<42} "
            f"{key.created_at.isoformat(timespec='seconds'):<26} "
            f"{key.revoked_at.isoformat(timespec='seconds') if key.revoked_at else '-'}"
        )


@keys.command("revoke")
def keys_revoke(
    key_id: str = typer.Argument(..., help="The key's id, from `custid keys list`."),
    reason: str | None = typer.Option(
        None, help="Why; kept in the audit trail.", callback=of_kind(grammar.REASON)
    ),
) -> None:
    """Revoke an API key: every request with it is refused from now on."""

    from app.core.api_keys import revoke_key
    from app.core.clock import system_clock

    async def revoke(db: "Database") -> "ApiKey":
        return await revoke_key(db, key_id, system_clock, _operator(), reason)

    revoked = run_on_database(revoke)
    typer.echo(f"revoked {revoked.id} ({revoked.name})")


def key_as_dict(key: "ApiKey") -> dict[str, Any]:
    """What `keys list --json` says of a key: everything but its hash."""
    return {
        "id": key.id,
        "name": key.name,
        "scopes": list(key.scopes),
        "created_at": key.created_at.isoformat(),
        "revoked_at": key.revoked_at.isoformat() if key.revoked_at else None,
        "rate_limit": key.rate_limit,
    }


def _operator() -> "Actor":
    """Key changes made at the command line: no API key acted, so the request id names who."""
    from app.core.audit import Actor

    return Actor(None, f"cli:{getpass.getuser()}:{uuid.uuid4().hex[:12]}")
