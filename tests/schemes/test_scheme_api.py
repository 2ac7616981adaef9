"""The scheme engine over HTTP, on PostgreSQL + Redis and on the embedded backend."""

import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from custid_testing.in_process import FrozenClock, started_client
from custid_testing.issuing import issue

PROBLEM = "application/problem+json"
DEFAULT_FILE = Path(__file__).parents[2] / "schemes" / "default.toml"
NAMED = {
    "daily": ({}, r"20231015001"),
    "minute": ({}, r"202310150930001"),
    "rnd": ({}, r"RND\d{6}"),
    "regional": ({"region": "SH"}, r"SHA20231015001"),
    "typed": ({"type": "01"}, r"012023000001"),
    "vip": ({}, r"VIP20230000018"),
    "cust": ({}, r"CUST20230000018"),
    "staff": ({"department": "SALES"}, r"SALES-0001"),
}


class AlwaysZero(random.Random):
    """Randomness that always draws the first character: every draw collides."""

    def getrandbits(self, k: int, /) -> int:
        return 0


async def number_of(client: httpx.AsyncClient, scheme: str, **attributes: str) -> str:
    """The number `scheme` issues for `attributes`."""
    return (await issue(client, scheme, attributes=attributes)).number


async def test_every_named_scheme_issues_from_the_default_scheme_file_and_validates(
    settings: Settings, clock: FrozenClock
) -> None:
    shipped = settings.model_copy(update={"schemes_file": DEFAULT_FILE})
    async with started_client(shipped, clock) as client:
        for scheme, (attributes, shape) in NAMED.items():
            number = await number_of(client, scheme, **attributes)
            validation = (await client.get(f"/v1/numbers/{number}/validation")).json()

            assert re.fullmatch(shape, number), (scheme, number)
            assert validation["scheme"] == scheme
            assert validation["status"] == "issued"
            assert validation["check_digit_ok"] is (True if scheme in ("vip", "cust") else None)


async def test_minute_sequence_restarts_every_minute(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2023, 10, 1, 10, 30, 58, tzinfo=UTC)
    numbers = [await number_of(client, "minute") for _ in range(2)]
    clock.now += timedelta(seconds=2)
    numbers.append(await number_of(client, "minute"))

    assert numbers == ["202310011030001", "202310011030002", "202310011031001"]


async def test_regional_sequence_is_counted_per_region(client: httpx.AsyncClient) -> None:
    numbers = [await number_of(client, "regional", region=r) for r in ("SH", "SH", "BJ", "SH")]

    assert numbers == ["SHA20231015001", "SHA20231015002", "BJS20231015001", "SHA20231015003"]


async def test_staff_sequence_is_counted_per_department(client: httpx.AsyncClient) -> None:
    numbers = [await number_of(client, "staff", department=d) for d in ("SALES", "HR", "SALES")]

    assert numbers == ["SALES-0001", "HR-0001", "SALES-0002"]


