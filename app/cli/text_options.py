"""Text given on the command line, held to the text grammar (`app/core/grammar.py`) as the
API holds it: what reaches storage from either is the same kind of text."""

from collections.abc import Callable

import typer

from app.core.grammar import Kind


def of_kind(kind: Kind) -> Callable[[str | None], str | None]:
    """A typer callback refusing an option's text that is not of `kind`, saying why."""

    def check(value: str | None) -> str | None:
        if value is not None and (problem := kind.problem(value)) is not None:
            raise typer.BadParameter(problem)
        return value

    return check
