"""Server logs into the lake: nginx access logs and Java (logback) application logs.

    <source dir>/logs/nginx/<host>/access.log-YYYYMMDDHH[.gz]
    <source dir>/logs/app/<service>/<host>/<service>.log-YYYYMMDDHH[.gz]
        -> lake/raw/logs/nginx/access/dt=D/   one row per request line
        -> lake/raw/logs/app/entries/dt=D/    one row per log entry (stack traces joined)
        -> lake/quarantine/nginx_access/dt=D/, lake/quarantine/app_entries/dt=D/
        -> lake/raw-files/logs/...            the files, unchanged

The files of dt=D are those whose name carries an hour (or a date) of D; the hourly rotation is
the contract. A file whose name carries no date belongs to no day: it is not ingested, and every
run lists it in the manifest (`skipped_files`) and warns, until it is renamed or removed.

Files are parsed in chunks on every core (ingest.lines). nginx lines in the common shape are
parsed by the C scanner ingest/_nginx.c, or with Arrow kernels where it is not built
(`_nginx_fast`); every other line by the SQL below in DuckDB (a split on `"`, a quote-aware
regular expression for the rare line with `\\"`): all give the same columns, tests hold them
to it. The SQL's lines of all chunks wait for one pass at the end (`_parse_deferred`), unless a
chunk's fast rows leave a file's format open. `remote_addr` is cut to its /24 or /48
(ingest.pii).

nginx: any `log_format` that starts with `combined` parses. Our format adds `$request_time
$upstream_response_time $request_id`; a file is in that format when most of its lines carry
them, and then a line without them is quarantined as `truncated` (a line cut off mid-write
still looks like a combined line). Fields nginx escaped as \\xHH are decoded to text.

For every file: parsed + quarantined = lines read (app logs: lines of the parsed entries +
quarantined lines), recorded per file in the manifest.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest import extensions, lake, lines, pii

NGINX_SOURCE, NGINX_STREAM, NGINX_QUARANTINE = "nginx", "access", "nginx_access"
APP_SOURCE, APP_STREAM, APP_QUARANTINE = "app", "entries", "app_entries"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_STAMP = re.compile(r"(?<![0-9])(20[0-9]{2})([01][0-9])([0-3][0-9])([0-2][0-9])?(?![0-9])")

NGINX_SCHEMA = pa.schema(
    [
        ("remote_addr", pa.string()),
        ("remote_user", pa.string()),
        ("requested_at", pa.timestamp("us")),
        ("method", pa.string()),
        ("path", pa.string()),
        ("query", pa.string()),
        ("protocol", pa.string()),
        ("request", pa.string()),  # only when it is not "METHOD target PROTOCOL"
        ("status", pa.int16()),
        ("body_bytes", pa.int64()),
        ("referer", pa.string()),
        ("user_agent", pa.string()),
        ("request_time_s", pa.float64()),
        ("upstream_response_time_s", pa.float64()),
        ("upstream_attempts", pa.int16()),
        ("request_id", pa.string()),
        ("extra", pa.string()),  # unknown trailing fields, as written (IP addresses cut)
        ("host", pa.string()),
        ("file", pa.string()),
        ("line_no", pa.int64()),
    ]
)
APP_SCHEMA = pa.schema(
    [
        ("logged_at", pa.timestamp("ms")),
        ("level", pa.string()),
        ("pid", pa.string()),
        ("thread", pa.string()),
        ("logger", pa.string()),
        ("trace_id", pa.string()),
        ("message", pa.string()),
        ("exception_class", pa.string()),
        ("stack", pa.string()),
        ("line_count", pa.int32()),
        ("service", pa.string()),
        ("host", pa.string()),
        ("file", pa.string()),
        ("line_no", pa.int64()),
    ]
)

# ---- nginx ------------------------------------------------------------------------------------

# A quoted field where \" and \\ may occur (Apache style, nginx escape=none).
_QUOTED = r'"((?:[^"\\]|\\.)*)"'
_SLOW_LINE = rf"^([^\"]*){_QUOTED}([^\"]*){_QUOTED} {_QUOTED}(.*)$"
_HEAD = r"^\S+ \S+ .+ \[[^\]]+\] $"
_MID = r"^ [0-9]{3} ([0-9]+|-) $"
_SECONDS = r"(?:-|[0-9]+(?:\.[0-9]+)?)"
_EXTENDED = rf"^ {_SECONDS} {_SECONDS}(?:(?:, | : ){_SECONDS})* [0-9a-f]{{32}}(?: .*)?$"
_REQUEST = r"^[A-Z][A-Z_-]* \S+ HTTP/[0-9.]+$"

NGINX_FIELDS_SQL = rf"""
with parts as (
    select file_id, line_no, line, utf8_ok, string_split(line, '"') as parts from lines
),
split as (
    select
        file_id,
        line_no,
        line,
        utf8_ok,
        case
            when contains(line, '\"') then regexp_extract(
                line, '{_SLOW_LINE}', ['head', 'request', 'mid', 'referer', 'ua', 'rest']
            )
            else {{
                'head': parts[1], 'request': parts[2], 'mid': parts[3],
                'referer': parts[4], 'ua': if(parts[5] = ' ' and len(parts) >= 7, parts[6], null),
                'rest': array_to_string(parts[7:], '"')
            }}
        end as f
    from parts
)
select
    file_id,
    line_no,
    line,
    utf8_ok,
    f.head as head,
    f.request as request,
    f.mid as mid,
    f.referer as referer,
    f.ua as ua,
    f.rest as rest,
    coalesce(
        f.ua is not null
        and regexp_matches(f.head, '{_HEAD}')
        and regexp_matches(f.mid, '{_MID}'),
        false
    ) as combined,
    coalesce(regexp_matches(f.rest, '{_EXTENDED}'), false) as extended,
    try_strptime(
        substr(f.head, strpos(f.head, '[') + 1, 20), '%d/%b/%Y:%H:%M:%S'
    ) as local_time,
    substr(f.head, strpos(f.head, '[') + 22, 5) as utc_offset
