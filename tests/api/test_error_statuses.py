"""Which status answers an error is the HTTP layer's to say; it says it for every error the
core can raise."""

import inspect

from app.api.problems import status_of
from app.core import errors
from app.core.errors import CustidError

CORE_ERRORS = [
    kind
    for _, kind in inspect.getmembers(errors, inspect.isclass)
    if issubclass(kind, CustidError) and kind is not CustidError
]


def test_every_error_of_the_core_has_a_status_of_its_own() -> None:
    # 500 is what an error listed nowhere gets: a bug, never a documented answer.
    unlisted = [kind.__name__ for kind in CORE_ERRORS if status_of(kind.__new__(kind)) == 500]

    assert len(CORE_ERRORS) > 30
    assert unlisted == []


def test_a_subclass_answers_as_its_nearest_listed_ancestor() -> None:
    assert status_of(errors.CounterContention("daily", 5)) == 503
    assert status_of(errors.UnknownScheme("nosuch")) == 404
    assert status_of(errors.ApiKeyAlreadyRevoked("key_1")) == 409
    assert status_of(CustidError("a bug")) == 500


def test_only_an_outage_or_an_overload_answers_503() -> None:
    unavailable = sorted(
        kind.__name__ for kind in CORE_ERRORS if status_of(kind.__new__(kind)) == 503
    )

    assert unavailable == [
        "BackendUnavailable",
        "CounterContention",
        "Overloaded",
        "SecretKeysMissing",
    ]
    assert all(getattr(errors, name).retryable for name in unavailable)
