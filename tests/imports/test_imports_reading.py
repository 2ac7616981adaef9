"""Reading an import file without a database: CSV columns by name, every line checked against
the scheme, each bad line reported by its number with what is wrong."""

import io
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.core import grammar
from app.core.errors import ImportRejected, InvalidRef
from app.core.legacy_rows import csv_rows, read_rows
from app.core.refs import ExternalRef
from app.store.import_staging import LineProblem
from schemes import load_catalog

CATALOG = load_catalog(Path(__file__).parents[2] / "schemes" / "default.toml", "Asia/Shanghai")


def test_csv_columns_are_found_by_name_in_any_order() -> None:
    text = "refs,issued_at,number\ncrm:a-1,2023-10-15,20231015001\n"

    assert list(csv_rows(io.BytesIO(text.encode()), "daily")) == [
        (2, "20231015001", "2023-10-15", "crm:a-1")
    ]


def test_csv_lines_keep_their_numbers_past_blank_lines_and_quoted_line_breaks() -> None:
    text = (
        "number,issued_at,refs\n"
        "20231015001,2023-10-15,\n"
        "\n"
        '20231015002,2023-10-15,"crm:a\n'
        'erp:b"\n'
        "20231015003,2023-10-15\n"
        "20231015004,2023-10-15,crm:c,ignored\n"
    )

    assert list(csv_rows(io.BytesIO(text.encode()), "daily")) == [
        (2, "20231015001", "2023-10-15", ""),
        (5, "20231015002", "2023-10-15", "crm:a\nerp:b"),
        (6, "20231015003", "2023-10-15", ""),
        (7, "20231015004", "2023-10-15", "crm:c"),
    ]


def test_a_csv_file_whose_first_line_names_no_number_column_is_refused() -> None:
    with pytest.raises(ImportRejected) as rejected:
        list(csv_rows(io.BytesIO(b"id,issued_at\n1,2023-10-15\n"), "daily"))

    assert rejected.value.extensions["problems"][0]["line"] == 1


def test_good_lines_are_read_with_their_parts_and_a_zoneless_time_in_the_schemes_zone() -> None:
    rows = [
        (2, " SHA20231015007 ", "2023-10-15T09:30:00", "crm:acct-7 erp:E-7"),
        (3, "BJS20231015001", datetime(2023, 10, 15, tzinfo=UTC), [{"system": "crm", "id": "x"}]),
    ]

    staged, problems = read_rows(rows, CATALOG.versions("regional"))

    assert problems == []
    first, second = staged
    assert (first.line, first.number, first.period, first.partition, first.seq) == (
        2,
        "SHA20231015007",
        "20231015",
        "region=SH",
        7,
    )
    assert first.attributes == {"region": "SH"}
    assert first.issued_at == datetime(2023, 10, 15, 9, 30, tzinfo=timezone(timedelta(hours=8)))
    assert first.refs == [ExternalRef("crm", "acct-7"), ExternalRef("erp", "E-7")]
    assert (second.partition, second.refs) == ("region=BJ", [ExternalRef("crm", "x")])


def test_each_bad_line_is_reported_by_its_number_with_what_is_wrong() -> None:
    rows = [
        (2, "VIP20230000018", "2023-05-01", ""),  # fine
        (3, "VIP20230000017", "2023-05-01", ""),  # wrong Luhn check digit
        (4, "VIP20230000000", "2023-05-01", ""),  # sequence value 0
        (5, "VIP2023000001", "2023-05-01", ""),  # a digit short
        (6, "", "2023-05-01", ""),
        (7, "VIP20230000026", "", ""),
        (8, "VIP20230000034", "May 2023", ""),
        (9, "VIP20230000042", "2023-05-01", "a:1 a:2"),
        (10, "VIP20230000059", "2023-05-01", "crm:has\x07bell"),
    ]

    staged, problems = read_rows(rows, CATALOG.versions("vip"))

    assert [number.line for number in staged] == [2]
    assert [problem.line for problem in problems] == [3, 4, 5, 6, 7, 8, 9, 10]
    said = {problem.line: problem.problem for problem in problems}
    assert said[3] == "number 'VIP20230000017': wrong check digit for scheme 'vip'"
    assert "not a number of scheme 'vip'" in said[4]
    assert "not a number of scheme 'vip'" in said[5]
    assert said[6] == "number: missing"
    assert said[7] == "issued_at: missing"
    assert said[8] == "issued_at 'May 2023': not an ISO 8601 date or time"
    assert said[9] == "refs: one ref per system"
    assert said[10].startswith("refs: ")


def test_an_impossible_date_in_a_number_makes_it_no_number_of_the_scheme() -> None:
    rows = [(2, "20230228001", "2023-02-28", ""), (3, "20230230001", "2023-02-28", "")]

    staged, problems = read_rows(rows, CATALOG.versions("daily"))

    assert [number.number for number in staged] == ["20230228001"]
    assert problems == [
        LineProblem(
            3,
            "number '20230230001': not a number of scheme 'daily' (nor of its earlier versions)",
        )
    ]


@pytest.mark.parametrize(
    "text",
    ["crm:acct-991", "acct-991", "crm:", ":x", "a:b:c", "-crm:x", "crm.eu_1:x-y", "默认:编号"],
)
def test_a_ref_is_read_as_parse_reads_it(text: str) -> None:
    assert ExternalRef.read(text) == ExternalRef.parse(text)


@pytest.mark.parametrize("text", ["crm:" + "x" * 257, "crm:a\x00b", "a\x7f"])
def test_a_ref_whose_id_no_ref_may_have_is_refused(text: str) -> None:
    with pytest.raises(InvalidRef):
        ExternalRef.read(text)


@given(st.text(alphabet=st.sampled_from("aZ09_.-:é默 \x00\x7f"), max_size=12))
def test_a_ref_is_read_as_parse_reads_it_or_refused_for_its_id(text: str) -> None:
    parsed = ExternalRef.parse(text)
    if grammar.REF_ID.fits(parsed.id):
        assert ExternalRef.read(text) == parsed
    else:
        with pytest.raises(InvalidRef):
            ExternalRef.read(text)
