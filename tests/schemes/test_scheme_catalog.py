"""The scheme file: the shipped schemes, versions, and mistakes that stop start-up."""

from pathlib import Path

import pytest

from schemes import SchemeFileError, load_catalog

DEFAULT_FILE = Path(__file__).parents[2] / "schemes" / "default.toml"
NAMED_SCHEMES = ["daily", "minute", "rnd", "regional", "typed", "vip", "cust", "staff"]


def load_text(tmp_path: Path, text: str) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text(text)
    load_catalog(path, "UTC")


def test_default_file_ships_every_named_scheme() -> None:
    catalog = load_catalog(DEFAULT_FILE, "Asia/Shanghai")

    assert list(catalog) == NAMED_SCHEMES
    assert all(scheme.zone.key == "Asia/Shanghai" for scheme in catalog.values())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '[schemes.a]\nkind = "nosuch"\n',
            r"scheme 'a': field 'kind': unknown kind 'nosuch'",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\ncolour = "red"\n',
            r"scheme 'a': field 'colour': Extra inputs are not permitted",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\nwidth = "wide"\n',
            r"scheme 'a': field 'width'",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\nwidth = 3\ncapacity = 5000\n',
            r"scheme 'a': field 'capacity': .*5000 does not fit in width 3",
        ),
        (
            '[schemes.a]\nkind = "composite"\n'
            'segments = [{ type = "sequence", width = 2, capacity = 100 }]\n',
            r"scheme 'a': field 'segments.0.sequence': .*100 does not fit in 2 digits",
        ),
        (
            '[schemes.a]\nkind = "composite"\nlength = 12\n'
            'segments = [{ type = "literal", text = "X" }, { type = "sequence", width = 3 }]\n',
            r"scheme 'a': field 'length': .*render 4 to 4 characters, not always 12",
        ),
        (
            '[schemes.a]\nkind = "composite"\n'
            'segments = [{ type = "sequence", width = 3, scope = ["region"] }]\n',
            r"scheme 'a': field 'segments': .*scope names 'region', which is no attribute",
        ),
        (
            '[schemes.a]\nkind = "composite"\n'
            'segments = [{ type = "check", algorithm = "luhn" },'
            ' { type = "sequence", width = 3 }]\n',
            r"scheme 'a': field 'segments': .*check segment must come last",
        ),
        (
            '[schemes.a]\nkind = "random"\nalphabet = "crockford"\ncheck_digit = "luhn"\n',
            r"scheme 'a': field 'check_digit': .*use mod_37_2",
        ),
        (
            '[schemes.a]\nkind = "composite"\nsegments = [{ type = "attribute", name = "dept",'
            ' pattern = "[A-Z]+" }, { type = "sequence", width = 3 }]\n',
            r"scheme 'a': field 'segments.0.attribute': .*pattern needs an example",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\ntime_zone = "Mars/Olympus"\n',
            r"scheme 'a': field 'time_zone': .*unknown IANA time zone",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\n[schemes.b]\nkind = "random"\n[schemes.a]\n',
            r"scheme 'a': declared twice",
        ),
        (
            '[schemes.a]\nkind = "timestamp"\nversion = 2\n'
            '[[schemes.a.previous]]\nkind = "timestamp"\nversion = 2\n',
            r"scheme 'a': field 'previous.0.version': version 2 is already taken",
        ),
    ],
    ids=[
        "unknown-kind",
        "unknown-field",
        "bad-field",
        "width-cannot-hold-capacity",
        "segment-width-cannot-hold-capacity",
        "length-does-not-add-up",
        "scope-without-attribute",
        "check-not-last",
        "digit-check-over-letters",
        "pattern-without-example",
        "unknown-zone",
        "duplicate-name",
        "previous-version-repeated",
    ],
)
def test_bad_scheme_file_stops_start_up_naming_scheme_and_field(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(SchemeFileError, match=message):
        load_text(tmp_path, text)


def test_previous_versions_are_kept_newest_first(tmp_path: Path) -> None:
    path = tmp_path / "schemes.toml"
    path.write_text(
        '[schemes.a]\nkind = "timestamp"\nversion = 3\nformat = "%Y%m%d"\n'
        '[[schemes.a.previous]]\nkind = "random"\nversion = 2\nprefix = "A"\n'
        '[[schemes.a.previous]]\nkind = "timestamp"\nversion = 1\nformat = "%y%m%d"\n'
    )

    catalog = load_catalog(path, "UTC")

    assert [scheme.version for scheme in catalog.versions("a")] == [3, 2, 1]
    assert [scheme.kind for scheme in catalog.versions("a")] == ["timestamp", "random", "timestamp"]
    assert list(catalog) == ["a"]


def test_auto_version_is_derived_from_the_definition_and_changes_with_the_format(
    tmp_path: Path,
) -> None:
    def version_of(text: str) -> int:
        path = tmp_path / "schemes.toml"
        path.write_text(text)
        return load_catalog(path, "UTC")["a"].version

    daily = version_of('[schemes.a]\nkind = "timestamp"\nversion = "auto"\nformat = "%Y%m%d"\n')
    reworded = version_of(
        '[schemes.a]\nkind = "timestamp"\nversion = "auto"\nformat = "%Y%m%d"\n'
        'description = "same format, new words"\n'
    )
    monthly = version_of('[schemes.a]\nkind = "timestamp"\nversion = "auto"\nformat = "%Y%m"\n')

    assert daily == reworded
    assert daily != monthly
    assert 1 <= min(daily, monthly)
    assert max(daily, monthly) < 2**31
