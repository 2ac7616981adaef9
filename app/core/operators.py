"""The acting operator: the person behind a request (their staff number, 工号), named by the
`X-Operator` header or `operator` in the body, and kept on every audit event of the change.

An operator is 1 to 64 letters, digits and `. _ @ + -`, starting with a letter or
digit. With a staff scheme configured (`CUSTID_OPERATOR_SCHEME`), it must also be an
issued, active number of that scheme. A key created with `--require-operator`
refuses requests that name none.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.core import grammar
from app.core.audit import Actor
from app.core.errors import InvalidOperator, OperatorRequired
from app.store import numbers as number_rows
from app.store.database import Database

MAX_CACHED_OPERATORS = 10_000


def check_operator_shape(operator: str, field_name: str = "operator") -> str:
    """`operator` if it has an operator's shape; `InvalidOperator` naming `field_name` if not."""
    problem = grammar.OPERATOR.problem(operator)
    if problem is not None:
        raise InvalidOperator(field_name, operator, problem)
    return operator


@dataclass
class Operators:
    """Admits the operator a request names, or refuses the request."""

    db: Database
    # Operators must be issued, active numbers of this scheme; None: any well-formed name.
    staff_scheme: str | None = None
    # How long a staff number found active is trusted: one retired stops working within this.
    cache_seconds: float = 1.0
    monotonic: Callable[[], float] = time.monotonic
    _active: dict[str, float] = field(default_factory=dict, init=False)

    async def admit(self, actor: Actor) -> None:
        """Nothing if `actor` may act as the operator it names (or names none and need not)."""
        operator = actor.operator
        if operator is None:
            if actor.operator_required:
                raise OperatorRequired(actor.key_id)
            return
        check_operator_shape(operator)
        if self.staff_scheme is None:
            return
        trusted_until = self._active.get(operator)
        if trusted_until is not None and trusted_until > self.monotonic():
            return
        async with self.db.session() as session:
            staff = await number_rows.find_number(session, operator)
        if staff is None or staff.scheme != self.staff_scheme:
            raise InvalidOperator(
                "operator",
                operator,
                f"not a number issued in the staff scheme {self.staff_scheme!r}",
            )
        if staff.status != "issued":
            raise InvalidOperator("operator", operator, f"this staff number is {staff.status}")
        if len(self._active) >= MAX_CACHED_OPERATORS:
            self._active.clear()
        self._active[operator] = self.monotonic() + self.cache_seconds