async def test_typed_numbers_have_twelve_digits_counted_per_type_and_year(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    first = await number_of(client, "typed", type="02")
    clock.now = datetime(2024, 3, 1, tzinfo=UTC)
    numbers = [first] + [await number_of(client, "typed", type=t) for t in ("02", "02", "01")]

    assert numbers == ["022023000001", "022024000001", "022024000002", "012024000001"]


@pytest.mark.parametrize(
    ("attributes", "attribute"),
    [
        ({}, "region"),
        ({"region": "SH", "colour": "red"}, "colour"),
        ({"region": "XX"}, "region"),
        ({"region": "S" * 17}, "region"),
        ({"region": "S H"}, "region"),
    ],
    ids=["missing", "unknown", "not-allowed", "too-long", "wrong-characters"],
)
async def test_bad_attribute_is_422_naming_it_and_consumes_no_sequence_value(
    client: httpx.AsyncClient, attributes: dict[str, str], attribute: str
) -> None:
    refused = await client.post("/v1/schemes/regional/numbers", json={"attributes": attributes})
    refused_batch = await client.post(
        "/v1/schemes/regional/numbers/batch", json={"count": 3, "attributes": attributes}
    )

    assert refused.status_code == 422
    assert refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "invalid_attributes"
    assert refused.json()["attribute"] == attribute
    assert refused_batch.json()["attribute"] == attribute
    assert await number_of(client, "regional", region="SH") == "SHA20231015001"


async def test_non_string_attribute_is_422_naming_it(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/schemes/regional/numbers", json={"attributes": {"region": 7}})

    assert response.status_code == 422
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"][0]["loc"] == ["body", "attributes", "region"]
    assert await number_of(client, "regional", region="SH") == "SHA20231015001"


async def test_random_numbers_are_drawn_distinct_and_carry_no_sequence(
    client: httpx.AsyncClient,
) -> None:
    one = (await issue(client, "rnd")).body
    batch = (await client.post("/v1/schemes/rnd/numbers/batch", json={"count": 50})).json()

    assert one["seq"] is None
    assert batch["first_seq"] is None
    assert len(set(batch["numbers"]) | {one["number"]}) == 51
    assert all(re.fullmatch(r"RND\d{6}", number) for number in batch["numbers"])


async def test_random_draws_that_keep_colliding_stop_with_409_after_bounded_retries(
    settings: Settings, clock: FrozenClock
) -> None:
    async with started_client(settings, clock, rng=AlwaysZero()) as client:
        first = await issue(client, "ten")
        again = await client.post("/v1/schemes/ten/numbers")

    assert first.number == "R0"
    assert again.status_code == 409
    assert again.headers["content-type"] == PROBLEM
    assert again.json()["code"] == "random_space_exhausted"
    assert again.json()["used"] == 1
    assert again.json()["space"] == 10
    assert "after 10 draws" in again.json()["detail"]


async def test_full_random_space_is_409_and_reported_as_fully_used(
    client: httpx.AsyncClient,
) -> None:
    batch = await client.post("/v1/schemes/ten/numbers/batch", json={"count": 10})
    more = await client.post("/v1/schemes/ten/numbers")
    described = (await client.get("/v1/schemes/ten")).json()

    assert sorted(batch.json()["numbers"]) == [f"R{digit}" for digit in range(10)]
    assert more.status_code == 409
    assert more.json()["code"] == "random_space_exhausted"
    assert more.json()["utilisation"] == 1.0
    assert described["utilisation"]["share"] == 1.0


async def test_validation_tells_issued_never_issued_and_malformed_apart(
    client: httpx.AsyncClient,
) -> None:
    issued = await number_of(client, "vip")
    wrong_check = issued[:-1] + str((int(issued[-1]) + 1) % 10)

    answers = {
        number: (await client.get(f"/v1/numbers/{number}/validation")).json()
        for number in (issued, "VIP20230000026", wrong_check, "hello", "x" * 200)
    }

    assert answers[issued] == {
        "number": "VIP20230000018",
        "well_formed": True,
        "check_digit_ok": True,
        "scheme": "vip",
        "version": 1,
        "issued": True,
        "status": "issued",
        "period": "2023",
        "partition": "",
        "seq": 1,
        "attributes": {},
        "matches": ["vip"],
        "replaced_by": None,
    }
    assert _status(answers["VIP20230000026"]) == (True, True, False, "not_issued")
    assert _status(answers[wrong_check]) == (False, False, False, "malformed")
    assert _status(answers["hello"]) == (False, None, False, "malformed")
    assert _status(answers["x" * 200]) == (False, None, False, "malformed")


def _status(answer: dict[str, Any]) -> tuple[Any, ...]:
    return answer["well_formed"], answer["check_digit_ok"], answer["issued"], answer["status"]


async def test_per_scheme_validation_reads_only_that_schemes_numbers(
    client: httpx.AsyncClient,
) -> None:
    number = await number_of(client, "regional", region="BJ")

    mine = (await client.get(f"/v1/schemes/regional/numbers/{number}/validation")).json()
    other = (await client.get(f"/v1/schemes/daily/numbers/{number}/validation")).json()
    unknown = await client.get(f"/v1/schemes/nosuch/numbers/{number}/validation")

    assert mine["issued"] is True
    assert mine["attributes"] == {"region": "BJ"}
    assert mine["partition"] == "region=BJ"
    assert _status(other) == (False, None, False, "malformed")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "unknown_scheme"


async def test_describe_scheme_gives_segments_example_capacity_and_utilisation(
    client: httpx.AsyncClient,
) -> None:
    for region in ("SH", "SH", "SH", "BJ"):
        await issue(client, "regional", attributes={"region": region})

    described = (await client.get("/v1/schemes/regional")).json()

    assert [segment["type"] for segment in described["segments"]] == [
        "attribute",
        "date",
        "sequence",
    ]
    assert described["example"] == "SHA20231015001"
    assert described["capacity"] == 999
    assert described["versions"] == [1]
    assert described["utilisation"]["period"] == "20231015"
    assert described["utilisation"]["share"] == pytest.approx(3 / 999)
    assert [(p["partition"], p["issued"]) for p in described["utilisation"]["partitions"]] == [
        ("region=BJ", 1),
        ("region=SH", 3),
    ]


async def test_preview_renders_the_next_number_without_consuming_it(
    client: httpx.AsyncClient,
) -> None:
    body = {"attributes": {"region": "SH"}}
    before = (await client.post("/v1/schemes/regional/preview", json=body)).json()
    again = (await client.post("/v1/schemes/regional/preview", json=body)).json()
    issued = await number_of(client, "regional", region="SH")
    after = (await client.post("/v1/schemes/regional/preview", json=body)).json()
    refused = await client.post("/v1/schemes/regional/preview", json={"attributes": {}})

    assert before["number"] == again["number"] == issued == "SHA20231015001"
    assert after["number"] == "SHA20231015002"
    assert refused.status_code == 422
    assert refused.json()["attribute"] == "region"


async def test_shanghai_midnight_starts_a_new_day_and_sequence_while_utc_does_not(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    clock.now = datetime(2023, 10, 14, 15, 59, 59, tzinfo=UTC)  # 23:59:59 in Shanghai
    late = await number_of(client, "regional_shanghai", region="SH")
    late_utc = await number_of(client, "regional", region="BJ")
    clock.now += timedelta(seconds=1)  # midnight in Shanghai, 16:00 in UTC
    early = (await issue(client, "regional_shanghai", attributes={"region": "SH"})).body
    early_utc = await number_of(client, "regional", region="BJ")

    assert late == "SHA20231014001"
    assert early["number"] == "SHA20231015001"
    assert early["period"] == "20231015"
    assert (late_utc, early_utc) == ("BJS20231014001", "BJS20231014002")


async def test_a_scheme_that_renders_another_schemes_number_skips_it(
    client: httpx.AsyncClient,
) -> None:
    # At 09:30 UTC both zones are on the 15th, so both schemes render SHA20231015001.
    first = await number_of(client, "regional", region="SH")
    second = await number_of(client, "regional_shanghai", region="SH")

    assert (first, second) == ("SHA20231015001", "SHA20231015002")
    answer = (await client.get("/v1/numbers/SHA20231015001/validation")).json()
    assert (answer["scheme"], answer["matches"]) == ("regional", ["regional", "regional_shanghai"])


async def test_format_change_that_reproduces_old_numbers_is_retried_and_old_ones_validate(
    settings: Settings, clock: FrozenClock, tmp_path: Path
) -> None:
    # Version 2 renders "A" + "2023" + "%m%d" + seq: the very strings version 1 made.
    old = '[schemes.acct]\nkind = "timestamp"\nprefix = "A"\nformat = "%Y%m%d"\n'
    new = (
        '[schemes.acct]\nkind = "timestamp"\nversion = 2\nprefix = "A2023"\nformat = "%m%d"\n'
        '[[schemes.acct.previous]]\nkind = "timestamp"\nversion = 1\nprefix = "A"\n'
        'format = "%Y%m%d"\n'
    )
    (tmp_path / "v1.toml").write_text(old)
    (tmp_path / "v2.toml").write_text(new)

    v1_settings = settings.model_copy(update={"schemes_file": tmp_path / "v1.toml"})
    v2_settings = settings.model_copy(update={"schemes_file": tmp_path / "v2.toml"})
    async with started_client(v1_settings, clock) as v1:
        made_by_v1 = [await number_of(v1, "acct") for _ in range(2)]
    async with started_client(v2_settings, clock) as v2:
        made_by_v2 = (await issue(v2, "acct")).body
        old_one = (await v2.get("/v1/numbers/A20231015001/validation")).json()
        never = (await v2.get("/v1/numbers/A20231015009/validation")).json()
        versions = (await v2.get("/v1/schemes/acct")).json()["versions"]

    assert made_by_v1 == ["A20231015001", "A20231015002"]
    assert made_by_v2["number"] == "A20231015003"
    assert made_by_v2["scheme_version"] == 2
    assert (old_one["issued"], old_one["version"]) == (True, 1)
    assert (never["status"], never["version"]) == ("not_issued", 2)
    assert versions == [2, 1]


async def test_check_digit_schemes_issue_numbers_that_validate(client: httpx.AsyncClient) -> None:
    order = await number_of(client, "order")
    coupon = await number_of(client, "coupon")

    for number in (order, coupon):
        answer = (await client.get(f"/v1/numbers/{number}/validation")).json()
        assert (answer["check_digit_ok"], answer["status"]) == (True, "issued")
    assert order == "O231015000014"
    assert re.fullmatch(r"CP[0-9A-HJKMNP-TV-Z]{8}[0-9A-Z*]", coupon)


async def test_scheme_list_shows_an_example_of_every_scheme(client: httpx.AsyncClient) -> None:
    listed = {s["name"]: s for s in (await client.get("/v1/schemes")).json()["schemes"]}
    missing = await client.get("/v1/schemes/nosuch")

    assert set(NAMED) <= set(listed)
    assert listed["regional"]["example"] == "SHA20231015001"
    assert listed["staff"]["example"] == "SALES-0001"
    assert listed["rnd"]["counted"] is False
    assert re.fullmatch(r"RND\d{6}", listed["rnd"]["example"])
    assert missing.status_code == 404
    assert missing.json()["code"] == "unknown_scheme"


async def test_openapi_documents_validation_and_scheme_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]

    assert "/v1/numbers/{number}/validation" in paths
    assert "/v1/schemes/{scheme}/numbers/{number}/validation" in paths
    assert "/v1/schemes/{scheme}/preview" in paths
    issue_responses = paths["/v1/schemes/{scheme}/numbers"]["post"]["responses"]
    examples = issue_responses["409"]["content"][PROBLEM]["examples"]
    assert {"sequence_exhausted", "random_space_exhausted"} <= set(examples)
