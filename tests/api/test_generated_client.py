"""A client generated from the committed `openapi.json` by openapi-python-client, used as an
integrator uses one: issue a number, read it back, and get every error as a typed Problem.
"""

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from app.core.scopes import Scope
from custid_testing.in_process import KeyMaker
from tests.docs.test_openapi import COMMITTED_DOCUMENT

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "generated_custid"
# The one part of the document the generator cannot use: imports also take text/csv (the
# JSON rows of the same operation are generated).
KNOWN_WARNING = "Unsupported content type text/csv"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ModuleType]]:
    """The generated package's modules an integrator uses, by name."""
    root = tmp_path_factory.mktemp("generated")
    config = root / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(COMMITTED_DOCUMENT),
            "--meta",
            "none",
            "--config",
            str(config),
            "--output-path",
            str(root / PACKAGE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    said = result.stdout + result.stderr
    warnings = [line for line in said.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, said
    assert KNOWN_WARNING in said, said
    sys.path.insert(0, str(root))
    names = [
        "client",
        "models",
        "api.numbers.issue_number",
        "api.numbers.issue_batch",
        "api.numbers.get_number",
        "api.numbers.list_numbers",
        "api.refs.add_ref",
        "api.lifecycle.retire_number",
        "api.reservations.reserve_numbers",
        "api.reservations.void_reservation",
        "api.events.list_events",
        "api.schemes.get_gaps",
    ]
    try:
        yield {name: importlib.import_module(f"{PACKAGE}.{name}") for name in names}
    finally:
        sys.path.remove(str(root))
        for module in [m for m in sys.modules if m.startswith(PACKAGE)]:
            del sys.modules[module]


@pytest.fixture
async def api(
    generated: dict[str, ModuleType], client: httpx.AsyncClient, make_key: KeyMaker
) -> Any:
    """The generated client, holding a key with every scope, talking to the app under test.

    A client handed its httpx client sends that client's headers: the key goes there.
    """
    key = await make_key(*Scope)
    client.headers["Authorization"] = f"Bearer {key.token}"
    authenticated = generated["client"].AuthenticatedClient(
        base_url="http://custid", token=key.token
    )
    return authenticated.set_async_httpx_client(client)


async def test_a_generated_client_issues_reads_back_and_lists(
    generated: dict[str, ModuleType], api: Any
) -> None:
    models = generated["models"]
    body = models.IssueRequest(ref="crm:acct-991", attributes=models.IssueRequestAttributes())

    issued = await generated["api.numbers.issue_number"].asyncio_detailed(
        "daily", client=api, body=body, x_operator="SALES-0042"
    )
    assert isinstance(issued.parsed, models.NumberRecord), issued.content
    record = await generated["api.numbers.get_number"].asyncio(issued.parsed.number, client=api)
    found = await generated["api.numbers.list_numbers"].asyncio(client=api, ref="crm:acct-991")
    batch = await generated["api.numbers.issue_batch"].asyncio(
        "daily", client=api, body=models.BatchIssueRequest(count=2)
    )

    assert issued.status_code == 201
    assert isinstance(issued.parsed, models.NumberRecord)
    assert isinstance(record, models.NumberRecord)
    assert (record.number, record.status, record.period) == (
        issued.parsed.number,
        models.NumberRecordStatus.ISSUED,
        "20231015",
    )
    assert [(ref.system, ref.id) for ref in record.refs] == [("crm", "acct-991")]
    assert record.operator == "SALES-0042"
    assert [number.number for number in found.numbers] == [record.number]
    assert isinstance(batch, models.IssuedBatchResponse)
    assert batch.count == 2


async def test_every_error_reaches_a_generated_client_as_a_typed_problem(
    generated: dict[str, ModuleType], api: Any, client: httpx.AsyncClient
) -> None:
    models = generated["models"]
    issue = generated["api.numbers.issue_number"].asyncio_detailed

    unknown = await generated["api.numbers.get_number"].asyncio_detailed("20231015999", client=api)
    invalid = await issue("daily", client=api, body=models.IssueRequest(ref="crm:q\x7fr"))
    exhausted = [await issue("tiny", client=api, body=models.IssueRequest()) for _ in range(10)][-1]
    settled = await generated["api.reservations.reserve_numbers"].asyncio(
        "daily", client=api, body=models.ReserveRequest()
    )
    # Where a body is optional, the generated call sends it only when given one.
    void = generated["api.reservations.void_reservation"].asyncio_detailed
    await void(settled.id, client=api, body=models.VoidRequest())
    again = await void(settled.id, client=api, body=models.VoidRequest())
    no_period = await generated["api.schemes.get_gaps"].asyncio_detailed(
        "daily", "not-a-day", client=api
    )
    client.headers["Authorization"] = "Bearer custid_not-a-key"
    refused = await generated["api.numbers.get_number"].asyncio_detailed("20231015001", client=api)

    answers = {
        "not_found": unknown,
        "validation_error": invalid,
        "sequence_exhausted": exhausted,
        "invalid_transition": again,
        "period": no_period,
        "unauthorized": refused,
    }
    for expected, answer in answers.items():
        assert isinstance(answer.parsed, models.Problem), (expected, answer.content)
        assert answer.parsed.status == answer.status_code
    assert unknown.parsed.code == "not_found"
    assert (invalid.status_code, invalid.parsed.code) == (422, "validation_error")
    [issue_found] = invalid.parsed.errors
    assert isinstance(issue_found, models.ValidationIssue)
    assert issue_found.loc == ["body", "ref"]
    assert "U+007F" in issue_found.msg
    assert (exhausted.status_code, exhausted.parsed.code) == (409, "sequence_exhausted")
    assert exhausted.parsed.additional_properties["scheme"] == "tiny"
    assert again.parsed.code == "invalid_transition"
    assert (no_period.status_code, no_period.parsed.code) == (404, "not_found")
    assert (refused.status_code, refused.parsed.code) == (401, "unauthorized")
