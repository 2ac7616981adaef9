"""Loading the scheme file: a mistake stops start-up, naming the scheme and the field."""

from pathlib import Path

import pytest

from app.settings import DEFAULT_SCHEMES_FILE
from schemes import SchemeFileError, load_catalog


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "schemes.toml"
    path.write_text(text)
    return path


def test_shipped_scheme_file_loads_with_daily() -> None:
    catalog = load_catalog(DEFAULT_SCHEMES_FILE, "UTC")

    assert catalog["daily"].capacity == 999


def test_schemes_without_a_zone_take_the_default(tmp_path: Path) -> None:
    path = write(tmp_path, '[schemes.a]\nkind = "timestamp"\n')

    assert load_catalog(path, "Asia/Shanghai")["a"].zone.key == "Asia/Shanghai"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[schemes.a]\nkind = "nosuch"\n', "scheme 'a': field 'kind': unknown kind 'nosuch'"),
        ('[schemes.b]\nkind = "timestamp"\nwidth = 0\n', "scheme 'b': field 'width'"),
        ('[schemes.c]\nkind = "timestamp"\ncolour = "red"\n', "scheme 'c': field 'colour'"),
        ('[schemes.d]\nkind = "timestamp"\nformat = "%Q"\n', "scheme 'd': field 'format'"),
        ('[schemes.e]\nkind = "timestamp"\ntime_zone = "Mars/Base"\n', "field 'time_zone'"),
        ('[schemes.F]\nkind = "timestamp"\n', "scheme 'F': field 'name'"),
        (
            '[schemes.a]\nkind = "timestamp"\n[schemes.a]\nkind = "timestamp"\n',
            "scheme 'a': declared twice",
        ),
        ("[schemes.a\n", "not valid TOML"),
        ("[other]\n", "declares no [schemes.NAME]"),
    ],
)
def test_bad_scheme_file_names_the_scheme_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SchemeFileError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_catalog(write(tmp_path, text), "UTC")


def test_missing_scheme_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SchemeFileError, match="cannot read"):
        load_catalog(tmp_path / "absent.toml", "UTC")
