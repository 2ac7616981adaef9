"""Reading the scheme file: kinds are looked up by name, every scheme is validated.

A scheme file is TOML with one table per scheme:

    [schemes.daily]
    kind = "timestamp"
    format = "%Y%m%d"
    width = 3

Any mistake stops start-up with a `SchemeFileError` naming the scheme and the field.
"""

import tomllib
from collections.abc import Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemes.base import Scheme, SchemeDefinition
from schemes.timestamp import TimestampScheme

ENTRY_POINT_GROUP = "custid.schemes"

# Built-in kinds are registered here, explicitly; others arrive as entry points.
BUILTIN_KINDS: dict[str, type[SchemeDefinition]] = {
    TimestampScheme.kind_name: TimestampScheme,
}


class SchemeFileError(ValueError):
    """The scheme file, or a kind it needs, cannot be used."""


def available_kinds() -> dict[str, type[SchemeDefinition]]:
    """Built-in kinds plus those installed under the `custid.schemes` entry-point group."""
    kinds = dict(BUILTIN_KINDS)
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        try:
            kind = entry_point.load()
        except Exception as exc:  # a broken plugin must stop start-up, whatever it raised
            raise SchemeFileError(
                f"scheme kind {entry_point.name!r} failed to load: {exc}"
            ) from exc
        if not (isinstance(kind, type) and issubclass(kind, SchemeDefinition)):
            raise SchemeFileError(
                f"scheme kind {entry_point.name!r} is not a SchemeDefinition subclass"
            )
        if entry_point.name in BUILTIN_KINDS:
            raise SchemeFileError(f"scheme kind {entry_point.name!r} shadows a built-in kind")
        kinds[entry_point.name] = kind
    return kinds


def load_catalog(path: Path, default_time_zone: str) -> dict[str, Scheme]:
    """Every scheme in the file at `path`, by name."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemeFileError(f"cannot read scheme file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise SchemeFileError(f"scheme file {path} is not valid TOML: {exc}") from exc
    tables = document.get("schemes")
    if not isinstance(tables, dict) or not tables:
        raise SchemeFileError(f"scheme file {path} declares no [schemes.NAME] tables")
    kinds = available_kinds()
    return {
        name: build_scheme(name, table, kinds, default_time_zone) for name, table in tables.items()
    }


def build_scheme(
    name: str,
    table: Any,
    kinds: Mapping[str, type[SchemeDefinition]],
    default_time_zone: str,
) -> Scheme:
    """One validated scheme from its table in the scheme file."""
    if not isinstance(table, dict):
        raise SchemeFileError(f"scheme {name!r}: must be a table")
    kind_name = table.get("kind")
    kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(sorted(kinds))
        raise SchemeFileError(
            f"scheme {name!r}: field 'kind': unknown kind {kind_name!r} (known: {known})"
        )
    fields = {"time_zone": default_time_zone, **table, "name": name}
    try:
        scheme = kind.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {'.'.join(str(part) for part in error['loc']) or '?'!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise SchemeFileError(f"scheme {name!r}: {problems}") from exc
    if not isinstance(scheme, Scheme):
        raise SchemeFileError(f"scheme {name!r}: kind {kind_name!r} does not implement Scheme")
    return scheme
