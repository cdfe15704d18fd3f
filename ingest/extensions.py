"""The one place that loads DuckDB extensions.

These machines cannot download extensions at run time (DESIGN.md, "Stack"). The PyPI packages
`duckdb-extension-<name>` carry the binaries; we `LOAD` that file (signature checking stays on)
and only fall back to `INSTALL <name>` when the package is missing, e.g. on a machine that can
reach DuckDB's repository. Autoinstall is off so a missing extension fails at once.
"""

from __future__ import annotations

import importlib
from pathlib import Path

import duckdb

# extension name -> the PyPI package's module (duckdb-extension-mysql-scanner, ...)
PACKAGES = {
    "mysql_scanner": "duckdb_extension_mysql_scanner",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "sqlite_scanner": "duckdb_extension_sqlite_scanner",
    "ducklake": "duckdb_extension_ducklake",
}
ALIASES = {"mysql": "mysql_scanner", "postgres": "postgres_scanner", "sqlite": "sqlite_scanner"}


def packaged_extension_path(name: str) -> Path | None:
    """The extension binary shipped by its PyPI package for this DuckDB version, if installed."""
    name = ALIASES.get(name, name)
    module_name = PACKAGES.get(name)
    if module_name is None:
        return None
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    version = duckdb.__version__
    path = Path(module.__file__).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    return path if path.is_file() else None


def connect(database: str = ":memory:", **config: object) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that never downloads an extension behind our back."""
    settings = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    settings.update(config)
    return duckdb.connect(database, config=settings)


def load_extension(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Load `name` from its PyPI package if present, else INSTALL it by name and LOAD it."""
    name = ALIASES.get(name, name)
    path = packaged_extension_path(name)
    if path is not None:
        # A path can't be a bound parameter in LOAD; it comes from site-packages, not config.
        con.execute(f"LOAD '{_sql_string(str(path))}'")
        return
    con.execute(f"INSTALL {_bare_name(name)}")
    con.execute(f"LOAD {_bare_name(name)}")


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def _bare_name(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not an extension name: {name!r}")
    return name