from split
"""

NGINX_FORMATS_SQL = """
select file_id, count(*) filter (combined) as combined, count(*) filter (extended) as extended
from nginx_fields
group by file_id
"""

# A file is in the extended format when most of its combined lines carry the extra fields.
NGINX_CHECKED_SQL = """
create or replace temp view nginx_checked as
select *, combined and local_time is not null and utf8_ok
    and (not extended_file or extended) as good
from (select *, list_contains({extended}::integer[], file_id) as extended_file from nginx_fields)
"""

NGINX_REJECTS_SQL = """
select
    file_id,
    line_no,
    case
        when not utf8_ok then 'invalid_utf8'
        when not combined then 'malformed'
        when extended_file and not extended then 'truncated'
        else 'bad_time'
    end as reason,
    case
        when not utf8_ok then 'line is not valid UTF-8'
        when not combined then 'not an nginx combined log line'
        when extended_file and not extended
            then 'missing $request_time $upstream_response_time $request_id (line cut off?)'
        else 'unreadable [$time_local]'
    end as message,
    line as raw
from nginx_checked
where not good
order by file_id, line_no
"""


def _nginx_rows_sql() -> str:
    unescaped = {
        name: f"case when contains({name}, '\\x') then nginx_unescape({name}) else {name} end"
        for name in ("request", "referer", "ua")
    }
    target = "split_part(request_text, ' ', 2)"
    extra = "nullif(if(extended_file, array_to_string(tokens[id_at + 1:], ' '), trim(rest)), '')"
    return f"""
with parsed as (
    select
        *,
        {unescaped["request"]} as request_text,
        {unescaped["referer"]} as referer_text,
        {unescaped["ua"]} as ua_text,
        string_split(trim(rest), ' ') as tokens
    from nginx_checked
    where good
),
typed as (
    select
        *,
        regexp_matches(request_text, '{_REQUEST}') as request_ok,
        -- tokens: $request_time, $upstream_response_time (1+ tokens), $request_id, extras
        if(extended_file, list_position(list_transform(tokens[3:], t -> length(t) = 32), true)
            + 2, null) as id_at
    from parsed
)
select
    split_part(head, ' ', 1) as remote_addr,
    nullif(split_part(head, ' ', 3), '-') as remote_user,
    local_time + to_minutes(480 - (
        case when substr(utc_offset, 1, 1) = '-' then -1 else 1 end
        * (try_cast(substr(utc_offset, 2, 2) as integer) * 60
           + try_cast(substr(utc_offset, 4, 2) as integer))
    )) as requested_at,
    if(request_ok, split_part(request_text, ' ', 1), null) as method,
    if(request_ok, {pii.sql_scrubbed(f"split_part({target}, '?', 1)")}, null) as path,
    if(request_ok and contains({target}, '?'),
       {pii.sql_scrubbed(f"substr({target}, strpos({target}, '?') + 1)")}, null) as query,
    if(request_ok, split_part(request_text, ' ', 3), null) as protocol,
    if(request_ok, null, {pii.sql_scrubbed("request_text")}) as request,
    cast(split_part(trim(mid), ' ', 1) as smallint) as status,
    try_cast(split_part(trim(mid), ' ', 2) as bigint) as body_bytes,
    {pii.sql_scrubbed("nullif(referer_text, '-')")} as referer,
    nullif(ua_text, '-') as user_agent,
    if(extended_file, try_cast(tokens[1] as double), null) as request_time_s,
    if(extended_file, list_sum(list_transform(
        list_filter(tokens[2:id_at - 1], t -> t not in (',', ':')),
        t -> try_cast(trim(t, ',') as double))), null) as upstream_response_time_s,
    if(extended_file, cast(len(list_filter(tokens[2:id_at - 1], t -> t not in (',', ':')))
        as smallint), null) as upstream_attempts,
    if(extended_file, tokens[id_at], null) as request_id,
    {pii.sql_scrubbed(extra)} as extra,
    $hosts[file_id - $base + 1] as host,
    $files[file_id - $base + 1] as file,
    line_no,
    file_id as _file_id
from typed
"""


def nginx_unescape(values: pa.Array) -> pa.Array:
    """Decode nginx's \\xHH escapes (escape=default) back to UTF-8 text; text whose bytes are
    not UTF-8 or holds control characters (a TLS handshake sent to the plain port) stays
    escaped."""
    out = []
    for value in values.to_pylist():
        if value is None:
            out.append(None)
            continue
        raw = re.sub(
            rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode()
        )
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = value
        out.append(value if _CONTROL.search(text) else text)
    return pa.array(out, pa.string())


# ---- application logs -------------------------------------------------------------------------

_APP_START = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}"
_APP_HEADER = (
    r"^([0-9]{4}-[0-9]{2}-[0-9]{2}[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:[.,][0-9]{1,3})?)\s+"
    r"(TRACE|DEBUG|INFO|WARN|WARNING|ERROR|FATAL)\s+(\S+)\s+---\s+\[\s*([^\]]*)\]\s+"
    r"(\S+)\s*:\s?(.*)$"
)
_TRACE = r"^\[traceId=([0-9a-fA-F]{16,32})\] ?"
_EXCEPTION = r"^([A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+)(?::|$)"

APP_ENTRIES_SQL = rf"""
select
    file_id,
    line_no,
    line,
    utf8_ok,
    sum(cast(regexp_matches(line, '{_APP_START}') as integer))
        over (partition by file_id order by line_no rows unbounded preceding) as entry
from lines
"""

APP_GROUPED_SQL = rf"""
with entries as (
    select
        file_id,
        entry,
        min(line_no) as line_no,
        count(*) as line_count,
        string_agg(line, chr(10) order by line_no) as text,
        bool_and(utf8_ok) as utf8_ok,
        first(line order by line_no) as first_line
    from app_lines
    where entry > 0
    group by file_id, entry
)
select
    *,
    regexp_extract(first_line, '{_APP_HEADER}',
        ['ts', 'level', 'pid', 'thread', 'logger', 'message']) as h,
    nullif(substr(text, length(first_line) + 2), '') as stack
