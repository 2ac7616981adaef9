"""Each call the clients make, described once: its parameters, what it sends, whether it may
be sent again, and how to read the answer, one module per part of the API. Each call is a
function that builds a `Call`, made a method of both clients by `operation` (see `call`).
"""

from typing import Any

from custid_client.calls import catalog, imports, numbers, reservations, subscriptions
from custid_client.calls.call import Call, Operation, operation
from custid_client.calls.catalog import gaps, preview, scheme, schemes
from custid_client.calls.imports import import_csv, import_numbers
from custid_client.calls.numbers import (
    add_ref,
    export,
    find,
    get,
    issue,
    issue_batch,
    remove_ref,
    replace,
    retire,
    trail,
    validate,
)
from custid_client.calls.reservations import confirm, reservation, reserve, void
from custid_client.calls.subscriptions import (
    create_webhook,
    delete_webhook,
    events_page,
    pause_webhook,
    redeliver_webhook,
    resume_webhook,
    rotate_webhook_secret,
    update_webhook,
    webhook,
    webhooks,
)

PARTS = (numbers, catalog, reservations, imports, subscriptions)


def every_operation() -> dict[str, Operation[Any, Any]]:
    """Each call by the name the clients give it."""
    return {
        name: value
        for part in PARTS
        for name, value in vars(part).items()
        if isinstance(value, Operation)
    }


__all__ = [
    "Call",
    "Operation",
    "add_ref",
    "confirm",
    "create_webhook",
    "delete_webhook",
    "events_page",
    "export",
    "every_operation",
    "find",
    "gaps",
    "get",
    "import_csv",
    "import_numbers",
    "issue",
    "issue_batch",
    "operation",
    "pause_webhook",
    "preview",
    "redeliver_webhook",
    "remove_ref",
    "replace",
    "reservation",
    "reserve",
    "resume_webhook",
    "rotate_webhook_secret",
    "retire",
    "scheme",
    "schemes",
    "trail",
    "update_webhook",
    "validate",
    "void",
    "webhook",
    "webhooks",
]
