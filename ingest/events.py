"""Tracking events into the lake: NDJSON batches checked against the tracking plan.

    <source dir>/events/<collector>/YYYY-MM-DD/HH/*.ndjson[.gz]    (arrival date and hour)
        -> lake/raw/events/tracking/events/dt=D/   valid events that ARRIVED on D
        -> lake/quarantine/tracking_events/dt=D/   malformed, unknown_event, schema_violation,
                                                   bot, too_late (reason, message, raw line)
        -> lake/_state/events/event_ids/dt=D.parquet  the ids accepted on D (for dedupe)
        -> lake/raw-files/events/...               the batches, unchanged

Partitions are by arrival date, so a night's run never rewrites an earlier day; every event
carries its true time: `event_at = client_ts + (server_ts - sent_ts)` (the device's clock skew
cancels out), as Asia/Shanghai wall time, and `event_dt`, its date. A late event (arrived
within 72 hours of its event time) lands in the partition of its arrival with its own
`event_dt`, so the warehouse recomputes that day; a later one goes to quarantine (`too_late`).

Checks, in order: malformed (not UTF-8, not a JSON object), unknown_event (no name, or a name
the plan lacks), schema_violation (the first rule of the event's schema it breaks, see
ingest.tracking_plan), bot (user agent rule), too_late. An event that passes them all and whose
event_id was already accepted (on one of the DEDUPE_DAYS arrival days before, or earlier the
same day: the first received by server_ts, then file, then line wins, whatever the order of the
files) is a duplicate: dropped and counted, per file, in the manifest. For every file: parsed +
quarantined + duplicates = lines read.

How it runs (ingest.lines): chunks of files are checked on every core (check_chunk_lines: a C
scanner, then msgspec, then the SQL for the lines both doubt); each chunk's valid events go to
a spill file (Arrow IPC) and their keys (event_id, server_ts, file, line) to a small Parquet
file; one DuckDB query over all the keys and the dedupe state of earlier days picks the
duplicates (within a memory limit, spilling to disk); then every chunk's spill is written as
its Parquet part without them. Memory stays one chunk per worker. Within a part, the rows
each path took are in file and line order, one path after the other.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import time
from datetime import date, timedelta
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest import extensions, lake, lines, pii, tracking_plan
from ingest.logs import (
    StreamResult,
    _bitmap,
    _file_report,
    _finish,
    _manifest,
    _quarantine_table,
    _scrubbed,
    matches,
    scrub_rejects,
)

SOURCE, STREAM, QUARANTINE = "tracking", "events", "tracking_events"
LATE_WINDOW_MS = 72 * 3_600_000
DEDUPE_DAYS = 8
SHANGHAI_OFFSET_MS = 8 * 3_600_000
# epoch ms beyond year 30000 either way: a schema_violation (no overflow in the event time)
_MAX_TS = 10**15
OPTIMIZE_ABOVE_LINES = 200_000  # the SQL validator's plan is optimised above this (_sql_check)
DEDUPE_MEMORY = "256MB"  # the day's keys are O(events); DuckDB spills beyond this
SPILL = "_spill"  # inside the partition's temporary directory, removed before the commit
# (uncompressed spills were no faster in all: cheaper to read, dearer to write, 3x the disk)
_IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")
# Crawler user agents (the same rule the tracking plan documents for the warehouse).
BOT_UA_PATTERN = (
    r"(?i)(bot|spider|crawl|headlesschrome|python-requests|curl/|go-http-client|scrapy|"
    r"zgrab|nmap)"
)
ENVELOPE = (
    "event_id",
    "event",
    "platform",
    "app_version",
    "device_id",
    "user_id",
    "client_ts",
    "sent_ts",
    "server_ts",
    "page",
    "referrer",
    "ip",
    "ua",
    "props",
)

# The SQL path writes `props` as DuckDB prints the JSON value (minified, escapes decoded,
# numbers in their shortest form: 1.50 -> 1.5, 1e2 -> 100.0, -0 -> 0, 0.0000001 -> 1e-7); the
# fast paths write the line's own text. They agree when the text has none of these (a match
# may also be inside a string: the line then goes to the SQL path, which is only slower).
_LONG_FLOAT = "|".join(f"[0-9]{{{k}}}\\.[0-9]{{{16 - k}}}" for k in range(1, 16))
PROPS_NOT_VERBATIM = (
    r"[ \t\r\n\\]"  # a blank, an escape
    r"|\.[0-9]*[0-9]0[,}\]]"  # a fraction that ends in a 0 (but x.0)
    r"|(?:^|[^0-9])-?0\.0{6}"  # below 1e-6: printed with an exponent
    rf"|{_LONG_FLOAT}|[0-9]{{16}}\."  # over 15 digits: rounded
    r"|[0-9][eE][-+0-9]|-0[,}\]]"  # an exponent, -0
)

# Columns with few distinct values: dictionary-encoded in the Parquet parts (the ids, times
# and props are mostly distinct: encoding them only to fall back costs ~20 % of the write).
DICTIONARY_COLUMNS = [
    "event",
    "event_dt",
    "platform",
    "app_version",
    "user_id",
    "page",
    "referrer",
    "ip",
    "ua",
    "collector",
    "file",
]
SCHEMA = pa.schema(
    [
        ("event_id", pa.string()),
        ("event", pa.string()),
        ("event_at", pa.timestamp("ms")),
        ("event_dt", pa.date32()),
        ("received_at", pa.timestamp("ms")),
        ("platform", pa.string()),
        ("app_version", pa.string()),
        ("device_id", pa.string()),
        ("user_id", pa.string()),
        ("client_ts", pa.int64()),
        ("sent_ts", pa.int64()),
        ("server_ts", pa.int64()),
        ("clock_skew_ms", pa.int64()),
        ("page", pa.string()),
        ("referrer", pa.string()),
        ("ip", pa.string()),
        ("ua", pa.string()),
        ("props", pa.string()),  # JSON text, personal data protected (ingest.pii)
        ("collector", pa.string()),
        ("file", pa.string()),
        ("line_no", pa.int64()),
    ]
)


def _sql(plan: tracking_plan.CompiledPlan, violation: str) -> tuple[str, str]:
    """(create table ev_checked, the accepted rows) for the compiled plan."""
    col = {name: plan.column(f"$.{name}") for name in ENVELOPE}

    def s(name):
        return f"s_{col[name]}"

    def t(name):
        return f"t_{col[name]}"

    known = ", ".join(f"'{e}'" for e in plan.events)
    # a time given that the event time's arithmetic cannot take: not an int64, or beyond
    # +-10^15 ms (the fast paths leave such lines to this)
    times = ("client_ts", "sent_ts", "server_ts")
    out_of_range = " or ".join(
        f"({s(k)} is not null and ({k} is null or abs({k}) > {_MAX_TS}))" for k in times
    )
    shown = " || ', ' || ".join(f"'{k} ' || coalesce({s(k)}, 'null')" for k in times)
    bot = BOT_UA_PATTERN.replace("'", "''")
    checked = f"""