from entries
"""

APP_REJECTS_SQL = """
select l.file_id, l.line_no,
    case when l.entry = 0 then 'orphan_line'
         when not g.utf8_ok then 'invalid_utf8'
         else 'malformed' end as reason,
    case when l.entry = 0 then 'continuation line before the first log entry of the file'
         when not g.utf8_ok then 'entry is not valid UTF-8'
         else 'log entry header does not match the logback pattern' end as message,
    l.line as raw
from app_lines l
left join app_grouped g on g.file_id = l.file_id and g.entry = l.entry
where l.entry = 0 or g.h.ts = '' or not g.utf8_ok
order by l.file_id, l.line_no
"""


def _app_rows_sql() -> str:
    message = f"regexp_replace(h.message, '{_TRACE}', '')"
    return f"""
select
    try_strptime(replace(replace(h.ts, ',', '.'), 'T', ' '),
        ['%Y-%m-%d %H:%M:%S.%g', '%Y-%m-%d %H:%M:%S']) as logged_at,
    replace(h.level, 'WARNING', 'WARN') as level,
    h.pid as pid,
    trim(h.thread) as thread,
    h.logger as logger,
    nullif(lower(regexp_extract(h.message, '{_TRACE}', 1)), '') as trace_id,
    {pii.sql_scrubbed(message)} as message,
    nullif(regexp_extract(stack, '{_EXCEPTION}', 1), '') as exception_class,
    {pii.sql_scrubbed("stack")} as stack,
    cast(line_count as integer) as line_count,
    service,
    host,
    file,
    line_no
from app_grouped g join app_files using (file_id)
where h.ts <> '' and utf8_ok
order by file_id, line_no
"""


# ---- running ----------------------------------------------------------------------------------


@dataclass
class StreamResult:
    """What one stream's run did (the CLI prints these)."""

    source: str
    table: str
    mode: str = "files"
    status: str = "ok"
    rows: int = 0
    bytes: int = 0
    seconds: float = 0.0
    message: str = ""
    rejected: int = 0
    lines: int = 0
    files: list[dict] = field(default_factory=list)


def file_day(name: str) -> date | None:
    """The business date in a rotated log's name (`...-2026110110.gz`, `...-20261101.gz`)."""
    match = _STAMP.search(name)
    if match is None:
        return None
    year, month, day, _hour = match.groups()
    try:
        return date(int(year), int(month), int(day))
    except ValueError:
        return None


def find_files(root: Path, dt: date, depth: int) -> list[lines.SourceFile]:
    """Files `depth` directories below `root` whose name carries a time of `dt`, sorted."""
    chosen = sorted(p for p in _candidates(root, depth) if file_day(p.name) == dt)
    return [
        lines.SourceFile(i, p, p.relative_to(root.parent.parent).as_posix())
        for i, p in enumerate(chosen)
    ]


def find_undated(root: Path, depth: int) -> list[str]:
    """Files whose name carries no date: they belong to no dt, so no run ingests them. Every
    run lists them (manifest `skipped_files`, a warning) until they are renamed or removed;
    guessing a day from the mtime would put a copied or re-touched file in the wrong day."""
    return sorted(
        p.relative_to(root.parent.parent).as_posix()
        for p in _candidates(root, depth)
        if file_day(p.name) is None
    )


def _candidates(root: Path, depth: int) -> list[Path]:
    if not root.is_dir():
        return []
    pattern = "/".join(["*"] * (depth + 1))
    return [p for p in root.glob(pattern) if p.is_file() and not p.name.startswith(".")]


_CONNECTION = None
_ORPHANS: list = []


def _forget_connection() -> None:
    # A forked worker opens its own connection; the parent's copy is left alone (not closed).
    global _CONNECTION
    if _CONNECTION is not None:
        _ORPHANS.append(_CONNECTION)
        _CONNECTION = None


os.register_at_fork(after_in_child=_forget_connection)


def connect():
    """This process's DuckDB connection (one thread: the process pool is the parallelism)."""
    global _CONNECTION
    if _CONNECTION is None:
        con = extensions.connect()
        con.execute("set enable_progress_bar = false")
        con.execute("set threads = 1")
        pii.register(con)
        con.create_function(
            "nginx_unescape",
            nginx_unescape,
            ["VARCHAR"],
            "VARCHAR",
            type="arrow",
            null_handling="special",
            side_effects=False,
        )
        _CONNECTION = con
    return _CONNECTION


def _nginx_chunk(task: tuple[int, list[lines.SourceFile], str]) -> lines.ChunkResult:
    """Parse one chunk of nginx files into its Parquet part (runs in a worker process).

    Lines in the common shape (see `_nginx_fast`) are parsed by the C scanner (or Arrow
    kernels); every other line (and every line of a file that is not in the extended format)
    by the SQL above, here or, when the fast rows settle the files' format, in one pass over
    all chunks at the end (`_parse_deferred`). All give the same columns;
    tests/ingest/test_logs.py checks they agree line for line."""
    index, files, directory = task
    table = lines.read_chunk(files)
    fast_rows, taken = _nginx_fast(table, files)
    extended = _extended_by_fast_rows(table, fast_rows)
    if extended is None:  # a file the fast rows do not settle: the whole chunk with the SQL
        rows, rejects = parse_nginx(table, files, fast_result=(fast_rows, taken))
        return _finish_chunk(
            index, files, directory, rows, rejects, NGINX_SCHEMA, leading_address=True
        )
    # The other lines (~1 %) wait for one SQL pass over every chunk's (_parse_deferred): the
    # SQL costs the same ~50 ms per call whatever its input.
    slow_path = Path(directory) / DEFERRED / f"slow-{index:05d}.parquet"
    slow_path.parent.mkdir(exist_ok=True)
    pq.write_table(table.filter(pc.invert(taken)), slow_path, compression="lz4")
    del table
    result = _finish_chunk(
        index, files, directory, fast_rows, _NO_REJECTS, NGINX_SCHEMA, leading_address=True
    )
    result.slow, result.extended = str(slow_path), extended
    return result


