"""Source systems: connection URLs (with secrets kept out of every message) and the sources YAML.

The YAML (config/sources.yml, or $SHIFU_SOURCES_FILE) declares, per source: the database
(MySQL database, PostgreSQL schema, or SQLite file stem), and per table the mode, primary key,
cursor column and lookback. Values may use `${VAR}` / `${VAR:-default}`; the URL normally comes
from the environment (`SHIFU_SOURCE_URL`), so no secret is ever in the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from ingest import identifiers

if TYPE_CHECKING:
    from sqlalchemy.engine import URL


def make_url(url: str) -> URL:
    """sqlalchemy's, imported when first needed (~0.2 s: the log and event commands of
    `python -m ingest` never need it)."""
    from sqlalchemy.engine import make_url as parse

    return parse(url)


DEFAULT_FILE = Path(__file__).resolve().parent.parent / "config" / "sources.yml"
DEFAULT_LOOKBACK_MINUTES = 120
DIALECT_KINDS = {"mysql": "mysql", "mariadb": "mysql", "postgresql": "postgres", "sqlite": "sqlite"}
MODES = ("full", "incremental", "cdc")
_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^${}]*))?\}")


class ConfigError(ValueError):
    """The sources YAML or a command line option is wrong."""


# ---- URLs and secrets -------------------------------------------------------------------------


def parse_url(url: str) -> URL:
    try:
        return make_url(url)
    except Exception as error:  # sqlalchemy raises ArgumentError; never echo the URL itself
        raise ConfigError(f"not a database URL: {redact(url)} ({type(error).__name__})") from None


def kind_of(url: str) -> str:
    """mysql | postgres | sqlite, from the URL's dialect."""
    backend = parse_url(url).get_backend_name()
    if backend not in DIALECT_KINDS:
        raise ConfigError(f"unsupported source {backend!r} in {redact(url)}")
    return DIALECT_KINDS[backend]


def redact(url: str) -> str:
    """The URL with its password replaced by ***, safe for logs and manifests."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)


def scrub(text: str, url: str) -> str:
    """Remove the URL's password (and the URL) from any message, e.g. a driver's error."""
    text = text.replace(url, redact(url))
    try:
        password = make_url(url).password
    except Exception:
        password = None
    if password:
        text = text.replace(str(password), "***")
    return text


# ---- the YAML -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TableConfig:
    name: str
    mode: str = "full"
    primary_key: tuple[str, ...] = ()  # empty: read from the source's metadata
    cursor: str | None = None
    lookback_minutes: int = DEFAULT_LOOKBACK_MINUTES
    allow_schema_change: bool = False


@dataclass(frozen=True)
class SourceConfig:
    name: str
    url: str
    database: str | None = None
    optional: bool = False  # a source that may not exist yet (the services before the split)
    time_zone: str = "+08:00"  # MySQL session time zone: TIMESTAMP columns in Shanghai wall time
    tables: dict[str, TableConfig] = field(default_factory=dict)

    @property
    def kind(self) -> str:
        return kind_of(self.url)


def expand_env(text: str, env: dict[str, str] | None = None) -> str:
    """Replace ${VAR} and ${VAR:-default}, innermost first; an unset VAR without default fails."""
    env = os.environ if env is None else env

    def substitute(match: re.Match) -> str:
        name, default = match.group(1), match.group(2)
        if env.get(name):
            return env[name]
        if default is None:
            raise ConfigError(f"environment variable {name} is not set")
        return default

    previous = None
    while previous != text:
        previous, text = text, _ENV.sub(substitute, text)
    return text


def load(path: Path | None = None, env: dict[str, str] | None = None) -> dict[str, SourceConfig]:
    """Read the sources YAML ($SHIFU_SOURCES_FILE, else config/sources.yml)."""
    env = os.environ if env is None else env
    path = path or Path(env.get("SHIFU_SOURCES_FILE") or DEFAULT_FILE)
    raw = yaml.safe_load(expand_env(path.read_text(), env)) or {}
    defaults = raw.get("defaults", {})
    out = {}
    for name, spec in (raw.get("sources") or {}).items():
        identifiers.validate(name, "source name")
        url = spec.get("url") or raw.get("url")
        if not url:
            raise ConfigError(f"source {name}: no url")
        tables = {}
        for table, tspec in (spec.get("tables") or {}).items():
            tables[table] = table_config(table, {**defaults, **(tspec or {})})
        database = spec.get("database")
        if database is not None:
            identifiers.validate(database, "database name")
        followed = sorted(t.name for t in tables.values() if t.mode == "cdc")
        if followed and kind_of(url) != "mysql":
            raise ConfigError(
                f"source {name}: mode cdc (tables {', '.join(followed)}) reads a MySQL/MariaDB "
                f"binlog; {redact(url)} is {kind_of(url)}"
            )
        if followed and not (database or parse_url(url).database):
            raise ConfigError(f"source {name}: mode cdc needs a database")
        out[name] = SourceConfig(
            name=name,
            url=url,
            database=database,
            optional=bool(spec.get("optional", False)),
            time_zone=str(spec.get("time_zone", "+08:00")),
            tables=tables,
        )
    return out


def table_config(name: str, spec: dict[str, Any]) -> TableConfig:
    """Validate one table's settings (every identifier against the allow-list)."""
    identifiers.validate(name, "table name")
    mode = spec.get("mode", "full")
    if mode not in MODES:
        raise ConfigError(f"table {name}: mode {mode!r} is not one of {MODES}")
    key = spec.get("primary_key") or ()
    key = (key,) if isinstance(key, str) else tuple(key)
    for column in key:
        identifiers.validate(column, "primary key column")
    cursor = spec.get("cursor")
    if cursor is not None:
        identifiers.validate(cursor, "cursor column")
    if mode == "incremental" and cursor is None:
        raise ConfigError(f"table {name}: incremental mode needs a cursor column")
    return TableConfig(
        name=name,
        mode=mode,
        primary_key=key,
        cursor=cursor,
        lookback_minutes=int(spec.get("lookback_minutes", DEFAULT_LOOKBACK_MINUTES)),
        allow_schema_change=bool(spec.get("allow_schema_change", False)),
    )
