"""Line files (gzip or plain) as Arrow tables, the raw-file copies kept for replay, and the
plumbing logs and events share: cutting a day's files into chunks, parsing the chunks on every
core, writing each chunk's rows as one Parquet part.

A file is read whole and split at b"\\n" with numpy into an Arrow string array without a Python
object per line. A line's number is its 1-based position in the file, so `wc -l` and the
manifest agree; a final line without a newline counts too.

Parallelism and memory: the day's files are cut into chunks of whole files of about
CHUNK_BYTES (compressed), in file order, so the cut depends on the files alone. A pool of
`workers()` processes (one per core) takes a chunk each: read, parse, write the chunk's rows
as `part-<chunk>.parquet` into the partition's temporary directory, copy the raw files, and
hand back only the rejected lines and the per-file counts. Peak memory is one chunk per worker
whatever the size of the day; a single file larger than a chunk is the one exception (it is
read whole).
"""

from __future__ import annotations

import ctypes
import gc
import hashlib
import multiprocessing
import os
import shutil
import signal
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest import lake

try:  # ISA-L's inflate: the same output as zlib's, in about half the CPU (bench/parsing)
    from isal import isal_zlib as _inflate
except ImportError:  # optional: zlib is the fallback
    _inflate = zlib

RAW_FILES_DAYS_ENV = "SHIFU_RAW_FILES_DAYS"
RAW_FILES_DAYS = 30  # default retention of the raw-file copies (days before the run's dt)
CHUNK_BYTES = 4 << 20  # compressed input per chunk: ~40k-100k lines of logs or events
WORKERS_ENV = "SHIFU_INGEST_WORKERS"
LINES_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("line_no", pa.int64()),
        ("line", pa.large_string()),
        ("utf8_ok", pa.bool_()),
    ]
)


@dataclass
class SourceFile:
    """One input file: where it is, its path relative to the source directory, its digest."""

    file_id: int
    path: Path
    relative: str
    bytes: int = 0
    sha256: str = ""
    lines: int = 0


def decompress(raw: bytes) -> bytes:
    """gzip (several members too, as `cat a.gz b.gz` makes) or plain text. Inflated with
    ISA-L when the `isal` package is installed (identical bytes, ~2x faster), else zlib."""
    if raw[:2] != b"\x1f\x8b":
        return raw
    out = []
    while raw:
        inflater = _inflate.decompressobj(47)
        out.append(inflater.decompress(raw))
        out.append(inflater.flush())
        raw = inflater.unused_data
        if raw[:2] != b"\x1f\x8b":
            break
    out = [piece for piece in out if piece]
    return out[0] if len(out) == 1 else b"".join(out)  # (one member: no copy)


def split_lines(data: bytes, file_id: int) -> pa.Table:
    """The lines of `data` without their newlines, numbered from 1."""
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    ends = newlines
    if len(data) and data[-1] != 10:
        ends = np.append(newlines, len(data))
    n = len(ends)
    # Drop the newline bytes: line k then spans [ends[k-1] + 1 - k, ends[k] - k) of the copy
    # (bytes.replace: 4x faster than numpy's mask)
    text = data.replace(b"\n", b"") if len(newlines) else data
    offsets = np.empty(n + 1, dtype=np.int64)
    offsets[0] = 0
    offsets[1:] = ends - np.arange(n, dtype=np.int64)
    binary = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(offsets), pa.py_buffer(text)]
    )
    try:
        lines = binary.cast(pa.large_string())
        ok = pa.array(np.ones(n, dtype=bool))
    except pa.ArrowInvalid:  # invalid UTF-8 in a few lines: find them, keep them readable
        bad = _invalid_utf8_lines(data, ends)
        flags = np.ones(n, dtype=bool)
        flags[bad] = False
        mask = pa.array(~flags)
        fixed = pa.array(
            [binary[int(i)].as_py().decode("utf-8", "backslashreplace") for i in bad],
            pa.large_string(),
        )
        unchecked = binary.cast(pa.large_string(), safe=False)
        lines = pc.replace_with_mask(unchecked, mask, fixed)
        ok = pa.array(flags)
    return pa.table(
        [
            pa.array(np.full(n, file_id, dtype=np.int32)),
            pa.array(np.arange(1, n + 1, dtype=np.int64)),
            lines,
            ok,
        ],
        schema=LINES_SCHEMA,
    )


def _invalid_utf8_lines(data: bytes, ends: np.ndarray) -> list[int]:
    """Indices of the lines (ending at `ends`) that are not valid UTF-8: decode, and at each
    error skip to the next line (a pass per bad line; bad lines are rare)."""
    bad, position = [], 0
    while position < len(data):
        try:
            data[position:].decode("utf-8")
            break
        except UnicodeDecodeError as error:
            line = int(np.searchsorted(ends, position + error.start))
            bad.append(line)
            position = int(ends[line]) + 1 if line < len(ends) else len(data)
    return bad


