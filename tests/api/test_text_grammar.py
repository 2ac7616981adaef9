"""One grammar for every text that reaches storage, logs or a URL: what the document says a
text may be is exactly what the service takes, and what it refuses is a 422 naming the field,
with nothing issued or stored.
"""

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError
from typer.testing import CliRunner

from app.api.models.fields import Instant
from app.cli import cli
from app.core import grammar
from custid_testing.in_process import KeyMaker, bearer

PROBLEM = "application/problem+json"
HOSTILE = ["a\x00b", "a\x01b", "a\x7fb", "a\x85b", "a\x9fb", "a\u2028b", "a\ud800b"]


def pydantic_takes(kind: grammar.Kind, text: str) -> bool:
    try:
        TypeAdapter(Annotated[str, kind.constraints]).validate_python(text)
    except ValidationError:
        return False
    return True


def schema_takes(kind: grammar.Kind, text: str) -> bool:
    """What a JSON Schema validator with ECMAScript's `$` (the end, not a final line break,
    as Python's `re` has it) says: jsonschema-rs, as schemathesis validates with."""
    schema = {
        "type": "string",
        "minLength": kind.min_length,
        "maxLength": kind.max_length,
        "pattern": kind.pattern,
    }
    if "\ud800" <= max(text, default="a") and any("\ud800" <= c <= "\udfff" for c in text):
        return False  # not a string JSON can carry: no validator is asked
    return bool(jsonschema_rs.validator_for(schema).is_valid(text))


@settings(max_examples=300, derandomize=True)
@given(
    st.sampled_from(grammar.KINDS),
    st.text(st.characters(codec="utf-8"), max_size=12)
    | st.text(st.sampled_from("aZ0:-. \t\n\x00\x7f\x85\xa0\u2028\u3000\ufeff"), max_size=8),
)
def test_the_document_pydantic_and_the_python_check_agree_on_every_text(
    kind: grammar.Kind, text: str
) -> None:
    assert kind.fits(text) == pydantic_takes(kind, text) == schema_takes(kind, text), repr(text)


@pytest.mark.parametrize("kind", grammar.KINDS, ids=lambda kind: kind.name)
def test_no_kind_takes_control_characters_line_breaks_or_lone_surrogates(
    kind: grammar.Kind,
) -> None:
    for text in HOSTILE:
        assert not kind.fits(text), (kind.name, text)
        assert not pydantic_takes(kind, text), (kind.name, text)
    assert "\\s" not in kind.pattern


def test_a_refused_character_is_named_with_its_position() -> None:
    assert grammar.REF.problem("crm:q\x7fr") == "U+007F (a control character) at position 6"
    assert grammar.REASON.problem("a\u0085") == "U+0085 (a control character) at position 2"
    assert grammar.REF_ID.problem("a b") == "U+0020 (white space) at position 2"
    assert grammar.DESCRIPTION.problem("x\ud800") == "U+D800 (an unpaired surrogate) at position 2"


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0.5", "2023-10-15"]
)
def test_times_outside_what_is_stored_or_not_rfc_3339_are_refused(value: str) -> None:
    with pytest.raises(ValidationError):
        TypeAdapter(Instant).validate_python(value)


async def issued_count(client: httpx.AsyncClient) -> int:
    listing = (await client.get("/v1/numbers", params={"limit": 1000})).json()
    return len(listing["numbers"])


def named(response: httpx.Response, *where: str | int) -> bool:
    """Whether a 422 problem names the field at `where`."""
    problem = response.json()
    return response.status_code == 422 and any(
        tuple(error["loc"][: len(where)]) == where for error in problem.get("errors", [])
    )


