"""The `custid` command as a new operator meets it: help, version, a bad scheme file."""

import subprocess
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from app.cli import cli

runner = CliRunner()


def every_command_path() -> list[list[str]]:
    """Each command and subcommand, as the words that name it."""
    paths: list[list[str]] = []
    pending: list[tuple[list[str], Any]] = [([], typer.main.get_command(cli))]
    while pending:
        words, command = pending.pop()
        paths.append(words)
        subcommands = getattr(command, "commands", {})  # a group's, by name
        pending += [([*words, name], sub) for name, sub in subcommands.items()]
    return paths


def run_custid(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`custid <command>` in a process of its own, with `env` as its whole environment."""
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *command],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_help_names_no_python_types() -> None:
    paths = every_command_path()
    assert ["keys", "list"] in paths

    for words in paths:
        result = runner.invoke(cli, [*words, "--help"])
        assert result.exit_code == 0, words
        assert "<bool>" not in result.output, words
        assert "<list[" not in result.output, words


def test_version_is_printed() -> None:
    result = runner.invoke(cli, ["--version"])

    assert result.exit_code == 0
    assert result.output.strip() == f"custid {version('custid')}"


def test_a_bad_scheme_file_is_one_line_naming_scheme_and_field(tmp_path: Path) -> None:
    schemes = tmp_path / "schemes.toml"
    schemes.write_text('[schemes.daily]\nkind = "timestamp"\nformat = "%Y%m%d"\nwidth = "x"\n')
    env = {"CUSTID_SCHEMES_FILE": str(schemes), "CUSTID_DATA_DIR": str(tmp_path / "data")}

    for command in (["serve", "--port", "1"], ["check"], ["openapi"]):
        result = run_custid(command, env)

        assert result.returncode == 1, command
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            "custid: scheme 'daily': field 'width': Input should be a valid integer, "
            "unable to parse string as an integer"
        ]


def test_an_operator_scheme_missing_from_the_file_is_one_line_for_every_command(
    tmp_path: Path,
) -> None:
    schemes = tmp_path / "schemes.toml"
    schemes.write_text('[schemes.daily]\nkind = "timestamp"\nformat = "%Y%m%d"\nwidth = 3\n')
    env = {
        "CUSTID_SCHEMES_FILE": str(schemes),
        "CUSTID_DATA_DIR": str(tmp_path / "data"),
        "CUSTID_OPERATOR_SCHEME": "staff",
    }

    for command in (["serve", "--port", "1"], ["check"], ["export", "--output", "-"]):
        result = run_custid(command, env)

        assert result.returncode == 1, command
        assert result.stdout == ""
        [line] = result.stderr.splitlines()
        assert line.startswith("custid"), command
        assert line.endswith(
            f": CUSTID_OPERATOR_SCHEME names 'staff', which is no scheme of {schemes}"
        ), command
