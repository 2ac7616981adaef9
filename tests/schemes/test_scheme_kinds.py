"""The built-in kinds without a database: render -> parse round-trips, widths, zones, attributes."""

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemes import InvalidAttribute, SchemeDefinition, load_catalog
from schemes.check_digits import ALGORITHMS
from schemes.composite import CompositeScheme
from schemes.random import RandomScheme
from schemes.segmented import SegmentedScheme
from schemes.timestamp import TimestampScheme

DEFAULTS = load_catalog(Path(__file__).parents[2] / "schemes" / "default.toml", "UTC")
ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Pacific/Chatham"]
CHECKS = st.sampled_from([None, *sorted(ALGORITHMS)])
INSTANTS = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
PREFIXES = st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ", max_size=4)


@st.composite
def timestamp_schemes(draw: st.DrawFn) -> SegmentedScheme:
    return TimestampScheme(
        name="t",
        kind="timestamp",
        prefix=draw(PREFIXES),
        format=draw(st.sampled_from(["%Y%m%d", "%Y%m%d%H%M", "%y%j", "%Y", "%Y-%m-", ""])),
        width=draw(st.integers(1, 8)),
        check_digit=draw(CHECKS),
        time_zone=draw(st.sampled_from(ZONES)),
    )


@st.composite
def random_schemes(draw: st.DrawFn) -> SegmentedScheme:
    alphabet = draw(st.sampled_from(["digits", "crockford"]))
    check = draw(CHECKS) if alphabet == "digits" else draw(st.sampled_from([None, "mod_37_2"]))
    return RandomScheme(
        name="r",
        kind="random",
        prefix=draw(PREFIXES),
        length=draw(st.integers(1, 12)),
        alphabet=alphabet,
        check_digit=check,
    )


@st.composite
def composite_schemes(draw: st.DrawFn) -> SegmentedScheme:
    segments: list[dict[str, Any]] = [
        {"type": "attribute", "name": "region", "codes": {"SH": "SHA", "BJ": "BJS", "X": "X"}},
        {"type": "literal", "text": draw(st.sampled_from(["-", "C", "VIP"]))},
        {"type": "attribute", "name": "type", "values": ["01", "02", "3"]},
        {"type": "date", "format": draw(st.sampled_from(["%Y%m%d", "%Y", "%y%m%d%H%M"]))},
        {
            "type": "attribute",
            "name": "dept",
            "pattern": "[A-Z]{2,6}",
            "max_length": 6,
            "example": "SALES",
        },
        {"type": "sequence", "width": draw(st.integers(1, 8)), "scope": ["region", "dept"]},
        {"type": "random", "length": draw(st.integers(1, 4)), "alphabet": "digits"},
    ]
    chosen = draw(st.lists(st.sampled_from(range(len(segments))), min_size=1, unique=True))
    kept = [segments[i] for i in sorted(chosen)]
    if not any(s["type"] in ("sequence", "random") for s in kept):
        kept.append({"type": "sequence", "width": 3})
    names = {s["name"] for s in kept if s["type"] == "attribute"}
    for segment in kept:
        if segment["type"] == "sequence":
            segment["scope"] = [name for name in segment.get("scope", []) if name in names]
    check = draw(CHECKS)
    if check is not None:
        kept.append({"type": "check", "algorithm": check})
    return CompositeScheme.model_validate(
        {
            "name": "c",
            "kind": "composite",
            "segments": kept,
            "time_zone": draw(st.sampled_from(ZONES)),
        }
    )


def attributes_for(scheme: SchemeDefinition, draw: Any) -> dict[str, str]:
    choices = {
        "region": ["SH", "BJ", "X"],
        "type": ["01", "02", "3"],
        "dept": ["SALES", "HR", "IT"],
    }
    wanted = scheme.example_attributes()
    return {name: draw(st.sampled_from(choices[name])) for name in wanted}


@pytest.mark.parametrize("kind", [timestamp_schemes, random_schemes, composite_schemes])
@settings(max_examples=60, deadline=None)
@given(data=st.data(), instant=INSTANTS)
def test_render_then_parse_gives_back_every_part(
    kind: Any, data: st.DataObject, instant: datetime
) -> None:
    scheme: SchemeDefinition = data.draw(kind())
    attributes = attributes_for(scheme, data.draw)
    seq = data.draw(st.integers(1, scheme.capacity)) if scheme.uses_sequence else None
    rng = random.Random(data.draw(st.integers(0, 2**32)))

    number = scheme.render(seq, instant, attributes, rng)
    parsed = scheme.parse(number)

    assert parsed is not None, number
    assert parsed.seq == seq
    assert parsed.period == scheme.period(instant)
    assert dict(parsed.attributes) == attributes
    assert parsed.partition == scheme.partition(attributes)
    assert parsed.check_digit_ok in (True, None)
    assert len(number) <= scheme.max_length


