"""`custid check --audit` and `custid verify-checkpoint`: proving the trail untouched."""

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from app.cli.database import use_database
from app.cli.refusals import command_settings
from app.core.errors import UNAVAILABLE, as_custid_error
from app.logs import configure_logging
from app.settings import Settings

if TYPE_CHECKING:
    from app.core.trail.verification import TrailAudit


def audit(as_json: bool, checkpoint_file: Path | None) -> None:
    """Seal what can be sealed, recompute the whole trail, and name the first event that
    differs; with `checkpoint_file`, sign the head the audit verified into it."""
    configure_logging("error")
    settings = use_database()  # names the database; never creates an empty one to audit
    from app.core.trail.checkpoints import SigningKeyInvalid, signing_key_of

    try:
        key = None if checkpoint_file is None else signing_key_of(_signing_pem(settings))
    except SigningKeyInvalid as exc:
        typer.echo(f"custid check: {exc}", err=True)
        raise typer.Exit(2) from exc
    try:
        report, checkpoint = asyncio.run(_audit(settings, key))
    except UNAVAILABLE as exc:
        typer.echo(f"custid check: {as_custid_error(exc).detail}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(json.dumps(report.as_dict(), indent=2) if as_json else format_audit(report))
    if checkpoint is not None and checkpoint_file is not None:
        text = json.dumps(checkpoint, indent=2) + "\n"
        if str(checkpoint_file) == "-":
            typer.echo(text, nl=False)
        else:
            checkpoint_file.write_text(text)
            typer.echo(f"checkpoint written to {checkpoint_file}", err=True)
    raise typer.Exit(0 if report.ok else 1)


def _signing_pem(settings: Settings) -> str | None:
    key = settings.trail_signing_key
    return None if key is None else key.get_secret_value()


async def _audit(settings: Settings, key: Any) -> "tuple[TrailAudit, dict[str, Any] | None]":
    from app.cli.database import with_database
    from app.core.clock import system_clock
    from app.core.trail.checkpoints import sign_checkpoint
    from app.core.trail.seals import seal_all
    from app.core.trail.verification import audit_trail
    from app.store.database import Database

    async def work(db: Database) -> "tuple[TrailAudit, dict[str, Any] | None]":
        await seal_all(db)
        report = await audit_trail(db)
        if key is None or not report.ok:
            return report, None
        return report, sign_checkpoint(report.sealed_head, key, system_clock())

    return await with_database(settings, work)


def format_audit(report: "TrailAudit") -> str:
    """The audit as lines an operator reads: the first difference first."""
    lines = [
        f"trail: {report.events} events in {report.blocks} writes, "
        f"{report.sealed_blocks} sealed; head {report.head}"
    ]
    for index, problem in enumerate(report.problems):
        label = "FIRST DIFFERENCE" if index == 0 else "PROBLEM"
        lines.append(f"{label}: {problem.problem}")
    if report.problem_count > len(report.problems):
        lines.append(f"... and {report.problem_count - len(report.problems)} more")
    lines.append(
        "OK: the trail matches its chain"
        if report.ok
        else f"FAILED: {report.problem_count} problem(s)"
    )
    return "\n".join(lines)


def verify_checkpoint(
    checkpoint_file: Path = typer.Argument(  # noqa: B008 - typer declares arguments this way
        ..., exists=True, dir_okay=False, help="A checkpoint written by custid check --audit."
    ),
    public_key: Path | None = typer.Option(  # noqa: B008 - typer declares options this way
        None,
        "--public-key",
        exists=True,
        dir_okay=False,
        help="The signer's Ed25519 public key (PEM). Default: that of CUSTID_TRAIL_SIGNING_KEY.",
    ),
    against_database: bool = typer.Option(
        False,
        "--database",
        help="Also check that the configured database's trail still leads to the signed head.",
    ),
) -> None:
    """Verify a trail checkpoint's signature, offline; exit 0 if it holds, 1 if not.

    With --database, also recompute the stored trail and check that the link at the
    checkpoint's position is still the one signed: no event before it was changed.
    """
    from app.core.trail.checkpoints import (
        CheckpointInvalid,
        load_public_key,
    )
    from app.core.trail.checkpoints import (
        verify_checkpoint as verified,
    )

    settings = command_settings()
    configure_logging("error")
    try:
        if public_key is not None:
            key = load_public_key(public_key.read_bytes())
        elif (pem := _signing_pem(settings)) is not None:
            key = load_public_key(pem.encode())
        else:
            typer.echo(
                "custid verify-checkpoint: name the signer's key: --public-key FILE "
                "(or CUSTID_TRAIL_SIGNING_KEY)",
                err=True,
            )
            raise typer.Exit(2)
        document = json.loads(checkpoint_file.read_text())
        checkpoint = verified(document, key)
    except (CheckpointInvalid, ValueError) as exc:
        typer.echo(f"checkpoint INVALID: {exc}")
        raise typer.Exit(1) from exc
    typer.echo(
        f"checkpoint valid: position {checkpoint.position}, head {checkpoint.head}, "
        f"{checkpoint.events} events up to {checkpoint.last_event or '-'}, "
        f"signed {checkpoint.signed_at} by key {checkpoint.key_id}"
    )
    if not against_database:
        raise typer.Exit(0)
    use_database()
    try:
        report, stored = asyncio.run(_stored_link(settings, checkpoint.position))
    except UNAVAILABLE as exc:
        typer.echo(f"custid verify-checkpoint: {as_custid_error(exc).detail}", err=True)
        raise typer.Exit(2) from exc
    if stored != checkpoint.head:
        typer.echo(
            f"the database's trail does NOT lead to this checkpoint: position "
            f"{checkpoint.position} holds {stored or 'nothing'}, signed {checkpoint.head}; "
            "the trail before it was rewritten"
        )
        raise typer.Exit(1)
    typer.echo(format_audit(report))
    raise typer.Exit(0 if report.ok else 1)


async def _stored_link(settings: Settings, position: int) -> "tuple[TrailAudit, str | None]":
    from app.cli.database import with_database
    from app.core.trail.checkpoints import stored_link_at
    from app.core.trail.verification import audit_trail
    from app.store.database import Database

    async def work(db: Database) -> "tuple[TrailAudit, str | None]":
        return await audit_trail(db), await stored_link_at(db, position)

    return await with_database(settings, work)
