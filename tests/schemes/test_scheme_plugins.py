"""Third-party kinds arrive through the `custid.schemes` entry-point group and issue over HTTP."""

import random
import re
from collections.abc import Mapping
from datetime import datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import Literal

import pytest

from app.settings import Settings
from custid_testing.in_process import FrozenClock, started_client
from schemes import SchemeDefinition, SchemeFileError, available_kinds, load_catalog
from schemes.base import KIND_MEMBERS

README = Path(__file__).parents[2] / "README.md"
PLUGIN_DIR = Path(__file__).parent / "plugin_kind"
BROKEN_PLUGIN_DIR = Path(__file__).parent / "plugin_broken"
HEX_SCHEMES = """
[schemes.hex]
kind = "hex"
description = "Hexadecimal sequence from a plugin"
prefix = "HX-"
digits = 4
"""


@pytest.fixture
def plugin_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The test distribution's directory on sys.path, as if it were pip-installed."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


@pytest.mark.usefixtures("plugin_installed")
def test_plugin_kind_is_found_through_its_entry_point() -> None:
    assert "hex" in {entry.name for entry in entry_points(group="custid.schemes")}
    assert available_kinds()["hex"].kind_name == "hex"


def test_plugin_that_fails_to_load_stops_start_up_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.syspath_prepend(str(BROKEN_PLUGIN_DIR))
    path = tmp_path / "schemes.toml"
    path.write_text('[schemes.daily]\nkind = "timestamp"\n')

    with pytest.raises(SchemeFileError, match=r"scheme kind 'broken' failed to load"):
        load_catalog(path, "UTC")


def test_scheme_of_an_uninstalled_kind_stops_start_up_naming_scheme_and_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text(HEX_SCHEMES)

    with pytest.raises(SchemeFileError, match=r"scheme 'hex': field 'kind': unknown kind 'hex'"):
        load_catalog(path, "UTC")


@pytest.mark.usefixtures("plugin_installed")
async def test_plugin_kind_issues_and_validates_numbers_over_http(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text(HEX_SCHEMES)

    async with started_client(settings.model_copy(update={"schemes_file": path}), clock) as client:
        issued = [
            (await client.post("/v1/schemes/hex/numbers")).json()["number"] for _ in range(11)
        ]
        validation = (await client.get("/v1/numbers/HX-000B/validation")).json()
        described = (await client.get("/v1/schemes/hex")).json()

    assert issued[0] == "HX-0001"
    assert issued[-1] == "HX-000B"
    assert validation["issued"] is True
    assert validation["scheme"] == "hex"
    assert described["capacity"] == 0xFFFF


class HalfDoneScheme(SchemeDefinition):
    """A kind that says its capacity and renders, but neither keeps periods nor reads back."""

    kind_name = "half"
    kind: Literal["half"] = "half"

    @property
    def capacity(self) -> int:
        return 9

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: random.Random
    ) -> str:
        return f"H{seq}"


def install_kind(directory: Path, name: str, target: str) -> None:
    """A distribution in `directory` that registers `target` as scheme kind `name`."""
    dist_info = directory / f"custid_{name}_kind-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: custid-{name}-kind\nVersion: 0.1\n"
    )
    (dist_info / "entry_points.txt").write_text(f"[custid.schemes]\n{name} = {target}\n")


def test_kind_without_all_of_the_scheme_protocol_stops_start_up_naming_what_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    install_kind(tmp_path, "half", f"{__name__}:HalfDoneScheme")
    monkeypatch.syspath_prepend(str(tmp_path))
    path = tmp_path / "schemes.toml"
    path.write_text('[schemes.halves]\nkind = "half"\n')

    with pytest.raises(SchemeFileError) as refused:
        load_catalog(path, "UTC")

    assert str(refused.value) == (
        "scheme 'halves': kind 'half' does not implement Scheme (no period, period_end, parse)"
    )


def test_the_readme_names_every_member_a_kind_must_provide_and_no_other() -> None:
    plugins = README.read_text(encoding="utf-8").split("**Plugins.**")[1].split("```")[0]
    listed = re.search(r"`schemes\.Scheme` protocol: ([^;]+);", plugins)

    assert listed is not None
    assert tuple(re.findall(r"`(\w+)`", listed.group(1))) == KIND_MEMBERS
