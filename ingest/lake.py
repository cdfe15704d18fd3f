"""The lake on disk: partition paths, atomic partition writes, manifests, quarantine, state.

Every writer of the lake (relational, cdc, logs, events) goes through `PartitionWriter`: Arrow
record batches in, `part-NNNNN.parquet` files plus `_manifest.json` out, in a temporary
directory beside the partition that is renamed into place only when complete. Readers glob
`dt=*/part-*.parquet`; the temporary directory's name starts with a dot and never matches, so a
reader sees a whole partition or none (kill -9 included). An existing partition is replaced by
an atomic exchange of the two directories (renameat2 RENAME_EXCHANGE), so it never disappears.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from ingest import identifiers

KINDS = ("mysql", "postgres", "sqlite", "cdc", "logs", "events")
MANIFEST = "_manifest.json"
ROWS_PER_FILE = 1_000_000
ROWS_PER_ROW_GROUP = 122_880
PARQUET_OPTIONS = {"compression": "zstd", "write_statistics": True}
QUARANTINE_SCHEMA = pa.schema(
    [
        ("file", pa.string()),
        ("line", pa.int64()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("raw", pa.string()),
    ]
)


def data_dir() -> Path:
    """$SHIFU_DATA_DIR, default ./data."""
    return Path(os.environ.get("SHIFU_DATA_DIR", "data"))


def lake_dir() -> Path:
    return data_dir() / "lake"


def partition_path(kind: str, source: str, table: str, dt: date) -> Path:
    """lake/raw/<kind>/<source>/<table>/dt=YYYY-MM-DD (names validated: they become paths)."""
    if kind not in KINDS:
        raise ValueError(f"unknown lake kind {kind!r}; expected one of {KINDS}")
    source = identifiers.validate(source, "source name")
    table = identifiers.validate(table, "table name")
    return lake_dir() / "raw" / kind / source / table / f"dt={dt.isoformat()}"


def quarantine_path(stream: str, dt: date) -> Path:
    stream = identifiers.validate(stream, "stream name")
    return lake_dir() / "quarantine" / stream / f"dt={dt.isoformat()}"


def read_manifest(partition: Path) -> dict[str, Any] | None:
    path = partition / MANIFEST
    return json.loads(path.read_text()) if path.exists() else None


def latest_manifest(table_dir: Path, mode: str | None = None) -> dict[str, Any] | None:
    """The manifest of the newest dt partition under a table directory (optionally of a mode)."""
    if not table_dir.is_dir():
        return None
    for partition in sorted(table_dir.glob("dt=*"), reverse=True):
        manifest = read_manifest(partition)
        if manifest is not None and (mode is None or manifest.get("mode") == mode):
            return manifest
    return None


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def code_version() -> str:
    """The package version plus the git commit when the code runs from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        text = version("shifu-dw")
    except PackageNotFoundError:
        text = "unknown"
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    with contextlib.suppress(OSError):
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref[5:]).read_text().strip()
        text += f"+g{ref[:12]}"
    return text


@dataclass
class FileEntry:
    name: str
    bytes: int
    sha256: str
    rows: int