@settings(max_examples=60, deadline=None)
@given(data=st.data(), instant=INSTANTS)
def test_rendered_width_never_exceeds_the_declared_width(
    data: st.DataObject, instant: datetime
) -> None:
    scheme = data.draw(st.sampled_from(list(DEFAULTS.values())))
    attributes = scheme.example_attributes()
    seq = data.draw(st.integers(1, scheme.capacity)) if scheme.uses_sequence else None

    number = scheme.render(seq, instant, attributes, random.Random(0))

    assert len(number) <= scheme.max_length
    if isinstance(scheme, CompositeScheme) and scheme.length is not None:
        assert len(number) == scheme.length


def test_minute_scheme_renders_date_hour_and_minute_before_the_sequence() -> None:
    minute = DEFAULTS["minute"]
    instant = datetime(2023, 10, 1, 10, 30, 59, tzinfo=UTC)

    assert minute.render(7, instant, {}, random.Random()) == "202310011030007"
    assert minute.period(instant) == "202310011030"
    assert minute.period_end(instant) == datetime(2023, 10, 1, 10, 31, tzinfo=UTC)


def test_date_and_period_come_from_the_schemes_own_zone_around_midnight() -> None:
    regional = CompositeScheme.model_validate(
        {
            "name": "regional",
            "kind": "composite",
            "time_zone": "Asia/Shanghai",
            "segments": DEFAULTS["regional"].describe_segments(),
        }
    )
    before = datetime(2023, 10, 14, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
    after = before + timedelta(seconds=1)  # midnight in Shanghai, still the 14th in UTC

    assert regional.render(1, before, {"region": "SH"}, random.Random()) == "SHA20231014001"
    assert regional.render(1, after, {"region": "SH"}, random.Random()) == "SHA20231015001"
    assert regional.period(after) == "20231015"
    assert DEFAULTS["regional"].period(after) == "20231014"
    assert regional.period_end(before) == after


@pytest.mark.parametrize(
    ("attributes", "attribute", "problem"),
    [
        ({}, "region", "missing"),
        ({"region": "SH", "colour": "red"}, "colour", "unknown attribute"),
        ({"region": "XX"}, "region", "is not one of SH, BJ"),
        ({"region": "S" * 17}, "region", "longer than 16"),
        ({"region": "S-H"}, "region", "characters other than"),
        ({"region": 7}, "region", "must be a string"),
    ],
)
def test_bad_attributes_name_the_attribute_and_the_problem(
    attributes: dict[str, Any], attribute: str, problem: str
) -> None:
    with pytest.raises(InvalidAttribute) as refused:
        DEFAULTS["regional"].check_attributes(attributes)

    assert refused.value.attribute == attribute
    assert problem in refused.value.problem


def test_staff_department_must_match_its_pattern() -> None:
    staff = DEFAULTS["staff"]

    assert staff.render(42, datetime.now(UTC), {"department": "SALES"}, random.Random()) == (
        "SALES-0042"
    )
    with pytest.raises(InvalidAttribute, match="does not match"):
        staff.check_attributes({"department": "sales"})


def test_regional_sequence_is_counted_per_region() -> None:
    regional = DEFAULTS["regional"]

    assert regional.partition({"region": "SH"}) != regional.partition({"region": "BJ"})


def test_typed_numbers_are_always_twelve_digits() -> None:
    typed = DEFAULTS["typed"]
    number = typed.render(123, datetime(2024, 5, 1, tzinfo=UTC), {"type": "01"}, random.Random())

    assert number == "012024000123"
    assert typed.max_length == 12


def test_a_wrong_check_digit_parses_as_the_right_shape_with_check_digit_not_ok() -> None:
    vip = DEFAULTS["vip"]
    good = vip.render(1, datetime(2023, 10, 15, tzinfo=UTC), {}, random.Random())
    bad = good[:-1] + str((int(good[-1]) + 1) % 10)

    assert good == "VIP20230000018"
    parsed = vip.parse(bad)
    assert parsed is not None
    assert parsed.check_digit_ok is False
    assert not parsed.valid


@pytest.mark.parametrize("number", ["20231015000", "20231315001", "2023101500", "x20231015001"])
def test_parse_refuses_zero_sequences_impossible_dates_and_wrong_shapes(number: str) -> None:
    assert DEFAULTS["daily"].parse(number) is None


def test_random_numbers_draw_from_the_chosen_alphabet() -> None:
    crockford = RandomScheme(name="r", kind="random", length=32, alphabet="crockford")

    drawn = crockford.render(None, datetime.now(UTC), {}, random.Random(1))

    assert not set(drawn) & set("ILOU")
    assert crockford.space_size == 32**32
    assert DEFAULTS["rnd"].space_size == 10**6
    assert not DEFAULTS["rnd"].uses_sequence
