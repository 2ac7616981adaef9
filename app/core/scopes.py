"""What an API key may do: its scopes. A module of its own, so the command line can name them
without loading the rest of the service."""

from enum import StrEnum


class Scope(StrEnum):
    ISSUE = "numbers:issue"
    READ = "numbers:read"
    ADMIN = "numbers:admin"
