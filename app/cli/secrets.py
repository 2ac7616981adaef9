"""`custid secrets new-key|rotate`: the key ring that seals secrets at rest."""

import typer

secrets = typer.Typer(
    help="The key ring (CUSTID_SECRET_KEYS) that seals webhook secrets at rest.",
    no_args_is_help=True,
)


@secrets.command("new-key")
def new_key() -> None:
    """Print a new key for CUSTID_SECRET_KEYS (base64 of 32 random bytes)."""
    from app.core.sealing import new_key as fresh_key

    typer.echo(fresh_key())
    typer.echo(
        "Put it first in CUSTID_SECRET_KEYS on every replica, keep the old keys after it, "
        "then run `custid secrets rotate`.",
        err=True,
    )


@secrets.command("rotate")
def rotate() -> None:
    """Seal every stored secret again under the ring's first key; after this the other
    keys can be taken out of CUSTID_SECRET_KEYS."""
    from app.cli.webhooks import with_subscriptions

    resealed = with_subscriptions(lambda subscriptions: subscriptions.reseal())
    typer.echo(f"{resealed} subscription(s) sealed again under the first key")