def read_file(source: SourceFile) -> pa.Table:
    raw = source.path.read_bytes()
    source.bytes = len(raw)
    source.sha256 = hashlib.sha256(raw).hexdigest()
    table = split_lines(decompress(raw), source.file_id)
    source.lines = table.num_rows
    return table


def raw_files_dir() -> Path:
    return lake.lake_dir() / "raw-files"


def copy_raw(source: SourceFile, area: str) -> None:
    """Keep the file unchanged under lake/raw-files/<area>/<relative path> (owner-only: it holds
    personal data). An identical copy already there is left alone (reruns)."""
    target = raw_files_dir() / area / source.relative
    if target.exists() and target.stat().st_size == source.bytes:
        if _sha256(target) == source.sha256:
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(raw_files_dir(), 0o700)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.copyfile(source.path, tmp)
    os.chmod(tmp, 0o600)
    os.replace(tmp, target)


def raw_files_days() -> int | None:
    """How many days of raw-file copies to keep: $SHIFU_RAW_FILES_DAYS (a number of days, or
    `forever`), else RAW_FILES_DAYS."""
    configured = os.environ.get(RAW_FILES_DAYS_ENV, "").strip().lower()
    if configured == "forever":
        return None
    if configured:
        days = int(configured)
        if days < 1:
            raise ValueError(f"{RAW_FILES_DAYS_ENV} must be a number of days >= 1 or 'forever'")
        return days
    return RAW_FILES_DAYS


def prune_raw_files(area: str, dt: date, day_of: Callable[[Path], date | None]) -> list[str]:
    """Delete the raw-file copies under lake/raw-files/<area> whose day (`day_of(path)`) is
    more than raw_files_days() before `dt`: they hold personal data in clear text, so they
    are kept only as long as a replay may need them. A file whose day is unknown is kept.
    Returns the paths removed (relative to raw-files)."""
    days = raw_files_days()
    root = raw_files_dir() / area
    if days is None or not root.is_dir():
        return []
    removed = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        day = day_of(path)
        if day is not None and (dt - day).days > days:
            path.unlink()
            removed.append(path.relative_to(raw_files_dir()).as_posix())
    for directory in sorted((p for p in root.rglob("*") if p.is_dir()), reverse=True):
        if not any(directory.iterdir()):
            directory.rmdir()
    return removed


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


# ---- chunks on every core ----------------------------------------------------------------------


@dataclass
class ChunkResult:
    """What a worker hands back for one chunk: the files (with bytes, digest, line count),
    per-file counts, the rejected lines (quarantine schema, PII already scrubbed), and the
    Parquet part it wrote (name and rows; no part when no row was accepted)."""

    index: int
    files: list[SourceFile]
    counts: dict[int, dict[str, int]] = field(default_factory=dict)
    rejects: pa.Table | None = None
    part: str | None = None
    rows: int = 0
    valid: pa.Table | None = None  # events: the SQL validator's valid events (a flush task)
    # events: the chunks a task wrote (chunk number, part or None, rows)
    written: list[tuple[int, str | None, int]] = field(default_factory=list)
    # nginx: the lines left to the SQL (a spill file, parsed with every chunk's at the end) and
    # the files the chunk's fast rows show to be in the extended format
    slow: str | None = None
    extended: list[int] = field(default_factory=list)


def plan_chunks(files: list[SourceFile], target_bytes: int | None = None) -> list[list[SourceFile]]:
    """Consecutive whole files of about `target_bytes` (CHUNK_BYTES) on disk each."""
    target_bytes = target_bytes or CHUNK_BYTES
    chunks: list[list[SourceFile]] = []
    current: list[SourceFile] = []
    size = 0
    for f in files:
        current.append(f)
        size += f.path.stat().st_size
        if size >= target_bytes:
            chunks.append(current)
            current, size = [], 0
    if current:
        chunks.append(current)
    return chunks


def read_chunk(files: list[SourceFile]) -> pa.Table:
    """The lines of a chunk's files, in order (fills in each file's bytes, digest, lines)."""
    tables = [read_file(f) for f in files]
    return pa.concat_tables(tables) if tables else LINES_SCHEMA.empty_table()


def workers() -> int:
    """Processes to parse with: $SHIFU_INGEST_WORKERS, else one per available core."""
    configured = os.environ.get(WORKERS_ENV)
    if configured:
        return max(1, int(configured))
    return max(1, len(os.sched_getaffinity(0)))


