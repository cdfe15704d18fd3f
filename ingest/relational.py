"""Relational tables (MySQL/MariaDB, PostgreSQL, SQLite) into the lake, one partition per table.

Engines, chosen by measurement (bench/ingest/README.md): a MySQL table with a single integer
primary key is read in key ranges by connectorx, two at a time (ingest/mysql_scan.py); every
other table by DuckDB's scanner extensions: the source runs our SELECT (window and ORDER BY
primary key pushed down), DuckDB converts rows to Arrow in C++, and we stream fixed-size record
batches into the partition writer. Either way memory stays flat whatever the table's size.

MySQL types keep their meaning: DECIMAL -> decimal128, DATETIME and TIMESTAMP -> wall time in
the source's `time_zone` (default +08:00, Shanghai), unsigned BIGINT -> uint64, ENUM/SET/JSON
and TIME (as MySQL prints it) -> text, BLOB and BIT(n>1) -> bytes (BIT big-endian), BIT(1) ->
bool, YEAR -> int32, TINYINT(1) stays an integer. PostgreSQL timestamptz -> Asia/Shanghai wall
time. Zero and partial dates ('0000-00-00', '2026-00-15') become NULL and are counted per column
in the manifest's `zero_dates`. A row the engine cannot convert fails the table loudly (nothing
is quarantined, so accepted = read, rejected_count = 0). Types: ingest/README.md.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pymysql
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import URL
from sqlalchemy.sql import sqltypes

from ingest import extensions, lake, mysql_scan
from ingest.identifiers import qualified, quote, validate
from ingest.sources import SourceConfig, TableConfig, kind_of, parse_url, redact, scrub

BATCH_ROWS = 65_536
ZERO_DATES = "__shifu_zero_dates"
DATE_TYPES = {"DATE", "DATETIME", "TIMESTAMP"}
DUCKDB_MEMORY_LIMIT = "512MB"
BUSINESS_TIME_ZONE = "Asia/Shanghai"


class SchemaDriftError(RuntimeError):
    """A column was dropped or retyped and the table's config does not allow it."""


class TableMissing(LookupError):
    """The table (or its database) does not exist in the source."""


@dataclass
class TableResult:
    """One line of the run's summary."""

    source: str
    table: str
    mode: str
    status: str  # ok | retired | absent | failed
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    message: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class Source:
    """A connection target: URL plus the database (MySQL db, PostgreSQL schema, SQLite file)."""

    name: str
    url: str
    database: str | None = None
    time_zone: str = "+08:00"
    optional: bool = False

    @classmethod
    def from_config(cls, config: SourceConfig) -> Source:
        return cls(config.name, config.url, config.database, config.time_zone, config.optional)

    @property
    def kind(self) -> str:
        return kind_of(self.url)

    @property
    def sqlite_path(self) -> Path:
        path = Path(parse_url(self.url).database or "")
        return path / f"{self.database}.sqlite" if path.is_dir() or self.database else path

    @property
    def schema(self) -> str | None:
        """The schema qualifier in SQL: MySQL database or PostgreSQL schema (SQLite: none)."""
        if self.kind == "sqlite":
            return None
        if self.kind == "mysql":
            return self.database or parse_url(self.url).database
        return self.database or "public"

    def sqlalchemy_url(self) -> URL | str:
        if self.kind == "sqlite":
            return f"sqlite:///file:{self.sqlite_path}?mode=ro&uri=true"
        return parse_url(self.url)

    def exists(self) -> bool:
        if self.kind == "sqlite":
            return self.sqlite_path.is_file()
        engine = create_engine(self.sqlalchemy_url())
        try:
            return self.schema in inspect(engine).get_schema_names()
        finally:
            engine.dispose()


# ---- public API ---------------------------------------------------------------------------


def extract_tables(
    source: Source, tables: list[TableConfig] | None, dt: date, mode: str | None = None
) -> list[TableResult]:
    """Extract each table (None: every table in the source, full) into its dt partition."""
    if not source.exists():
        if source.optional:
            names = [t.name for t in tables or []]
            return [
                TableResult(source.name, n, "-", "absent", message="source does not exist")
                for n in names
            ]
        raise TableMissing(f"source {source.name}: {source_label(source)} does not exist")
    engine = create_engine(source.sqlalchemy_url())
    try:
        inspector = inspect(engine)
        existing = set(inspector.get_table_names(schema=source.schema))
        if tables is None:
            tables = [TableConfig(name=n, mode=mode or "full") for n in sorted(existing)]
        results = []
        for table in tables:
            if mode is not None and table.mode != mode:
                table = TableConfig(**{**table.__dict__, "mode": mode})
            results.append(extract_table(source, table, dt, inspector, existing))
        return results
    finally:
        engine.dispose()