DEFERRED = "_deferred"  # inside the partition's temporary directory, removed before the commit
_NO_REJECTS = pa.schema(
    [("file_id", pa.int32()), ("line_no", pa.int64())]
    + [(name, pa.string()) for name in ("reason", "message", "raw")]
).empty_table()


def _extended_by_fast_rows(table: pa.Table, fast_rows: pa.Table) -> list[int] | None:
    """The chunk's files that more than half of the lines' fast rows show to be in the extended
    format (a fast row is an extended line), or None when a file has fast rows for half of its
    lines or fewer: whether it is extended then depends on what the SQL makes of the rest."""
    total = dict(zip(*np.unique(table["file_id"].to_numpy(), return_counts=True), strict=True))
    ids, counts = np.unique(fast_rows["_file_id"].to_numpy(), return_counts=True)
    extended = []
    for fid, n in zip(ids.tolist(), counts.tolist(), strict=True):
        if n * 2 <= total[fid]:
            return None
        extended.append(fid)
    return extended


def _parse_deferred(
    deferred: list[tuple[str, list[int]]],
    files: list[lines.SourceFile],
    directory: Path,
    index: int,
) -> lines.ChunkResult | None:
    """The lines the chunks left to the SQL (`deferred`: each chunk's spill file and the files
    its fast rows show to be extended), in one pass: their rows as part `index`, their rejects
    and per-file counts (to add to the chunks')."""
    if not deferred:
        return None
    slow = pa.concat_tables([pq.read_table(path) for path, _extended in deferred])
    known = sorted({fid for _path, extended in deferred for fid in extended})
    rows, rejects = parse_nginx(slow, files, fast=False, known_extended=known)
    shutil.rmtree(directory / DEFERRED)
    return _finish_chunk(
        index, files, directory, rows, rejects, NGINX_SCHEMA, leading_address=True, copy=False
    )


def parse_nginx(
    table: pa.Table,
    files: list[lines.SourceFile],
    fast: bool = True,
    fast_result: tuple[pa.Table, pa.Array] | None = None,
    known_extended: Iterable[int] = (),
) -> tuple[pa.Table, pa.Table]:
    """(accepted rows in file and line order with `_file_id`, remote_addr cut to its network
    by pii.truncate_ips; rejects) of a chunk's lines. `fast_result`: `_nginx_fast` of them,
    if it was run already; `known_extended`: files known to be in the extended format (from
    their fast rows, when the lines here are the rest of them)."""
    fast_rows = None
    slow = table
    if fast:
        fast_rows, taken = fast_result or _nginx_fast(table, files)
        slow = table.filter(pc.invert(taken))
    con = connect()
    con.register("lines", slow)
    fields = con.execute(NGINX_FIELDS_SQL).to_arrow_table()
    con.unregister("lines")
    extended = sorted(set(_extended_files(fields, fast_rows)) | set(known_extended))
    if fast_rows is not None and fast_rows.num_rows:
        plain = pc.invert(pc.is_in(fast_rows["_file_id"], value_set=pa.array(extended, pa.int32())))
        if pc.any(plain).as_py():  # a file in plain combined format: all its lines by SQL
            moved = pc.is_in(
                table["file_id"], value_set=pc.unique(fast_rows["_file_id"].filter(plain))
            )
            fast_rows = fast_rows.filter(pc.invert(plain))
            taken = pc.and_(taken, pc.invert(moved))
            slow = table.filter(pc.invert(taken))
            con.register("lines", slow)
            fields = con.execute(NGINX_FIELDS_SQL).to_arrow_table()
            con.unregister("lines")
    con.register("nginx_fields", fields)
    con.execute(NGINX_CHECKED_SQL.format(extended=extended))
    rejects = con.execute(NGINX_REJECTS_SQL).to_arrow_table()
    names = {
        "base": files[0].file_id,
        "hosts": [Path(f.relative).parts[-2] for f in files],
        "files": [f.relative for f in files],
    }
    rows = con.execute(_nginx_rows_sql(), names).to_arrow_table()
    rows = rows.set_column(0, "remote_addr", pii.truncate_ips(rows["remote_addr"]))
    con.unregister("nginx_fields")
    if fast_rows is not None and fast_rows.num_rows:
        rows = pa.concat_tables([fast_rows, rows.cast(fast_rows.schema)])
        order = pc.sort_indices(rows, [("_file_id", "ascending"), ("line_no", "ascending")])
        rows = rows.take(order)
    return rows.cast(_NGINX_WITH_ID), rejects


def _extended_files(fields: pa.Table, fast_rows: pa.Table | None) -> list[int]:
    """Files where most combined lines carry the extended fields (fast rows carry them all)."""
    combined: dict[int, int] = {}
    extended: dict[int, int] = {}
    for fid, comb, ext in zip(
        fields["file_id"].to_numpy(),
        fields["combined"].to_numpy(zero_copy_only=False),
        fields["extended"].to_numpy(zero_copy_only=False),
        strict=True,
    ):
        combined[int(fid)] = combined.get(int(fid), 0) + bool(comb)
        extended[int(fid)] = extended.get(int(fid), 0) + bool(ext)
    if fast_rows is not None and fast_rows.num_rows:
        ids, counts = np.unique(fast_rows["_file_id"].to_numpy(), return_counts=True)
        for fid, n in zip(ids, counts, strict=True):
            combined[int(fid)] = combined.get(int(fid), 0) + int(n)
            extended[int(fid)] = extended.get(int(fid), 0) + int(n)
    return sorted(fid for fid, n in combined.items() if extended.get(fid, 0) * 2 > n)


_NGINX_WITH_ID = pa.schema([*NGINX_SCHEMA, pa.field("_file_id", pa.int32())])
try:  # the C scanner (ingest/_nginx.c), built by `make setup` where there is a C compiler
    from ingest import _nginx as _SCANNER
except ImportError:
    _SCANNER = None
