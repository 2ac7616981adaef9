"""Attributes: values a caller supplies with each number (a region, a department).

An attribute segment renders its value (or the code listed for it) and reads
it back; it also checks every value a caller supplies, so what is issued can
always be read back.
"""

import re
from collections.abc import Sequence
from functools import cached_property
from typing import ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from schemes.base import InvalidAttribute
from schemes.segments import NumberInputs, Reading, Segment

# Attribute values stay alphanumeric so a number can always be split back into its parts.
ATTRIBUTE_VALUE = re.compile(r"[A-Za-z0-9]+")


class AttributeSegment(Segment):
    """A value the caller supplies: one of `values`, a key of `codes`, or matching `pattern`."""

    type: Literal["attribute"] = "attribute"
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    values: tuple[str, ...] | None = Field(default=None, min_length=1)
    codes: dict[str, str] | None = Field(
        default=None, min_length=1, description="value -> text rendered in the number"
    )
    pattern: str | None = Field(default=None, max_length=128)
    max_length: int = Field(default=16, ge=1, le=32)
    example: str | None = None

    same_for_a_run: ClassVar[bool] = True

    @field_validator("values")
    @classmethod
    def _alphanumeric_values(cls, values: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for value in values or ():
            if not ATTRIBUTE_VALUE.fullmatch(value):
                raise ValueError(f"value {value!r} must be letters and digits")
        return values

    @field_validator("codes")
    @classmethod
    def _alphanumeric_codes(cls, codes: dict[str, str] | None) -> dict[str, str] | None:
        for value, code in (codes or {}).items():
            if not (ATTRIBUTE_VALUE.fullmatch(value) and ATTRIBUTE_VALUE.fullmatch(code)):
                raise ValueError(f"code {value!r} = {code!r} must be letters and digits")
        if codes is not None and len(set(codes.values())) != len(codes):
            raise ValueError("two values share a code, so numbers could not be read back")
        return codes

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                compiled = re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a regular expression: {exc}") from exc
            if compiled.groups:
                raise ValueError("use (?:...) instead of capturing groups")
        return pattern

    @model_validator(mode="after")
    def _one_rule(self) -> "AttributeSegment":
        rules = [rule for rule in (self.values, self.codes, self.pattern) if rule is not None]
        if len(rules) != 1:
            raise ValueError("give exactly one of values, codes or pattern")
        if self.pattern is not None and self.example is None:
            raise ValueError("an attribute with a pattern needs an example, for previews")
        too_long = [value for value in self.allowed or () if len(value) > self.max_length]
        if too_long:
            raise ValueError(f"values {too_long} are longer than max_length {self.max_length}")
        if self.example is not None:
            self.check(self.example)
        return self

    @property
    def allowed(self) -> tuple[str, ...] | None:
        """The listed values, if the attribute is a closed list."""
        if self.codes is not None:
            return tuple(self.codes)
        return self.values

    @property
    def texts(self) -> tuple[str, ...] | None:
        """What it may render, if the attribute is a closed list."""
        if self.codes is not None:
            return tuple(self.codes.values())
        return self.values

    def check(self, value: object) -> str:
        """`value` if this attribute accepts it, else `InvalidAttribute`."""
        if not isinstance(value, str):
            raise InvalidAttribute(self.name, f"must be a string, not {type(value).__name__}")
        if len(value) > self.max_length:
            raise InvalidAttribute(self.name, f"longer than {self.max_length} characters")
        if not ATTRIBUTE_VALUE.fullmatch(value):
            raise InvalidAttribute(self.name, f"{value!r} has characters other than A-Z, a-z, 0-9")
        allowed = self.allowed
        if allowed is not None and value not in allowed:
            raise InvalidAttribute(self.name, f"{value!r} is not one of {', '.join(allowed)}")
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            raise InvalidAttribute(self.name, f"{value!r} does not match {self.pattern}")
        return value

    def value_of(self, text: str) -> str:
        """The attribute value a rendered text stands for."""
        if self.codes is not None:
            return next(value for value, code in self.codes.items() if code == text)
        return text

    def sample(self) -> str:
        """A value to render examples with."""
        if self.example is not None:
            return self.example
        allowed = self.allowed
        assert allowed is not None, "a pattern attribute has an example (validated)"
        return allowed[0]

    @cached_property  # read for every number parsed
    def group(self) -> str:
        """The name of its group in the layout's regex."""
        return f"a_{self.name}"

    @property
    def regex(self) -> str:
        if self.pattern is not None:
            return f"(?P<{self.group}>(?:{self.pattern}))"
        # Longest first, so a text is never cut short by another that begins it.
        texts = sorted(self.texts or ())
        texts.sort(key=len)
        choices = "|".join(re.escape(text) for text in reversed(texts))
        return f"(?P<{self.group}>(?:{choices}))"

    @property
    def longest(self) -> int:
        texts = self.texts
        return max(len(text) for text in texts) if texts else self.max_length

    @property
    def shortest(self) -> int:
        texts = self.texts
        return min(len(text) for text in texts) if texts else 1

    @property
    def declared_attributes(self) -> tuple["AttributeSegment", ...]:
        return (self,)

    def render(self, inputs: NumberInputs, before: Sequence[str]) -> str:
        value = inputs.attributes[self.name]
        return self.codes[value] if self.codes is not None else value

    def read(self, match: re.Match[str], reading: Reading) -> bool:
        try:
            reading.attributes[self.name] = self.check(self.value_of(match.group(self.group)))
        except InvalidAttribute:
            return False
        return True
