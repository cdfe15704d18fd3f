"""MySQL/MariaDB snapshots at the speed of the wire: bounded primary-key ranges, two at a time.

Chosen by measurement (bench/ingest/README.md): DuckDB's mysql scanner costs the server ~2.7x
the CPU of the native client reading the same rows, and stays at ~0.4x its rate. Here
connectorx (Rust, Arrow out) reads contiguous ranges of an integer primary key (RANGE_ROWS key
values each, wider for a sparse key), two ranges in flight on two connections; ranges are
written in key order, so the partition is ordered by primary key, and the partition writer cuts
row groups at fixed row counts, so reruns give identical bytes whatever the ranges. Memory is
bounded by the ranges in flight, whatever the table's size.

connectorx alone is not exact: it reads DECIMAL as decimal128(38, 10) (and fails on wider
values), panics on zero dates and on negative TIME, and connects as utf8mb3. So DECIMAL and TIME
are read as text (`CAST(.. AS CHAR)`), BIT(1) as a number, the session is utf8mb4, and every
column is then cast in Arrow to the type `information_schema` dictates (`column_plan`: the same
mapping as the DuckDB path). Dates are read natively until a zero date makes connectorx panic;
then as text, and Arrow nulls and counts the zero and partial dates (`read_ranges`). A table
this module cannot read exactly (no single integer key, an unknown column type, connectorx not
installed) gets None from `plan_table` and goes to the DuckDB path.

The snapshot is not one transaction: each range is read in a transaction of its own, so a row
written during the run is seen before or after that write. Together with binlog CDC from the
position taken before the first range, the replay converges to the source (ingest/README.md).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote as urlquote

import pyarrow as pa
import pyarrow.compute as pc
import pymysql

from ingest.identifiers import quote, validate
from ingest.sources import parse_url

try:  # optional: without it, every MySQL table takes the DuckDB path
    import connectorx
except ImportError:  # pragma: no cover - depends on the environment
    connectorx = None

RANGE_ROWS = 65_536
PARALLEL_RANGES = 2
INTEGER_TYPES = {
    "tinyint": (pa.int8(), pa.uint8(), "TINYINT", "UTINYINT"),
    "smallint": (pa.int16(), pa.uint16(), "SMALLINT", "USMALLINT"),
    "mediumint": (pa.int32(), pa.uint32(), "INTEGER", "UINTEGER"),
    "int": (pa.int32(), pa.uint32(), "INTEGER", "UINTEGER"),
    "bigint": (pa.int64(), pa.uint64(), "BIGINT", "UBIGINT"),
}
TEXT_TYPES = {"char", "varchar", "tinytext", "text", "mediumtext", "longtext", "enum", "set"}
BINARY_TYPES = {"binary", "varbinary", "tinyblob", "blob", "mediumblob", "longblob"}


@dataclass(frozen=True)
class Column:
    name: str
    expression: str  # in the server's SELECT list
    arrow_type: pa.DataType
    type_name: str  # DuckDB-style name, as the DuckDB path records it (schema drift compares it)
    text_expression: str | None = None  # DATE/DATETIME/TIMESTAMP: the read that survives zero dates


@dataclass(frozen=True)
class TablePlan:
    schema: str
    table: str
    key: str
    columns: list[Column]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([(c.name, c.arrow_type) for c in self.columns])

    @property
    def source_schema(self) -> list[tuple[str, str]]:
        return [(c.name, c.type_name) for c in self.columns]


def column_plan(info: dict[str, Any]) -> Column | None:
    """How to read one column exactly (None: a type this module does not handle)."""
    name = validate(info["name"], "column name")
    col = quote(name, "mysql")
    data_type = info["data_type"].lower()
    unsigned = "unsigned" in info["column_type"].lower()
    if data_type in INTEGER_TYPES:
        signed_type, unsigned_type, signed_name, unsigned_name = INTEGER_TYPES[data_type]
        if unsigned:
            return Column(name, col, unsigned_type, unsigned_name)
        return Column(name, col, signed_type, signed_name)
    if data_type == "decimal":
        precision, scale = int(info["precision"]), int(info["scale"])
        arrow = pa.decimal128 if precision <= 38 else pa.decimal256
        # As text: exact at any precision (connectorx's own decimal is 96-bit, scale 10).
        return Column(
            name,
            f"CAST({col} AS CHAR)",
            arrow(precision, scale),
            f"DECIMAL({precision},{scale})",
        )
    if data_type == "float":
        return Column(name, col, pa.float32(), "FLOAT")
    if data_type == "double":
        return Column(name, col, pa.float64(), "DOUBLE")
    if data_type in ("date", "datetime", "timestamp"):
        # Read natively, unless the table has zero dates (connectorx panics on '0000-00-00'):
        # then as text, and Arrow finds, counts and nulls them (`read_ranges`, `conform`).
        text = f"CAST({col} AS CHAR)"
        if data_type == "date":
            return Column(name, col, pa.date32(), "DATE", text)
        return Column(name, col, pa.timestamp("us"), "TIMESTAMP", text)
    if data_type == "time":
        return Column(name, f"CAST({col} AS CHAR)", pa.string(), "VARCHAR")
    if data_type == "year":
        return Column(name, col, pa.int32(), "INTEGER")
    if data_type == "bit":
        if info["column_type"].lower() in ("bit(1)", "bit"):
            return Column(name, f"({col} + 0)", pa.bool_(), "BOOLEAN")
        return Column(name, col, pa.binary(), "BLOB")  # big-endian bytes
    if data_type in TEXT_TYPES or data_type == "json":
        return Column(name, col, pa.string(), "VARCHAR")
    if data_type in BINARY_TYPES:
        return Column(name, col, pa.binary(), "BLOB")
    return None


def table_columns(conn: pymysql.Connection, schema: str, table: str) -> list[dict[str, Any]]:
    """information_schema's description of a table's columns, in order ([] if no such table)."""
    with conn.cursor() as cur:
        cur.execute(
            """SELECT column_name, data_type, column_type, numeric_precision, numeric_scale
               FROM information_schema.columns
               WHERE table_schema = %s AND table_name = %s ORDER BY ordinal_position""",
            (schema, table),
        )
        rows = cur.fetchall()
    keys = ("name", "data_type", "column_type", "precision", "scale")
    return [dict(zip(keys, row, strict=True)) for row in rows]


def plan_table(
    conn: pymysql.Connection, schema: str, table: str, key: list[str]
) -> TablePlan | None:
    """The read plan of a table, or None when the DuckDB path must read it."""
    if connectorx is None or len(key) != 1:
        return None
    columns = []
    for info in table_columns(conn, schema, table):
        column = column_plan(info)
        if column is None:
            return None
        columns.append(column)
    by_name = {c.name: c for c in columns}
    if key[0] not in by_name or not pa.types.is_integer(by_name[key[0]].arrow_type):
        return None
    return TablePlan(schema, table, key[0], columns)


def key_ranges(
    conn: pymysql.Connection, plan: TablePlan, where: str, params: list
) -> list[tuple[int, int]]:
    """Half-open [low, high) key ranges of about RANGE_ROWS rows each.

    An integer key holds at most one row per value, so a range of RANGE_ROWS values holds at
    most RANGE_ROWS rows; a sparse key gets wider ranges, sized by the row count (exact with a
    window; for a whole table InnoDB's estimate, which saves a full scan before the scan)."""
    key = quote(plan.key, "mysql")
    table = f"{quote(plan.schema, 'mysql')}.{quote(plan.table, 'mysql')}"
    with conn.cursor() as cur:
        if where:
            cur.execute(f"SELECT MIN({key}), MAX({key}), COUNT(*) FROM {table}{where}", params)
            low, high, count = cur.fetchone()
        else:
            cur.execute(f"SELECT MIN({key}), MAX({key}) FROM {table}")
            low, high = cur.fetchone()
            cur.execute(
                "SELECT table_rows FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = %s",
                (plan.schema, plan.table),
            )
            count = (cur.fetchone() or (None,))[0] or 1
        if low is None or not count:
            return []
    low, high = int(low), int(high)
    span = high - low + 1
    width = max(RANGE_ROWS, -(-RANGE_ROWS * span // int(count)))
    return [(start, min(start + width, high + 1)) for start in range(low, high + 1, width)]


def connectorx_url(url: str, database: str) -> str:
    parsed = parse_url(url)
    auth = urlquote(parsed.username or "", safe="")
    if parsed.password:
        auth += ":" + urlquote(str(parsed.password), safe="")
    return f"mysql://{auth}@{parsed.host or '127.0.0.1'}:{parsed.port or 3306}/{database}"


def select_sql(plan: TablePlan, where: str, dates_as_text: bool = False) -> str:
    """The SELECT of the ranges, without the range condition (`read_ranges` adds it)."""
    items = [
        f"{c.text_expression if dates_as_text and c.text_expression else c.expression} "
        f"AS {quote(c.name, 'mysql')}"
        for c in plan.columns
    ]
    table = f"{quote(plan.schema, 'mysql')}.{quote(plan.table, 'mysql')}"
    return f"SELECT {', '.join(items)} FROM {table}{where}"


def limit_malloc_arenas() -> None:
    """glibc gives each reading thread a malloc arena of its own, and the ranges' buffers
    fragment them: RSS crept from 250 to 315 MB over 2M rows. Two arenas keep it flat (~250 MB
    over 8M rows, measured). mallopt(M_ARENA_MAX) only limits arenas not created yet."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
        libc.mallopt(-8, PARALLEL_RANGES)  # M_ARENA_MAX
    except (OSError, AttributeError):  # not glibc: nothing to tune
        pass


def read_ranges(
    url: str,
    plan: TablePlan,
    ranges: list[tuple[int, int]],
    where_literal: str,
    time_zone: str,
    dates: dict[str, bool] | None = None,
) -> Iterator[pa.Table]:
    """Tables of rows, range after range in key order, PARALLEL_RANGES read at a time.

    Dates are read natively (the cheapest read: text costs ~20% more CPU, measured) until a
    range fails on a zero date; that range is read again with dates as text, and so are the
    rest. `dates["as_text"]` says how they were read: the caller remembers it for the table, so
    the next run starts with text (connectorx prints the panic it caught, once per table)."""
    limit_malloc_arenas()
    dates = dates if dates is not None else {}
    dates.setdefault("as_text", False)
    has_dates = any(c.text_expression for c in plan.columns)
    key = quote(plan.key, "mysql")
    joiner = " AND " if where_literal else " WHERE "
    cx_url = connectorx_url(url, plan.schema)
    setup = ["SET NAMES utf8mb4", f"SET time_zone = '{time_zone}'"]
    slots: list[queue.Queue] = [queue.Queue(maxsize=1) for _ in ranges]
    stop = threading.Event()

    def worker(index_start: int) -> None:
        for index in range(index_start, len(ranges), PARALLEL_RANGES):
            if stop.is_set():
                return
            low, high = ranges[index]
            condition = f"{joiner}{key} >= {int(low)} AND {key} < {int(high)} ORDER BY {key}"
            try:
                try:
                    as_text = dates["as_text"]
                    sql = select_sql(plan, where_literal, as_text) + condition
                    table = connectorx.read_sql(
                        cx_url, sql, return_type="arrow", pre_execution_query=setup
                    )
                except BaseException:  # connectorx raises PanicException, a BaseException
                    if as_text or not has_dates:
                        raise
                    dates["as_text"] = True
                    sql = select_sql(plan, where_literal, True) + condition
                    table = connectorx.read_sql(
                        cx_url, sql, return_type="arrow", pre_execution_query=setup
                    )
                slots[index].put(table)
            except BaseException as error:
                slots[index].put(error)
                return
            # Wait until the writer took it: memory stays at PARALLEL_RANGES ranges.
            while not stop.is_set() and slots[index].full():
                stop.wait(0.005)

    threads = [
        threading.Thread(target=worker, args=(i,), daemon=True)
        for i in range(min(PARALLEL_RANGES, len(ranges)))
    ]
    for thread in threads:
        thread.start()
    try:
        for index in range(len(ranges)):
            item = slots[index].get()
            if isinstance(item, BaseException):
                message = f"reading {plan.table}: {type(item).__name__}: {item}"
                password = parse_url(url).password
                if password:  # connectorx may echo its URL, with the password URL-encoded
                    message = message.replace(urlquote(str(password), safe=""), "***")
                raise RuntimeError(message) from None
            yield item
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def conform(table: pa.Table, plan: TablePlan, zero_dates: dict[str, int]) -> pa.Table:
    """Cast connectorx's columns to the planned types; zero and partial dates become NULL and
    are counted per column in `zero_dates`."""
    arrays = []
    for column, array in zip(plan.columns, table.columns, strict=True):
        if column.text_expression and pa.types.is_string(array.type):
            array = _null_zero_dates(array, column.name, zero_dates)
        if array.type != column.arrow_type:
            if pa.types.is_boolean(column.arrow_type):
                array = pc.not_equal(array, 0)
            else:
                array = array.cast(column.arrow_type)  # safe cast: fails instead of rounding
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=plan.arrow_schema)


def _null_zero_dates(array, name: str, counts: dict[str, int]):
    """'YYYY-MM-DD[ ...]' text with month or day 00 -> NULL, counted."""
    zero = pc.or_(
        pc.equal(pc.utf8_slice_codeunits(array, 5, 7), "00"),
        pc.equal(pc.utf8_slice_codeunits(array, 8, 10), "00"),
    )
    found = pc.sum(zero).as_py() or 0
    if not found:
        return array
    counts[name] = counts.get(name, 0) + found
    return pc.if_else(zero, pa.scalar(None, array.type), array)