def extract_table(
    source: Source, table: TableConfig, dt: date, inspector, existing: set[str]
) -> TableResult:
    """Extract one table; failures are returned as a failed result, secrets scrubbed."""
    started = time.monotonic()
    state_key = (source.kind, source.name, table.name)
    state = lake.read_state(*state_key)
    result = TableResult(source.name, table.name, table.mode, "ok")
    try:
        if state.get("retired_at"):
            result.status, result.message = "retired", f"retired on {state['retired_at']}"
        elif table.name not in existing:
            if state.get("schema"):
                state["retired_at"] = dt.isoformat()
                lake.write_state(state, *state_key)
                result.status = "retired"
                result.message = f"table no longer exists in the source; retired as of {dt}"
            elif source.optional:
                result.status, result.message = "absent", "table does not exist (yet)"
            else:
                raise TableMissing(f"table {table.name} does not exist in {source_label(source)}")
        else:
            manifest = _extract(source, table, dt, inspector, state)
            result.rows, result.manifest = manifest["row_count"], manifest
            result.bytes = sum(f["bytes"] for f in manifest["files"])
            state.update(
                {
                    "schema": manifest["source_schema"],
                    "last_dt": dt.isoformat(),
                    "mode": table.mode,
                    "watermark": manifest.get("watermark"),
                    "dates_as_text": manifest.get("dates_as_text", False),
                }
            )
            lake.write_state(state, *state_key)
    except Exception as error:  # one table's failure must not stop the others
        result.status = "failed"
        result.message = scrub(f"{type(error).__name__}: {error}", source.url)
    result.seconds = time.monotonic() - started
    return result


def _has_earlier_partition(source: Source, table: TableConfig, dt: date) -> bool:
    """Whether the lake already holds an extract of this table from a day before dt."""
    table_dir = lake.partition_path(source.kind, source.name, table.name, dt).parent
    return table_dir.is_dir() and any(
        p.name < f"dt={dt.isoformat()}" and lake.read_manifest(p) is not None
        for p in table_dir.glob("dt=*")
    )


def _window_predicate(cursor: str, window: tuple, bounds: list[str]) -> str:
    """`cursor` within the window, given the SQL for its bounds (placeholders or literals).

    An initial load has no lower bound and also takes rows whose cursor is NULL: an
    incremental extract can never see those, so the initial load is their only chance."""
    if window[0] is None:
        (high,) = bounds
        return f"({cursor} < {high} OR {cursor} IS NULL)"
    low, high = bounds
    return f"{cursor} >= {low} AND {cursor} < {high}"


def source_label(source: Source) -> str:
    where = source.sqlite_path if source.kind == "sqlite" else redact(source.url)
    return f"{where} (database {source.schema})" if source.schema else str(where)


# ---- one table ------------------------------------------------------------------------------