with parsed as (
    select
        file_id,
        line_no,
        line,
        utf8_ok and json_valid(line) and starts_with(ltrim(line), '{{') as well_formed
    from lines
),
extracted as (
    select
        file_id,
        line_no,
        line,
        well_formed,
        case when well_formed then json_extract(line, {plan.extract_list()}) end as v
    from parsed
),
raw as (
    select file_id, line_no, line, well_formed,
    {plan.raw_columns()}
    from extracted
),
valued as (
    select file_id, line_no, line, well_formed,
    {plan.value_columns()}
    from raw
),
named as (
    select *, if({t("event")} = 'VARCHAR', {s("event")}, null) as event from valued
),
judged as (
    select
        *,
        case when event in ({known}) then {violation} end as violation,
        try_cast({s("client_ts")} as bigint) as client_ts,
        try_cast({s("sent_ts")} as bigint) as sent_ts,
        try_cast({s("server_ts")} as bigint) as server_ts
    from named
)
select * exclude (line), if(reason is null, null, line) as raw from (
select
    file_id,
    line_no,
    line,
    case
        when not well_formed then 'malformed'
        when event is null or event not in ({known}) then 'unknown_event'
        when violation is not null or {out_of_range} then 'schema_violation'
        when regexp_matches({s("ua")}, '{bot}') then 'bot'
        when sent_ts - client_ts > {LATE_WINDOW_MS} then 'too_late'
    end as reason,
    case
        when not well_formed then 'not a JSON object'
        when event is null then 'no event name'
        when event not in ({known}) then 'event ' || event || ' is not in the tracking plan'
        when violation is not null then violation
        when {out_of_range} then 'not a time within 10^15 ms of 1970: ' || {shown}
        when regexp_matches({s("ua")}, '{bot}') then 'crawler user agent: ' || {s("ua")}
        when sent_ts - client_ts > {LATE_WINDOW_MS} then 'arrived '
            || ((sent_ts - client_ts) // 3600000) || ' h after the event (limit 72 h)'
    end as message,
    {s("event_id")} as event_id,
    event,
    {s("platform")} as platform,
    {s("app_version")} as app_version,
    {s("device_id")} as device_id,
    {s("user_id")} as user_id,
    client_ts,
    sent_ts,
    server_ts,
    {s("page")} as page,
    {s("referrer")} as referrer,
    {s("ip")} as ip,
    {s("ua")} as ua,
    {s("props")} as props
from judged
)
"""
    rows = f"""
select
    event_id,
    event,
    make_timestamp((client_ts + server_ts - sent_ts + {SHANGHAI_OFFSET_MS}) * 1000)::timestamp_ms
        as event_at,
    cast(make_timestamp((client_ts + server_ts - sent_ts + {SHANGHAI_OFFSET_MS}) * 1000) as date)
        as event_dt,
    make_timestamp((server_ts + {SHANGHAI_OFFSET_MS}) * 1000)::timestamp_ms as received_at,
    platform,
    app_version,
    device_id,
    user_id,
    client_ts,
    sent_ts,
    server_ts,
    sent_ts - server_ts as clock_skew_ms,
    {pii.sql_scrubbed("page")} as page,
    {pii.sql_scrubbed("referrer")} as referrer,
    ip,
    ua,
    {pii.sql_scrubbed("props")} as props,
    $collectors[file_id - $base + 1] as collector,
    $files[file_id - $base + 1] as file,
    line_no,
    file_id as _file_id
from ev_checked
where reason is null
order by file_id, line_no
"""
    return checked, rows


DEDUPE_SQL = """
create temp table ranked as
select
    file_id,
    line_no,
    event_id,
    row_number() over (partition by event_id order by server_ts, file_id, line_no) > 1
        or cast(event_id as uuid) in (select event_id from seen) as dropped
from read_parquet($keys)
"""


def find_files(source_dir: Path, dt: date) -> list[lines.SourceFile]:
    """Batches that arrived on `dt`: events/<collector>/<dt>/<HH>/*, in arrival-hour order."""
    root = source_dir / "events"
    found = (
        [
            p
            for p in root.glob(f"*/{dt.isoformat()}/*/*")
            if p.is_file() and not p.name.startswith(".")
        ]
        if root.is_dir()
        else []
    )
    # hour, then collector, then name: a duplicate in a later group arrived later
    found.sort(key=lambda p: (p.parent.name, p.parent.parent.parent.name, p.name))
    return [
        lines.SourceFile(i, p, p.relative_to(source_dir).as_posix()) for i, p in enumerate(found)
    ]


def state_dir() -> Path:
    return lake.lake_dir() / "_state" / "events" / "event_ids"


def seen_files(dt: date) -> list[str]:
    """The accepted-id files of the DEDUPE_DAYS arrival days before `dt` (never dt itself,
    so a rerun of dt sees exactly what the first run saw)."""
    days = [dt - timedelta(days=k) for k in range(1, DEDUPE_DAYS + 1)]
    paths = [state_dir() / f"dt={d.isoformat()}.parquet" for d in days]
    return [str(p) for p in paths if p.exists()]


_COMPILED: dict[str, tuple[str, str]] = {}
_CONNECTION: list = []  # this process's DuckDB connection for checking (at most one)


def _compiled(schema_dir: Path | None) -> tuple[str, str]:
    """(checked SQL, rows SQL) of the tracking plan in `schema_dir`, compiled once."""
    key = str(schema_dir or tracking_plan.SCHEMA_DIR)
    if key not in _COMPILED:
        plan, violation = tracking_plan.compile_plan(tracking_plan.load(Path(key)))
        _COMPILED[key] = _sql(plan, violation)
    return _COMPILED[key]


def _checker(schema_dir: Path | None):
    """This process's (connection, checked SQL, rows SQL) for the tracking plan."""
    if not _CONNECTION:
        con = extensions.connect()
        con.execute("set enable_progress_bar = false")
        con.execute("set threads = 1")
        pii.register(con)
        _CONNECTION.append(con)
    return (_CONNECTION[0], *_compiled(schema_dir))


def _forget_connection() -> None:
    # A forked worker opens its own connection; the parent's copy is left alone (not closed).
    if _CONNECTION:
        _ORPHANS.append(_CONNECTION.pop())


_ORPHANS: list = []
os.register_at_fork(after_in_child=_forget_connection)


_FAST: dict[str, tracking_plan.FastPlan | None] = {}
_ROWS_SCHEMA = pa.schema([*SCHEMA, pa.field("_file_id", pa.int32())])
_SPILL_SCHEMA = pa.schema([*_ROWS_SCHEMA, pa.field("_keep", pa.bool_())])
REJECTS_SCHEMA = pa.schema(
    [
        ("file_id", pa.int32()),
        ("line_no", pa.int64()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("raw", pa.string()),
    ]
)


def _fast_plan(schema_dir: Path | None) -> tracking_plan.FastPlan | None:
    key = str(schema_dir or tracking_plan.SCHEMA_DIR)
    if key not in _FAST:
        _FAST[key] = tracking_plan.compile_fast(tracking_plan.load(Path(key)))
    return _FAST[key]


try:  # built by `make setup` (ingest/_events.c); without a C compiler, msgspec alone
    from ingest import _events as _EVENTS_SCANNER
except ImportError:  # pragma: no cover - depends on the build
    _EVENTS_SCANNER = None
_COLUMNS: dict[str, tracking_plan.ColumnPlan | None] = {}


def _column_plan(schema_dir: Path | None) -> tracking_plan.ColumnPlan | None:
    key = str(schema_dir or tracking_plan.SCHEMA_DIR)
    if key not in _COLUMNS:
        _COLUMNS[key] = tracking_plan.compile_columns(tracking_plan.load(Path(key)))
    return _COLUMNS[key]


def _fast_paths(
    table: pa.Table, files: list[lines.SourceFile], schema_dir: Path | None
) -> tuple[pa.Table, pa.Array, pa.Table] | None:
    """(events with `_keep`, which lines were decided, rejects: bots, too late) by the fast
    paths (see _judged): the C scanner where it is built, then msgspec on the lines it left;
    None when the plan maps to neither. The lines left after both are the SQL validator's."""
    columns = _column_plan(schema_dir) if _EVENTS_SCANNER is not None else None
    plan = _fast_plan(schema_dir)
    if columns is None:
        return None if plan is None else _fast_events(table, files, plan)
    rows, taken, rejects = _scanned_events(table, files, columns)
    taken = taken.to_numpy(zero_copy_only=False)
    if plan is None or taken.all():
        return rows, pa.array(taken), rejects
    left = np.flatnonzero(~taken)
    more_rows, more_taken, more_rejects = _fast_events(table.take(pa.array(left)), files, plan)
    taken[left[more_taken.to_numpy(zero_copy_only=False)]] = True
    rejects = _sorted_rejects([rejects, more_rejects]) if more_rejects.num_rows else rejects
    # not sorted: the C scanner's rows, then msgspec's (see _write_chunk)
    return pa.concat_tables([rows, more_rows]), pa.array(taken), rejects


def check_chunk_lines(
    table: pa.Table, files: list[lines.SourceFile], schema_dir: Path | None, fast: bool = True
) -> tuple[pa.Table, pa.Table]:
    """(valid events with `_file_id`, in file and line order; rejects) of some lines.

    Three paths, each taking only the lines it is sure of (_fast_paths):
    - the C scanner (ingest/_events.c, when built) reads every line's values into columns,
      and the plan's rules are checked on them (tracking_plan.ColumnPlan);
    - msgspec's decoders of the plan (tracking_plan.FastPlan) read the lines it doubted;
    - the SQL validator decides every line left, and alone words the verdicts of lines that
      break their schema. (An ingest run sends the day's SQL lines through it after every
      chunk is read, split between the workers: the query costs ~0.1 s whatever its input.)
    The fast paths judge the lines that meet their schema (bot, then too late, worded as the
    SQL words them). tests/ingest/test_events.py checks that the paths agree, on real and on
    randomly damaged lines."""
    decided = _fast_paths(table, files, schema_dir) if fast else None
    fast_rows = None
    slow = table
    if decided is not None:
        fast_rows, taken, fast_rejects = decided
        slow = table.filter(pc.invert(taken))
    rows, rejects = _sql_check(slow, files, schema_dir)
    if fast_rows is not None:
        rows = _merge(_kept(fast_rows), rows)
        rejects = _sorted_rejects([fast_rejects, rejects])
    return rows, rejects


def _sorted_rejects(tables: list[pa.Table]) -> pa.Table:
    """Rejects of both paths as one table, in file and line order."""
    rejects = pa.concat_tables([t.cast(REJECTS_SCHEMA) for t in tables if t is not None])
    return rejects.take(
        pc.sort_indices(rejects, [("file_id", "ascending"), ("line_no", "ascending")])
    )


def _sql_check(
    table: pa.Table, files: list[lines.SourceFile], schema_dir: Path | None
) -> tuple[pa.Table, pa.Table]:
    """(valid events with `_file_id`, rejects) of `table`'s lines by the SQL validator;
    `files` are the files whose ids the lines carry (ids from files[0].file_id on)."""
    if not table.num_rows:  # (the query costs ~0.1 s, whatever its input)
        return pa.Table.from_batches([], _ROWS_SCHEMA), pa.Table.from_batches([], REJECTS_SCHEMA)
    con, checked_sql, rows_sql = _checker(schema_dir)
    # DuckDB's optimizer spends ~0.5 s on the plan's long CASE whatever the input, and saves
    # less than that on the ~1 % of lines the fast path leaves (5,950 lines: 1.1 s with it,
    # 0.31 s without; a whole chunk of 53k lines: 1.54 s with, 1.70 s without; same results)
    optimize = table.num_rows > OPTIMIZE_ABOVE_LINES
    con.execute("pragma enable_optimizer" if optimize else "pragma disable_optimizer")
    con.register("lines", table)
    checked = con.execute(checked_sql).to_arrow_table()
    con.unregister("lines")
    failed = pc.is_valid(checked["reason"])
    rejects = checked.filter(failed).select(["file_id", "line_no", "reason", "message", "raw"])
    rejects = _sorted_rejects([rejects])
    con.register("ev_checked", checked.drop_columns(["raw"]))
    params = {
        "base": files[0].file_id,
        "collectors": [Path(f.relative).parts[1] for f in files],
        "files": [f.relative for f in files],
    }
    rows = con.execute(rows_sql, params).to_arrow_table()
    con.unregister("ev_checked")
    rows = rows.rename_columns([*SCHEMA.names, "_file_id"]).cast(_ROWS_SCHEMA)
    ip = rows.schema.get_field_index("ip")
    return rows.set_column(ip, "ip", pii.truncate_ips(rows["ip"])), rejects


def _merge(first: pa.Table, second: pa.Table) -> pa.Table:
    """Two sets of rows as one, in file and line order."""
    rows = pa.concat_tables([first, second.cast(first.schema)])
    return rows.take(pc.sort_indices(rows, [("_file_id", "ascending"), ("line_no", "ascending")]))


def _fast_events(
    table: pa.Table, files: list[lines.SourceFile], plan: tracking_plan.FastPlan
) -> tuple[pa.Table, pa.Array, pa.Table]:
    """(events with `_keep`, which lines the fast path decided, its rejects: bots, too late),
    by msgspec's decoders of the plan (see _judged)."""
    # bytes, not str: msgspec reads them as they are; a line that is not UTF-8 is b"" (refused)
    texts = table["line"].cast(pa.large_binary()).to_pylist()
    for k in np.flatnonzero(~table["utf8_ok"].to_numpy()):
        texts[k] = b""
    decode = plan.envelope.decode
    props = {cls: (name, plan.props[name].decode) for cls, name in plan.tags.items()}
    astuple = msgspec.structs.astuple
    failure = (msgspec.ValidationError, msgspec.DecodeError)
    picked, names, values = [], [], []
    pick, name_of, value_of = picked.append, names.append, values.append
    keys = plan.keys
    for i, text in enumerate(texts):
        try:
            event = decode(text)
            name, check = props[type(event)]
            check(event.props)
        except failure:
            continue
        if _twice(text, keys) or text.lstrip(b" ")[:1] != b"{":  # the SQL's test: ltrim
            continue
        pick(i)
        name_of(name)
        value_of(astuple(event))
    del texts
    if values:
        columns = dict(zip(tracking_plan.ENVELOPE_ORDER, zip(*values, strict=True), strict=True))
    else:
        columns = {key: () for key in tracking_plan.ENVELOPE_ORDER}
    del values
    index = np.array(picked, dtype=np.int64)
    event = pa.array(names, pa.string())
    strings = {key: pa.array(columns[key], pa.string()) for key in _STRING_FIELDS}
    client, sent, server = (
        np.array(columns[key], dtype=np.int64) if len(index) else np.zeros(0, np.int64)
        for key in ("client_ts", "sent_ts", "server_ts")
    )
    props_text = _joined_text(columns["props"])
    decided = _in_range(client) & _in_range(sent) & _in_range(server)
    decided &= _verbatim(props_text)
    rules: dict[tuple[str, str], list[str]] = {}
    for name, key, pattern in plan.patterns:
        rules.setdefault((key, pattern), []).append(name)
    for (key, pattern), with_rule in rules.items():
        broken = pc.and_(
            pc.is_in(event, value_set=pa.array(with_rule, pa.string())),
            pc.invert(pc.match_substring_regex(strings[key], pattern)),
        )
        decided &= ~pc.fill_null(broken, False).to_numpy(zero_copy_only=False)
    return _judged(table, files, index, decided, event, strings, (client, sent, server), props_text)


def _twice(text: bytes, keys: tuple[bytes, ...]) -> bool:
    """Whether a line msgspec read may hold one of `keys` twice (msgspec keeps the last, the
    SQL the first). Without a backslash, a key is written as it is named; with one, it may be
    written with escapes, and json reads the line to make sure."""
    if b"\\" not in text:
        return any(text.count(key) > 1 for key in keys)
    try:
        json.loads(text, object_pairs_hook=_no_key_twice)
    except (ValueError, RecursionError):
        return True
    return False


def _no_key_twice(pairs: list[tuple[str, object]]) -> dict:
    keys = [key for key, _value in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a key twice")
    return dict(pairs)


_STRING_FIELDS = tuple(
    key
    for key in tracking_plan.ENVELOPE_ORDER
    if key not in ("client_ts", "sent_ts", "server_ts", "props")
)


def _judged(table, files, index, decided, event, strings, times, props_text, ip_cut=None):
    """(events, which lines were decided, rejects: bots, too late) of the lines at `index`
    that meet their schema where `decided` (the others are left to the SQL path). The events
    are one row per line at `index`, `_keep` saying which are valid: the rows are filtered
    once, with the duplicates, when they are written (_write_chunk), not here as well. The
    valid events' IP addresses are cut to their network (but those `ip_cut` says are)."""
    client, sent, server = times
    # The schema is met: what is left to decide is bot, then too late (the SQL's order).
    bot = pc.fill_null(matches(strings["ua"], BOT_UA_PATTERN, repetitive=True), False)
    bot = decided & bot.to_numpy(zero_copy_only=False)
    late = decided & ~bot & (sent - client > LATE_WINDOW_MS)
    good = decided & ~bot & ~late
    rejects = _fast_rejects(table, index, bot, late, strings["ua"], sent - client)
    taken = np.zeros(table.num_rows, dtype=bool)
    taken[index[decided]] = True
    where = pa.array(index)
    file_id = table["file_id"].combine_chunks().take(where)
    file_index = pc.subtract(file_id, pa.scalar(files[0].file_id, pa.int32()))
    client, sent, server = (np.where(good, t, 0) for t in (client, sent, server))
    event_ms = client + server - sent + SHANGHAI_OFFSET_MS
    rows = {
        "event_id": strings["event_id"],
        "event": event,
        "event_at": pa.array(event_ms, pa.int64()).cast(pa.timestamp("ms")),
        "event_dt": pa.array(np.floor_divide(event_ms, 86_400_000).astype(np.int32), pa.date32()),
        "received_at": pa.array(server + SHANGHAI_OFFSET_MS, pa.int64()).cast(pa.timestamp("ms")),
        "platform": strings["platform"],
        "app_version": strings["app_version"],
        "device_id": strings["device_id"],
        "user_id": strings["user_id"],
        "client_ts": pa.array(client),
        "sent_ts": pa.array(sent),
        "server_ts": pa.array(server),
        "clock_skew_ms": pa.array(sent - server),
        "page": _scrubbed(strings["page"], repetitive=True),
        "referrer": _scrubbed(strings["referrer"], repetitive=True),
        "ip": pii.truncate_ips_where(strings["ip"], good if ip_cut is None else good & ~ip_cut),
        "ua": strings["ua"],
        "props": _scrubbed(props_text),
        "collector": pa.array([Path(f.relative).parts[1] for f in files]).take(file_index),
        "file": pa.array([f.relative for f in files]).take(file_index),
        "line_no": table["line_no"].combine_chunks().take(where),
        "_file_id": file_id,
        "_keep": pa.array(good),
    }
    return pa.table(rows).cast(_SPILL_SCHEMA), pa.array(taken), rejects


def _kept(rows: pa.Table) -> pa.Table:
    """The valid events among a fast path's rows (see _judged)."""
    return rows.filter(rows["_keep"]).drop_columns(["_keep"])


def _scanned_events(
    table: pa.Table, files: list[lines.SourceFile], plan: tracking_plan.ColumnPlan
) -> tuple[pa.Table, pa.Array, pa.Table]:
    """`_fast_events` by the C scanner (ingest/_events.c): it writes every line's envelope and
    props values as slot columns, and the plan's rules are checked on those columns."""
    n = table.num_rows
    utf8_ok = table["utf8_ok"].combine_chunks().to_numpy(zero_copy_only=False).view(np.uint8)
    chunks = []  # each file's lines as they are (combine_chunks would copy them all)
    for chunk in table["line"].cast(pa.large_string()).chunks:
        _validity, offsets, data = chunk.buffers()
        chunks.append((data if data is not None else b"", offsets, chunk.offset, len(chunk)))
    ok, kinds, texts, cut = _EVENTS_SCANNER.scan(
        chunks,
        np.ascontiguousarray(utf8_ok),
        tuple(key.encode() for key in plan.envelope),
        tuple(key.encode() for key in plan.nested),
        plan.slot(tracking_plan.NESTED),
        plan.slot("ip"),  # a bare IPv4 address comes back cut to its /24
    )
    slots = len(plan.envelope) + len(plan.nested)
    kinds = np.frombuffer(kinds, np.uint8).reshape(slots, n)
    text = [
        pa.StringArray.from_buffers(n, pa.py_buffer(ends), pa.py_buffer(chars))
        for chars, ends in texts
    ]
    event_slot = plan.slot("event")
    code = pc.index_in(text[event_slot], value_set=pa.array(plan.events, pa.string()))
    code = pc.fill_null(code, -1).to_numpy(zero_copy_only=False)
    decided = np.frombuffer(ok, np.bool_) & (kinds[event_slot] == tracking_plan.KIND_STRING)
    decided &= code >= 0
    of_events: dict[tuple[str, ...], np.ndarray] = {}  # the lines of a set of events
    numbers: dict[int, np.ndarray] = {}  # a slot's numbers as doubles (the rules' cache)
    for rule in plan.rules:
        if rule.events not in of_events:
            of_events[rule.events] = _lookup(rule.events, plan.events)[code + 1]
        applies = decided & of_events[rule.events]
        if applies.any():
            decided &= ~_breaks(rule, applies, kinds[rule.slot], text[rule.slot], numbers)
    times = []
    for key in ("client_ts", "sent_ts", "server_ts"):  # ints the numpy arithmetic can take
        at = plan.slot(key)
        whole = kinds[at] == tracking_plan.KIND_INT  # up to 18 digits: an int64
        value = pc.fill_null(pc.cast(_valid_where(text[at], whole), pa.int64()), 0).to_numpy()
        decided &= whole & _in_range(value)
        times.append(value)
    plain = _lookup(
        (tracking_plan.KIND_ABSENT, tracking_plan.KIND_NULL, tracking_plan.KIND_STRING), range(9)
    )
    for key in _STRING_FIELDS:  # a number's or an object's text is the SQL's to write
        decided &= plain[kinds[plan.slot(key)] + 1]
    # (the scanner doubts a props text DuckDB would print otherwise: PROPS_NOT_VERBATIM in C)
    decided &= kinds[plan.slot(tracking_plan.NESTED)] == tracking_plan.KIND_OBJECT

    def strings(key: str) -> pa.Array:  # the whole column: a string, else null
        at = plan.slot(key)
        return _valid_where(text[at], kinds[at] == tracking_plan.KIND_STRING)

    # every line is passed on; `decided` says which are taken (one copy of each column, when
    # _judged keeps the good ones)
    return _judged(
        table,
        files,
        np.arange(n),
        decided,
        text[event_slot],
        {key: strings(key) for key in _STRING_FIELDS},
        tuple(times),
        text[plan.slot(tracking_plan.NESTED)],
        np.frombuffer(cut, np.bool_),
    )


def _in_range(times: np.ndarray) -> np.ndarray:
    """Which epoch-ms times the fast paths take (the SQL path rejects the others)."""
    return (times >= -_MAX_TS) & (times <= _MAX_TS)


def _verbatim(props: pa.Array) -> np.ndarray:
    """Which props texts the SQL path would write as they are (see PROPS_NOT_VERBATIM)."""
    found = pc.match_substring_regex(props, PROPS_NOT_VERBATIM)
    return ~pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _valid_where(text: pa.StringArray, valid: np.ndarray) -> pa.StringArray:
    """`text` (no nulls), null where not `valid` (no copy)."""
    _none, ends, chars = text.buffers()
    return pa.StringArray.from_buffers(len(text), ends, chars, _bitmap(valid), offset=text.offset)


def _lookup(members, universe) -> np.ndarray:
    """A boolean table of which of `universe` are `members`, indexed by position + 1 (so that
    -1, "none", is False)."""
    table = np.zeros(len(universe) + 1, dtype=bool)
    for k, item in enumerate(universe):
        table[k + 1] = item in members
    return table


def _breaks(rule: tracking_plan.ColumnRule, applies, kinds, text, numbers) -> np.ndarray:
    """Which lines (among `applies`) break `rule` (see tracking_plan.ColumnRule); `numbers`
    caches each slot's numbers as doubles (NaN: not a number) for the next rule."""
    if rule.test == "required":
        return applies & (kinds == tracking_plan.KIND_ABSENT)
    if rule.test == "kinds":
        allowed = _lookup((tracking_plan.KIND_ABSENT, *rule.arg), range(9))
        return applies & ~allowed[kinds + 1]
    if rule.test in ("minimum", "maximum"):
        number = (kinds == tracking_plan.KIND_INT) | (kinds == tracking_plan.KIND_FLOAT)
        if rule.slot not in numbers:
            value = np.full(len(kinds), np.nan)
            if number.any():  # the number's text as a double, as the SQL compares it
                value[number] = pc.cast(text.filter(pa.array(number)), pa.float64()).to_numpy()
            numbers[rule.slot] = value
        value = numbers[rule.slot]
        beyond = value < rule.arg if rule.test == "minimum" else value > rule.arg
        return applies & number & beyond
    if rule.test == "enum":
        where = applies & (kinds != tracking_plan.KIND_ABSENT)
        strings = _valid_where(text, where & (kinds == tracking_plan.KIND_STRING))
        listed = pc.is_in(strings, value_set=pa.array(rule.arg), skip_nulls=True)
        return where & ~pc.fill_null(listed, False).to_numpy(zero_copy_only=False)
    where = applies & (kinds == tracking_plan.KIND_STRING)
    if not where.any():
        return where
    # most rows: the others made null (no copy); few: those rows only
    most = where.mean() > 0.5
    values = _valid_where(text, where) if most else text.filter(pa.array(where))
    if rule.test == "pattern":
        fine = pc.match_substring_regex(values, rule.arg)
    else:
        length = pc.utf8_length(values)
        fine = (pc.greater_equal if rule.test == "min_length" else pc.less_equal)(length, rule.arg)
    fine = pc.fill_null(fine, True).to_numpy(zero_copy_only=False)
    if most:
        return where & ~fine
    broken = np.zeros(len(where), dtype=bool)
    broken[where] = ~fine
    return broken


def _joined_text(raws) -> pa.Array:
    """msgspec.Raw values (slices of lines that are valid UTF-8) as a string column, without a
    Python string per value: their bytes joined, their lengths as offsets."""
    sizes = np.fromiter(map(len, raws), dtype=np.int64, count=len(raws))
    offsets = np.zeros(len(raws) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    text = pa.LargeStringArray.from_buffers(
        len(raws), pa.py_buffer(offsets), pa.py_buffer(b"".join(raws))
    )
    text.validate(full=True)  # UTF-8, as each line was
    return text.cast(pa.string())


def _fast_rejects(table, index, bot, late, ua, lateness) -> pa.Table:
    """The bot and too-late lines among the decoded ones, worded as the SQL words them."""
    rejected = bot | late
    lines_ = np.zeros(table.num_rows, dtype=bool)  # (`index` ascends: a filter, not a take)
    lines_[index[rejected]] = True
    picked = table.filter(pa.array(lines_))
    hours = np.floor_divide(lateness[rejected & ~bot], 3_600_000)
    late_text = np.full(int(rejected.sum()), None, dtype=object)
    late_text[~bot[rejected]] = [f"arrived {h} h after the event (limit 72 h)" for h in hours]
    is_bot = pa.array(bot[rejected])
    return pa.table(
        {
            "file_id": picked["file_id"],
            "line_no": picked["line_no"],
            "reason": pc.if_else(is_bot, "bot", "too_late"),
            "message": pc.if_else(
                is_bot,
                pc.binary_join_element_wise(
                    "crawler user agent: ", ua.filter(pa.array(rejected)), ""
                ),
                pa.array(late_text, pa.string()),
            ),
            "raw": picked["line"],
        }
    ).cast(REJECTS_SCHEMA)


def _check_chunk(task) -> lines.ChunkResult:
    """Phase 1 (a worker): read a chunk, build the events the fast path accepts, spill them
    and their keys; spill the other lines for the parent's SQL check."""
    index, files, spill, schema_dir = task
    spill = Path(spill)
    table = lines.read_chunk(files)
    decided = _fast_paths(table, files, schema_dir)
    rejects = None
    if decided is not None:
        rows, taken, rejects = decided
        slow = table.filter(pc.invert(taken))
    else:
        rows, slow = pa.Table.from_batches([], _SPILL_SCHEMA), table
    del table
    pq.write_table(slow, spill / f"slow-{index:05d}.parquet", compression="lz4")
    # the fast path's rejects (bots, too late: most of them) are scrubbed here, in parallel
    result = lines.ChunkResult(
        index, files, rejects=None if rejects is None else scrub_rejects(rejects)
    )
    keep = rows["_keep"].to_numpy(zero_copy_only=False)
    ids = rows["_file_id"].to_numpy()[keep]
    for fid, n in zip(*np.unique(ids, return_counts=True), strict=True):
        result.counts.setdefault(int(fid), {})["candidates"] = int(n)
    result.keys = _spill_rows(spill, f"{index:05d}", rows)
    result.rows = int(keep.sum())
    for f in files:
        lines.copy_raw(f, "")
    del rows
    lines.release_memory()
    return result


def _spill_rows(spill: Path, name: str, rows: pa.Table) -> str:
    """Rows to rows-<name>.arrow and the dedupe keys of those to keep (all of them without a
    `_keep` column) to keys-<name>.parquet (its path)."""
    keys = str(spill / f"keys-{name}.parquet")
    kept = rows.select(["event_id", "server_ts", "_file_id", "line_no"])
    if "_keep" in rows.column_names:
        kept = kept.filter(rows["_keep"])
    pq.write_table(
        kept.rename_columns(["event_id", "server_ts", "file_id", "line_no"]),
        keys,
        # read once, by the dedupe query: plain (lz4 + dictionaries + statistics: 3x the time)
        compression="none",
        use_dictionary=False,
        write_statistics=False,
    )
    with pa.ipc.new_file(spill / f"rows-{name}.arrow", rows.schema, options=_IPC_OPTIONS) as out:
        out.write_table(rows)
    return keys


def _check_slow_lines(spill: Path, files, schema_dir, quarantine, counts, fast_rejects) -> list:
    """The lines the fast paths left, all chunks at once, through the SQL validator (split
    between the workers: the query's cost is mostly per line): rejects (with the fast paths',
    in file and line order) to quarantine, valid events spilled as rows-slow-<k>.arrow
    (returns their keys files)."""
    paths = sorted(str(p) for p in spill.glob("slow-*.parquet"))
    parts = max(1, min(lines.workers(), len(paths)))
    groups = [[str(p) for p in group] for group in np.array_split(paths, parts)]
    tasks = [(k, group, files, str(spill), schema_dir) for k, group in enumerate(groups)]
    keys, sql_rejects = [], []
    for rejects, keys_path, candidates in lines.run_chunks(_check_slow_part, tasks):
        sql_rejects.append(rejects)
        keys.append(keys_path)
        for fid, n in candidates.items():
            entry = counts.setdefault(fid, {})
            entry["candidates"] = entry.get("candidates", 0) + n
    rejects = _sorted_rejects([*fast_rejects, *sql_rejects])
    quarantine.reject_table(_quarantine_table(files, rejects, scrubbed=True))
    ids = rejects["file_id"].to_numpy()
    for fid, n in zip(*np.unique(ids, return_counts=True), strict=True):
        entry = counts.setdefault(int(fid), {})
        entry["quarantined"] = entry.get("quarantined", 0) + int(n)
    return keys


def _check_slow_part(task) -> tuple[pa.Table, str, dict[int, int]]:
    """A worker: some chunks' slow lines through the SQL validator: (their rejects, scrubbed;
    the keys file of their valid events, spilled as rows-slow-<k>.arrow; events per file)."""
    k, paths, files, spill, schema_dir = task
    slow = pa.concat_tables(
        [pq.read_table(p) for p in paths] or [pa.Table.from_batches([], lines.LINES_SCHEMA)]
    )
    for path in paths:
        Path(path).unlink()
    rows, rejects = _sql_check(slow.cast(lines.LINES_SCHEMA), files, schema_dir)
    del slow
    ids = rows["_file_id"].to_numpy()
    candidates = {int(f): int(n) for f, n in zip(*np.unique(ids, return_counts=True), strict=True)}
    keys = _spill_rows(Path(spill), f"slow-{k}", rows)
    rejects = scrub_rejects(rejects)
    lines.release_memory()
    return rejects, keys, candidates


def _write_chunk(task) -> tuple[int, str | None, int]:
    """Phase 2 (a worker): a chunk's events (fast and SQL-checked) minus its duplicates, as
    its Parquet part."""
    index, spill, first_id, last_id, duplicates, directory = task
    path = Path(spill) / f"rows-{index:05d}.arrow"
    with pa.memory_map(str(path)) as source:
        rows = pa.ipc.open_file(source).read_all()
    slow = []
    for part in sorted(Path(spill).glob("rows-slow-*.arrow")):
        with pa.memory_map(str(part)) as source:
            slow.append(pa.ipc.open_file(source).read_all())
    slow = pa.concat_tables(slow) if slow else pa.Table.from_batches([], _ROWS_SCHEMA)
    ids = slow["_file_id"]
    mine = slow.filter(pc.and_(pc.greater_equal(ids, first_id), pc.less_equal(ids, last_id)))
    mine = mine.append_column("_keep", pa.array(np.ones(mine.num_rows, dtype=bool)))
    # Not sorted again (a take of every column, ~1 us a line): the part holds the C scanner's
    # rows, then msgspec's, then the SQL validator's, each in file and line order; the same
    # on every rerun. One filter: the valid events (_keep) that are not duplicates.
    rows = pa.concat_tables([rows, mine.cast(rows.schema)])
    keep = rows["_keep"]
    if len(duplicates):
        key = pc.add(pc.multiply(rows["_file_id"].cast(pa.int64()), 1 << 32), rows["line_no"])
        dropped = pc.is_in(key, value_set=pa.array(duplicates, pa.int64()))
        if pc.sum(pc.and_(dropped, keep)).as_py() != len(duplicates):
            raise RuntimeError(f"chunk {index}: duplicates do not match its rows")
        keep = pc.and_(keep, pc.invert(dropped))
    rows = rows.filter(keep).drop_columns(["_file_id", "_keep"])
    part = lines.write_part(Path(directory), index, rows, SCHEMA, DICTIONARY_COLUMNS)
    path.unlink()
    count = rows.num_rows
    del rows, slow
    lines.release_memory()
    return index, part, count


def ingest_events(source_dir: Path, dt: date, schema_dir: Path | None = None) -> StreamResult:
    """Validate and land the tracking events that arrived on `dt`."""
    started, clock = lake.now_utc(), time.monotonic()
    _compiled(schema_dir)  # a broken tracking plan fails here, before any worker starts
    pii.salt()  # create this lake's salt (if it must be) before the workers start
    files = find_files(source_dir, dt)
    by_id = {f.file_id: f for f in files}
    previous = seen_files(dt)
    result = StreamResult(SOURCE, STREAM)
    counts: dict[int, dict[str, int]] = {}
    path = lake.partition_path("events", SOURCE, STREAM, dt)
    # the ids the partition keeps, published with it (a failed run leaves this hidden file)
    accepted = state_dir() / f".dt={dt.isoformat()}.parquet.tmp-{os.getpid()}"
    with (
        lake.PartitionWriter(path, schema=SCHEMA) as writer,
        lake.QuarantineWriter(QUARANTINE, dt) as quarantine,
    ):
        spill = writer.tmp_dir / SPILL
        spill.mkdir()
        _warm_up(files, schema_dir)
        chunks = lines.plan_chunks(files)
        tasks = [(i, chunk, str(spill), schema_dir) for i, chunk in enumerate(chunks)]
        keys, owner, fast_rejects = [], {}, []
        for chunk in lines.run_chunks(_check_chunk, tasks, keep_memory=True):
            fast_rejects.append(chunk.rejects)
            for f in chunk.files:
                by_id[f.file_id] = f
                owner[f.file_id] = chunk.index
            for fid, entry in chunk.counts.items():
                counts.setdefault(fid, {}).update(entry)
            keys.append(chunk.keys)
        if files:
            keys += _check_slow_lines(spill, files, schema_dir, quarantine, counts, fast_rejects)
        duplicates = _find_duplicates(keys, previous, spill, accepted)
        per_chunk: dict[int, list[int]] = {i: [] for i in range(len(chunks))}
        for fid, line_no in duplicates:
            per_chunk[owner[fid]].append((fid << 32) + line_no)
            entry = counts.setdefault(fid, {})
            entry["duplicates"] = entry.get("duplicates", 0) + 1
        writes = [
            (i, str(spill), chunk[0].file_id, chunk[-1].file_id, per_chunk[i], str(writer.tmp_dir))
            for i, chunk in enumerate(chunks)
        ]
        for _index, part, rows in lines.run_chunks(_write_chunk, writes, keep_memory=True):
            if part is not None:
                writer.add_part(part, rows)
        shutil.rmtree(spill)
        for f in files:
            entry = counts.setdefault(f.file_id, {})
            entry.setdefault("duplicates", 0)
            entry["parsed"] = entry.pop("candidates", 0) - entry["duplicates"]
        result.files = _file_report([by_id[f.file_id] for f in files], counts)
        manifest = _manifest(SOURCE, STREAM, dt, started, result.files)
        manifest["rejected_count"] = quarantine.count
        manifest["duplicates_dropped"] = sum(f["duplicates"] for f in result.files)
        manifest["rejected_by_reason"] = dict(sorted(quarantine.by_reason.items()))
        manifest["dedupe_state_days"] = [Path(p).stem for p in previous]
        quarantine.commit({"source": SOURCE, "table": STREAM, "mode": "files"})
        written = writer.commit(manifest)
        _publish_accepted_ids(accepted, dt)
    _finish(result, written, quarantine, clock)
    lines.prune_raw_files("events", dt, _arrival_day)
    result.message = f"{manifest['duplicates_dropped']} duplicates dropped"
    return result


def _arrival_day(path: Path) -> date | None:
    """The arrival date of a batch copy: events/<collector>/<YYYY-MM-DD>/<HH>/<name>."""
    try:
        return date.fromisoformat(path.parent.parent.name)
    except ValueError:
        return None


def _warm_up(files: list[lines.SourceFile], schema_dir: Path | None) -> None:
    """Run the fast path on a sample in the parent so forked workers start warm."""
    if not files or lines.workers() <= 1:
        return
    with open(files[0].path, "rb") as handle:
        head = handle.read(1 << 16)
    try:
        text = (
            gzip.GzipFile(fileobj=io.BytesIO(head)).read1(1 << 16)
            if head[:2] == b"\x1f\x8b"
            else head
        )
    except (OSError, EOFError):
        text = b""
    sample = lines.split_lines(b"\n".join(text.split(b"\n")[:20]) + b"\n{}\n", files[0].file_id)
    _fast_paths(sample, files, schema_dir)
    pii.truncate_ips(pa.array(["203.0.113.7", "2001:db8:1:2::1"]))


def _find_duplicates(
    keys: list[str], previous: list[str], spill: Path, accepted: Path
) -> list[tuple[int, int]]:
    """(file_id, line_no) of every accepted event that is not the first received; the ids of
    the others (the events the partition keeps: the dedupe state of later days) are written,
    sorted, to `accepted` (published after the partition's commit: _publish_accepted_ids)."""
    con = extensions.connect()
    con.execute(f"set memory_limit = '{DEDUPE_MEMORY}'")
    con.execute(f"set temp_directory = '{_sql_path(spill / 'duckdb')}'")
    if previous:
        con.execute(
            "create temp table seen as select event_id from read_parquet($files)",
            {"files": previous},
        )
    else:
        con.execute("create temp table seen (event_id uuid)")
    if keys:
        con.execute(DEDUPE_SQL, {"keys": keys})
    else:
        con.execute(
            "create temp table ranked (file_id integer, line_no bigint, event_id varchar, "
            "dropped boolean)"
        )
    found = con.execute(
        "select file_id, line_no from ranked where dropped order by file_id, line_no"
    ).fetchall()
    accepted.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        "copy (select cast(event_id as uuid) as event_id from ranked where not dropped "
        f"order by event_id) to '{_sql_path(accepted)}' (format parquet, compression zstd)"
    )
    con.close()
    return [(int(fid), int(line_no)) for fid, line_no in found]


def _publish_accepted_ids(accepted: Path, dt: date) -> None:
    """The ids accepted on dt (written by _find_duplicates) as the dedupe state of later
    days, once the partition holding them is committed."""
    os.replace(accepted, state_dir() / f"dt={dt.isoformat()}.parquet")


def _sql_path(path: Path) -> str:
    return str(path).replace("'", "''")


def check_lines(texts: list[str], schema_dir: Path | None = None) -> list[tuple[str | None, str]]:
    """(reason, message) for each line, as an ingest run would judge it (no dedupe): for tests
    and for checking a tracking-plan change against sample lines."""
    con, checked_sql, _rows = _checker(schema_dir)
    table = lines.split_lines("\n".join(texts).encode() + b"\n", 0)
    con.register("lines", table)
    try:
        return con.execute(
            f"select reason, message from ({checked_sql}) order by line_no"
        ).fetchall()
    finally:
        con.unregister("lines")
