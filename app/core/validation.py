"""Is this string one of our numbers? Shape and check digit without a database, then issued?

A string that fits no scheme is an answer (`malformed`), not an error. Every
version of every scheme is tried, so numbers made before a format change
still validate.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from app.core.errors import UnknownScheme
from app.store import numbers as number_rows
from app.store.database import Database
from schemes import Catalog, ParsedNumber, SchemeDefinition


@dataclass(frozen=True)
class Validation:
    """What custid can say about a string."""

    number: str
    well_formed: bool
    check_digit_ok: bool | None
    scheme: str | None
    version: int | None
    issued: bool
    # What became of a stored number (issued, reserved, voided, retired, replaced), or
    # not_issued or malformed.
    status: str
    period: str | None = None
    partition: str | None = None
    seq: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    # Every scheme whose shape and check digit it fits: more than one means ambiguous formats.
    matches: list[str] = field(default_factory=list)
    replaced_by: str | None = None


# Statuses of numbers that are stored without having been issued.
NOT_ISSUED = ("reserved", "voided")


def read_number(candidates: list[SchemeDefinition], number: str) -> list[ParsedNumber]:
    """Every reading of `number` among `candidates`, valid ones first, in catalog order."""
    readings = [parsed for scheme in candidates if (parsed := scheme.parse(number)) is not None]
    return sorted(readings, key=lambda parsed: not parsed.valid)


async def validate_number(
    catalog: Catalog,
    db: Database,
    number: str,
    scheme_name: str | None = None,
) -> Validation:
    """Shape, check digit and issue status of `number`, in one scheme or any."""
    if scheme_name is not None and scheme_name not in catalog:
        raise UnknownScheme(scheme_name, catalog)
    names = [scheme_name] if scheme_name is not None else list(catalog)
    candidates = [version for name in names for version in catalog.versions(name)]
    async with db.session() as session:
        record = await number_rows.find_number(session, number)
    if record is not None and record.scheme in names:
        scheme, version = record.scheme, record.scheme_version
        # The scheme and version it was issued with read it first; the others are a fallback.
        candidates.sort(key=lambda s: (s.name != scheme, s.version != version))
    else:
        record = None
    readings = read_number(candidates, number)
    parsed = readings[0] if readings else None
    matches = list(dict.fromkeys(reading.scheme for reading in readings if reading.valid))
    # A reserved number is stored but not issued yet; a voided one never will be.
    issued = record is not None and record.status not in NOT_ISSUED
    if record is not None:
        status = record.status
    elif parsed is not None and parsed.valid:
        status = "not_issued"
    else:
        status = "malformed"
    if parsed is None:
        return Validation(
            number=number,
            well_formed=False,
            check_digit_ok=None,
            scheme=record.scheme if record is not None else None,
            version=record.scheme_version if record is not None else None,
            issued=issued,
            status=status,
        )
    return Validation(
        number=number,
        # A wrong check digit is a mistyped number: the shape alone does not make it well formed.
        well_formed=parsed.valid,
        check_digit_ok=parsed.check_digit_ok,
        scheme=record.scheme if record is not None else parsed.scheme,
        version=record.scheme_version if record is not None else parsed.version,
        issued=issued,
        status=status,
        replaced_by=record.replaced_by if record is not None else None,
        period=parsed.period,
        partition=parsed.partition,
        seq=parsed.seq,
        attributes=dict(parsed.attributes),
        matches=matches,
    )
