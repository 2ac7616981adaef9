"""Reading numbers in bulk (`read_numbers`, as an import does) says exactly what `parse` says
of each number, for every kind: right shape, wrong check digit, impossible date, seq 0."""

import random
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custid_testing.backends import TEST_SCHEMES
from schemes import NumberReading, ParsedNumber, SchemeDefinition, load_catalog
from tests.schemes.test_scheme_kinds import (
    INSTANTS,
    attributes_for,
    composite_schemes,
    random_schemes,
    timestamp_schemes,
)

ROOT = Path(__file__).parents[2]
CATALOGS = [
    load_catalog(ROOT / "schemes" / "default.toml", "UTC"),
    load_catalog(TEST_SCHEMES, "UTC"),
]
EVERY_SCHEME = [
    version for catalog in CATALOGS for name in catalog for version in catalog.versions(name)
]
DAILY = CATALOGS[0]["daily"]
VIP = CATALOGS[0]["vip"]


def near_misses(number: str) -> list[str]:
    """`number`, and numbers one edit away: each character changed, one dropped, one added."""
    variants = [number, "", number + "0", number[1:], number[:-1], f" {number}", number.lower()]
    for position, character in enumerate(number):
        for replacement in {"0", "9", "A", "X"} - {character}:
            variants.append(number[:position] + replacement + number[position + 1 :])
    return variants


@pytest.mark.parametrize("scheme", EVERY_SCHEME, ids=lambda s: f"{s.name}-v{s.version}")
def test_reading_in_bulk_agrees_with_parse_for_every_shipped_and_tested_scheme(
    scheme: SchemeDefinition,
) -> None:
    rng = random.Random(7)
    instant = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)
    seq = 1 if scheme.uses_sequence else None
    number = scheme.render(seq, instant, scheme.example_attributes(), rng)
    numbers = near_misses(number)

    readings = list(scheme.read_numbers(numbers))

    assert readings == [NumberReading.of(scheme.parse(n)) for n in numbers]
    assert readings[0] is not None
    assert readings[0].valid


@pytest.mark.parametrize("kind", [timestamp_schemes, random_schemes, composite_schemes])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), instant=INSTANTS)
def test_reading_in_bulk_agrees_with_parse_on_rendered_numbers_and_their_near_misses(
    kind: Any, data: st.DataObject, instant: datetime
) -> None:
    scheme: SchemeDefinition = data.draw(kind())
    attributes = attributes_for(scheme, data.draw)
    seq = data.draw(st.integers(1, scheme.capacity)) if scheme.uses_sequence else None
    number = scheme.render(seq, instant, attributes, random.Random(data.draw(st.integers())))
    numbers = near_misses(number)

    assert list(scheme.read_numbers(numbers)) == [
        NumberReading.of(scheme.parse(n)) for n in numbers
    ]


def test_a_wrong_check_digit_is_read_as_the_right_shape_with_a_bad_check() -> None:
    right = VIP.render(18, datetime(2023, 5, 1, tzinfo=UTC), {}, random.Random())
    wrong = right[:-1] + str((int(right[-1]) + 1) % 10)

    good, bad = VIP.read_numbers([right, wrong])

    assert good is not None
    assert (good.seq, good.check_digit_ok, good.valid) == (18, True, True)
    assert bad is not None
    assert (bad.seq, bad.check_digit_ok, bad.valid) == (18, False, False)
    assert VIP.parse(wrong) == ParsedNumber("vip", VIP.version, "2023", "", 18, {}, False)


def test_an_impossible_date_or_sequence_value_zero_is_no_number() -> None:
    numbers = ["20230228001", "20230230001", "20231301001", "20231015000", "20231015999"]

    readings = list(DAILY.read_numbers(numbers))

    assert [reading is not None for reading in readings] == [True, False, False, False, True]
    assert [DAILY.parse(n) is not None for n in numbers] == [True, False, False, False, True]


def test_a_number_read_in_bulk_carries_its_period_partition_and_attributes() -> None:
    regional = CATALOGS[0]["regional"]

    (reading,) = regional.read_numbers(["BJS20231015042"])

    assert reading == NumberReading(
        regional.version, "20231015", "region=BJ", 42, {"region": "BJ"}, None
    )


class OddScheme(SchemeDefinition):
    """A kind as a third party may write one: `parse` only; odd numbers up to 99."""

    kind_name = "odd"
    kind: Literal["odd"] = "odd"

    @property
    def capacity(self) -> int:
        return 50

    def render(
        self, seq: int | None, instant: datetime, attributes: Mapping[str, str], rng: Any
    ) -> str:
        return f"O{2 * (seq or 0) - 1:02d}"

    def parse(self, number: str) -> ParsedNumber | None:
        if len(number) != 3 or number[0] != "O" or not number[1:].isdigit():
            return None
        value = int(number[1:])
        return ParsedNumber(self.name, self.version, "", "", (value + 1) // 2, {}, value % 2 == 1)


def test_a_kind_with_only_parse_reads_in_bulk_through_it() -> None:
    odd = OddScheme(name="odd", kind="odd")

    readings = list(odd.read_numbers(["O07", "O08", "X07"]))

    assert readings == [
        NumberReading(odd.version, "", "", 4, {}, True),
        NumberReading(odd.version, "", "", 4, {}, False),
        None,
    ]
