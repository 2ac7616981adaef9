"""Reading the scheme file: kinds are looked up by name, every scheme is validated.

A scheme file is TOML with one table per scheme:

    [schemes.daily]
    kind = "timestamp"
    format = "%Y%m%d"
    width = 3

A scheme whose format changed keeps its older definitions, newest first, so
their numbers still validate:

    [schemes.daily]
    version = 2
    ...
    [[schemes.daily.previous]]
    version = 1
    kind = "timestamp"
    format = "%y%m%d"

`version = "auto"` derives the version from the definition itself, so a
changed format cannot keep its old version by mistake.

Any mistake stops start-up with a `SchemeFileError` naming the scheme and the field.
"""

import re
import tomllib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from schemes.base import SchemeDefinition
from schemes.composite import CompositeScheme
from schemes.random import RandomScheme
from schemes.timestamp import TimestampScheme

ENTRY_POINT_GROUP = "custid.schemes"

# Built-in kinds are registered here, explicitly; others arrive as entry points.
BUILTIN_KINDS: dict[str, type[SchemeDefinition]] = {
    TimestampScheme.kind_name: TimestampScheme,
    RandomScheme.kind_name: RandomScheme,
    CompositeScheme.kind_name: CompositeScheme,
}
DUPLICATE_TABLE = re.compile(r"Cannot declare \('schemes', '([^']+)'\) twice")


class SchemeFileError(ValueError):
    """The scheme file, or a kind it needs, cannot be used."""


class Catalog(Mapping[str, SchemeDefinition]):
    """The current version of every scheme by name, plus the versions before it."""

    def __init__(
        self,
        current: Mapping[str, SchemeDefinition],
        previous: Mapping[str, list[SchemeDefinition]] | None = None,
    ) -> None:
        self._current = dict(current)
        self._previous = {name: list(older) for name, older in (previous or {}).items()}

    def __getitem__(self, name: str) -> SchemeDefinition:
        return self._current[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._current)

    def __len__(self) -> int:
        return len(self._current)

    def versions(self, name: str) -> list[SchemeDefinition]:
        """Every version of scheme `name`, newest first."""
        return [self._current[name], *self._previous.get(name, [])]


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


def load_catalog(path: Path, default_time_zone: str) -> Catalog:
    """Every scheme in the file at `path`, by name, with its earlier versions."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SchemeFileError(f"cannot read scheme file {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        duplicate = DUPLICATE_TABLE.search(str(exc))
        if duplicate:
            raise SchemeFileError(
                f"scheme {duplicate.group(1)!r}: declared twice in {path} ({exc})"
            ) from exc
        raise SchemeFileError(f"scheme file {path} is not valid TOML: {exc}") from exc
    tables = document.get("schemes")
    if not isinstance(tables, dict) or not tables:
        raise SchemeFileError(f"scheme file {path} declares no [schemes.NAME] tables")
    kinds = available_kinds()
    current: dict[str, SchemeDefinition] = {}
    previous: dict[str, list[SchemeDefinition]] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise SchemeFileError(f"scheme {name!r}: must be a table")
        older_tables = table.pop("previous", [])
        current[name] = build_scheme(name, table, kinds, default_time_zone)
        previous[name] = build_previous(current[name], older_tables, kinds, default_time_zone)
    return Catalog(current, previous)


def build_previous(
    scheme: SchemeDefinition,
    tables: Any,
    kinds: Mapping[str, type[SchemeDefinition]],
    default_time_zone: str,
) -> list[SchemeDefinition]:
    """The earlier versions of `scheme`, as listed (newest first); each has a version of its own."""
    if not isinstance(tables, list):
        raise SchemeFileError(f"scheme {scheme.name!r}: field 'previous': must be [[tables]]")
    older: list[SchemeDefinition] = []
    for index, table in enumerate(tables):
        where = f"previous.{index}"
        if not isinstance(table, dict) or "version" not in table:
            raise SchemeFileError(f"scheme {scheme.name!r}: field '{where}.version': required")
        built = build_scheme(scheme.name, table, kinds, default_time_zone, where)
        if built.version in {s.version for s in [scheme, *older]}:
            raise SchemeFileError(
                f"scheme {scheme.name!r}: field '{where}.version': version {built.version} "
                "is already taken; every version must differ"
            )
        older.append(built)
    return older


def build_scheme(
    name: str,
    table: Any,
    kinds: Mapping[str, type[SchemeDefinition]],
    default_time_zone: str,
    where: str = "",
) -> SchemeDefinition:
    """One validated scheme from its table in the scheme file."""
    prefix = f"{where}." if where else ""
    if not isinstance(table, dict):
        raise SchemeFileError(f"scheme {name!r}: must be a table")
    kind_name = table.get("kind")
    kind = kinds.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        known = ", ".join(sorted(kinds))
        raise SchemeFileError(
            f"scheme {name!r}: field '{prefix}kind': unknown kind {kind_name!r} (known: {known})"
        )
    fields = {"time_zone": default_time_zone, **table, "name": name}
    try:
        scheme = kind.model_validate(fields)
    except ValidationError as exc:
        problems = "; ".join(
            f"field {prefix + '.'.join(str(part) for part in error['loc'])!r}: {error['msg']}"
            if error["loc"]
            else error["msg"]
            for error in exc.errors()
        )
        raise SchemeFileError(f"scheme {name!r}: {problems}") from exc
    except ValueError as exc:  # raised while a kind assembles its validated fields
        raise SchemeFileError(f"scheme {name!r}: {exc}") from exc
    missing = kind.missing_members()
    if missing:
        raise SchemeFileError(
            f"scheme {name!r}: kind {kind_name!r} does not implement Scheme "
            f"(no {', '.join(missing)})"
        )
    return scheme
