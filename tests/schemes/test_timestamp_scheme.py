"""The timestamp kind: prefix + date/time in the scheme's zone + zero-padded sequence."""

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from schemes.timestamp import TimestampScheme

RNG = random.Random(0)
MORNING = datetime(2023, 10, 15, 9, 30, tzinfo=UTC)


def scheme(**fields: object) -> TimestampScheme:
    return TimestampScheme.model_validate({"name": "test", **fields})


def test_daily_number_is_date_plus_three_digit_sequence() -> None:
    assert scheme().render(1, MORNING, {}, RNG) == "20231015001"
    assert scheme().render(999, MORNING, {}, RNG) == "20231015999"


def test_minute_precision_renders_date_and_time() -> None:
    minute = scheme(format="%Y%m%d%H%M", width=4)

    assert minute.render(7, MORNING, {}, RNG) == "2023101509300007"
    assert minute.period(MORNING) == "202310150930"


def test_prefix_comes_first() -> None:
    assert scheme(prefix="SHA").render(1, MORNING, {}, RNG) == "SHA20231015001"


def test_capacity_is_every_value_the_width_can_show() -> None:
    assert scheme(width=3).capacity == 999
    assert scheme(width=1).capacity == 9


def test_a_value_beyond_capacity_is_never_rendered() -> None:
    with pytest.raises(ValueError, match="outside"):
        scheme(width=3).render(1000, MORNING, {}, RNG)


@pytest.mark.parametrize(
    ("zone", "instant", "period"),
    [
        ("UTC", datetime(2023, 10, 14, 23, 59, 59, tzinfo=UTC), "20231014"),
        ("UTC", datetime(2023, 10, 15, 0, 0, 0, tzinfo=UTC), "20231015"),
        ("Asia/Shanghai", datetime(2023, 10, 14, 15, 59, 59, tzinfo=UTC), "20231014"),
        ("Asia/Shanghai", datetime(2023, 10, 14, 16, 0, 0, tzinfo=UTC), "20231015"),
    ],
)
def test_period_and_rendered_date_agree_around_midnight(
    zone: str, instant: datetime, period: str
) -> None:
    daily = scheme(time_zone=zone)

    assert daily.period(instant) == period
    assert daily.render(1, instant, {}, RNG) == f"{period}001"


def test_period_ends_at_the_next_local_midnight() -> None:
    daily = scheme(time_zone="Asia/Shanghai")

    end = daily.period_end(datetime(2023, 10, 14, 16, 30, tzinfo=UTC))

    assert end == datetime(2023, 10, 15, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("time_format", "end"),
    [
        ("%Y", datetime(2024, 1, 1, tzinfo=UTC)),
        ("%Y%m", datetime(2023, 11, 1, tzinfo=UTC)),
        ("%Y%m%d%H", datetime(2023, 10, 15, 10, tzinfo=UTC)),
        ("%Y%m%d%H%M", datetime(2023, 10, 15, 9, 31, tzinfo=UTC)),
    ],
)
def test_period_follows_the_finest_unit_of_the_format(time_format: str, end: datetime) -> None:
    assert scheme(format=time_format).period_end(MORNING) == end


def test_format_without_date_never_resets() -> None:
    counter = scheme(prefix="EMP", format="", width=6)

    assert counter.period(MORNING) == ""
    assert counter.period_end(MORNING) is None
    assert counter.render(42, MORNING, {}, RNG) == "EMP000042"


def test_parse_reads_back_period_and_sequence() -> None:
    parsed = scheme().parse("20231015042")

    assert parsed is not None
    assert (parsed.scheme, parsed.period, parsed.seq) == ("test", "20231015", 42)


@pytest.mark.parametrize(
    "text", ["2023101504", "202310150421", "20231315001", "20231015000", "X20231015001", ""]
)
def test_parse_refuses_what_the_scheme_cannot_have_issued(text: str) -> None:
    assert scheme().parse(text) is None


@pytest.mark.parametrize("bad", ["%Y%m%d%f", "%Y%", "%A"])
def test_unparsable_formats_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="format"):
        scheme(format=bad)


def test_attributes_are_refused() -> None:
    with pytest.raises(ValueError, match="region"):
        scheme().check_attributes({"region": "SH"})


@given(
    instant=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
    ),
    width=st.integers(1, 9),
    data=st.data(),
    zone=st.sampled_from(["UTC", "Asia/Shanghai", "America/New_York"]),
)
def test_render_parse_round_trip_within_declared_width(
    instant: datetime, width: int, data: st.DataObject, zone: str
) -> None:
    minute = scheme(prefix="M", format="%Y%m%d%H%M", width=width, time_zone=zone)
    seq = data.draw(st.integers(1, minute.capacity))

    number = minute.render(seq, instant, {}, RNG)
    parsed = minute.parse(number)

    assert len(number) == len("M") + 12 + width
    assert parsed is not None
    assert parsed.seq == seq
    assert parsed.period == minute.period(instant)
