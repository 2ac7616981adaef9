"""The client against a running custid: typed answers, and each problem as its own exception."""

import asyncio
import inspect
import json
import os
import re
import subprocess
import sys
import tomllib
from datetime import datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest
from conftest import RunningCustid
from custid_client import (
    AsyncCustidClient,
    CustidClient,
    Forbidden,
    InvalidAttributes,
    InvalidTransition,
    IssuedBatch,
    NotFound,
    NumberRecord,
    SequenceExhausted,
    Unauthorized,
    UnknownScheme,
    Validation,
    __version__,
)
from custid_client.calls import every_operation, validate
from custid_client.client import Operations, client_headers

CLIENT = Path(__file__).parent.parent


@pytest.mark.slow
def test_issue_returns_a_typed_record_found_again_by_ref(custid: RunningCustid) -> None:
    with CustidClient(custid.url, custid.admin_key) as client:
        first = client.issue("regional", {"region": "SH"}, ref="crm:acct-991")
        again = client.issue("regional", {"region": "SH"}, ref="crm:acct-991")
        found = client.find(ref="crm:acct-991")
        validation = client.validate(first.number)

    assert isinstance(first, NumberRecord)
    assert first.number.startswith("SHA")
    assert isinstance(first.issued_at, datetime)
    assert (first.created, again.created) == (True, False)
    assert again.number == first.number
    assert [record.number for record in found.numbers] == [first.number]
    assert isinstance(validation, Validation)
    assert validation.status == "issued"


@pytest.mark.slow
async def test_the_async_client_issues_reads_and_retires(custid: RunningCustid) -> None:
    async with AsyncCustidClient(custid.url, custid.admin_key) as client:
        batch, preview = await asyncio.gather(
            client.issue_batch("daily", 3), client.preview("staff", {"department": "SALES"})
        )
        record = await client.get(batch.numbers[0])
        retired = await client.retire(batch.numbers[1], "duplicate customer")
        replacement = await client.replace(batch.numbers[2], "damaged card")
        trail = await client.trail(batch.numbers[1])
        schemes = await client.schemes()

    assert isinstance(batch, IssuedBatch)
    assert batch.count == 3
    assert preview.number.startswith("SALES-")
    assert record.number == batch.numbers[0]
    assert retired.status == "retired"
    assert replacement.replaced.replaced_by == replacement.successor.number
    assert [event.action for event in trail] == ["issued", "retired"]
    assert trail[1].reason == "duplicate customer"
    assert "daily" in {scheme.name for scheme in schemes}


@pytest.mark.slow
def test_each_problem_code_raises_its_own_exception(custid: RunningCustid) -> None:
    with CustidClient(custid.url, custid.admin_key) as admin:
        with pytest.raises(UnknownScheme) as unknown:
            admin.issue("daly")
        with pytest.raises(InvalidAttributes):
            admin.issue("regional", {"region": "XX"})
        with pytest.raises(NotFound):
            admin.get("20231015999")
        admin.issue_batch("tiny", 9)
        with pytest.raises(SequenceExhausted) as exhausted:
            admin.issue("tiny")
        number = admin.issue("daily").number
        admin.retire(number, "mistake")
        with pytest.raises(InvalidTransition):
            admin.retire(number, "again")
    with CustidClient(custid.url, custid.reader_key) as reader, pytest.raises(Forbidden):
        reader.issue("daily")
    with CustidClient(custid.url, "custid_not-a-key") as stranger, pytest.raises(Unauthorized):
        stranger.get(number)

    assert "daily" in unknown.value.schemes
    assert exhausted.value.status == 409
    assert exhausted.value.problem["code"] == "sequence_exhausted"


@pytest.mark.slow
def test_the_api_key_comes_from_the_environment(
    custid: RunningCustid, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTID_API_KEY", custid.reader_key)

    with CustidClient(custid.url) as client:
        schemes = client.schemes()

    assert schemes


def test_the_client_is_its_own_distribution_that_needs_only_httpx() -> None:
    project = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]
    imported = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, custid_client; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('app', 'schemes')))",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=CLIENT,
        env={**os.environ, "PYTHONPATH": str(CLIENT)},
    )

    assert project["name"] == "custid-client"
    assert project["dependencies"] == ["httpx>=0.27"]
    assert imported.stdout.strip() == "[]"


# Probes and metrics are for load balancers and Prometheus, not for the client's callers.
NOT_FOR_CALLERS = {("GET", "/healthz"), ("GET", "/readyz"), ("GET", "/metrics")}
# A value for each parameter a call needs.
SAMPLES: dict[str, Any] = {
    "scheme": "daily",
    "name": "daily",
    "number": "20231015001",
    "count": 2,
    "reason": "damaged card",
    "system": "erp",
    "ref_id": "C-100234",
    "reservation_id": "rsv_3f9a1c0b7e5d2a64",
    "period": "20231015",
    "csv": "number,issued_at\n",
    "rows": [],
    "url": "https://crm.example.com/hooks",
    "subscription_id": "whk_8c1f2b3a4d5e6f70",
    "from_event": "evt_1042",
}


def route_of(method: str, path: str, templates: set[tuple[str, str]]) -> tuple[str, str]:
    """The API route (method, path template) a request's path falls on: a literal segment
    before a parameter (`/v1/numbers/export` is no number), as the service routes it."""
    for route in sorted(templates, key=lambda route: route[1].count("{")):
        pattern = re.sub(r"\{[^}]+\}", "[^/]+", route[1])
        if route[0] == method and re.fullmatch(pattern, path):
            return route
    raise AssertionError(f"{method} {path} is no route of the API")


def test_the_client_has_a_call_for_every_route_of_the_api() -> None:
    document = json.loads((CLIENT.parent.parent / "openapi.json").read_text())
    api = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    covered = set()
    for name, operation in every_operation().items():
        parameters = inspect.signature(operation.build).parameters.values()
        needed = {p.name: SAMPLES[p.name] for p in parameters if p.default is p.empty}
        call = operation.build(**needed)
        covered.add(route_of(call.method, call.path, api))
        assert getattr(Operations, name) is operation, f"{name} is no method of the clients"

    # An optional argument that changes the route: validating against one scheme.
    covered.add(route_of("GET", validate.build("X", scheme="daily").path, api))

    assert api - NOT_FOR_CALLERS - covered == set()


def test_the_client_is_versioned_with_the_service() -> None:
    service = tomllib.loads((CLIENT.parent.parent / "pyproject.toml").read_text())["project"]
    client = tomllib.loads((CLIENT / "pyproject.toml").read_text())["project"]

    assert client["version"] == service["version"] == version("custid") == __version__
    assert client_headers(None, None)["User-Agent"] == f"custid-client-python/{__version__}"
    assert (CLIENT / "custid_client" / "py.typed").exists()