@dataclass
class PartitionWriter:
    """Write one partition atomically: `write()` Arrow batches, then `commit(manifest_fields)`.

    Use as a context manager: leaving the block without `commit()` (an error) removes the
    temporary directory and leaves any existing partition untouched. Batches should arrive in
    a deterministic order; files and row groups are cut at fixed row counts, so the same rows
    give byte-identical files.
    """

    path: Path
    schema: pa.Schema | None = None
    rows_per_file: int = ROWS_PER_FILE
    rows_per_row_group: int = ROWS_PER_ROW_GROUP
    files: list[FileEntry] = field(default_factory=list)
    row_count: int = 0
    _tmp: Path | None = None
    _writer: pq.ParquetWriter | None = None
    _file_rows: int = 0
    _pending: list[pa.Table] = field(default_factory=list)
    _pending_rows: int = 0

    def __enter__(self) -> PartitionWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(self.path)
        self._tmp = self.path.parent / f".{self.path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._tmp.mkdir()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._tmp is not None and self._tmp.exists():
            shutil.rmtree(self._tmp, ignore_errors=True)

    @property
    def tmp_dir(self) -> Path:
        assert self._tmp is not None, "use PartitionWriter as a context manager"
        return self._tmp

    def write(self, batch: pa.RecordBatch | pa.Table) -> None:
        """Append rows; the first batch fixes the schema unless one was given.

        Rows are buffered up to one row group: row groups (and files) hold fixed row counts
        whatever the sizes of the batches, so the bytes depend on the rows alone."""
        if self.schema is None:
            self.schema = batch.schema
        elif batch.schema != self.schema:
            batch = batch.cast(self.schema)
        if batch.num_rows == 0:
            return
        if isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        self._pending.append(batch)
        self._pending_rows += batch.num_rows
        self.row_count += batch.num_rows
        while self._pending_rows and self._pending_rows >= self._group_rows():
            self._write_group(self._group_rows())

    def _group_rows(self) -> int:
        return min(self.rows_per_row_group, self.rows_per_file - self._file_rows)

    def _write_group(self, rows: int) -> None:
        pending = pa.concat_tables(self._pending)
        # One contiguous chunk per column: page boundaries must not follow the batch sizes.
        group = pending.slice(0, rows).combine_chunks()
        rest = pending.slice(rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        if self._writer is None:
            self._open_file()
        self._writer.write_table(group, row_group_size=rows)
        self._file_rows += rows
        if self._file_rows >= self.rows_per_file:
            self._close_file()

    def add_part(self, name: str, rows: int) -> None:
        """Adopt a Parquet file written straight into `tmp_dir` (by a worker process) as the
        next part of the partition; not to be mixed with `write()`."""
        assert self._writer is None and not self._pending, "add_part after write()"
        if self.files and name <= self.files[-1].name:
            raise ValueError(f"parts must be added in name order: {name}")
        size, digest = _size_and_sha256(self.tmp_dir / name)
        self.files.append(FileEntry(name, size, digest, rows))
        self.row_count += rows

    def _flush(self) -> None:
        while self._pending_rows:
            self._write_group(min(self._pending_rows, self._group_rows()))

    def _open_file(self) -> None:
        name = f"part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(self.tmp_dir / name, self.schema, **PARQUET_OPTIONS)
        self.files.append(FileEntry(name, 0, "", 0))
        self._file_rows = 0

    def _close_file(self) -> None:
        self._writer.close()
        self._writer = None
        entry = self.files[-1]
        entry.rows = self._file_rows
        self._file_rows = 0
        entry.bytes, entry.sha256 = _size_and_sha256(self.tmp_dir / entry.name)

    def commit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        """Finish the files, write `_manifest.json`, fsync, and swap the partition into place."""
        self._flush()
        if self._writer is not None:
            self._close_file()
        if not self.files and self.schema is not None:
            # An empty partition still has a file: readers get the schema, not a glob error.
            self._open_file()
            self._writer.write_table(self.schema.empty_table())
            self._close_file()
        full = {
            **manifest,
            "row_count": self.row_count,
            "files": [
                {"name": f.name, "bytes": f.bytes, "sha256": f.sha256, "rows": f.rows}
                for f in self.files
            ],
            "schema": schema_fields(self.schema) if self.schema is not None else [],
        }
        full.setdefault("rejected_count", 0)
        full.setdefault("finished_at", now_utc())
        write_json(self.tmp_dir / MANIFEST, full, fsync=True)
        for entry in self.files:
            _fsync_path(self.tmp_dir / entry.name)
        _fsync_path(self.tmp_dir)
        swap_into_place(self.tmp_dir, self.path)
        self._tmp = None
        return full

    @property
    def bytes(self) -> int:
        return sum(f.bytes for f in self.files)


def schema_fields(schema: pa.Schema) -> list[dict[str, str]]:
    return [{"name": f.name, "type": str(f.type)} for f in schema]


def write_partition(
    path: Path,
    batches: Iterable[pa.RecordBatch],
    manifest: dict[str, Any],
    schema: pa.Schema | None = None,
) -> dict[str, Any]:
    """Write a whole partition from an iterable of batches; returns the manifest written."""
    with PartitionWriter(path, schema=schema) as writer:
        for batch in batches:
            writer.write(batch)
        return writer.commit(manifest)


class QuarantineWriter:
    """Rejected input for one stream and dt: file, line, reason code, message, raw text.

    Logs and events write their rejects here; the caller's manifest records rejected_count.
    The quarantine partition is replaced atomically together with the run that produced it.
    """

    def __init__(self, stream: str, dt: date) -> None:
        self.stream = stream
        self.dt = dt
        self._writer = PartitionWriter(quarantine_path(stream, dt), schema=QUARANTINE_SCHEMA)
        self._pending: list[dict[str, Any]] = []
        self.count = 0
        self.by_reason: dict[str, int] = {}

    def __enter__(self) -> QuarantineWriter:
        self._writer.__enter__()
        return self

    def __exit__(self, *exc_info) -> None:
        self._writer.__exit__(*exc_info)

    def reject(self, file: str, line: int | None, reason: str, message: str, raw: str) -> None:
        self._pending.append(
            {"file": file, "line": line, "reason": reason, "message": message, "raw": raw}
        )
        self.count += 1
        self.by_reason[reason] = self.by_reason.get(reason, 0) + 1
        if len(self._pending) >= 10_000:
            self._flush()

    def reject_table(self, table: pa.Table) -> None:
        """Many rejects at once (a table of QUARANTINE_SCHEMA), after those already given."""
        if table.num_rows == 0:
            return
        self._flush()
        self._writer.write(table.cast(QUARANTINE_SCHEMA))
        self.count += table.num_rows
        for row in table.group_by("reason").aggregate([("reason", "count")]).to_pylist():
            self.by_reason[row["reason"]] = (
                self.by_reason.get(row["reason"], 0) + row["reason_count"]
            )

    def _flush(self) -> None:
        if self._pending:
            self._writer.write(pa.Table.from_pylist(self._pending, schema=QUARANTINE_SCHEMA))
            self._pending = []

    def commit(self, manifest: dict[str, Any]) -> dict[str, Any]:
        self._flush()
        return self._writer.commit(
            {
                **manifest,
                "stream": self.stream,
                "dt": self.dt.isoformat(),
                "rejected_by_reason": dict(sorted(self.by_reason.items())),
            }
        )


# ---- state: watermarks, binlog positions, retired tables ------------------------------------


def state_path(*parts: str) -> Path:
    names = [identifiers.validate(p, "state name") for p in parts]
    return lake_dir() / "_state" / Path(*names[:-1]) / f"{names[-1]}.json"


def read_state(*parts: str) -> dict[str, Any]:
    path = state_path(*parts)
    return json.loads(path.read_text()) if path.exists() else {}


def write_state(state: dict[str, Any], *parts: str) -> None:
    """Replace a state file atomically (temporary file, fsync, rename)."""
    path = state_path(*parts)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    write_json(tmp, state, fsync=True)
    os.replace(tmp, path)
    _fsync_path(path.parent)


# ---- files ------------------------------------------------------------------------------------


def write_json(path: Path, value: Any, fsync: bool = False) -> None:
    with open(path, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True, default=str)
        handle.write("\n")
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())


