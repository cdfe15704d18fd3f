"""Identifiers from config or source metadata: validated against an allow-list, then quoted.

Table, column, schema and source names end up inside SQL text and file paths, where a value
cannot be bound as a parameter. Anything outside `[A-Za-z_][A-Za-z0-9_$]*` (at most 64
characters, MySQL's limit) is rejected before any SQL runs; quoting is the second line of
defence, not the first.
"""

from __future__ import annotations

import re

PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_$]{0,63}")
QUOTES = {"mysql": "`", "postgres": '"', "sqlite": '"', "duckdb": '"'}


class InvalidIdentifier(ValueError):
    """A name from config or metadata that is not a plain identifier."""


def validate(name: str, what: str = "identifier") -> str:
    """Return `name` if it matches the allow-list pattern, else raise InvalidIdentifier."""
    if not isinstance(name, str) or not PATTERN.fullmatch(name):
        raise InvalidIdentifier(
            f"{what} {name!r} is not allowed: names must match {PATTERN.pattern}"
        )
    return name


def quote(name: str, dialect: str, what: str = "identifier") -> str:
    """The validated name quoted for `dialect` (mysql, postgres, sqlite, duckdb)."""
    mark = QUOTES[dialect]
    return f"{mark}{validate(name, what)}{mark}"


def qualified(schema: str | None, table: str, dialect: str) -> str:
    if schema is None:
        return quote(table, dialect, "table name")
    return f"{quote(schema, dialect, 'schema name')}.{quote(table, dialect, 'table name')}"