def _extract(
    source: Source, table: TableConfig, dt: date, inspector, state: dict
) -> dict[str, Any]:
    started_at = lake.now_utc()
    columns = inspector.get_columns(table.name, schema=source.schema)
    names = [validate(c["name"], f"column of {table.name}") for c in columns]
    key = (
        list(table.primary_key)
        or inspector.get_pk_constraint(table.name, schema=source.schema)["constrained_columns"]
        or names
    )
    if table.cursor is not None and table.cursor not in names:
        raise SchemaDriftError(f"{table.name}: cursor column {table.cursor} does not exist")
    window = None
    if table.mode == "incremental":
        start = datetime.combine(dt, datetime.min.time())
        # The first extract of a table is its initial load: every row up to the end of dt (and
        # rows whose cursor is NULL), so history from before the first night is not lost.
        # Decided by the lake's earlier partitions, not by state, so a rerun of dt is identical.
        initial = not _has_earlier_partition(source, table, dt)
        low = None if initial else start - timedelta(minutes=table.lookback_minutes)
        window = (low, start + timedelta(days=1))
    manifest = {
        "source": source.name,
        "table": table.name,
        "kind": source.kind,
        "dt": dt.isoformat(),
        "mode": table.mode,
        "rejected_count": 0,
        "source_url": redact(source.url) if source.kind != "sqlite" else None,
        "primary_key": key,
        "cursor": table.cursor,
        "watermark": {
            "column": table.cursor,
            "from": window[0].isoformat(sep=" ") if window[0] else None,
            "to": window[1].isoformat(sep=" "),
            "initial_load": window[0] is None,
        }
        if window
        else None,
        "started_at": started_at,
        "code_version": lake.code_version(),
    }
    path = lake.partition_path(source.kind, source.name, table.name, dt)
    if source.kind == "mysql":
        written = _extract_mysql_ranges(source, table, key, window, state, path, manifest)
        if written is not None:
            return written
    date_columns = [c["name"] for c in columns if type(c["type"]).__name__.upper() in DATE_TYPES]
    text_columns = {
        c["name"] for c in columns if isinstance(c["type"], sqltypes.String | sqltypes.JSON)
    }
    con = extensions.connect(memory_limit=DUCKDB_MEMORY_LIMIT)
    try:
        server_cast = {c["name"] for c in columns if getattr(c["type"], "timezone", False)}
        if source.kind == "mysql":  # TIME as MySQL prints it (fractional digits kept), as CDC
            server_cast = {c["name"] for c in columns if type(c["type"]).__name__.upper() == "TIME"}
        sql, params = _attach_and_build(
            con, source, table, names, key, window, date_columns, server_cast
        )
        sql, described = _decode_text(con, sql, params, text_columns)
        schema = [(row[0], row[1]) for row in described if row[0] != ZERO_DATES]
        changes = check_drift(table, state.get("schema"), schema)
        position = binlog_position(source) if source.kind == "mysql" else None
        reader = con.execute(sql, params).to_arrow_reader(BATCH_ROWS)
        zero_dates: dict[str, int] = {}
        with lake.PartitionWriter(path) as writer:
            for batch in reader:
                writer.write(_strip_zero_dates(batch, zero_dates))
            if writer.schema is None:
                writer.schema = _arrow_schema(con, sql, params)
            return writer.commit(
                {
                    **manifest,
                    "engine": "duckdb",
                    "binlog_position": position,
                    "source_schema": [{"name": n, "type": t} for n, t in schema],
                    "schema_changes": changes,
                    "zero_dates": dict(sorted(zero_dates.items())),
                }
            )
    finally:
        con.close()


def _extract_mysql_ranges(
    source: Source, table: TableConfig, key: list[str], window, state: dict, path: Path, manifest
) -> dict[str, Any] | None:
    """The fast MySQL path (ingest/mysql_scan.py); None when the table needs the DuckDB path."""
    url = parse_url(source.url)
    conn = pymysql.connect(
        host=url.host or "127.0.0.1",
        port=int(url.port or 3306),
        user=url.username or "",
        password=url.password or "",
        charset="utf8mb4",
        autocommit=True,
    )
    try:
        plan = mysql_scan.plan_table(conn, source.schema, table.name, key)
        if plan is None:
            return None
        changes = check_drift(table, state.get("schema"), plan.source_schema)
        position = binlog_position(source)
        where, params, literal = "", [], ""
        if window:
            cursor = quote(table.cursor, "mysql")
            params = [w.isoformat(sep=" ") for w in window if w is not None]
            where = " WHERE " + _window_predicate(cursor, window, ["%s"] * len(params))
            # connectorx takes no parameters; these literals are our own datetimes, not input.
            literal = " WHERE " + _window_predicate(cursor, window, [f"'{p}'" for p in params])
        with conn.cursor() as cur:
            cur.execute(f"SET time_zone = '{_checked_zone(source.time_zone)}'")
        ranges = mysql_scan.key_ranges(conn, plan, where, params)
    finally:
        conn.close()
    zero_dates: dict[str, int] = {}
    dates = {"as_text": bool(state.get("dates_as_text"))}  # learnt from the last run
    with lake.PartitionWriter(path, schema=plan.arrow_schema) as writer:
        for part in mysql_scan.read_ranges(
            source.url, plan, ranges, literal, _checked_zone(source.time_zone), dates
        ):
            writer.write(mysql_scan.conform(part, plan, zero_dates))
        return writer.commit(
            {
                **manifest,
                "engine": "connectorx",
                "binlog_position": position,
                "source_schema": [{"name": n, "type": t} for n, t in plan.source_schema],
                "schema_changes": changes,
                "zero_dates": dict(sorted(zero_dates.items())),
                "key_ranges": len(ranges),
                "dates_as_text": dates["as_text"],
            }
        )


