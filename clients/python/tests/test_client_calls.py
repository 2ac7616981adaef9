"""The client against a running custid: typed answers, and each problem as its own exception."""

import asyncio
import os
import subprocess
import sys
import tomllib
from datetime import datetime
from pathlib import Path

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
)

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


@pytest.mark.slow
def test_the_readme_example_runs_in_ten_lines(custid: RunningCustid) -> None:
    readme = (CLIENT / "README.md").read_text()
    example = readme.split("```python\n", 1)[1].split("```", 1)[0]
    runnable = example.replace("http://127.0.0.1:8000", custid.url).replace(
        '"custid_..."', repr(custid.admin_key)
    )

    result = subprocess.run(
        [sys.executable, "-c", runnable], capture_output=True, text=True, timeout=60
    )

    assert len(example.splitlines()) <= 10
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "issued"
    assert result.stdout.splitlines()[2].startswith("daily is used up:")
