"""Imports of numbers an older system issued, all or none."""

from collections.abc import Iterable

import httpx

from custid_client.calls.call import Call, acting, fields_given, operation, segment
from custid_client.models import ImportSummary, LegacyNumber


def imported(response: httpx.Response) -> ImportSummary:
    return ImportSummary.from_json(response.json(), created=response.status_code == 201)


@operation
def import_csv(
    scheme: str, csv: str | bytes, *, operator: str | None = None
) -> Call[ImportSummary]:
    """Import numbers an older system issued, from CSV text (`number,issued_at[,refs]`), all
    or none (needs `numbers:admin`); numbers stored already as given are passed over."""
    return Call(
        "POST",
        f"/v1/schemes/{segment(scheme)}/imports",
        imported,
        content=csv,
        headers=acting(operator, **{"Content-Type": "text/csv"}),
    )


@operation
def import_numbers(
    scheme: str, rows: Iterable[LegacyNumber], *, operator: str | None = None
) -> Call[ImportSummary]:
    """Import numbers an older system issued, all or none (needs `numbers:admin`); numbers
    stored already as given are passed over."""
    return Call(
        "POST",
        f"/v1/schemes/{segment(scheme)}/imports",
        imported,
        json=fields_given(rows=[row.as_json() for row in rows], operator=operator),
    )
