"""Scheme kinds: one module per kind, each a pure function of its parameters."""

from schemes.base import (
    InvalidAttribute,
    NumberReading,
    ParsedNumber,
    Scheme,
    SchemeDefinition,
)
from schemes.catalog import Catalog, SchemeFileError, available_kinds, load_catalog

__all__ = [
    "Catalog",
    "InvalidAttribute",
    "NumberReading",
    "ParsedNumber",
    "Scheme",
    "SchemeDefinition",
    "SchemeFileError",
    "available_kinds",
    "load_catalog",
]
