"""Binlog change data capture (MySQL/MariaDB, row format) into lake/raw/cdc/<source>/<table>/.

We read the binlog as a replica (python-mysql-replication) from the saved position to the
server's position at the start of the run, one transaction at a time. Each row change becomes a
typed record, so that ODS merges snapshot and changes with plain SQL:

    _op           insert | update | delete
    _binlog_file, _binlog_pos, _row    the rows event's file and start offset, the row's index
    _commit_at    the event time in Asia/Shanghai wall time (the commit time)
    <columns>     the table's own columns with the snapshot's Arrow types (ingest/mysql_scan.py):
                  the row after the change, or the row deleted for a delete
    _before       updates only: the row before, as JSON text (DECIMAL as exact strings, times as
                  ISO wall time, bytes as \\x-hex)

Partitions are by `_commit_at`'s date. Exactly once: a run merges its records with the partition
already in the lake and keeps one record per (file, pos, row), ordered by position, so a replayed
or overlapping range adds nothing; the saved position moves only after the partitions are in
place. A position purged from the server fails loudly with the commands that re-snapshot and
restart. `sync` is what `python -m ingest all` runs for `mode: cdc` tables: the initial snapshot
of a table the lake does not have yet, then the changes since the saved position.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import time
import uuid
from collections import defaultdict
from dataclasses import replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pyarrow as pa
import pyarrow.parquet as pq
import pymysql
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.event import RotateEvent, XidEvent
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from ingest import extensions, identifiers, lake, mysql_scan
from ingest.identifiers import quote
from ingest.relational import Source, TableResult, extract_tables
from ingest.sources import TableConfig, parse_url, redact, scrub

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_TIME_ZONE = "+08:00"  # MySQL TIMESTAMP columns in Shanghai wall time, as snapshots
STAGE_ROWS = 50_000
STREAM_READ_TIMEOUT_SECONDS = 300
KEY = ("_binlog_file", "_binlog_pos", "_row")
META = pa.schema(
    [
        ("_op", pa.string()),
        ("_binlog_file", pa.string()),
        ("_binlog_pos", pa.int64()),
        ("_row", pa.int32()),
        ("_commit_at", pa.timestamp("us")),
        ("_before", pa.string()),
    ]
)
OPS = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


class CdcError(RuntimeError):
    """CDC cannot continue without an operator (no start position, purged binlog)."""


def replica_id() -> int:
    """A server id for one binlog reader: random, because two readers with the same id make the
    server drop the older one, which then reconnects and drops the newer, without end."""
    return random.randint(1_000_000, 2_000_000_000)


class NoReconnect:
    """The `pymysql_wrapper` of our BinLogStreamReader: it opens the control and the stream
    connection once each and refuses to open more.

    When the stream drops (error 2006/2013), python-mysql-replication reconnects, without limit,
    from the last event it read, which may be in the middle of a transaction (after its table
    map). Measured here (tests/ingest/test_cdc.py, the dump thread killed mid-read) it resumed
    correctly once; but a reader that asks for a position the server will not serve loops
    forever (a test reader built with `is_mariadb=True` asked MariaDB for `pos(, 4)` and
    reconnected without end; the likely cause of a CI run that hung). A run reads a bounded range and saves its position only after its partitions are
    in place, so failing at the first drop loses nothing: the next run (or Airflow's retry)
    starts again from the saved position, at a transaction boundary."""

    CONNECTIONS = 2  # the control connection (table metadata) and the stream

    def __init__(self, start: tuple[str, int]) -> None:
        self.start = start
        self.opened = 0

    def __call__(self, **settings: Any) -> pymysql.Connection:
        self.opened += 1
        if self.opened > self.CONNECTIONS:
            raise CdcError(
                f"the binlog stream from {self.start[0]}:{self.start[1]} dropped while reading; "
                "nothing was saved, and the next run resumes from the same position"
            )
        return pymysql.connect(**settings)


def sync(source: Source, tables: list[TableConfig], dt: date) -> list[TableResult]:
    """The `mode: cdc` tables of a MySQL source, as `python -m ingest all` runs them: a full
    snapshot of each table the lake has none of yet (it records the binlog position taken
    before it), then the binlog changes since the saved position (or since the oldest of those
    snapshots, on the first run)."""
    results = []
    missing = [t for t in tables if not _has_snapshot(source.name, t.name)]
    if missing:
        results = extract_tables(source, [replace(t, mode="full") for t in missing], dt)
        for result in results:
            result.mode = "cdc-initial"
    names = [t.name for t in tables]
    changes = capture(source.url, source.name, source.schema, names, time_zone=source.time_zone)
    seen = {r.table for r in changes}
    if "*" not in seen:  # one failure for the whole capture is reported as such
        changes += [TableResult(source.name, n, "cdc", "ok") for n in names if n not in seen]
    return results + changes


def _has_snapshot(source: str, table: str) -> bool:
    manifest = lake.latest_manifest(lake.lake_dir() / "raw" / "mysql" / source / table, "full")
    return bool(manifest and manifest.get("binlog_position"))


def capture(
    url: str,
    source: str,
    database: str,
    tables: list[str] | None = None,
    start_position: str | None = None,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> list[TableResult]:
    """Land the binlog's row changes since the saved position; returns one result per table."""
    settings = _connection_settings(url)
    started = time.monotonic()
    try:
        start = _start_position(source, database, url, start_position, tables)
        end = _check_position(settings, start, source, database, url)
        staging = lake.lake_dir() / f".staging-cdc-{source}-{uuid.uuid4().hex[:8]}"
        try:
            reached, counts = _read(settings, database, tables, start, end, staging, time_zone)
            results = _publish(source, database, staging, start, reached, counts)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        lake.write_state(
            {
                "file": reached[0],
                "pos": reached[1],
                "database": database,
                "updated_at": lake.now_utc(),
            },
            "cdc",
            source,
            "_binlog",
        )
    except Exception as error:
        message = scrub(f"{type(error).__name__}: {error}", url)
        return [
            TableResult(
                source, "*", "cdc", "failed", message=message, seconds=time.monotonic() - started
            )
        ]
    for result in results:
        result.seconds = time.monotonic() - started
    return results


def _connection_settings(url: str) -> dict[str, Any]:
    parsed = parse_url(url)
    return {
        "host": parsed.host or "127.0.0.1",
        "port": int(parsed.port or 3306),
        "user": parsed.username or "",
        "password": parsed.password or "",
    }


def _connect(settings: dict[str, Any]) -> pymysql.Connection:
    return pymysql.connect(
        host=settings["host"],
        port=settings["port"],
        user=settings["user"],
        password=settings["password"],
        charset="utf8mb4",
    )


def _start_position(
    source: str,
    database: str,
    url: str,
    requested: str | None,
    tables: list[str] | None = None,
) -> tuple[str, int]:
    """--start-position FILE:POS or `snapshot`; else the saved position; else the oldest
    position among the latest full snapshots (of `tables`, or of every table of the source)."""
    if requested and requested != "snapshot":
        file, _, pos = requested.rpartition(":")
        if not file or not pos.isdigit():
            raise CdcError(f"--start-position must be FILE:POS or snapshot, not {requested!r}")
        return file, int(pos)
    state = lake.read_state("cdc", source, "_binlog")
    if state and requested != "snapshot":
        return state["file"], int(state["pos"])
    positions = []
    for table_dir in sorted((lake.lake_dir() / "raw" / "mysql" / source).glob("*")):
        if tables is not None and table_dir.name not in tables:
            continue
        manifest = lake.latest_manifest(table_dir, mode="full")
        if manifest and manifest.get("binlog_position"):
            positions.append(
                (manifest["binlog_position"]["file"], int(manifest["binlog_position"]["pos"]))
            )
    if not positions:
        raise CdcError(
            f"no saved binlog position for source {source} and no snapshot to start from: run "
            f"{_snapshot_command(url, source, database)}, then rerun with --start-position "
            "snapshot"
        )
    return min(positions)


def _snapshot_command(url: str, source: str, database: str) -> str:
    today = (datetime.now(SHANGHAI).date() - timedelta(days=1)).isoformat()
    return (
        f"python -m ingest relational --source-url '{redact(url)}' --source {source} "
        f"--database {database} --tables all --mode full --dt {today}"
    )


def _check_position(
    settings, start: tuple[str, int], source: str, database: str, url: str
) -> tuple[str, int]:
    """Fail loudly if the start file was purged; return the server's current position."""
    conn = _connect(settings)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW BINARY LOGS")
            files = [row[0] for row in cur.fetchall()]
            cur.execute("SHOW MASTER STATUS")
            status = cur.fetchone()
    finally:
        conn.close()
    if start[0] not in files:
        raise CdcError(
            f"binlog position {start[0]}:{start[1]} of source {source} is no longer on the "
            f"server (purged; oldest is {files[0] if files else 'none'}). Changes were lost: "
            f"re-snapshot and restart CDC from it: {_snapshot_command(url, source, database)} "
            f"&& python -m ingest cdc --source-url '{redact(url)}' --source {source} "
            f"--database {database} --start-position snapshot"
        )
    return status[0], int(status[1])


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if isinstance(value, bytes | bytearray):
        return "\\x" + bytes(value).hex()
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _image(values: dict | None) -> str | None:
    if values is None:
        return None
    return json.dumps(values, default=_encode, ensure_ascii=False, sort_keys=True)


class TableImage:
    """How a table's binlog row images become typed columns (the snapshot's Arrow types)."""

    def __init__(self, table: str, columns: list[dict[str, Any]], time_zone: str) -> None:
        self.table = table
        self.offset = _zone_offset(time_zone)
        self.converters: list[tuple[str, Any]] = []
        fields = list(META)
        for info in columns:
            name = identifiers.validate(info["name"], f"column of {table}")
            if name in META.names:
                raise CdcError(f"table {table}: column {name} clashes with a CDC column")
            planned = mysql_scan.column_plan(info)
            arrow_type = planned.arrow_type if planned is not None else pa.string()
            fields.append(pa.field(name, arrow_type))
            self.converters.append((name, _converter(info, arrow_type, self.offset)))
        self.schema = pa.schema(fields)

    def values(self, row: dict[str, Any]) -> dict[str, Any]:
        return {name: convert(row.get(name)) for name, convert in self.converters}


def _zone_offset(zone: str) -> timedelta:
    sign = -1 if zone.startswith("-") else 1
    hours, _, minutes = zone.lstrip("+-").partition(":")
    return sign * timedelta(hours=int(hours), minutes=int(minutes or 0))


def _converter(info: dict[str, Any], arrow_type: pa.DataType, offset: timedelta):
    """value from python-mysql-replication -> the value the snapshot holds for that column."""
    data_type = info["data_type"].lower()
    column_type = info["column_type"].lower()
    if data_type == "unknown":  # a table dropped since: no types to honour, text it is
        return _loose_text
    if data_type == "timestamp":  # the library gives naive UTC; the snapshot, session wall time
        return lambda v: v + offset if isinstance(v, datetime) else None
    if data_type in ("date", "datetime"):
        return lambda v: v if isinstance(v, date) else None  # zero dates arrive as None
    if data_type == "time":
        digits = int(match.group(1)) if (match := re.search(r"\((\d)\)", column_type)) else 0
        return lambda v: None if v is None else _time_text(v, digits)
    if data_type == "bit":
        if pa.types.is_boolean(arrow_type):
            return lambda v: None if v is None else int(v, 2) != 0
        size = (int(re.search(r"\((\d+)\)", column_type).group(1)) + 7) // 8
        return lambda v: None if v is None else int(v, 2).to_bytes(size, "big")
    if data_type == "set":
        members = [
            m.replace("''", "'") for m in re.findall(r"'((?:[^']|'')*)'", info["column_type"])
        ]
        # The library gives a Python set (None for the empty set); MySQL's text is in
        # definition order.
        return lambda v: None if v is None else ",".join(m for m in members if m in v)
    if pa.types.is_string(arrow_type):
        return _text
    if pa.types.is_binary(arrow_type):
        return lambda v: v.encode() if isinstance(v, str) else v
    return lambda v: v


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8")
    return json.dumps(value, default=_encode, ensure_ascii=False)  # MySQL's JSON type


def _loose_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return _encode(value)
    if isinstance(value, dict | list):
        return json.dumps(value, default=_encode, ensure_ascii=False)
    return str(_encode(value)) if not isinstance(value, int | float) else str(value)


def _time_text(value: timedelta, digits: int) -> str:
    """A TIME as MySQL prints it: [-]HH:MM:SS[.fraction]."""
    micros = (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds
    sign = "-" if micros < 0 else ""
    micros = abs(micros)
    seconds, fraction = divmod(micros, 1_000_000)
    hours, rest = divmod(seconds, 3600)
    text = f"{sign}{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return text + f".{fraction:06d}"[: digits + 1] if digits else text


def _read(
    settings,
    database: str,
    tables: list[str] | None,
    start: tuple[str, int],
    end: tuple[str, int],
    staging: Path,
    time_zone: str = DEFAULT_TIME_ZONE,
) -> tuple[tuple[str, int], dict]:
    """Stream from `start` to `end`, staging typed records per table as Parquet; returns the
    position after the last complete transaction read and per-table op counts."""
    staging.mkdir(parents=True)
    buffers: dict[str, list[dict]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seq = defaultdict(int)
    images: dict[str, TableImage] = {}
    metadata = _connect(settings)

    def image_of(table: str, event) -> TableImage:
        if table not in images:
            columns = mysql_scan.table_columns(metadata, database, table)
            if not columns:
                # Dropped since (the legacy tables after the split): its last changes still
                # land, every column as text, rather than failing the whole capture.
                unknown = {"data_type": "unknown", "column_type": "", "precision": None}
                columns = [{**unknown, "name": c.name, "scale": None} for c in event.columns]
            images[table] = TableImage(table, columns, time_zone)
        return images[table]

    def flush(table: str) -> None:
        rows = buffers.pop(table, [])
        if rows:
            folder = staging / table
            folder.mkdir(exist_ok=True)
            pq.write_table(
                pa.Table.from_pylist(rows, schema=images[table].schema),
                folder / f"{seq[table]:06d}.parquet",
            )
            seq[table] += 1

    stream = BinLogStreamReader(
        # A stalled stream fails the run (NoReconnect) instead of waiting forever.
        connection_settings={**settings, "read_timeout": STREAM_READ_TIMEOUT_SECONDS},
        server_id=replica_id(),
        resume_stream=True,
        log_file=start[0],
        log_pos=start[1],
        blocking=False,
        pymysql_wrapper=NoReconnect(start),
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent, XidEvent, RotateEvent],
        only_schemas=[database],
        only_tables=tables,
    )
    reached = start
    file = start[0]
    try:
        for event in stream:
            if isinstance(event, RotateEvent):
                file = event.next_binlog
                continue
            if isinstance(event, XidEvent):
                reached = (stream.log_file, stream.log_pos)
                if reached >= end:
                    break
                continue
            table = identifiers.validate(event.table, "table name from the binlog")
            image = image_of(table, event)
            op = OPS[type(event)]
            pos = event.packet.log_pos - event.event_size
            commit_at = datetime.fromtimestamp(event.timestamp, SHANGHAI).replace(tzinfo=None)
            for index, row in enumerate(event.rows):
                if op == "update":
                    values, before = row["after_values"], _image(row["before_values"])
                else:
                    values, before = row["values"], None
                buffers[table].append(
                    {
                        "_op": op,
                        "_binlog_file": file,
                        "_binlog_pos": pos,
                        "_row": index,
                        "_commit_at": commit_at,
                        "_before": before,
                        **image.values(values),
                    }
                )
                counts[table][op] += 1
            if len(buffers[table]) >= STAGE_ROWS:
                flush(table)
    except pymysql.MySQLError as error:
        raise CdcError(
            f"the binlog stream from {start[0]}:{start[1]} failed after {reached[0]}:"
            f"{reached[1]} ({error}); nothing was saved, and the next run resumes from "
            f"{start[0]}:{start[1]}"
        ) from error
    finally:
        stream.close()
        metadata.close()
    for table in list(buffers):
        flush(table)
    return reached, counts


def _publish(
    source: str, database: str, staging: Path, start, reached, counts
) -> list[TableResult]:
    """Merge staged records into each (table, dt) partition: dedupe by position, replace."""
    results = []
    con = extensions.connect(memory_limit="512MB")
    try:
        for folder in sorted(p for p in staging.iterdir() if p.is_dir()):
            table = folder.name
            staged = [str(p) for p in sorted(folder.glob("*.parquet"))]
            days = [
                row[0]
                for row in con.execute(
                    "SELECT DISTINCT CAST(_commit_at AS DATE) FROM read_parquet(?) ORDER BY 1",
                    [staged],
                ).fetchall()
            ]
            result = TableResult(source, table, "cdc", "ok")
            staged_schema = pq.read_schema(staged[0])
            for day in days:
                path = lake.partition_path("cdc", source, table, day)
                existing = [str(p) for p in lake.iter_partition_files(path)]
                # A column added since the partition was written: union by name, NULL before.
                schema = pa.unify_schemas([staged_schema, *(pq.read_schema(p) for p in existing)])
                columns = ", ".join(quote(n, "duckdb") for n in schema.names)
                reader = con.execute(
                    # A record both staged and in the lake: keep the staged one (it has the
                    # current columns); staged paths (lake/.staging-cdc-*) sort first.
                    f"""SELECT {columns}
                        FROM read_parquet(?, union_by_name = true, filename = true)
                        WHERE CAST(_commit_at AS DATE) = ?
                        QUALIFY row_number() OVER (
                            PARTITION BY {", ".join(KEY)} ORDER BY filename) = 1
                        ORDER BY {", ".join(KEY)}""",
                    [staged + existing, day],
                ).to_arrow_reader(65_536)
                manifest = lake.write_partition(
                    path,
                    reader,
                    {
                        "source": source,
                        "table": table,
                        "kind": "cdc",
                        "dt": day.isoformat(),
                        "mode": "cdc",
                        "database": database,
                        "rejected_count": 0,
                        "binlog_position": {
                            "from": {"file": start[0], "pos": start[1]},
                            "to": {"file": reached[0], "pos": reached[1]},
                        },
                        "started_at": lake.now_utc(),
                        "code_version": lake.code_version(),
                    },
                    schema=schema,
                )
                result.bytes += sum(f["bytes"] for f in manifest["files"])
            result.rows = sum(counts[table].values())
            result.message = ", ".join(f"{k} {v}" for k, v in sorted(counts[table].items()))
            results.append(result)
    finally:
        con.close()
    return results
