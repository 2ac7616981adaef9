"""Structured logs: one JSON object per line on stdout, secrets redacted.

structlog renders custid's own events; the standard library's records (uvicorn's
warnings and errors) go through the same processors, so every line parses as JSON.
"""

import logging
import re
import sys
from collections.abc import MutableMapping
from functools import lru_cache
from typing import Any, Literal, TextIO

import orjson
import structlog
import structlog.tracebacks

# Any key naming one of these words has its value replaced, whatever it holds.
SECRET_WORDS = ("authorization", "password", "secret", "token", "api_key", "apikey", "cookie")
BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[^\s,;\"']+")
URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://[^:/@\s]*):[^@/\s]+@")
# Both patterns need one of these; a value without any (most of them) is left unscanned.
MAY_HOLD_A_CREDENTIAL = re.compile(r"\s|://")
REDACTED = "[redacted]"
HANDLER_NAME = "custid-json"


def redact(text: str) -> str:
    """`text` without credentials: bearer tokens and URL passwords are replaced."""
    if MAY_HOLD_A_CREDENTIAL.search(text) is None:
        return text
    text = BEARER.sub(lambda match: f"{match.group(1)} {REDACTED}", text)
    return URL_PASSWORD.sub(lambda match: f"{match.group('scheme')}:{REDACTED}@", text)


@lru_cache(maxsize=1024)
def names_a_secret(key: str) -> bool:
    """Whether a log field called `key` holds a secret, whatever its value."""
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def redact_secrets(
    logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor that keeps credentials out of every line."""
    for key, value in event_dict.items():
        if names_a_secret(key):
            event_dict[key] = REDACTED
        elif isinstance(value, str):
            event_dict[key] = redact(value)
    return event_dict


def json_line(event_dict: Any, **options: Any) -> str:
    """One JSON line, written by orjson; what it cannot serialise is written as its repr."""
    return orjson.dumps(event_dict, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()


class StreamLogger:
    """Writes each line to the current `sys.stdout` (or `sys.stderr`), looked up per line so
    captures see it."""

    def __init__(self, stream: Literal["stdout", "stderr"]) -> None:
        self.stream = stream

    def msg(self, message: str) -> None:
        stream: TextIO = getattr(sys, self.stream)
        stream.write(message + "\n")
        stream.flush()

    debug = info = warning = warn = error = critical = exception = fatal = log = msg


# Tracebacks as JSON, without frame locals: a local may hold a token or a password.
TRACEBACKS = structlog.processors.ExceptionRenderer(
    structlog.tracebacks.ExceptionDictTransformer(show_locals=False)
)

SHARED_PROCESSORS: list[Any] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]


def configure_logging(level: str = "info", stream: Literal["stdout", "stderr"] = "stdout") -> None:
    """Send structlog and standard-library records to stdout (a server's log) or stderr (a
    command's, whose stdout is its answer) as JSON lines; safe to repeat."""
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *SHARED_PROCESSORS,
            TRACEBACKS,
            redact_secrets,
            structlog.processors.JSONRenderer(serializer=json_line),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=lambda *args: StreamLogger(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(getattr(sys, stream))
    handler.set_name(HANDLER_NAME)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*SHARED_PROCESSORS, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                TRACEBACKS,
                redact_secrets,
                structlog.processors.JSONRenderer(serializer=json_line),
            ],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(numeric_level, logging.WARNING))
