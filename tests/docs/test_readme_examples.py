"""The README runs: every shell example, in order, against a fresh `custid serve` as `make
run` starts it, answers what the README says it answers.

How the README writes an example (a ```sh block): a command is a line, with the lines a
trailing `\\` joins to it or a here-document; the `# ` lines right after it are its output.
A `curl` command's output is `STATUS JSON`: the answer's status and its JSON, where `…`
in an object stands for more keys, as an array's last element for more elements, and in
a string for any text. Any other command's output is its lines on stdout (`…` for any
text, and a line of `…` alone for any lines). `20231015` and `2023-10-15` stand for
today. A command with no documented output prints nothing, and every command succeeds.

The examples run as a new user runs them: in a directory that holds the project's
`.venv`, with no `CUSTID_*` setting, one after another in bash (the variables one sets
are there for the next), `localhost:8000` being the fresh service.
"""

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from custid_testing.servers import ServiceProcess

README = Path(__file__).parents[2] / "README.md"
SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.DOTALL | re.MULTILINE)
HERE_DOCUMENT = re.compile(r"<<\s*'?(?P<end>\w+)'?")
ASSIGNED = re.compile(r"^(?:export )?(?P<name>[A-Za-z_]\w*)=", re.MULTILINE)
DOCUMENTED_SERVICE = re.compile(r"(localhost|127\.0\.0\.1):8000")
ANSWER = re.compile(r"^(?P<status>\d{3}) (?P<json>.+)$")
# The opening block's commands: `make run` is what the fresh service stands for, and
# `make test` is the suite this test belongs to.
OPENING = ["make run", "make test"]
# The example date in the README, and what stands in for it: the day the answer was made.
EXAMPLE_DAY, EXAMPLE_ISO_DAY = "20231015", "2023-10-15"
MORE = "…"


@dataclass(frozen=True)
class Example:
    """One command of the README and the output written under it."""

    command: str
    documented: list[str]


def readme_blocks() -> list[str]:
    return SHELL_BLOCK.findall(README.read_text())


def examples_of(block: str) -> list[Example]:
    """The commands of a ```sh block, each with the output documented under it."""
    lines = block.splitlines()
    examples: list[Example] = []
    at = 0
    while at < len(lines):
        if not lines[at].strip():
            at += 1
            continue
        assert not lines[at].startswith("#"), f"output with no command before it: {lines[at]}"
        command = [lines[at]]
        while command[-1].endswith("\\"):
            at += 1
            command.append(lines[at])
        if (here := HERE_DOCUMENT.search(command[-1])) is not None:
            while lines[at] != here["end"]:
                at += 1
                command.append(lines[at])
        at += 1
        documented = []
        while at < len(lines) and (lines[at] == "#" or lines[at].startswith("# ")):
            documented.append(lines[at][2:])
            at += 1
        examples.append(Example("\n".join(command), documented))
    return examples


def pattern_of(documented: str) -> Any:
    """The JSON a README line documents, each `…` outside a string made a value of its own."""
    written: list[str] = []
    nesting: list[str] = []
    in_string = escaped = False
    for char in documented:
        if in_string:
            escaped = char == "\\" and not escaped
            in_string = char != '"' or escaped
        elif char == '"':
            in_string = True
        elif char in "[{":
            nesting.append(char)
        elif char in "]}":
            nesting.pop()
        elif char == MORE:
            written.append(f'"{MORE}": "{MORE}"' if nesting[-1:] == ["{"] else f'"{MORE}"')
            continue
        written.append(char)
    return json.loads("".join(written))


def text_agrees(documented: str, actual: str, days: set[date]) -> bool:
    """Whether `actual` is the text documented, `…` being any text and the example day
    any of `days` (or itself: a number an older system issued keeps its date)."""
    readings = {documented} | {
        documented.replace(EXAMPLE_DAY, day.strftime("%Y%m%d")).replace(
            EXAMPLE_ISO_DAY, day.isoformat()
        )
        for day in days
    }
    return any(
        re.fullmatch(".*".join(map(re.escape, reading.split(MORE))), actual, re.DOTALL)
        for reading in readings
    )


