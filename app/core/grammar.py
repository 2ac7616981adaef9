"""One grammar for every text custid keeps, logs or puts in a URL.

Refs (system and id), reasons, descriptions, operators, attribute names and
values, path ids, query parameters and CSV fields are each one of the kinds
below. A kind is written once, as a regular expression built from the
character classes here: the OpenAPI document carries that pattern, pydantic
checks requests against the very same pattern, and text that arrives outside
a model (a CSV field, a command-line option) is checked in Python against the
same classes. No `\\s` anywhere: ECMAScript's and Python's disagree (U+0085,
U+FEFF), so the white space refused is spelled out.

What every kind refuses:

- control characters: C0 (NUL to U+001F, tab and newline included), DEL and
  C1 (U+0080 to U+009F, U+0085 among them), and the line and paragraph
  separators U+2028 and U+2029. NUL cannot be stored in PostgreSQL; the
  others corrupt logs, terminals and CSV files.
- unpaired surrogates (U+D800 to U+DFFF alone): they are not characters and
  cannot be encoded. JSON Schema patterns cannot spell them (most regex
  engines refuse the range); pydantic refuses them in any constrained string,
  and the Python check here names them.

Words (ids, refs, names, keys) refuse white space too; lines (reasons,
descriptions, attribute values) may hold spaces but never line breaks.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property

from pydantic import StringConstraints

# Code point ranges, first to last.
Ranges = tuple[tuple[int, int], ...]
# Control characters, and the line and paragraph separators: no text may hold them.
CONTROL_RANGES: Ranges = ((0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029))
# Every other character Unicode or ECMAScript calls white space.
SPACE_RANGES: Ranges = (
    (0x20, 0x20),
    (0xA0, 0xA0),
    (0x1680, 0x1680),
    (0x2000, 0x200A),
    (0x202F, 0x202F),
    (0x205F, 0x205F),
    (0x3000, 0x3000),
    (0xFEFF, 0xFEFF),
)
SURROGATE_RANGES: Ranges = ((0xD800, 0xDFFF),)


def escape(code: int) -> str:
    """A code point as a regex class writes it, in a spelling every engine reads."""
    if code == 0x20:
        return " "
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def class_body(ranges: Ranges) -> str:
    """The inside of a regex character class holding `ranges`."""
    return "".join(
        escape(first) if first == last else f"{escape(first)}-{escape(last)}"
        for first, last in ranges
    )


CONTROLS = class_body(CONTROL_RANGES)
SPACES = class_body(SPACE_RANGES)
SURROGATES = class_body(SURROGATE_RANGES)

WORD = f"[^{CONTROLS}{SPACES}]"
TEXT = f"[^{CONTROLS}]"
# A ref's system (the part before the first colon of `crm:acct-991`) and its id.
SYSTEM = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
MAX_REF_ID = 256
ID = f"{WORD}{{1,{MAX_REF_ID}}}"

# Schemes that never reset count in the period ""; where a period is written (a URL,
# an answer, a command line), "-".
NO_PERIOD = "-"


@dataclass(frozen=True)
class Kind:
    """A kind of text: the pattern the document and pydantic check, and the same check in
    Python for text that arrives outside a model."""

    name: str
    pattern: str
    max_length: int
    min_length: int = 1
    # What a caller is told the kind is, after "must be".
    explained: str = ""
    # Lines may hold spaces; words may not.
    spaces_allowed: bool = False

    @cached_property
    def python(self) -> re.Pattern[str]:
        """The pattern with unpaired surrogates refused as well (a JSON Schema pattern cannot
        name them; pydantic refuses them before it matches)."""
        return re.compile(for_python(self.pattern))

    def fits(self, text: str) -> bool:
        """Whether `text` is of this kind."""
        return self.min_length <= len(text) <= self.max_length and bool(self.python.fullmatch(text))

    def problem(self, text: str) -> str | None:
        """What is wrong with `text` as this kind, in a phrase; None when nothing is."""
        if self.fits(text):
            return None
        if len(text) > self.max_length:
            return f"longer than {self.max_length} characters"
        if len(text) < self.min_length:
            return "empty" if not text else f"shorter than {self.min_length} characters"
        refused = first_refused(text, self.spaces_allowed)
        return refused if refused is not None else f"must be {self.explained}"

    @property
    def constraints(self) -> StringConstraints:
        """The pydantic constraints of the kind: the pattern and the lengths."""
        return StringConstraints(
            min_length=self.min_length, max_length=self.max_length, pattern=self.pattern
        )


def for_python(pattern: str) -> str:
    """`pattern` with unpaired surrogates refused by each of its negated classes too."""
    return pattern.replace(f"[^{CONTROLS}", f"[^{CONTROLS}{SURROGATES}")


def describe_character(character: str) -> str:
    """A character as an error message names it: `U+007F (a control character)`."""
    code = ord(character)
    if 0xD800 <= code <= 0xDFFF:
        what = "an unpaired surrogate"
    elif code < 0x20 or 0x7F <= code <= 0x9F:
        what = "a control character"
    elif code in (0x2028, 0x2029):
        what = "a line break"
    else:
        what = "white space"
    return f"U+{code:04X} ({what})"


REFUSED_IN_LINES = re.compile(f"[{CONTROLS}{SURROGATES}]")
REFUSED_IN_WORDS = re.compile(f"[{CONTROLS}{SPACES}{SURROGATES}]")


def first_refused(text: str, spaces_allowed: bool) -> str | None:
    """The first character of `text` that no text may hold (nor a space, unless
    `spaces_allowed`), described with its position; None when there is none."""
    found = (REFUSED_IN_LINES if spaces_allowed else REFUSED_IN_WORDS).search(text)
    if found is None:
        return None
    return f"{describe_character(found.group())} at position {found.start() + 1}"


def word(name: str, max_length: int, min_length: int = 1) -> Kind:
    """Text without control characters or white space: ids, names, keys."""
    return Kind(
        name,
        f"^{WORD}+$",
        max_length,
        min_length,
        "letters, digits and punctuation, without spaces or control characters",
    )


def line(name: str, max_length: int, min_length: int = 1) -> Kind:
    """One line of text: spaces allowed, control characters (line breaks too) not."""
    return Kind(
        name,
        f"^{TEXT}*$" if min_length == 0 else f"^{TEXT}+$",
        max_length,
        min_length,
        "one line of text without control characters",
        spaces_allowed=True,
    )


# A ref as one string: `system:id`, or an id of the system `default`.
REF = Kind(
    "ref",
    f"^(?:{SYSTEM}:)?{ID}$",
    MAX_REF_ID + 65,
    explained=f"`system:id` or an id: up to {MAX_REF_ID} characters without spaces or "
    "control characters, after an optional system name",
)
REF_SYSTEM = Kind(
    "ref system",
    f"^{SYSTEM}$",
    64,
    explained="1 to 64 letters, digits, '_', '.' or '-', starting with a letter or digit",
)
REF_ID = word("ref id", MAX_REF_ID)
OPERATOR = Kind(
    "operator",
    r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$",
    64,
    explained="1 to 64 letters, digits, '.', '_', '@', '+' or '-', starting with a letter or digit",
)
# A reason must say something: not only spaces.
REASON = Kind(
    "reason",
    f"^{TEXT}*[^{CONTROLS}{SPACES}]{TEXT}*$",
    1000,
    explained="one line of text with something besides spaces",
    spaces_allowed=True,
)
DESCRIPTION = line("description", 500, min_length=0)
ATTRIBUTE_NAME = word("attribute name", 64)
ATTRIBUTE_VALUE = line("attribute value", 128, min_length=0)
SCHEME_NAME = word("scheme name", 64)
NUMBER = word("number", 64)
# Any string asked about: a mistyped number may hold a space.
CANDIDATE = line("number", 256)
RESERVATION_ID = word("reservation id", 32)
SUBSCRIPTION_ID = word("subscription id", 32)
EVENT_ID = word("event id", 64)
PARTITION = line("partition", 128)
PERIOD = word("period", 32)
IDEMPOTENCY_KEY = word("Idempotency-Key", 255)
WEBHOOK_URL = Kind(
    "url",
    f"^[Hh][Tt][Tt][Pp][Ss]?://{WORD}+$",
    2048,
    explained="an http:// or https:// URL without spaces or control characters",
)
# An ISO 8601 time as an older system wrote it (imports): `2023-10-15 09:30` has a space.
ISSUED_AT_TEXT = line("issued_at", 64)

NAME = line("name", 128)
# An RFC 3339 date-time (what JSON Schema's `date-time` is) in years 2 to 9998: whatever
# its offset, a time every backend stores in UTC.
YEAR = "(?:000[2-9]|00[1-9][0-9]|0[1-9][0-9]{2}|[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
HOUR, MINUTE = "(?:[01][0-9]|2[0-3])", "[0-5][0-9]"
INSTANT = Kind(
    "date-time",
    f"^{YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt]{HOUR}:{MINUTE}:{MINUTE}"
    f"(?:\\.[0-9]{{1,6}})?(?:[Zz]|[+-]{HOUR}:{MINUTE})$",
    32,
    explained="an RFC 3339 date-time with its offset, in years 2 to 9998, e.g. "
    "2023-10-15T09:30:00Z",
)
# A position in a listing, as `next_cursor` hands it out (URL-safe base64).
CURSOR = Kind("cursor", "^[A-Za-z0-9_-]+$", 64, explained="a `next_cursor` this service handed out")

KINDS = (
    REF,
    REF_SYSTEM,
    REF_ID,
    OPERATOR,
    REASON,
    DESCRIPTION,
    ATTRIBUTE_NAME,
    ATTRIBUTE_VALUE,
    SCHEME_NAME,
    NUMBER,
    CANDIDATE,
    RESERVATION_ID,
    SUBSCRIPTION_ID,
    EVENT_ID,
    PARTITION,
    PERIOD,
    IDEMPOTENCY_KEY,
    WEBHOOK_URL,
    ISSUED_AT_TEXT,
    NAME,
    CURSOR,
    INSTANT,
)


def kind_of_pattern(pattern: str) -> Kind | None:
    """The kind whose pattern this is (to explain a pattern mismatch), if any."""
    return next((kind for kind in KINDS if kind.pattern == pattern), None)


def written_period(key: str) -> str:
    """A period key as answers, URLs and command lines write it (`-` for none)."""
    return key or NO_PERIOD


def period_key(written: str) -> str:
    """The period key a path or command line names (`-` for none)."""
    return "" if written == NO_PERIOD else written


def representable(instant: datetime) -> datetime:
    """`instant` if it is a time every backend stores (its UTC date between years 1 and
    9999); `ValueError` otherwise."""
    try:
        instant.astimezone(UTC)
    except OverflowError as exc:
        raise ValueError("outside the representable range (years 1 to 9999 in UTC)") from exc
    return instant
