"""Checks custid adds to schemathesis's own, loaded into `st run` with
`SCHEMATHESIS_HOOKS=custid_testing/contract_checks.py` (as `custid_testing/contract.py` does).

- Every problem's `code` is one the operation's document lists for that status: a
  generated client that branches on the documented codes meets no other.
- A request the document calls valid is never refused as invalid (`validation_error`):
  the service checks nothing the document does not say. (A schema-valid request may
  still break a rule of the service's state, such as the attributes a scheme takes: that
  is a 422 with the rule's own code, allowed per operation in `schemathesis.toml`.)

And one failure of schemathesis's own it drops, because its premise is false:
- A "negative" value in a repeated query parameter that the server, reading the query
  as sent, gets as a valid list (`?scheme=false` is the list `["false"]`).
"""

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import schemathesis
from schemathesis.core.failures import AcceptedNegativeData
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import negated_parameters

PROBLEM = "application/problem+json"
# Validation errors that are rules of the service's configuration, not of the request: a
# webhook filter naming a scheme that is not configured.
CONFIGURATION_RULES = {"unknown_scheme"}


def problem_of(response: Any) -> dict[str, Any] | None:
    """The problem a response carries, if it is one."""
    media_types = response.headers.get("content-type") or []
    if not any(value.startswith(PROBLEM) for value in media_types):
        return None
    try:
        body = json.loads(response.content)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def documented_codes(case: Any, status: int) -> set[str]:
    """The problem codes the operation's document gives examples of for `status`."""
    responses = case.operation.definition.raw.get("responses", {})
    entry = responses.get(str(status), {})
    content = entry.get("content", {}).get(PROBLEM, {})
    return set(content.get("examples", {}))


@schemathesis.check
def problem_codes_are_documented(ctx: Any, response: Any, case: Any) -> bool | None:
    """An error's `code` is one the operation documents for its status."""
    if response.request.method != case.operation.method.upper():
        return None  # a method the operation does not have (405): not this operation's answer
    problem = problem_of(response)
    if problem is None:
        return None
    codes = documented_codes(case, response.status_code)
    if problem.get("code") not in codes:
        raise AssertionError(
            f"{case.method.upper()} {case.path} answered {response.status_code} with code "
            f"{problem.get('code')!r}; the document lists {sorted(codes)}"
        )
    return None


@schemathesis.check
def valid_requests_pass_validation(ctx: Any, response: Any, case: Any) -> bool | None:
    """A request generated as valid is not refused by a check the document does not state."""
    meta = case.meta
    if meta is None or not meta.generation.mode.is_positive or response.status_code != 422:
        return None
    if response.request.method != case.operation.method.upper():
        return None
    problem = problem_of(response)
    if problem is None or problem.get("code") != "validation_error":
        return None
    kinds = {error.get("type") for error in problem.get("errors", []) if isinstance(error, dict)}
    if kinds and kinds <= CONFIGURATION_RULES:
        return None
    raise AssertionError(f"a schema-valid request was refused: {problem.get('detail')}")


def list_parameter_schemas(case: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """The operation's query parameters that take a list, by name, with their schemas."""
    for parameter in case.operation.definition.raw.get("parameters", []):
        schema = parameter.get("schema", {})
        branches = [schema, *schema.get("anyOf", [])]
        if parameter.get("in") == "query" and any(b.get("type") == "array" for b in branches):
            yield parameter["name"], schema


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but an accepted "negative" case whose negation a server cannot see.

    A query parameter that takes a list is sent as the parameter repeated, so one value sent
    alone is a list of one: schemathesis turns the list `["false"]` into the boolean `false`
    to make it invalid, and sends `?scheme=false`, which is the list again. Such a case is
    dropped when every parameter it negated is a list parameter whose values, read from the
    URL as the server reads them, are valid after all.
    """
    if not isinstance(failure, AcceptedNegativeData) or case.meta is None:
        return True
    negated = set(negated_parameters(case.meta))
    if not negated or any(location != ParameterLocation.QUERY for _, location in negated):
        return True
    sent = parse_qs(urlsplit(response.request.url).query, keep_blank_values=True)
    lists = dict(list_parameter_schemas(case))
    for name, _ in negated:
        if name not in lists or not jsonschema.Draft202012Validator(lists[name]).is_valid(
            sent.get(name, [])
        ):
            return True
    return False