def _size_and_sha256(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_temporaries(path: Path) -> None:
    """Remove what an interrupted write of this partition left behind (kill -9, power loss)."""
    for stale in path.parent.glob(f".{path.name}.*"):
        shutil.rmtree(stale, ignore_errors=True)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _renameat2():
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    function = getattr(libc, "renameat2", None)
    if function is not None:
        function.argtypes = [
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.c_char_p,
            ctypes.c_uint,
        ]
    return function


_RENAMEAT2 = _renameat2()


def swap_into_place(tmp: Path, final: Path) -> None:
    """Move a finished directory to `final`; an existing one is exchanged atomically, then removed."""
    if not final.exists():
        os.rename(tmp, final)
    elif (
        _RENAMEAT2 is not None
        and _RENAMEAT2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(final), _RENAME_EXCHANGE)
        == 0
    ):
        shutil.rmtree(tmp)  # now holds the old partition
    else:
        # No renameat2 (not Linux, or an old kernel): two renames, a moment with no partition.
        old = final.parent / f".{final.name}.old-{uuid.uuid4().hex[:8]}"
        os.rename(final, old)
        os.rename(tmp, final)
        shutil.rmtree(old)
    _fsync_path(final.parent)


def iter_partition_files(path: Path) -> Iterator[Path]:
    yield from sorted(path.glob("part-*.parquet"))
