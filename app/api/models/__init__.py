"""The bodies of the API: what routes read and answer, as pydantic models.

One rule: every request and response model of `app/api` lives here, one module per
feature (`issuing`, `numbers`, `lifecycle`, `refs`, `reservations`, `gaps`, `schemes`,
`events`, `webhooks`, `imports`, `export`, `health`, `problems`), with the fields they
share in `fields`. Routers import them; nothing here imports a router.

A model whose name the core (or the store) already gives something else is named for
what it is here (`IssueNumberRequest`, not the core's queued `IssueRequest`), and keeps
the name the OpenAPI document has always given its schema, which every generated
client depends on: its `__qualname__` is that name (pydantic names a schema from it)
and so is its `title`. The renamed ones:

    IssueNumberRequest   IssueRequest      ReservationBody   Reservation
    FeedEvent            Event             UtilisationBody   Utilisation
    RefBody              ExternalRef       GapBody           Gap
    NumberPageBody       NumberPage        PartitionGapsBody PartitionGaps
    TrailEntry           NumberEvent       ReplacementBody   Replacement
    ProblemDetails       Problem
"""