def _checked_zone(zone: str) -> str:
    if not zone or not all(ch in "+-:0123456789" for ch in zone):
        raise ValueError(f"time_zone must be an offset like +08:00, not {zone!r}")
    return zone


def _attach_and_build(
    con,
    source: Source,
    table: TableConfig,
    names: list[str],
    key: list[str],
    window,
    date_columns: list[str],
    server_cast: set[str] = frozenset(),
) -> tuple[str, list]:
    """ATTACH the source (secrets in a temporary DuckDB secret) and build the scan query.
    `server_cast`: columns the source converts: PostgreSQL timestamptz to Shanghai wall time,
    MySQL TIME to text."""
    kind = source.kind
    params: list[Any] = []
    if kind == "sqlite":
        extensions.load_extension(con, "sqlite")
        path = _sql_string(str(source.sqlite_path))
        con.execute(f"ATTACH '{path}' AS src (TYPE sqlite, READ_ONLY)")
        cols = ", ".join(quote(n, "duckdb") for n in names)
        sql = f"SELECT {cols} FROM src.{quote(table.name, 'duckdb')}"
        if window:
            cursor = quote(table.cursor, "duckdb")
            # SQLite keeps datetimes as text; DuckDB's scanner parses them by declared type.
            params = [w for w in window if w is not None]
            sql += " WHERE " + _window_predicate(cursor, window, ["?"] * len(params))
        return sql + " ORDER BY " + ", ".join(quote(k, "duckdb") for k in key), params

    url = parse_url(source.url)
    extensions.load_extension(con, kind)
    secret = {
        "HOST": url.host or "127.0.0.1",
        "USER": url.username or "",
        "PASSWORD": url.password or "",
        "DATABASE": (source.schema if kind == "mysql" else url.database or "postgres"),
    }
    secret_sql = ", ".join(f"{k} '{_sql_string(str(v))}'" for k, v in secret.items())
    port = int(url.port or (3306 if kind == "mysql" else 5432))
    con.execute(f"CREATE TEMPORARY SECRET src_secret (TYPE {kind}, PORT {port}, {secret_sql})")
    if kind == "mysql":
        zone = _checked_zone(source.time_zone)
        con.execute(f"SET mysql_session_time_zone = '{zone}'")
        for setting in ("mysql_incomplete_dates_as_nulls",):
            con.execute(f"SET {setting} = true")
        for setting in (
            "mysql_tinyint1_as_boolean",
            "mysql_sql_buffer_result",
            "mysql_query_timeout_enabled",
        ):
            con.execute(f"SET {setting} = false")
    con.execute(f"ATTACH '' AS src (TYPE {kind}, SECRET src_secret, READ_ONLY)")
    dialect = "mysql" if kind == "mysql" else "postgres"
    cols = [quote(n, dialect) for n in names]
    if kind == "postgres":
        # timestamptz -> Shanghai wall time, on the server (DESIGN.md, "Time"). A named zone:
        # PostgreSQL reads an offset like '+08:00' here as POSIX, i.e. UTC-8.
        cols = [
            f"({quote(n, dialect)} AT TIME ZONE '{BUSINESS_TIME_ZONE}') AS {quote(n, dialect)}"
            if n in server_cast
            else quote(n, dialect)
            for n in names
        ]
    if kind == "mysql":
        cols = [
            f"CAST({quote(n, dialect)} AS CHAR) AS {quote(n, dialect)}"
            if n in server_cast
            else quote(n, dialect)
            for n in names
        ]
    if kind == "mysql" and date_columns:
        flags = ", ".join(
            f"IF({quote(c, dialect)} IS NOT NULL AND (MONTH({quote(c, dialect)}) = 0 OR "
            f"DAYOFMONTH({quote(c, dialect)}) = 0), '{c}', NULL)"
            for c in date_columns
        )
        cols.append(f"NULLIF(CONCAT_WS(',', {flags}), '') AS {ZERO_DATES}")
    inner = f"SELECT {', '.join(cols)} FROM {qualified(source.schema, table.name, dialect)}"
    if window:
        cursor = quote(table.cursor, dialect)
        if kind == "postgres":
            # postgres_query cannot bind parameters to its COPY: the window goes in as literals,
            # our own datetimes (isoformat), never text from config or the source.
            bounds = [f"'{w.isoformat(sep=' ')}'::timestamp" for w in window if w is not None]
            if table.cursor in server_cast:
                # The window is Shanghai wall time; compare as instants (an index still applies).
                bounds = [f"({b} AT TIME ZONE '{BUSINESS_TIME_ZONE}')" for b in bounds]
            inner += " WHERE " + _window_predicate(cursor, window, bounds)
        else:
            params = [w.isoformat(sep=" ") for w in window if w is not None]
            inner += " WHERE " + _window_predicate(cursor, window, ["?"] * len(params))
    inner += " ORDER BY " + ", ".join(quote(k, dialect) for k in key)
    function = "mysql_query" if kind == "mysql" else "postgres_query"
    if params:
        placeholders = ", ".join(f"${i + 1}::TIMESTAMP" for i in range(len(params)))
        args = f", params=row({placeholders})"
    else:
        args = ""
    return f"SELECT * FROM {function}('src', '{_sql_string(inner)}'{args})", params