_SECONDS_TOKEN = r"(?:-|[0-9]+(?:\.[0-9]+)?)"
_TARGET = r"^(?P<path>[^?]*)(?:\?(?P<query>.*))?$"
# The common extended shape, whole: `ip ident user [time zone] "METHOD target HTTP/x" status
# bytes "referer" "ua" rt urt id`, no backslash anywhere (no escapes), exactly six quotes, one
# upstream time, no `[` or blank other than a space before the time (the SQL reads the time
# after the first `[` and wants no blank inside the address). One RE2 pass (a DFA: no
# captures) picks the lines; each split below then gives every one of them the same number of
# pieces, so nothing is filtered stage by stage.
_HEAD_TOKEN = r'[^ "\\\[\t\f\r]+'
_FAST_LINE = (
    rf"^{_HEAD_TOKEN} {_HEAD_TOKEN} {_HEAD_TOKEN} "
    r"\[[0-9]{2}/[A-Za-z]{3}/[0-9]{4}:[0-9]{2}:[0-9]{2}:[0-9]{2} "
    r'[+-][0-9]{4}\] "[A-Z][A-Z_-]* [^\t\n\f\r "\\]+ HTTP/[0-9.]+" [0-9]{3} (?:[0-9]{1,18}|-) '
    rf'"[^"\\]*" "[^"\\]*" {_SECONDS_TOKEN} {_SECONDS_TOKEN} [0-9a-f]{{32}}$'
)


def _split(values: pa.Array, separator: str, count: int, keep: tuple[int, ...]) -> list[pa.Array]:
    """The pieces `keep` of every value, which has exactly `count` pieces (`_FAST_LINE`)."""
    flat = pc.list_flatten(pc.split_pattern(values, separator))
    m = len(values)
    return [flat.take(pa.array(np.arange(k, m * count, count))) for k in keep]


def _nginx_fast(table: pa.Table, files: list[lines.SourceFile]) -> tuple[pa.Table, pa.Array]:
    """The lines in the common extended shape (`_FAST_LINE`) with a valid time, parsed in one
    pass by the C scanner (ingest/_nginx.c) when it is built, else with Arrow kernels, and
    which lines they are (the others go to the SQL)."""
    if _SCANNER is not None:
        return _nginx_scanned(table, files)
    line = table["line"].combine_chunks()
    good = pc.and_(table["utf8_ok"].combine_chunks(), pc.match_substring_regex(line, _FAST_LINE))
    index = np.flatnonzero(good.to_numpy(zero_copy_only=False))
    line = line.take(pa.array(index)).cast(pa.string())
    head, request, mid, referer, ua, rest = _split(line, '"', 7, (0, 1, 2, 3, 5, 6))
    del line
    ip, user, stamp, zone = _split(head, " ", 6, (0, 2, 3, 4))
    requested_at, time_ok = _requested_at(stamp, zone)
    status, body = _split(mid, " ", 4, (1, 2))
    rt, urt, request_id = _split(rest, " ", 4, (1, 2, 3))
    method, target, protocol = _split(request, " ", 3, (0, 1, 2))
    m = len(index)
    parts = pc.extract_regex(target, _TARGET)
    has_query = pc.match_substring(target, "?")
    null_str = pa.nulls(m, pa.string())
    fields = {
        "remote_addr": pii.truncate_ips(ip),
        "remote_user": pc.if_else(pc.equal(user, "-"), null_str, user),
        "requested_at": requested_at,
        "method": method,
        "path": _scrubbed(parts.field("path")),
        "query": pc.if_else(has_query, _scrubbed(parts.field("query")), null_str),
        "protocol": protocol,
        "status": pc.cast(status, pa.int16()),
        "body_bytes": pc.cast(pc.if_else(pc.equal(body, "-"), null_str, body), pa.int64()),
        "referer": _scrubbed(
            pc.if_else(pc.equal(referer, "-"), null_str, referer), repetitive=True
        ),
        "user_agent": pc.if_else(pc.equal(ua, "-"), null_str, ua),
        "request_time_s": _seconds(rt),
        "upstream_response_time_s": _seconds(urt),
        "request_id": request_id,
    }
    # an impossible time (31 Feb, hour 25): the SQL path words it
    return _fast_result(table, files, index, fields, keep=time_ok)


def _fast_result(
    table: pa.Table,
    files: list[lines.SourceFile],
    index: np.ndarray,
    fields: dict[str, pa.Array],
    keep: np.ndarray | None = None,
) -> tuple[pa.Table, pa.Array]:
    """(rows, which lines they are) of a fast path: `fields`, the parsed columns of the lines at
    `index`, with the columns every fast row has alike (no unparsed request, one upstream try,
    no extra fields) and where each line came from; only the rows `keep` says, if given."""
    m = len(index)
    null_str = pa.nulls(m, pa.string())
    file_id = table["file_id"].combine_chunks().take(pa.array(index))
    file_index = pc.subtract(file_id, pa.scalar(files[0].file_id, pa.int32()))
    columns = fields | {
        "request": null_str,
        "upstream_attempts": pa.array(np.ones(m, dtype=np.int16)),
        "extra": null_str,
        "host": pa.array([Path(f.relative).parts[-2] for f in files]).take(file_index),
        "file": pa.array([f.relative for f in files]).take(file_index),
        "line_no": table["line_no"].combine_chunks().take(pa.array(index)),
        "_file_id": file_id,
    }
    rows = pa.table(columns).select(_NGINX_WITH_ID.names).cast(_NGINX_WITH_ID)
    if keep is not None and not keep.all():
        rows = rows.filter(pa.array(keep))
        index = index[keep]
    taken = np.zeros(table.num_rows, dtype=bool)
    taken[index] = True
    return rows, pa.array(taken)


_STRINGS = (
    "remote_addr",
    "remote_user",
    "method",
    "path",
    "query",
    "protocol",
    "referer",
    "user_agent",
    "request_id",
)


