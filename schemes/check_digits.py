"""Check digits, all from python-stdnum: one table of the algorithms a scheme may end with.

The digit algorithms (Luhn, Damm, Verhoeff, ISO 7064 MOD 11-2 and MOD 97-10)
are computed over the digits of the number; letters in it come from literals
and listed attribute values, which the scheme's shape already pins down.
MOD 37-2 covers letters too. (MOD 97-10 could read letters as 10..35, but then
it misses some substitutions and transpositions, so custid does not offer that.)
"""

from collections.abc import Callable
from dataclasses import dataclass
from string import ascii_uppercase, digits
from typing import Literal

from stdnum import damm, luhn, verhoeff
from stdnum.iso7064 import mod_11_2, mod_37_2, mod_97_10

CheckAlgorithmName = Literal["luhn", "damm", "verhoeff", "mod_11_2", "mod_97_10", "mod_37_2"]


@dataclass(frozen=True)
class CheckAlgorithm:
    """One check-digit algorithm and what it promises to catch."""

    name: str
    title: str
    covers: str  # the characters of a number the check is computed over
    check_characters: str
    length: int
    calculate: Callable[[str], str]
    catches_transpositions: bool  # every swap of two adjacent covered characters


ALGORITHMS: dict[str, CheckAlgorithm] = {
    algorithm.name: algorithm
    for algorithm in (
        # Luhn misses the swap 09 <-> 90, so it promises substitutions only.
        CheckAlgorithm("luhn", "Luhn", digits, digits, 1, luhn.calc_check_digit, False),
        CheckAlgorithm("damm", "Damm", digits, digits, 1, damm.calc_check_digit, True),
        CheckAlgorithm("verhoeff", "Verhoeff", digits, digits, 1, verhoeff.calc_check_digit, True),
        CheckAlgorithm(
            "mod_11_2",
            "ISO 7064 MOD 11-2",
            digits,
            digits + "X",
            1,
            mod_11_2.calc_check_digit,
            True,
        ),
        CheckAlgorithm(
            "mod_97_10",
            "ISO 7064 MOD 97-10",
            digits,
            digits,
            2,
            mod_97_10.calc_check_digits,
            True,
        ),
        CheckAlgorithm(
            "mod_37_2",
            "ISO 7064 MOD 37-2",
            digits + ascii_uppercase,
            digits + ascii_uppercase + "*",
            1,
            mod_37_2.calc_check_digit,
            True,
        ),
    )
}


def covered(algorithm: CheckAlgorithm, body: str) -> str:
    """The characters of `body` the check is computed over."""
    return "".join(char for char in body if char in algorithm.covers)


def check_digits_for(name: str, body: str) -> str:
    """The check character(s) to append to `body`."""
    algorithm = ALGORITHMS[name]
    text = covered(algorithm, body)
    if not text:
        raise ValueError(f"{algorithm.title} needs at least one character it covers")
    return algorithm.calculate(text)


def has_valid_check(name: str, body: str, check: str) -> bool:
    """True when `check` is the right check for `body`."""
    try:
        return check_digits_for(name, body) == check
    except ValueError:
        return False
