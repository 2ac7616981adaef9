"""The checks the contract campaign adds to schemathesis's own judge the service, not the
fuzzer: a failure whose premise is false is dropped, and only that one."""

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData, ServerError
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.case import Case
from schemathesis.generation.meta import (
    CaseMetadata,
    ComponentInfo,
    FuzzingPhaseData,
    GenerationInfo,
    PhaseInfo,
    TestPhase,
)
from schemathesis.generation.modes import GenerationMode

from custid_testing.contract_checks import filter_failure

DOCUMENT = json.loads((Path(__file__).parents[2] / "openapi.json").read_text())


def negative_query_case(parameter: str, query: dict[str, Any]) -> Any:
    """A case of `GET /v1/events` whose query schemathesis generated as negative, negating
    `parameter`."""
    operation = schemathesis.openapi.from_dict(DOCUMENT)["/v1/events"]["GET"]
    meta = CaseMetadata(
        generation=GenerationInfo(time=0.0, mode=GenerationMode.NEGATIVE),
        components={ParameterLocation.QUERY: ComponentInfo(mode=GenerationMode.NEGATIVE)},
        phase=PhaseInfo(
            name=TestPhase.FUZZING,
            data=FuzzingPhaseData(
                description=None,
                parameter=parameter,
                parameter_location=ParameterLocation.QUERY,
                location=None,
            ),
        ),
    )
    return Case(operation, method="GET", path="/v1/events", query=query, meta=meta)


def answered(url: str) -> Any:
    return SimpleNamespace(request=SimpleNamespace(url=url))


def accepted() -> AcceptedNegativeData:
    return AcceptedNegativeData(
        operation="GET /v1/events", message="accepted", status_code=200, expected_statuses=[]
    )


def test_a_list_parameter_sent_as_one_valid_value_is_not_negative() -> None:
    case = negative_query_case("scheme", {"scheme": False})
    response = answered("http://127.0.0.1/v1/events?scheme=false")
    assert filter_failure(None, accepted(), case, response) is False


@pytest.mark.parametrize(
    ("parameter", "query", "url"),
    [
        # The value breaks the items' own grammar: truly negative.
        ("scheme", {"scheme": "\x00"}, "http://127.0.0.1/v1/events?scheme=%00"),
        ("type", {"type": 7}, "http://127.0.0.1/v1/events?type=7"),
        # Not a list parameter: a lone value is not read as a list of one.
        ("limit", {"limit": "many"}, "http://127.0.0.1/v1/events?limit=many"),
    ],
)
def test_a_truly_negative_case_that_was_accepted_stays_a_failure(
    parameter: str, query: dict[str, Any], url: str
) -> None:
    case = negative_query_case(parameter, query)
    assert filter_failure(None, accepted(), case, answered(url)) is True


def test_other_failures_are_kept() -> None:
    case = negative_query_case("scheme", {"scheme": False})
    failure = ServerError(operation="GET /v1/events", status_code=500)
    response = answered("http://127.0.0.1/v1/events?scheme=false")
    assert filter_failure(None, failure, case, response) is True
