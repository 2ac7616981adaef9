"""The integration contract, checked as integrators check it: schemathesis's own runner with
every check (its own and `contract_checks.py`), the document's examples, fuzzing and the
stateful phase that follows the document's links, against a real `custid serve` holding an
admin key, on both backends. Seeded and bounded to fit the suite; `make contract` runs the
long campaign (the coverage phase too, tens of thousands of cases).
"""

import uuid
from pathlib import Path

import pytest

from custid_testing.backends import create_database, drop_database
from custid_testing.contract import run_schemathesis, served
from custid_testing.in_process import Report

# Each operation's examples, a few fuzzed cases of each, and stateful sequences: about a
# minute per backend on this machine.
PHASES = ("examples", "fuzzing", "stateful")
MAX_EXAMPLES = 6
SEED = 19


def backend_settings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> dict[str, str]:
    """CUSTID_* settings of `backend`: a database of the test's own on the shared
    PostgreSQL, with the shared Redis under a prefix of its own; or the embedded default."""
    if backend == "embedded":
        return {"CUSTID_DATA_DIR": str(tmp_path / "data")}
    server = request.getfixturevalue("shared_postgres")
    url = create_database(server)
    request.addfinalizer(lambda: drop_database(server, url))
    return {
        "CUSTID_DATABASE_URL": url,
        "CUSTID_REDIS_URL": request.getfixturevalue("shared_redis"),
        "CUSTID_REDIS_KEY_PREFIX": f"custid-test-{uuid.uuid4().hex[:12]}",
    }


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres", "embedded"])
def test_schemathesis_finds_nothing_wrong_with_the_contract(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, report: Report
) -> None:
    with served(backend_settings(backend, request, tmp_path)) as (url, key):
        found = run_schemathesis(
            url,
            key,
            backend,
            tmp_path / "schemathesis",
            max_examples=MAX_EXAMPLES,
            seed=SEED,
            phases=PHASES,
            timeout=600,
        )

    report(found.render())
    assert found.cases >= 300, found.render()
    assert found.clean, (tmp_path / "schemathesis" / f"{backend}.txt").read_text()
