"""The schemes custid issues, the next number of one, and the gaps of a period."""

from custid_client.calls.call import Attributes, Call, fields_given, operation, segment
from custid_client.models import PeriodGaps, Preview, Scheme, SchemeDetail


@operation
def schemes() -> Call[list[Scheme]]:
    """Every scheme custid issues, with an example of each."""
    return Call("GET", "/v1/schemes", lambda r: [Scheme.from_json(s) for s in r.json()["schemes"]])


@operation
def scheme(name: str) -> Call[SchemeDetail]:
    """One scheme: its segments, example, capacity and how full its current period is."""
    return Call("GET", f"/v1/schemes/{segment(name)}", lambda r: SchemeDetail.from_json(r.json()))


@operation
def preview(scheme: str, attributes: Attributes = None) -> Call[Preview]:
    """The number the next issue would give; nothing is consumed."""
    return Call(
        "POST",
        f"/v1/schemes/{segment(scheme)}/preview",
        lambda r: Preview.from_json(r.json()),
        json={"attributes": dict(attributes or {})},
    )


@operation
def gaps(scheme: str, period: str, *, partition: str | None = None) -> Call[PeriodGaps]:
    """Every sequence value of a period not stored as a number, in runs, each with its cause
    (`period` "-" for a scheme that never resets; `partition` e.g. "region=SH")."""
    return Call(
        "GET",
        f"/v1/schemes/{segment(scheme)}/periods/{segment(period)}/gaps",
        lambda r: PeriodGaps.from_json(r.json()),
        params=fields_given(partition=partition),
    )