@pytest.mark.parametrize("text", HOSTILE)
async def test_hostile_text_in_any_write_is_a_422_naming_the_field_and_stores_nothing(
    client: httpx.AsyncClient, text: str
) -> None:
    issued = (await client.post("/v1/schemes/daily/numbers")).json()["number"]
    body = json.dumps  # lone surrogates must travel as \\ud800 escapes, as JSON writes them

    async def post(path: str, payload: dict[str, Any]) -> httpx.Response:
        return await client.post(
            path, content=body(payload), headers={"content-type": "application/json"}
        )

    answers = {
        ("body", "ref"): await post("/v1/schemes/daily/numbers", {"ref": f"crm:{text}"}),
        ("body", "reason"): await post(f"/v1/numbers/{issued}/retire", {"reason": text}),
        ("body", "id"): await post(f"/v1/numbers/{issued}/refs", {"system": "crm", "id": text}),
        ("body", "description"): await post(
            "/v1/webhooks", {"url": "http://127.0.0.1:9/hook", "description": text}
        ),
        ("body", "attributes"): await post(
            "/v1/schemes/regional/numbers", {"attributes": {"region": text}}
        ),
        ("body", "operator"): await post("/v1/schemes/daily/numbers", {"operator": text}),
    }
    if "\ud800" not in text:  # a URL or a header cannot carry a lone surrogate at all
        answers[("query", "ref")] = await client.get("/v1/numbers", params={"ref": text})
        answers[("query", "operator")] = await client.get("/v1/numbers", params={"operator": text})
        escaped = quote(text, safe="")
        answers[("path", "number")] = await client.get(f"/v1/numbers/{escaped}")
        answers[("path", "scheme")] = await client.get(f"/v1/schemes/{escaped}")

    for where, answer in answers.items():
        assert answer.headers["content-type"] == PROBLEM, (where, answer.text)
        assert named(answer, *where), (where, answer.text)
        assert grammar.first_refused(text, spaces_allowed=True) is not None
    record = (await client.get(f"/v1/numbers/{issued}")).json()
    assert (record["status"], record["refs"]) == ("issued", [])
    assert await issued_count(client) == 1
    assert (await client.get("/v1/webhooks")).json()["webhooks"] == []


async def test_the_key_is_checked_before_the_body(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    await make_key()  # keys now required
    huge = '{"count": ' + "9" * 5000 + "}"
    json_headers = {"content-type": "application/json"}

    batch = await client.post("/v1/schemes/daily/numbers/batch", content=huge, headers=json_headers)
    retire = await client.post(
        "/v1/numbers/20231015001/retire", content=b"{not json", headers=json_headers
    )
    listing = await client.get("/v1/numbers", params={"ref": "a\x00b"})

    assert [batch.status_code, retire.status_code, listing.status_code] == [401, 401, 401]
    for refused in (batch, retire, listing):
        assert refused.json()["code"] == "unauthorized"  # not the body's nor the ref's fault
        assert refused.headers["www-authenticate"] == "Bearer"


async def test_integers_too_long_to_read_are_a_422_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    headers = {"content-type": "application/json"}
    for count in ["9" * 5000, "-" + "9" * 5000]:
        answer = await client.post(
            "/v1/schemes/daily/numbers/batch", content=f'{{"count": {count}}}', headers=headers
        )
        assert named(answer, "body", "count"), answer.text
    reserve = await client.post(
        "/v1/schemes/daily/reservations",
        content='{"ttl_seconds": ' + "1" * 4400 + "}",
        headers=headers,
    )
    assert named(reserve, "body", "ttl_seconds"), reserve.text
    assert await issued_count(client) == 0


@pytest.mark.parametrize(
    ("body", "line", "column", "hint"),
    [
        (b'{"count": 1,}', 1, 13, "double quotes"),
        (b'{\n  "count": 1\n  "attributes": {}\n}', 3, 3, "separated by commas"),
        (b'{"count": 1} trailing', 1, 14, "one JSON value"),
        (b'{"ref": "crm:a', 1, 9, "closing double quote"),
    ],
)
async def test_a_body_that_is_not_json_is_a_400_saying_where_and_how_to_mend_it(
    client: httpx.AsyncClient, body: bytes, line: int, column: int, hint: str
) -> None:
    headers = {"content-type": "application/json"}
    for path in ("/v1/schemes/daily/numbers/batch", "/v1/numbers/20231015001/retire"):
        answer = await client.post(path, content=body, headers=headers)
        problem = answer.json()
        assert (answer.status_code, problem["code"]) == (400, "malformed_body"), path
        assert (problem["line"], problem["column"]) == (line, column), path
        assert f"line {line}, column {column}" in problem["detail"]
        assert hint in problem["detail"]
        assert answer.headers["content-type"] == PROBLEM


@pytest.mark.parametrize(
    "value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0.5", "banana"]
)
async def test_times_a_backend_cannot_store_are_a_422_naming_the_parameter(
    client: httpx.AsyncClient, value: str
) -> None:
    for parameter in ("issued_from", "issued_before"):
        answer = await client.get("/v1/numbers", params={parameter: value})
        assert named(answer, "query", parameter), answer.text


