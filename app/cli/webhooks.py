"""`custid webhooks create|list|show|update|pause|resume|rotate-secret|redeliver|delete`."""

import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from app.cli.database import run_on_database
from app.cli.refusals import command_settings
from app.cli.text_options import of_kind
from app.core import grammar

if TYPE_CHECKING:
    from app.core.events.subscriptions import Subscription, Subscriptions
    from app.store.database import Database

webhooks = typer.Typer(
    help="Subscribe URLs to events, and manage their deliveries.", no_args_is_help=True
)
T = TypeVar("T")

TypeOption = typer.Option(  # noqa: B008 - typer declares options this way
    None, "--type", metavar="TYPE", help="An event type it receives (repeat; none: every type)."
)
SchemeOption = typer.Option(  # noqa: B008
    None,
    "--scheme",
    metavar="SCHEME",
    help="A scheme whose events it receives (repeat; none: every scheme).",
)


def with_subscriptions(
    work: Callable[["Subscriptions"], Awaitable[T]], *, creates: bool = False
) -> T:
    """Run `work` on the configured database's subscriptions; a custid error exits 1."""
    from app.core.clock import system_clock
    from app.core.events.subscriptions import Subscriptions
    from app.core.sealing import configured_key_ring

    settings = command_settings()

    async def run(db: "Database") -> T:
        # Only once the database is found: on the embedded default the ring is a key file
        # of its data directory, created on first use.
        key_ring = configured_key_ring(settings)
        allow_private = settings.webhooks_may_reach_private
        return await work(Subscriptions(db, system_clock, allow_private, key_ring))

    return run_on_database(run, creates=creates)


def iso_time(value: datetime) -> str:
    """A time in `--json` as the API writes it: ISO 8601."""
    return value.isoformat()


def show(subscription: "Subscription", **extra: Any) -> None:
    typer.echo(f"id:          {subscription.id}")
    typer.echo(f"url:         {subscription.url}")
    typer.echo(f"description: {subscription.description or '-'}")
    typer.echo(f"types:       {' '.join(subscription.event_types) or '(every type)'}")
    typer.echo(f"schemes:     {' '.join(subscription.schemes) or '(every scheme)'}")
    typer.echo(f"status:      {subscription.status}")
    if subscription.last_error:
        typer.echo(f"last error:  {subscription.last_error} (attempt {subscription.attempts})")
    for name, value in extra.items():
        typer.echo(f"{name + ':':<12} {value}")


@webhooks.command("create")
def create(
    url: str = typer.Option(..., "--url", help="An http(s) URL to post events to."),
    event_type: list[str] | None = TypeOption,
    scheme: list[str] | None = SchemeOption,
    description: str | None = typer.Option(
        None, help="What the receiver is.", callback=of_kind(grammar.DESCRIPTION)
    ),
) -> None:
    """Subscribe a URL to events from now on; prints the signing secret, shown this once."""
    from app.core.audit import Actor

    operator = Actor(None, "cli:webhooks")
    created = with_subscriptions(
        lambda s: s.create(url, event_type or [], scheme or [], description, operator),
        creates=True,
    )
    show(created.subscription, secret=created.secret)
    typer.echo(
        "Store the secret now: it verifies webhook-signature and is not shown again.", err=True
    )


@webhooks.command("list")
def list_all(
    as_json: bool = typer.Option(False, "--json", help="Print the subscriptions as JSON."),
) -> None:
    """List every subscription and how its deliveries stand (never the secrets)."""
    found = with_subscriptions(lambda s: s.all())
    if as_json:
        typer.echo(json.dumps([asdict(s) for s in found], indent=2, default=iso_time))
        return
    typer.echo(f"{'id':<22} {'status':<8} {'attempts':>8}  url")
    for subscription in found:
        typer.echo(
            f"{subscription.id:<22} {subscription.status:<8} {subscription.attempts:>8}  "
            f"{subscription.url}"
        )


@webhooks.command("show")
def show_one(subscription_id: str = typer.Argument(..., help="A subscription id.")) -> None:
    """Show one subscription."""
    show(with_subscriptions(lambda s: s.get(subscription_id)))


@webhooks.command("update")
def update(
    subscription_id: str = typer.Argument(..., help="A subscription id."),
    url: str | None = typer.Option(None, "--url", help="A new URL."),
    event_type: list[str] | None = TypeOption,
    scheme: list[str] | None = SchemeOption,
    description: str | None = typer.Option(
        None, help="A new description.", callback=of_kind(grammar.DESCRIPTION)
    ),
) -> None:
    """Change a subscription's URL, filters or description."""
    show(
        with_subscriptions(
            lambda s: s.update(
                subscription_id,
                url=url,
                event_types=event_type,
                schemes=scheme,
                description=description,
            )
        )
    )


@webhooks.command("pause")
def pause(subscription_id: str = typer.Argument(..., help="A subscription id.")) -> None:
    """Stop deliveries; the subscription keeps its place in the feed."""
    show(with_subscriptions(lambda s: s.update(subscription_id, status="paused")))


@webhooks.command("resume")
def resume(subscription_id: str = typer.Argument(..., help="A subscription id.")) -> None:
    """Deliver again from where it stopped, at once."""
    show(with_subscriptions(lambda s: s.update(subscription_id, status="active")))


@webhooks.command("rotate-secret")
def rotate_secret(
    subscription_id: str = typer.Argument(..., help="A subscription id."),
    overlap: int = typer.Option(
        86_400,
        "--overlap",
        min=0,
        max=30 * 86_400,
        help="Seconds the old secret goes on signing beside the new one (0: stops at once).",
    ),
) -> None:
    """Give a subscription a new signing secret (printed once); the old one keeps signing
    deliveries beside it for the overlap."""
    from datetime import timedelta

    rotated = with_subscriptions(
        lambda s: s.rotate_secret(subscription_id, timedelta(seconds=overlap))
    )
    until = rotated.subscription.previous_secret_until
    show(
        rotated.subscription,
        secret=rotated.secret,
        **({"old until": until.isoformat(timespec="seconds")} if until else {}),
    )
    typer.echo(
        "Store the secret now: it verifies webhook-signature and is not shown again.", err=True
    )


@webhooks.command("redeliver")
def redeliver(
    subscription_id: str = typer.Argument(..., help="A subscription id."),
    from_event: str = typer.Option(..., "--from", help="The first event to send again (evt_…)."),
) -> None:
    """Send an event and every later one of the subscription again."""
    show(with_subscriptions(lambda s: s.redeliver(subscription_id, from_event)))


@webhooks.command("delete")
def delete(subscription_id: str = typer.Argument(..., help="A subscription id.")) -> None:
    """Remove a subscription; its events stay in the feed."""
    with_subscriptions(lambda s: s.delete(subscription_id))
    typer.echo(f"deleted {subscription_id}")
