"""Why a command stops before its work: one line on stderr and an exit code, no traceback.

Every command shares the codes:

- 1 — something to put right first: a setting, the scheme file, the database URL, a
  database that does not exist or is not at the newest migration, an address in use;
- 2 — a backend did not answer (the database, Redis): the same command works once it
  does (as `custid check` has always said); also the command line's own mistakes
  (click's code) and `serve` refusing a public address while no API key exists.
"""

from typing import Any, ClassVar

import typer
from pydantic import ValidationError

from app.settings import Settings, get_settings


class Refused(typer.Exit):
    """The command cannot start as things stand; the message says what to do.

    Raising one ends the command, so its line is written to stderr as it is made: the
    command line has no other place that sees every command's errors before they exit.
    """

    code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(self.code)
        self.message = message
        typer.echo(f"custid: {message}", err=True)

    def __str__(self) -> str:
        return self.message


class Unreachable(Refused):
    """A backend the command needs did not answer."""

    code = 2


def command_settings(**options: Any) -> Settings:
    """The settings from the environment with the command line's `options` (None: not
    given) on top; an invalid value is refused, named as the user wrote it."""
    given = {name: value for name, value in options.items() if value is not None}
    try:
        return Settings(**given) if given else get_settings()
    except ValidationError as exc:
        raise Refused(settings_problem(exc, given)) from None


def settings_problem(error: ValidationError, options: dict[str, Any]) -> str:
    """Each invalid setting as `NAME=value: what is wrong`, on one line; secrets unrepeated."""
    problems = []
    for detail in error.errors(include_url=False):
        message = str(detail["msg"]).removeprefix("Value error, ")
        if not detail["loc"]:  # a rule across settings: its message names them
            problems.append(message)
            continue
        field = str(detail["loc"][0])
        name = f"--{field.replace('_', '-')}" if field in options else f"CUSTID_{field.upper()}"
        secret = "SecretStr" in str(Settings.model_fields[field].annotation)
        shown = "" if secret else f"={detail['input']!r}"
        problems.append(f"{name}{shown}: {message}")
    return "invalid setting " + "; ".join(problems)