def json_difference(pattern: Any, actual: Any, days: set[date], at: str = "$") -> str | None:
    """Where the JSON `actual` is not what `pattern` (see `pattern_of`) documents, or None."""
    if isinstance(pattern, dict):
        if not isinstance(actual, dict):
            return f"{at}: an object documented, {actual!r} answered"
        keys = set(pattern) - {MORE}
        if missing := sorted(keys - set(actual)):
            return f"{at}: {missing} documented, not answered"
        if MORE not in pattern and (extra := sorted(set(actual) - keys)):
            return f"{at}: {extra} answered, not documented (end the object with …)"
        found = (json_difference(pattern[key], actual[key], days, f"{at}.{key}") for key in keys)
        return next((difference for difference in found if difference), None)
    if isinstance(pattern, list):
        head, open_ended = (pattern[:-1], True) if pattern[-1:] == [MORE] else (pattern, False)
        if not isinstance(actual, list) or len(actual) < len(head):
            return f"{at}: {len(head)} elements documented, {actual!r} answered"
        if not open_ended and len(actual) != len(head):
            return f"{at}: {len(head)} elements documented, {len(actual)} answered"
        found = (
            json_difference(p, a, days, f"{at}[{i}]")
            for i, (p, a) in enumerate(zip(head, actual, strict=False))
        )
        return next((difference for difference in found if difference), None)
    if isinstance(pattern, str):
        if isinstance(actual, str) and text_agrees(pattern, actual, days):
            return None
    elif type(pattern) is type(actual) and pattern == actual:
        return None
    return f"{at}: {pattern!r} documented, {actual!r} answered"


def lines_agree(documented: list[str], actual: list[str], days: set[date]) -> bool:
    """Whether output lines are those documented; a documented `…` line is any lines."""
    if not documented:
        return not actual
    if documented[0] == MORE:
        rest = documented[1:]
        return any(lines_agree(rest, actual[skip:], days) for skip in range(len(actual) + 1))
    return (
        bool(actual)
        and text_agrees(documented[0], actual[0], days)
        and lines_agree(documented[1:], actual[1:], days)
    )


def today() -> set[date]:
    # The shipped schemes count days in UTC.
    return {datetime.now(UTC).date()}


@dataclass
class Shell:
    """Runs README commands one after another in `home`, as a user in the checkout would."""

    home: Path
    service: ServiceProcess

    @property
    def variables(self) -> Path:
        return self.home / ".readme-variables"

    def run(self, example: Example) -> tuple[int | None, str, set[date]]:
        """The status curl reported (None for another command), stdout, and the days the
        command ran on."""
        command = DOCUMENTED_SERVICE.sub(f"127.0.0.1:{self.service.port}", example.command)
        headers = self.home / ".readme-headers"
        headers.unlink(missing_ok=True)
        if command.startswith("curl "):
            command = f"curl --silent --show-error --dump-header {headers} " + command[5:]
        keep = "".join(
            f"printf 'export %s=%q\\n' {name} \"${name}\" >> {self.variables}\n"
            for name in ASSIGNED.findall(example.command)
        )
        script = f"set -e -o pipefail\n. {self.variables}\n{command}\n{keep}"
        days = today()
        result = subprocess.run(
            ["bash", "-c", script],
            cwd=self.home,
            env={"PATH": os.environ["PATH"], "HOME": str(self.home), "LANG": "C.UTF-8"},
            capture_output=True,
            text=True,
            timeout=120,
        )
        days |= today()
        assert result.returncode == 0, f"{example.command}\n{result.stderr}"
        status = None
        if headers.exists():
            status = int(headers.read_text().split()[1])
        return status, result.stdout, days