def run_chunks(function: Callable, tasks: list, keep_memory: bool = False) -> Iterator:
    """`function(task)` for every task on `workers()` processes, results in task order.

    Workers hand back small results (counts, rejects); the rows go to files. Fork is used where
    it exists: the workers inherit the imported modules and start at once (each opens its own
    DuckDB connection: see the at-fork hooks in ingest.logs and ingest.events). `keep_memory`:
    each worker keeps what it frees for its next chunk (see _init_worker)."""
    count = min(workers(), len(tasks))
    if count <= 1:
        yield from map(function, tasks)
        return
    warm_up()
    context = pool_context()
    gc.freeze()  # the parent's objects, as the workers inherit them: their collections skip them
    try:
        with context.Pool(count, initializer=_init_worker, initargs=(keep_memory,)) as pool:
            yield from pool.imap(function, tasks, chunksize=1)
    finally:
        gc.unfreeze()


def string_offsets(values: pa.Array) -> np.ndarray:
    """The int32 offsets of a string array's values (len + 1 of them, its slice's)."""
    offsets = np.frombuffer(values.buffers()[1], dtype=np.int32)
    return offsets[values.offset : values.offset + len(values) + 1]


def fixed_width(values: pa.Array, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(rows x width bytes, which rows are exactly `width` bytes long) of a string array."""
    offsets = string_offsets(values)
    data = values.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, np.uint8)
    ok = np.diff(offsets) == width
    starts = np.where(ok, offsets[:-1], 0)
    if len(data) < width:
        data = np.zeros(width, dtype=np.uint8)
    return data[starts[:, None] + np.arange(width)], ok


def pool_context():
    """The multiprocessing context run_chunks starts workers in: fork where it exists (the
    workers inherit the parent's modules and anything made for them before, such as locks),
    else spawn. Make what workers share (locks, barriers) in it."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def release_memory() -> None:
    """After a chunk: collect what reference counting left (workers run with the cyclic
    collector off), and give freed Arrow memory back to the system, unless the worker keeps
    it for its next chunk (see _init_worker): its peak is one chunk's either way."""
    if not gc.isenabled():
        gc.collect()
    if not _KEEP_MEMORY:
        pa.default_memory_pool().release_unused()


_KEEP_MEMORY = False


def warm_up() -> None:
    """Run the kernels a chunk uses once in the parent before the workers fork: Arrow sets
    up compute functions on first use (~0.3-1 s), which each worker would otherwise repeat."""
    import io

    table = split_lines("x\n\xff\n".encode("latin-1"), 0)
    pq.write_table(table, io.BytesIO(), **lake.PARQUET_OPTIONS)
    pc.sort_indices(table, [("file_id", "ascending"), ("line_no", "ascending")])


def _init_worker(keep_memory: bool = False) -> None:
    # A forked worker inherits its parent's SIGTERM handler; an Airflow task's handler ignores
    # the signal in any other process, so Pool.terminate() (leaving `with Pool`) would wait
    # forever on an idle worker. Workers die on SIGTERM, as they would outside Airflow.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    # A chunk makes a Python object or two per line and frees them all: the cyclic collector
    # would walk them over and over (10-15 % of the events' parse). It runs once per chunk
    # instead, in release_memory().
    gc.disable()
    # one core per worker: the pool is the parallelism
    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    # glibc gives a chunk's large blocks back to the system when they are freed (munmap, heap
    # trim), and the next chunk faults them in again: ~250k page faults for a day of events.
    # With keep_memory a worker keeps them (its memory stays that of its largest chunk):
    # ~75k faults, ~5 % of the events' time. (nginx: no faster, and PSS 354 -> 580 MB.)
    if not keep_memory:
        return
    global _KEEP_MEMORY
    _KEEP_MEMORY = True
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: its own defaults
        return
    libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)  # glibc's largest
    libc.mallopt(_M_TRIM_THRESHOLD, 1 << 30)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h


def write_part(
    directory: Path,
    index: int,
    table: pa.Table,
    schema: pa.Schema,
    dictionary: list[str] | None = None,
    statistics: list[str] | None = None,
) -> str | None:
    """One chunk's rows as `part-<index>.parquet` in fixed-size row groups (None when empty).
    `dictionary`: the only columns to dictionary-encode (default: all; a column of mostly
    distinct values costs time for nothing, as the writer falls back to plain);
    `statistics`: the only columns with min/max statistics (default: all; those of random
    texts such as ids prune nothing and cost ~10 % of the write). The row groups are cut from
    the table's chunks as they are (combining them first only cost a copy)."""
    if table.num_rows == 0:
        return None
    name = f"part-{index:05d}.parquet"
    table = table.cast(schema)
    options = dict(lake.PARQUET_OPTIONS)
    if dictionary is not None:
        options["use_dictionary"] = dictionary
    if statistics is not None:
        options["write_statistics"] = statistics
    with pq.ParquetWriter(directory / name, schema, **options) as writer:
        writer.write_table(table, row_group_size=lake.ROWS_PER_ROW_GROUP)
    return name
