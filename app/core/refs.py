"""External refs: the ids other systems know a number by, `{system, id}`, any number of them.

A ref is written `system:id` (`crm:acct-991`); one without a system prefix
(`acct-991`) belongs to the system `default`. Within a scheme a {system, id}
names one number, and a number has one ref per system (`number_refs`).
"""

import re
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

from app.core import grammar
from app.core.errors import InvalidRef
from app.store.bulk import Columns, Same, column_of
from app.store.models import DEFAULT_REF_SYSTEM, IssuedNumber

# `system:id` with a system (the text before the first colon: a system has none)...
SYSTEM_AND_ID = re.compile(rf"({grammar.SYSTEM}):(.+)", re.DOTALL)
# ... and the same with the id checked, or else a whole text that is an id: what `read`
# takes, in one match (an import reads a ref on every line). The ref grammar, in groups.
CHECKED_REF = re.compile(f"(?:({grammar.SYSTEM}):)?({grammar.for_python(grammar.ID)})")


# A tuple: an import reads one per line, a million at a time.
class ExternalRef(NamedTuple):
    """One id another system knows a number by."""

    system: str
    id: str

    @classmethod
    def parse(cls, text: str) -> "ExternalRef":
        """`crm:acct-991` as system `crm`, id `acct-991`; text without a system prefix (or
        with one that is no system name) as an id of the system `default`."""
        match = SYSTEM_AND_ID.fullmatch(text)
        if match is not None:
            return cls(*match.groups())
        return cls(DEFAULT_REF_SYSTEM, text)

    @classmethod
    def read(cls, text: str, field: str = "ref") -> "ExternalRef":
        """`text` parsed as `parse` does, or `InvalidRef` naming `field` if its id is not
        one a ref may have."""
        # As `parse`: when the id after a system is no id, neither is the whole text.
        match = CHECKED_REF.fullmatch(text)
        if match is None:
            raise InvalidRef(field, grammar.REF.problem(text) or "not a ref")
        system, ref_id = match.groups()
        return cls(system or DEFAULT_REF_SYSTEM, ref_id)

    @classmethod
    def checked(cls, system: str, ref_id: str, field: str = "ref") -> "ExternalRef":
        """The ref {system, ref_id}, or `InvalidRef` naming `field`."""
        for part, kind, text in (
            ("system", grammar.REF_SYSTEM, system),
            ("id", grammar.REF_ID, ref_id),
        ):
            problem = kind.problem(text)
            if problem is not None:
                raise InvalidRef(f"{field}.{part}", problem)
        return cls(system, ref_id)

    def __str__(self) -> str:
        return self.id if self.system == DEFAULT_REF_SYSTEM else f"{self.system}:{self.id}"

    def as_dict(self) -> dict[str, str]:
        return {"system": self.system, "id": self.id}


def refs_as_stored(record: IssuedNumber) -> list[dict[str, str]]:
    """A stored number's refs, as events and answers show them."""
    return [{"system": ref.system, "id": ref.ref_id} for ref in record.refs]


def ref_columns(
    scheme: str,
    numbers: Sequence[str],
    refs: Sequence[ExternalRef],
    added_at: Sequence[datetime],
    added_by: Sequence[str | None],
) -> Columns:
    """The `number_refs` columns giving numbers[i] the ref refs[i], added at added_at[i]
    by added_by[i]."""
    return {
        "number": list(numbers),
        "scheme": Same(scheme),
        "system": [ref.system for ref in refs],
        "ref_id": [ref.id for ref in refs],
        "added_at": column_of(added_at, [1] * len(added_at)),
        "added_by": column_of(added_by, [1] * len(added_by)),
    }