def _nginx_scanned(table: pa.Table, files: list[lines.SourceFile]) -> tuple[pa.Table, pa.Array]:
    """`_nginx_fast` by the C scanner: it fills numpy buffers with the taken lines' fields
    (remote_addr already cut to its network when it is a bare IPv4 address)."""
    n = table.num_rows
    line = table["line"].combine_chunks()
    utf8_ok = table["utf8_ok"].combine_chunks().to_numpy(zero_copy_only=False).view(np.uint8)
    _validity, offsets, data = line.buffers()
    kinds = [np.int64, np.int64, np.int16, np.int64, np.uint8, np.float64, np.uint8, np.float64]
    fixed = [np.empty(n, kind) for kind in kinds + [np.uint8] * 6]
    size = max(data.size if data is not None else 0, 1)
    strings = [(np.empty(size, np.uint8), np.empty(n + 1, np.int32)) for _ in _STRINGS]
    m = _SCANNER.parse(
        data if data is not None else b"",
        offsets,
        line.offset,
        n,
        np.ascontiguousarray(utf8_ok),
        tuple(fixed) + tuple(buffer for pair in strings for buffer in pair),
    )
    index, micros, status, body, body_ok, rt, rt_ok, urt = (a[:m] for a in fixed[:8])
    urt_ok, has_query, addr_cut, user_ok, referer_ok, ua_ok = (a[:m].view(bool) for a in fixed[8:])
    valid = {"remote_user": user_ok, "referer": referer_ok, "user_agent": ua_ok, "query": has_query}
    text = {
        name: pa.StringArray.from_buffers(
            m,
            pa.py_buffer(offs[: m + 1]),
            pa.py_buffer(chars[: offs[m]] if m else chars[:0]),
            _bitmap(valid[name]) if name in valid else None,
        )
        for name, (chars, offs) in zip(_STRINGS, strings, strict=True)
    }
    del strings
    fields = {  # remote_addr: IPv6 and anything else by the general rules, on those rows only
        "remote_addr": pii.truncate_ips_where(text["remote_addr"], ~addr_cut),
        "remote_user": text["remote_user"],
        "requested_at": pa.array(micros, pa.int64()).cast(pa.timestamp("us")),
        "method": text["method"],
        "path": _scrubbed(text["path"]),
        "query": _scrubbed(text["query"]),
        "protocol": text["protocol"],
        "status": pa.array(status),
        "body_bytes": pa.array(body, mask=~body_ok.view(bool)),
        "referer": _scrubbed(text["referer"], repetitive=True),
        "user_agent": text["user_agent"],
        "request_time_s": pa.array(rt, mask=~rt_ok.view(bool)),
        "upstream_response_time_s": pa.array(urt, mask=~urt_ok),
        "request_id": text["request_id"],
    }
    return _fast_result(table, files, index, fields)


def _bitmap(valid: np.ndarray) -> pa.Buffer:
    """An Arrow validity bitmap of a numpy bool array."""
    return pa.py_buffer(np.packbits(valid, bitorder="little"))


_MONTHS = {
    name: k
    for k, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
    )
}


