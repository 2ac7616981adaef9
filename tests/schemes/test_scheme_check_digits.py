"""Every check digit catches what its algorithm promises (python-stdnum does the arithmetic)."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemes.check_digits import ALGORITHMS, check_digits_for, has_valid_check

NAMES = sorted(ALGORITHMS)


def bodies(name: str) -> st.SearchStrategy[str]:
    return st.text(alphabet=ALGORITHMS[name].covers, min_size=1, max_size=20)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_check_digit_catches_every_single_character_substitution(
    name: str, data: st.DataObject
) -> None:
    algorithm = ALGORITHMS[name]
    body = data.draw(bodies(name))
    number = body + check_digits_for(name, body)
    alphabets = [algorithm.covers] * len(body) + [algorithm.check_characters] * algorithm.length

    for position, alphabet in enumerate(alphabets):
        for replacement in alphabet.replace(number[position], ""):
            typo = number[:position] + replacement + number[position + 1 :]
            assert not has_valid_check(name, typo[: len(body)], typo[len(body) :]), typo


TRANSPOSITION_SAFE = [name for name in NAMES if ALGORITHMS[name].catches_transpositions]


@pytest.mark.parametrize("name", TRANSPOSITION_SAFE)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_check_digit_catches_every_adjacent_transposition_where_promised(
    name: str, data: st.DataObject
) -> None:
    body = data.draw(bodies(name))
    check = check_digits_for(name, body)

    for position in range(len(body) - 1):
        left, right = body[position], body[position + 1]
        if left != right:
            swapped = body[:position] + right + left + body[position + 2 :]
            assert not has_valid_check(name, swapped, check), swapped


def test_luhn_promises_no_transpositions_because_it_misses_09_and_90() -> None:
    assert check_digits_for("luhn", "109") == check_digits_for("luhn", "190")
    assert TRANSPOSITION_SAFE == ["damm", "mod_11_2", "mod_37_2", "mod_97_10", "verhoeff"]


@pytest.mark.parametrize(
    ("name", "body", "check"),
    [
        ("luhn", "7992739871", "3"),
        ("damm", "572", "4"),
        ("verhoeff", "236", "3"),
        ("mod_11_2", "079", "X"),
        ("mod_97_10", "12345", "20"),
        ("mod_37_2", "G123489654321", "Y"),
    ],
)
def test_check_digit_matches_the_published_examples(name: str, body: str, check: str) -> None:
    assert check_digits_for(name, body) == check
    assert has_valid_check(name, body, check)


def test_digits_only_check_ignores_letters_which_the_shape_fixes() -> None:
    assert check_digits_for("luhn", "VIP2023000001") == check_digits_for("luhn", "2023000001")
