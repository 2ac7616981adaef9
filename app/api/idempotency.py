"""Idempotency-Key over HTTP: the header, the claim a keyed request makes, and how an
answer given again is marked.

A claim's fingerprint hashes what the request asks for: its method, its path and its
body. The path is read from the route that matched, its template filled with the
request's path parameters, so no route spells its own path out and the fingerprint of
a request is the same in every process and after every restart. (The route's template,
not the URL: a path prefix a proxy adds (`root_path`) is no part of what was asked.)
"""

from typing import Annotated, Any

from fastapi import Header, Request
from pydantic import BaseModel

from app.core import grammar
from app.core.audit import Actor
from app.core.issuing.idempotency import IdempotencyClaim, fingerprint

IdempotencyKeyHeader = Annotated[
    str | None,
    grammar.IDEMPOTENCY_KEY.constraints,
    Header(
        alias="Idempotency-Key",
        description="Send the same key when retrying: the same body gets the first answer "
        "(the same numbers) back, marked with `Idempotency-Replayed: true`; a different body "
        "is a 422. Keys expire after 24 h by default.",
    ),
]
# Set on an answer given again for an Idempotency-Key the same caller sent before.
REPLAYED_HEADER = "Idempotency-Replayed"
# The header as the document describes it, on every answer a key can replay.
REPLAYED: dict[str, Any] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the answer an earlier request with the same "
        "Idempotency-Key got.",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def claim_of(
    http: Request, actor: Actor, key: str | None, body: BaseModel
) -> IdempotencyClaim | None:
    """The claim the request's Idempotency-Key makes for it, if it came with one."""
    if key is None:
        return None
    fields = body.model_dump()
    if "operator" in fields and fields["operator"] is None:
        del fields["operator"]  # as bodies were fingerprinted before operators were named
    asked = fingerprint(http.method, requested_path(http), fields)
    return IdempotencyClaim(actor.key_id or "", key, asked)


def requested_path(http: Request) -> str:
    """The path the request named, as its route writes it (e.g. /v1/schemes/daily/numbers)."""
    template: str = http.scope["route"].path_format
    return template.format(**http.path_params)
