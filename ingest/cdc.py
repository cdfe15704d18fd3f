"""Binlog change data capture (MySQL/MariaDB, row format) into lake/raw/cdc/<source>/<table>/.

We read the binlog as a replica (python-mysql-replication) from the saved position to the
server's position at the start of the run, one transaction at a time. Each row change becomes a
record: `_op` (insert | update | delete), `_binlog_file`, `_binlog_pos` (the rows event's start
offset), `_row` (index of the row in the event), `_commit_at` (the event time in Asia/Shanghai
wall time; the simulator's SET timestamp makes it the commit time), and the row images
`_before` / `_after` as JSON text (DECIMAL as exact strings, times as ISO wall time, bytes as
\\x-hex, SET as a list). Partitions are by `_commit_at`'s date.

Exactly once: a run merges its records with the partition already in the lake and keeps one
record per (file, pos, row), ordered by position, so a replayed or overlapping range adds
nothing; the saved position moves only after the partitions are in place. A position purged
from the server fails loudly with the commands that re-snapshot and restart.
"""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from collections import defaultdict
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

from ingest import extensions, identifiers, lake
from ingest.relational import TableResult
from ingest.sources import parse_url, redact, scrub

SHANGHAI = ZoneInfo("Asia/Shanghai")
STAGE_ROWS = 50_000
KEY = ("_binlog_file", "_binlog_pos", "_row")
SCHEMA = pa.schema(
    [
        ("_op", pa.string()),
        ("_binlog_file", pa.string()),
        ("_binlog_pos", pa.int64()),
        ("_row", pa.int32()),
        ("_commit_at", pa.timestamp("us")),
        ("_before", pa.string()),
        ("_after", pa.string()),
    ]
)
OPS = {WriteRowsEvent: "insert", UpdateRowsEvent: "update", DeleteRowsEvent: "delete"}


class CdcError(RuntimeError):
    """CDC cannot continue without an operator (no start position, purged binlog)."""


def capture(
    url: str,
    source: str,
    database: str,
    tables: list[str] | None = None,
    start_position: str | None = None,
) -> list[TableResult]:
    """Land the binlog's row changes since the saved position; returns one result per table."""
    settings = _connection_settings(url)
    started = time.monotonic()
    try:
        start = _start_position(source, database, url, start_position)
        end = _check_position(settings, start, source, database, url)
        staging = lake.lake_dir() / f".staging-cdc-{source}-{uuid.uuid4().hex[:8]}"
        try:
            reached, counts = _read(settings, database, tables, start, end, staging)
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


def _start_position(source: str, database: str, url: str, requested: str | None) -> tuple[str, int]:
    """--start-position FILE:POS or `snapshot`; else the saved position; else the snapshot's."""
    if requested and requested != "snapshot":
        file, _, pos = requested.rpartition(":")
        if not file or not pos.isdigit():
            raise CdcError(f"--start-position must be FILE:POS or snapshot, not {requested!r}")
        return file, int(pos)
    state = lake.read_state("cdc", source, "_binlog")
    if state and requested != "snapshot":
        return state["file"], int(state["pos"])
    positions = []
    for table_dir in (lake.lake_dir() / "raw" / "mysql" / source).glob("*"):
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


def _read(
    settings,
    database: str,
    tables: list[str] | None,
    start: tuple[str, int],
    end: tuple[str, int],
    staging: Path,
) -> tuple[tuple[str, int], dict]:
    """Stream from `start` to `end`, staging records per table as Parquet; returns the
    position after the last complete transaction read and per-table op counts."""
    staging.mkdir(parents=True)
    buffers: dict[str, list[dict]] = defaultdict(list)
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    seq = defaultdict(int)

    def flush(table: str) -> None:
        rows = buffers.pop(table, [])
        if rows:
            folder = staging / table
            folder.mkdir(exist_ok=True)
            pq.write_table(
                pa.Table.from_pylist(rows, schema=SCHEMA), folder / f"{seq[table]:06d}.parquet"
            )
            seq[table] += 1

    stream = BinLogStreamReader(
        connection_settings=settings,
        server_id=random.randint(1_000_000, 2_000_000_000),
        resume_stream=True,
        log_file=start[0],
        log_pos=start[1],
        blocking=False,
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
            op = OPS[type(event)]
            pos = event.packet.log_pos - event.event_size
            commit_at = datetime.fromtimestamp(event.timestamp, SHANGHAI).replace(tzinfo=None)
            for index, row in enumerate(event.rows):
                before = row.get("before_values", row["values"] if op == "delete" else None)
                after = row.get("after_values", row["values"] if op == "insert" else None)
                buffers[table].append(
                    {
                        "_op": op,
                        "_binlog_file": file,
                        "_binlog_pos": pos,
                        "_row": index,
                        "_commit_at": commit_at,
                        "_before": _image(before),
                        "_after": _image(after),
                    }
                )
                counts[table][op] += 1
            if len(buffers[table]) >= STAGE_ROWS:
                flush(table)
    finally:
        stream.close()
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
            for day in days:
                path = lake.partition_path("cdc", source, table, day)
                existing = [str(p) for p in lake.iter_partition_files(path)]
                reader = con.execute(
                    f"""SELECT * FROM read_parquet(?)
                        WHERE CAST(_commit_at AS DATE) = ?
                        QUALIFY row_number() OVER (PARTITION BY {", ".join(KEY)}) = 1
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
                    schema=SCHEMA,
                )
                result.bytes += sum(f["bytes"] for f in manifest["files"])
            result.rows = sum(counts[table].values())
            result.message = ", ".join(f"{k} {v}" for k, v in sorted(counts[table].items()))
            results.append(result)
    finally:
        con.close()
    return results