@pytest.fixture(scope="module")
def shell(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shell]:
    """A directory like a fresh checkout after `make run`: the project's `.venv`, and the
    service it started serving its `./data`, with nothing configured."""
    home = tmp_path_factory.mktemp("checkout")
    (home / ".venv").symlink_to(Path(sys.prefix))
    (home / ".readme-variables").touch()
    service = ServiceProcess({"CUSTID_DATA_DIR": str(home / "data")})
    for name in [name for name in service.env if name.startswith("CUSTID_")]:
        if name not in ("CUSTID_DATA_DIR", "CUSTID_PORT"):
            del service.env[name]
    yield Shell(home, service.start())
    service.stop()


def test_the_readme_opens_with_make_run_and_make_test() -> None:
    opening = readme_blocks()[0].splitlines()

    assert [line.split("#")[0].strip() for line in opening] == OPENING


@pytest.mark.slow
def test_every_shell_example_answers_what_the_readme_says(shell: Shell) -> None:
    examples = [example for block in readme_blocks()[1:] for example in examples_of(block)]
    assert len(examples) >= 20
    curls = [example for example in examples if example.command.startswith("curl ")]
    # The first call, before any key exists, needs none; every call after it shows the
    # header, but for the one showing what a call without it gets.
    assert "Authorization" not in curls[0].command
    without_key = [example for example in curls[1:] if "$CUSTID_KEY" not in example.command]
    assert [example.documented[0][:3] for example in without_key] == ["401"]

    for example in examples:
        status, stdout, days = shell.run(example)
        if status is None:
            assert lines_agree(example.documented, stdout.splitlines(), days), (
                example.command,
                stdout,
            )
            continue
        [documented] = example.documented
        answer = ANSWER.match(documented)
        assert answer is not None, f"{example.command}: document its answer as STATUS JSON"
        assert status == int(answer["status"]), (example.command, status, stdout)
        difference = json_difference(pattern_of(answer["json"]), json.loads(stdout), days)
        assert difference is None, f"{example.command}\n{difference}"


@pytest.mark.parametrize(
    ("documented", "actual", "agrees"),
    [
        ('{"seq": 1, …}', {"seq": 1, "scheme": "daily"}, True),
        ('{"seq": 1}', {"seq": 1, "scheme": "daily"}, False),
        ('{"seq": 1, …}', {"seq": 2}, False),
        ('{"seq": 1, …}', {"seq": True}, False),
        ('{"number": "20231015001", …}', {"number": "20231015001"}, True),
        ('{"number": "20231015001", …}', {"number": "20231015002"}, False),
        ('{"id": "rsv_…", …}', {"id": "rsv_3f9a"}, True),
        ('{"id": "rsv_…", …}', {"id": "whk_3f9a"}, False),
        ('{"numbers": [{"status": "held", …}, …]}', {"numbers": [{"status": "held"}, {}]}, True),
        ('{"numbers": [{"status": "held", …}]}', {"numbers": [{"status": "held"}, {}]}, False),
        ('{"segments": […]}', {"segments": []}, True),
    ],
)
def test_documented_json_is_matched_by_its_values_and_only_where_it_says_more(
    documented: str, actual: Any, agrees: bool
) -> None:
    difference = json_difference(pattern_of(documented), actual, {date(2023, 10, 15)})
    assert (difference is None) is agrees, difference


def test_the_example_day_stands_for_the_day_the_answer_was_made() -> None:
    day = {date(2026, 12, 7)}

    assert text_agrees("SHA20231015001", "SHA20261207001", day)
    assert text_agrees("2023-10-15T…", "2026-12-07T10:56:25Z", day)
    assert text_agrees("20231015001", "20231015001", day)  # a legacy number keeps its date
    assert not text_agrees("SHA20231015001", "SHA20261208001", day)


def test_documented_lines_match_line_by_line_with_any_lines_for_a_lone_ellipsis() -> None:
    days = {date(2023, 10, 15)}

    assert lines_agree(["…", "OK"], ["a", "b", "OK"], days)
    assert lines_agree(["daily: 2 lines, …"], ["daily: 2 lines, 2 numbers"], days)
    assert not lines_agree(["OK"], ["OK", "more"], days)
    assert not lines_agree([], ["printed"], days)