async def test_a_csv_line_that_is_not_utf_8_or_too_long_is_a_422_naming_the_line(
    client: httpx.AsyncClient,
) -> None:
    csv = {"content-type": "text/csv"}
    # Two refs that differ only in their undecodable bytes would have become one.
    undecodable = (
        b"number,issued_at,refs\n"
        b"20231015001,2023-10-15,crm:caf\xe9\n"
        b"20231015002,2023-10-15,erp:caf\xe8\n"
    )
    long_field = b"number,issued_at,refs\n20231015001,2023-10-15," + b"x" * 140_000 + b"\n"

    refused = await client.post("/v1/schemes/daily/imports", content=undecodable, headers=csv)
    too_long = await client.post("/v1/schemes/daily/imports", content=long_field, headers=csv)

    assert refused.status_code == 422
    assert [(p["line"], p["problem"]) for p in refused.json()["problems"]] == [
        (2, "not UTF-8: byte 0xe9 at column 31"),
        (3, "not UTF-8: byte 0xe8 at column 31"),
    ]
    assert too_long.status_code == 422
    [problem] = too_long.json()["problems"]
    assert problem["line"] == 2
    assert await issued_count(client) == 0


async def test_the_gaps_route_takes_only_periods_of_the_scheme(client: httpx.AsyncClient) -> None:
    await client.post("/v1/schemes/staff/numbers", json={"attributes": {"department": "HR"}})

    day = await client.get("/v1/schemes/daily/periods/20231015/gaps")
    never = await client.get("/v1/schemes/staff/periods/-/gaps")
    answers = [
        await client.get(f"/v1/schemes/{scheme}/periods/{period}/gaps")
        for scheme, period in [("daily", "banana"), ("daily", "20231032"), ("staff", "2023")]
    ]

    assert day.status_code == never.status_code == 200
    assert never.json()["period"] == "-"
    assert [(a.status_code, a.json()["code"]) for a in answers] == [(404, "not_found")] * 3


async def test_a_voided_number_is_listed_by_status_with_its_reason_and_validates(
    client: httpx.AsyncClient,
) -> None:
    held = (await client.post("/v1/schemes/daily/reservations")).json()
    reserved = held["numbers"][0]["number"]
    given_up = (await client.post("/v1/schemes/daily/reservations")).json()
    voided = (
        await client.post(f"/v1/reservations/{given_up['id']}/void", json={"reason": "abandoned"})
    ).json()["numbers"][0]["number"]

    listed = await client.get("/v1/numbers", params={"status": "voided"})
    still_held = await client.get("/v1/numbers", params={"status": "reserved"})
    record = await client.get(f"/v1/numbers/{voided}")
    validation = await client.get(f"/v1/numbers/{voided}/validation")
    in_scheme = await client.get(f"/v1/schemes/daily/numbers/{voided}/validation")

    assert [r["number"] for r in listed.json()["numbers"]] == [voided]
    assert [r["number"] for r in still_held.json()["numbers"]] == [reserved]
    assert (record.json()["status"], record.json()["void_reason"]) == ("voided", "abandoned")
    assert validation.status_code == in_scheme.status_code == 200
    assert (validation.json()["status"], validation.json()["issued"]) == ("voided", False)


async def test_a_ref_is_added_as_the_readme_shows_it(client: httpx.AsyncClient) -> None:
    number = (await client.post("/v1/schemes/daily/numbers")).json()["number"]

    added = await client.post(f"/v1/numbers/{number}/refs", json={"system": "erp", "id": "C-1"})

    assert added.status_code == 201, added.text
    assert added.json()["refs"] == [{"system": "erp", "id": "C-1"}]


async def test_a_bad_key_is_refused_before_any_header_or_body_is_read(
    client: httpx.AsyncClient, make_key: KeyMaker
) -> None:
    key = await make_key()  # numbers:read missing: no scope at all

    answer = await client.get(
        "/v1/numbers", params={"cursor": "!!"}, headers={**bearer(key), "X-Operator": "a b"}
    )

    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


def test_text_given_on_the_command_line_is_held_to_the_same_grammar(tmp_path: Path) -> None:
    runner = CliRunner(env={"CUSTID_DATA_DIR": str(tmp_path)})

    name = runner.invoke(
        cli, ["keys", "create", "--name", "crm\x1b[31m", "--scope", "numbers:read"]
    )
    described = runner.invoke(
        cli, ["webhooks", "create", "--url", "http://127.0.0.1:9/", "--description", "a\x85b"]
    )

    assert name.exit_code == described.exit_code == 2
    assert "U+001B (a control character) at position 4" in name.output
    assert "U+0085 (a control character) at position 2" in described.output
    assert not (tmp_path / "custid.db").exists()  # refused before anything was opened