def _decode_text(con, sql: str, params: list, text_columns: set[str]) -> tuple[str, list]:
    """Text columns with a binary collation (utf8mb4_bin, MariaDB's JSON) arrive as BLOB:
    decode them back to UTF-8 text (decode() fails loudly on invalid UTF-8). Returns the query
    and its described columns (name, type), described once."""
    described = con.execute(f"DESCRIBE {sql}", params).fetchall()
    decode = {row[0] for row in described if row[1] == "BLOB" and row[0] in text_columns}
    if not decode:
        return sql, [(row[0], row[1]) for row in described]
    select = ", ".join(
        f"decode({quote(row[0], 'duckdb')}) AS {quote(row[0], 'duckdb')}"
        if row[0] in decode
        else quote(row[0], "duckdb")
        for row in described
    )
    return f"SELECT {select} FROM ({sql})", [
        (row[0], "VARCHAR" if row[0] in decode else row[1]) for row in described
    ]


def _sql_string(text: str) -> str:
    return text.replace("'", "''")


def _strip_zero_dates(batch: pa.RecordBatch, counts: dict[str, int]) -> pa.RecordBatch:
    index = batch.schema.get_field_index(ZERO_DATES)
    if index < 0:
        return batch
    flags = batch.column(index)
    if flags.null_count < len(flags):
        for value in pc.drop_null(flags).to_pylist():
            for column in filter(None, value.split(",")):
                counts[column] = counts.get(column, 0) + 1
    return batch.remove_column(index)


def _arrow_schema(con, sql: str, params: list) -> pa.Schema:
    schema = con.execute(f"SELECT * FROM ({sql}) LIMIT 0", params).arrow().schema
    index = schema.get_field_index(ZERO_DATES)
    return schema.remove(index) if index >= 0 else schema


def check_drift(
    table: TableConfig, old: list[dict] | None, new: list[tuple[str, str]]
) -> dict[str, list]:
    """Compare with the schema of the last run: added columns are carried and reported; a
    dropped or retyped column fails the table unless `allow_schema_change` is set."""
    if not old:
        return {"added": [], "dropped": [], "retyped": []}
    before = {c["name"]: c["type"] for c in old}
    after = dict(new)
    added = [{"name": n, "type": t} for n, t in new if n not in before]
    dropped = [{"name": n, "type": t} for n, t in before.items() if n not in after]
    retyped = [
        {"name": n, "old_type": before[n], "new_type": t}
        for n, t in new
        if n in before and before[n] != t
    ]
    if (dropped or retyped) and not table.allow_schema_change:
        problems = [f"column {c['name']} dropped (was {c['type']})" for c in dropped]
        problems += [
            f"column {c['name']} retyped from {c['old_type']} to {c['new_type']}" for c in retyped
        ]
        raise SchemaDriftError(
            f"table {table.name}: "
            + "; ".join(problems)
            + " (set allow_schema_change: true for the table in the sources YAML to accept)"
        )
    return {"added": added, "dropped": dropped, "retyped": retyped}


def binlog_position(source: Source) -> dict[str, Any] | None:
    """The MySQL binlog position before the snapshot: where CDC may start from it (or None)."""
    engine = create_engine(source.sqlalchemy_url())
    try:
        with engine.connect() as connection:
            row = connection.exec_driver_sql("SHOW MASTER STATUS").first()
    except Exception:
        return None  # no binlog, or no REPLICATION CLIENT privilege: CDC needs an explicit start
    finally:
        engine.dispose()
    return {"file": row[0], "pos": int(row[1])} if row else None