def _requested_at(stamp: pa.Array, zone: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`[dd/Mon/yyyy:HH:MM:SS` and `+hhmm]` as Asia/Shanghai wall time (numpy, fixed
    positions), and which rows are valid times (others go to the SQL path)."""
    chars, ok = lines.fixed_width(stamp, 21)
    zchars, zok = lines.fixed_width(zone, 6)
    digit = chars - 48
    positions = [1, 2, 8, 9, 10, 11, 13, 14, 16, 17, 19, 20]
    ok &= (digit[:, positions] <= 9).all(axis=1)
    ok &= (chars[:, [0, 3, 7, 12, 15, 18]] == np.frombuffer(b"[//:::", np.uint8)).all(axis=1)
    zdigit = zchars - 48
    ok &= zok & (zdigit[:, 1:5] <= 9).all(axis=1) & (zchars[:, 5] == ord("]"))
    ok &= (zchars[:, 0] == ord("+")) | (zchars[:, 0] == ord("-"))
    key = chars[:, 4].astype(np.int32) << 16 | chars[:, 5].astype(np.int32) << 8 | chars[:, 6]
    month = np.full(len(key), -1)
    for name, k in _MONTHS.items():
        b = name.encode()
        month[key == (b[0] << 16 | b[1] << 8 | b[2])] = k
    ok &= month >= 0
    d = digit.astype(np.int64)
    day = d[:, 1] * 10 + d[:, 2]
    year = d[:, 8] * 1000 + d[:, 9] * 100 + d[:, 10] * 10 + d[:, 11]
    hour, minute, second = (d[:, i] * 10 + d[:, i + 1] for i in (13, 16, 19))
    ok &= (hour < 24) & (minute < 60) & (second < 60) & (day >= 1)
    months = ((year - 1970) * 12 + np.maximum(month, 0)).astype("datetime64[M]")
    days = months.astype("datetime64[D]") + np.maximum(day - 1, 0)
    ok &= days.astype("datetime64[M]") == months  # no 31 Feb
    z = zdigit.astype(np.int64)
    sign = np.where(zchars[:, 0] == ord("-"), -1, 1)
    offset = sign * ((z[:, 1] * 10 + z[:, 2]) * 60 + z[:, 3] * 10 + z[:, 4])
    seconds = (
        days.astype(np.int64) * 86_400 + hour * 3600 + minute * 60 + second + (480 - offset) * 60
    )
    micros = np.where(ok, seconds, 0) * 1_000_000
    return pa.array(micros, pa.int64()).cast(pa.timestamp("us")), ok


def _seconds(tokens: pa.Array) -> pa.Array:
    return pc.cast(
        pc.if_else(pc.equal(tokens, "-"), pa.scalar(None, pa.string()), tokens), pa.float64()
    )


def _scrubbed(
    values: pa.Array | pa.ChunkedArray, leading_address: bool = False, repetitive: bool = False
) -> pa.Array:
    """`pii.scrub` on the values the RE2 prefilter flags (few), the rest unchanged
    (`repetitive`: see matches)."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    prefilter = pii.PREFILTER_LEADING_ADDRESS if leading_address else pii.SQL_PREFILTER
    flagged = pc.fill_null(matches(values, prefilter, repetitive), False)
    if not pc.any(flagged).as_py():
        return values
    fixed = pii.scrub_array(values.filter(flagged), leading_address)
    return pc.replace_with_mask(values, flagged, fixed)


def matches(values: pa.Array, pattern: str, repetitive: bool = False) -> pa.Array:
    """pc.match_substring_regex; `repetitive`: once per distinct value (a user agent column
    repeats a few hundred values: 6x faster; a page column 2x)."""
    if not repetitive:
        return pc.match_substring_regex(values, pattern)
    encoded = pc.dictionary_encode(values)
    return pc.match_substring_regex(encoded.dictionary, pattern).take(encoded.indices)


def _app_chunk(task: tuple[int, list[lines.SourceFile], str]) -> lines.ChunkResult:
    """Join and parse one chunk of application log files (runs in a worker process)."""
    index, files, directory = task
    table = lines.read_chunk(files)
    con = connect()
    con.register("lines", table)
    con.register("app_files", _files_table(files, host_depth=2))
    app_lines = con.execute(APP_ENTRIES_SQL).to_arrow_table()
    con.unregister("lines")
    del table
    con.register("app_lines", app_lines)
    grouped = con.execute(APP_GROUPED_SQL).to_arrow_table()
    con.register("app_grouped", grouped)
    rejects = con.execute(APP_REJECTS_SQL).to_arrow_table()
    rows = con.execute(_app_rows_sql()).to_arrow_table()
    entries = dict(
        con.execute(
            "select file_id, count(*) from app_grouped where h.ts <> '' and utf8_ok group by 1"
        ).fetchall()
    )
    for name in ("app_lines", "app_grouped", "app_files"):
        con.unregister(name)
    result = _finish_chunk(index, files, directory, rows, rejects, APP_SCHEMA, "line_count")
    for fid, n in entries.items():
        result.counts.setdefault(fid, {})["entries"] = n
    return result


def _finish_chunk(
    index,
    files,
    directory,
    rows,
    rejects,
    schema,
    lines_column=None,
    leading_address=False,
    copy=True,
) -> lines.ChunkResult:
    """Write the chunk's part, copy its raw files (unless not `copy`), count per file, scrub
    the rejects (`leading_address`: each raw line starts with a client address, see
    pii.mask_ips)."""
    result = lines.ChunkResult(index, files)
    by_name = {f.relative: f.file_id for f in files}
    if lines_column is None:
        parsed = rows.group_by("file").aggregate([("file", "count")]).to_pylist()
        for row in parsed:
            result.counts.setdefault(by_name[row["file"]], {})["parsed"] = row["file_count"]
    else:
        parsed = rows.group_by("file").aggregate([(lines_column, "sum")]).to_pylist()
        for row in parsed:
            result.counts.setdefault(by_name[row["file"]], {})["parsed"] = int(
                row[f"{lines_column}_sum"]
            )
    result.rejects = _quarantine_table(files, rejects, leading_address)
    for fid in rejects.column("file_id").to_pylist():
        entry = result.counts.setdefault(fid, {})
        entry["quarantined"] = entry.get("quarantined", 0) + 1
    if "_file_id" in rows.column_names:
        rows = rows.drop_columns(["_file_id"])
    result.part = lines.write_part(Path(directory), index, rows, schema)
    result.rows = rows.num_rows
    for f in files if copy else ():
        lines.copy_raw(f, "")
    lines.release_memory()
    return result


def _run(
    stream: tuple[str, str, str],
    files: list[lines.SourceFile],
    function,
    schema: pa.Schema,
    dt: date,
    skipped: list[str] | None = None,
) -> StreamResult:
    """Parse `files` chunk by chunk on every core into the stream's partition and quarantine."""
    source, table, quarantine_stream = stream
    started, clock = lake.now_utc(), time.monotonic()
    pii.salt()  # create this lake's salt (if it must be) before the workers start
    result = StreamResult(source, table)
    counts: dict[int, dict[str, int]] = {}
    by_id = {f.file_id: f for f in files}
    path = lake.partition_path("logs", source, table, dt)
    _warm_up(function)
    with (
        lake.PartitionWriter(path, schema=schema) as writer,
        lake.QuarantineWriter(quarantine_stream, dt) as quarantine,
    ):
        tasks = [
            (i, chunk, str(writer.tmp_dir)) for i, chunk in enumerate(lines.plan_chunks(files))
        ]
        deferred: list[tuple[str, list[int]]] = []
        for chunk in lines.run_chunks(function, tasks):
            absorb_chunk(chunk, by_id, counts, writer, quarantine)
            if chunk.slow is not None:
                deferred.append((chunk.slow, chunk.extended))
        files = [by_id[f.file_id] for f in files]
        rest = _parse_deferred(deferred, files, writer.tmp_dir, len(tasks))
        if rest is not None:
            add_counts(counts, rest.counts)
            rest.counts, rest.files = {}, []
            absorb_chunk(rest, by_id, counts, writer, quarantine)
        result.files = _file_report(files, counts)
        manifest = _manifest(source, table, dt, started, result.files)
        manifest["rejected_count"] = quarantine.count
        if skipped:
            manifest["skipped_files"] = [
                {"name": name, "reason": "no date stamp in the file name"} for name in skipped
            ]
            result.message = (
                f"WARNING: {len(skipped)} file(s) skipped, no date stamp in the name: "
                + ", ".join(skipped[:5])
                + (" ..." if len(skipped) > 5 else "")
            )
            print(f"ingest {source}/{table}: {result.message}", file=sys.stderr)
        quarantine.commit({"source": source, "table": table, "mode": "files"})
        written = writer.commit(manifest)
    _finish(result, written, quarantine, clock)
    lines.prune_raw_files(f"logs/{source}", dt, lambda p: file_day(p.name))
    return result


def _warm_up(function) -> None:
    """Parse a sample in the parent so forked workers start warm (see lines.warm_up)."""
    if function is not _nginx_chunk or lines.workers() <= 1:
        return
    sample = lines.SourceFile(0, Path("sample"), "logs/nginx/sample/access.log")
    text = "\n".join(_SAMPLE_NGINX).encode()
    parse_nginx(lines.split_lines(text, 0), [sample])


_SAMPLE_NGINX = (
    '203.0.113.7 - - [01/Nov/2026:19:00:00 +0800] "GET /a?q=1 HTTP/2.0" 200 2952 "-" "curl/8" '
    "0.004 0.004 fc03098ee46a1da0fc9882585ecddb40",
    '2001:db8::1 - - [01/Nov/2026:19:00:00 +0800] "GET /b HTTP/2.0" 502 0 "-" "x" '
    "0.004 0.004, 0.1 fc03098ee46a1da0fc9882585ecddb40",
)


def absorb_chunk(chunk: lines.ChunkResult, by_id, counts, writer, quarantine) -> None:
    """Take in a worker's result: its files' digests, counts, rejects and part."""
    for f in chunk.files:
        by_id[f.file_id] = f
    for fid, entry in chunk.counts.items():
        counts.setdefault(fid, {}).update(entry)
    if chunk.rejects is not None:
        quarantine.reject_table(chunk.rejects)
    if chunk.part is not None:
        writer.add_part(chunk.part, chunk.rows)


def ingest_nginx(source_dir: Path, dt: date) -> StreamResult:
    """Parse the day's nginx access logs into raw/logs/nginx/access/dt=D."""
    root = source_dir / "logs" / "nginx"
    stream = (NGINX_SOURCE, NGINX_STREAM, NGINX_QUARANTINE)
    files = find_files(root, dt, 1)
    return _run(stream, files, _nginx_chunk, NGINX_SCHEMA, dt, find_undated(root, 1))


def ingest_app(source_dir: Path, dt: date) -> StreamResult:
    """Parse the day's application logs into raw/logs/app/entries/dt=D (one row per entry)."""
    root = source_dir / "logs" / "app"
    stream = (APP_SOURCE, APP_STREAM, APP_QUARANTINE)
    files = find_files(root, dt, 2)
    return _run(stream, files, _app_chunk, APP_SCHEMA, dt, find_undated(root, 2))


def ingest_logs(source_dir: Path, dt: date) -> list[StreamResult]:
    """Both log streams for one business date."""
    return [ingest_nginx(source_dir, dt), ingest_app(source_dir, dt)]


# ---- shared by logs and events ----------------------------------------------------------------


def add_counts(counts: dict[int, dict[str, int]], more: dict[int, dict[str, int]]) -> None:
    """Add per-file counts (file_id: {key: n}) into `counts`."""
    for fid, entry in more.items():
        total = counts.setdefault(fid, {})
        for key, n in entry.items():
            total[key] = total.get(key, 0) + n


def _files_table(group: list[lines.SourceFile], host_depth: int) -> pa.Table:
    parts = [Path(f.relative).parts for f in group]
    return pa.table(
        {
            "file_id": pa.array([f.file_id for f in group], pa.int32()),
            "file": [f.relative for f in group],
            "host": [p[-2] for p in parts],
            "service": [p[-3] if host_depth >= 2 else None for p in parts],
        }
    )


def _quarantine_table(
    files: list[lines.SourceFile],
    rejects: pa.Table,
    leading_address: bool = False,
    scrubbed: bool = False,
) -> pa.Table:
    """Rejected lines (file_id, line_no, reason, message, raw) as quarantine rows, the message
    and raw text scrubbed of PII (IP addresses cut too: pii.scrub, pii.mask_ips) unless they
    are `scrubbed` already (scrub_rejects)."""
    if not scrubbed:
        rejects = scrub_rejects(rejects, leading_address)
    names = {f.file_id: f.relative for f in files}
    return pa.table(
        {
            "file": pa.array(
                [names[i] for i in rejects.column("file_id").to_pylist()], pa.string()
            ),
            "line": rejects.column("line_no").cast(pa.int64()),
            "reason": rejects.column("reason").cast(pa.string()),
            "message": rejects.column("message").cast(pa.string()),
            "raw": rejects.column("raw").cast(pa.string()),
        },
        schema=lake.QUARANTINE_SCHEMA,
    )


def scrub_rejects(rejects: pa.Table, leading_address: bool = False) -> pa.Table:
    """Rejected lines with their message and raw text scrubbed of PII (pii.scrub, on the
    values the prefilter flags)."""
    message = _scrubbed(rejects["message"].cast(pa.string()))
    raw = _scrubbed(rejects["raw"].cast(pa.string()), leading_address)
    rejects = rejects.set_column(rejects.schema.get_field_index("message"), "message", message)
    return rejects.set_column(rejects.schema.get_field_index("raw"), "raw", raw)


def _file_report(files: list[lines.SourceFile], counts) -> list[dict]:
    report = []
    for f in files:
        c = counts.get(f.file_id, {})
        entry = {
            "name": f.relative,
            "bytes": f.bytes,
            "sha256": f.sha256,
            "lines": f.lines,
            "parsed": c.get("parsed", 0),
            "quarantined": c.get("quarantined", 0),
        }
        for key in ("entries", "duplicates"):
            if key in c:
                entry[key] = c[key]
        accounted = entry["parsed"] + entry["quarantined"] + entry.get("duplicates", 0)
        if accounted != f.lines:
            raise RuntimeError(
                f"{f.relative}: {f.lines} lines read but {accounted} accounted for "
                f"({entry}); nothing may be dropped silently"
            )
        report.append(entry)
    return report


def _manifest(source, table, dt, started, files) -> dict:
    return {
        "source": source,
        "table": table,
        "dt": dt.isoformat(),
        "mode": "files",
        "input_files": files,
        "lines_read": sum(f["lines"] for f in files),
        "started_at": started,
        "code_version": lake.code_version(),
    }


def _finish(result: StreamResult, manifest: dict, quarantine, clock: float) -> None:
    result.rows = manifest["row_count"]
    result.bytes = sum(f["bytes"] for f in manifest["files"])
    result.rejected = quarantine.count
    result.lines = manifest["lines_read"]
    result.seconds = time.monotonic() - clock
