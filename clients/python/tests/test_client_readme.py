"""Every example of the client's README runs, in order, against a fresh custid with the
shipped schemes, and prints what its comments say it prints."""

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from custid_testing.servers import ServiceProcess, create_key

README = Path(__file__).parent.parent / "README.md"
EXAMPLE = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)
# `print(...)  # what it prints`; `…` in it stands for any text.
PRINTED = re.compile(r"\bprint\(.*\)  # (?P<expected>.+)$")
DOCUMENTED_URL = "http://127.0.0.1:8000"


def examples() -> list[str]:
    return EXAMPLE.findall(README.read_text())


def documented_output(example: str) -> list[str]:
    return [found["expected"] for line in example.splitlines() if (found := PRINTED.search(line))]


def printed_as_documented(line: str, documented: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in documented.split("…"))
    return re.fullmatch(pattern, line) is not None


@pytest.fixture(scope="module")
def fresh_custid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    """custid as a new user runs it: the shipped schemes, no key yet."""
    service = ServiceProcess({"CUSTID_DATA_DIR": str(tmp_path_factory.mktemp("readme"))})
    service.env.pop("CUSTID_SCHEMES_FILE", None)
    yield service.start()
    service.stop()


def run(example: str, service: ServiceProcess, api_key: str | None) -> list[str]:
    """What the example printed, once it ran without an error."""
    env = {name: value for name, value in os.environ.items() if name != "CUSTID_API_KEY"}
    if api_key is not None:
        env["CUSTID_API_KEY"] = api_key
    result = subprocess.run(
        [sys.executable, "-c", example.replace(DOCUMENTED_URL, service.url)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{example}\n{result.stderr}"
    return result.stdout.splitlines()


@pytest.mark.slow
def test_every_example_runs_in_order_and_prints_what_it_says(
    fresh_custid: ServiceProcess,
) -> None:
    first, *others = examples()
    # While no key exists the embedded service answers anyone on loopback: the first
    # example runs with no key at all, and has no placeholder key to get a 401 with.
    outputs = [run(first, fresh_custid, api_key=None)]
    key = create_key(
        {**fresh_custid.env}, "readme", "numbers:admin", "numbers:issue", "numbers:read"
    )
    outputs += [run(example, fresh_custid, api_key=key) for example in others]

    assert len(others) >= 6
    assert len(first.splitlines()) <= 10
    for example, printed in zip([first, *others], outputs, strict=True):
        documented = documented_output(example)
        assert len(printed) == len(documented), (example, printed)
        for line, expected in zip(printed, documented, strict=True):
            assert printed_as_documented(line, expected), (line, expected)
