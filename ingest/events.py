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
scanner, then msgspec, then the SQL for the lines both doubt; each worker's SQL lines in one
query after its last chunk); a chunk's valid events claim their ids in the day's id table the
workers share (ingest.dedupe), and the chunk is written as its Parquet part once the chunk
after it has claimed too, keeping the first received copies; the rare row beaten after its
part was written is taken out at the end. Memory stays a few chunks per worker. Within a
part, the rows each path took are in file and line order, one path after the other.
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

from ingest import dedupe, extensions, lake, lines, pii, tracking_plan
from ingest.logs import (
    StreamResult,
    _bitmap,
    _file_report,
    _finish,
    _manifest,
    _quarantine_table,
    _scrubbed,
    add_counts,
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
SPILL = "_spill"  # inside the partition's temporary directory, removed before the commit
SLOW_BATCH_LINES = 100_000  # a worker's lines left to the SQL validator, checked at the latest
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
# min/max statistics where they can prune row groups: times, dates, low-cardinality texts
# (not on ids, free texts, addresses: random, so every row group spans them all)
STATISTICS_COLUMNS = [
    "event",
    "event_at",
    "event_dt",
    "received_at",
    "platform",
    "app_version",
    "client_ts",
    "sent_ts",
    "server_ts",
    "clock_skew_ms",
    "collector",
    "file",
    "line_no",
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
_EMPTY_REJECTS = REJECTS_SCHEMA.empty_table()


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
    more_rows, more_taken, more_rejects = _fast_events(table.filter(pa.array(~taken)), files, plan)
    taken[left[more_taken.to_numpy(zero_copy_only=False)]] = True
    rejects = _sorted_rejects([rejects, more_rejects]) if more_rejects.num_rows else rejects
    # not sorted: the C scanner's rows, then msgspec's (see _write_pending)
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
        return _ROWS_SCHEMA.empty_table(), _EMPTY_REJECTS
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
    once, with the duplicates, when they are written (_owned), not here as well. The
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
    if rule.test in ("min_length", "max_length"):
        # a UTF-8 character is 1-4 bytes: the byte length settles most rows
        size = np.diff(lines.string_offsets(text))
        if rule.test == "min_length":
            broken, unsure = size < rule.arg, (size >= rule.arg) & (size < 4 * rule.arg)
        else:
            broken, unsure = size > 4 * rule.arg, (size > rule.arg) & (size <= 4 * rule.arg)
        broken &= where
        unsure &= where
        if unsure.any():
            length = pc.utf8_length(text.filter(pa.array(unsure))).to_numpy()
            short = length < rule.arg if rule.test == "min_length" else length > rule.arg
            broken[np.flatnonzero(unsure)[short]] = True
        return broken
    # most rows: the others made null (no copy); few: those rows only
    most = where.mean() > 0.5
    values = _valid_where(text, where) if most else text.filter(pa.array(where))
    fine = pc.match_substring_regex(values, rule.arg)  # (a pattern: what is left)
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
    """A worker: read a chunk, check its lines by the fast paths (keeping the lines they
    leave for the SQL validator, _check_slow), claim its events' ids (_DAY), and write the
    chunks it read before (_write_pending), each kept until the one after it has claimed.

    A flush task (index None: one per worker, after every chunk) checks the worker's lines
    left to the SQL (while other workers may still read), then writes its last chunks."""
    index, files, schema_dir, directory = task
    if index is None:
        result = lines.ChunkResult(-1, [])
        try:
            result.rejects, result.valid = _check_slow(schema_dir)
            _DAY.wait_claimed(_DAY.chunks - 2)  # every chunk (the last number is the SQL's)
            _write_pending(result, directory, keep=0)
        finally:
            _FLUSH[0].wait()  # so that every worker takes exactly one flush task
        return result
    table = lines.read_chunk(files)
    decided = _fast_paths(table, files, schema_dir)
    rejects = None
    if decided is not None:
        rows, taken, rejects = decided
        _SLOW.append(table.filter(pc.invert(taken)))
    else:
        rows = pa.Table.from_batches([], _SPILL_SCHEMA)
        _SLOW.append(table)
    del table
    # the fast path's rejects (bots, too late: most of them) are scrubbed here, in parallel
    result = lines.ChunkResult(
        index, files, rejects=None if rejects is None else scrub_rejects(rejects)
    )
    if sum(t.num_rows for t in _SLOW) > SLOW_BATCH_LINES:  # a bound on the memory they take
        _check_slow_batch(schema_dir)
    keys = _claim(index, rows)
    for f in files:
        lines.copy_raw(f, "")
    _PENDING.append((index, rows, keys))
    _write_pending(result, directory, keep=2)  # (memory: three chunks at most)
    lines.release_memory()
    return result


def _check_slow_batch(schema_dir: Path | None) -> None:
    """This worker's lines left to the SQL validator through it now, in one query (it costs
    ~0.1 s whatever its input, and little per line): (their rejects, scrubbed; their valid
    events) to _SLOW_DONE."""
    slow = pa.concat_tables([t.cast(lines.LINES_SCHEMA) for t in _SLOW]) if _SLOW else None
    _SLOW.clear()
    if slow is not None and slow.num_rows:
        rows, rejects = _sql_check(slow, _FILES, schema_dir)
        _SLOW_DONE.append((scrub_rejects(rejects), rows))


def _check_slow(schema_dir: Path | None) -> tuple[pa.Table | None, pa.Table]:
    """All this worker's lines left to the SQL validator, checked: (their rejects, their
    valid events)."""
    _check_slow_batch(schema_dir)
    rejects = [r for r, _ in _SLOW_DONE if r.num_rows]
    valid = [v for _, v in _SLOW_DONE if v.num_rows]
    _SLOW_DONE.clear()
    return (
        _sorted_rejects(rejects) if rejects else None,
        pa.concat_tables(valid) if valid else _ROWS_SCHEMA.empty_table(),
    )


def _claim(index: int, rows: pa.Table) -> tuple:
    """Claim as chunk `index` the ids of the valid events among the rows (those `_keep`
    marks, all without it) that no earlier day accepted; (which rows, their keys)."""
    if "_keep" in rows.column_names:
        keep = rows["_keep"].to_numpy(zero_copy_only=False)
        at = np.flatnonzero(keep)
        valid = pa.array(keep)
        event_ids, file_ids = rows["event_id"].filter(valid), rows["_file_id"].filter(valid)
        line_nos, times = rows["line_no"].filter(valid), rows["server_ts"].filter(valid)
    else:
        at = np.arange(rows.num_rows)
        event_ids, file_ids, line_nos = rows["event_id"], rows["_file_id"], rows["line_no"]
        times = rows["server_ts"]
    hi, lo = dedupe.uuid_keys(event_ids)
    ref = dedupe.refs(file_ids.to_numpy(), line_nos.to_numpy())
    fresh = ~_PREVIOUS[0].contains(hi, lo)
    ts = times.to_numpy()
    _DAY.claim(index, hi[fresh], lo[fresh], ts[fresh], ref[fresh])
    return at, hi, lo, ref


def _owned(index: int, rows: pa.Table, claimed: tuple, counts: dict) -> pa.Table:
    """Chunk `index` is written: of its rows (their claim), the valid events that own their
    id (the first received copies), without `_file_id` and `_keep`; counts each file's
    candidates (valid events) and parsed (owners)."""
    at, hi, lo, ref = claimed
    owned = np.zeros(rows.num_rows, bool)
    owned[at] = _DAY.seal(index, hi, lo, ref)
    files = rows["_file_id"].to_numpy()
    _count(counts, files[at], "candidates")
    _count(counts, files[owned], "parsed")
    return rows.filter(pa.array(owned)).drop_columns(
        [c for c in ("_file_id", "_keep") if c in rows.column_names]
    )


def _write_pending(result: lines.ChunkResult, directory: str, keep: int) -> None:
    """Write this worker's pending chunks as their parts (the rows that own their id), oldest
    first, each once the chunk after it has claimed its ids; while more than `keep` are
    pending, wait for that (rather than wait, a worker reads its next chunk meanwhile)."""
    while _PENDING:
        index, rows, claimed = _PENDING[0]
        after = min(index + 1, _DAY.chunks - 2)  # (the last number is the SQL's)
        if not _DAY.claimed(after):
            if len(_PENDING) <= keep:
                return
            _DAY.wait_claimed(after)
        _PENDING.pop(0)
        rows = _owned(index, rows, claimed, result.counts)
        part = _write_part(Path(directory), index, rows)
        result.written.append((index, part, rows.num_rows))


def _write_part(directory: Path, index: int, rows: pa.Table) -> str | None:
    return lines.write_part(directory, index, rows, SCHEMA, DICTIONARY_COLUMNS, STATISTICS_COLUMNS)


def _count(counts: dict[int, dict[str, int]], file_ids, key: str) -> None:
    """Add the rows of each file (their file ids) to counts[file_id][key]."""
    ids = file_ids.to_numpy() if hasattr(file_ids, "to_numpy") else np.asarray(file_ids)
    if not len(ids):
        return
    first = int(ids.min())
    for fid in np.flatnonzero(per_file := np.bincount(ids - first)):
        entry = counts.setdefault(first + int(fid), {})
        entry[key] = entry.get(key, 0) + int(per_file[fid])


# Set by ingest_events before the workers fork (they inherit them): the day's ids and their
# owners, the earlier days' ids, and the barrier of the flush tasks. _PENDING: this process's
# chunk read but not yet written (see _check_chunk).
_DAY: dedupe.DayIds = None  # type: ignore[assignment]
_PREVIOUS: list[dedupe.Previous] = []
_FLUSH: list = []
_PENDING: list = []
# This process's lines left to the SQL validator, and the results of the batches checked
# (see _check_slow).
_SLOW: list[pa.Table] = []
_SLOW_DONE: list[tuple[pa.Table, pa.Table]] = []
_FILES: list[lines.SourceFile] = []  # the day's files (set with _DAY)


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
    accepted.parent.mkdir(parents=True, exist_ok=True)
    with (
        lake.PartitionWriter(path, schema=SCHEMA) as writer,
        lake.QuarantineWriter(QUARANTINE, dt) as quarantine,
    ):
        spill = writer.tmp_dir / SPILL  # the id table (ingest.dedupe)
        spill.mkdir()
        _warm_up(files, schema_dir)
        parts = _check_and_write(files, schema_dir, spill, previous, quarantine, counts, by_id)
        ids = _DAY.accepted()
        _DAY.close()
        if len(ids[0]) != sum(parts.values()):
            raise RuntimeError(f"{len(ids[0])} ids accepted but {sum(parts.values())} rows written")
        dedupe.write_ids(accepted, *ids)
        for name in sorted(parts):
            writer.add_part(name, parts[name])
        shutil.rmtree(spill)
        for f in files:
            entry = counts.setdefault(f.file_id, {})
            entry["parsed"] = entry.get("parsed", 0)
            entry["duplicates"] = entry.pop("candidates", 0) - entry["parsed"]
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


def _check_and_write(files, schema_dir, spill: Path, previous, quarantine, counts, by_id) -> dict:
    """Check every chunk, claim and write its events (the workers), quarantine the rejects,
    write the SQL validator's events as the last part, take out the rows beaten after they
    were written (_fix_parts): the parts (name: rows). The day's ids are left in _DAY."""
    global _DAY
    chunks = lines.plan_chunks(files)
    # the SQL's valid events are the last "chunk"; ~1 event per 120 compressed bytes
    expected = sum(f.path.stat().st_size for f in files) // 120
    _DAY = dedupe.DayIds(spill, len(chunks) + 1, expected)
    _PREVIOUS[:] = [dedupe.Previous(previous)]
    flushes = max(1, lines.workers()) if chunks else 0
    _FLUSH[:] = [_DAY.context.Barrier(flushes, timeout=dedupe.WAIT_SECONDS)] if flushes else []
    _FILES[:] = files  # (the workers' state is cleared when a run ends, below)
    directory = str(spill.parent)
    tasks = [(i, chunk, schema_dir, directory) for i, chunk in enumerate(chunks)]
    tasks += [(None, None, schema_dir, directory)] * flushes
    parts, rejects, valid = {}, [], []
    try:
        for chunk in lines.run_chunks(_check_chunk, tasks, keep_memory=True):
            for f in chunk.files:
                by_id[f.file_id] = f
            add_counts(counts, chunk.counts)
            for index, part, rows in chunk.written:
                _DAY.collect(index)  # its owners' ids (for the accepted ids, and fixups)
                if part is not None:
                    parts[part] = rows
            if chunk.rejects is not None:
                rejects.append(chunk.rejects)
            if chunk.valid is not None:
                valid.append(chunk.valid)
        if files:
            rejects = _sorted_rejects(rejects) if rejects else _EMPTY_REJECTS
            quarantine.reject_table(_quarantine_table(files, rejects, scrubbed=True))
            _count(counts, rejects["file_id"], "quarantined")
            # the SQL validator's valid events (from every worker, in whatever order they
            # finished): claimed last, written as the last part, in file and line order
            valid = pa.concat_tables(valid) if valid else _ROWS_SCHEMA.empty_table()
            valid = valid.take(
                pc.sort_indices(valid, [("_file_id", "ascending"), ("line_no", "ascending")])
            )
            valid = _owned(len(chunks), valid, _claim(len(chunks), valid), counts)
            part = _write_part(spill.parent, len(chunks), valid)
            if part is not None:
                parts[part] = valid.num_rows
        _fix_parts(spill.parent, parts, _DAY.fixups(), files, counts)
    except BaseException:
        _DAY.close()
        raise
    finally:
        _PREVIOUS.clear()
        for state in (_PENDING, _SLOW, _SLOW_DONE, _FILES):
            state.clear()
    return parts


def _fix_parts(directory: Path, parts: dict, fixups: dict, files, counts) -> None:
    """Take out of the parts already written the rows a copy received earlier beat after
    they were written (`fixups`: their refs by chunk; rare, see ingest.dedupe)."""
    names = pa.array([f.relative for f in files])
    for index, refs in sorted(fixups.items()):
        name = f"part-{index:05d}.parquet"
        rows = pq.read_table(directory / name)
        file_ids = pc.index_in(rows["file"], value_set=names).to_numpy() + files[0].file_id
        beaten = np.isin(dedupe.refs(file_ids, rows["line_no"].to_numpy()), refs)
        if beaten.sum() != len(refs):
            raise RuntimeError(f"{name}: {len(refs)} rows to take out, {beaten.sum()} found")
        for fid, n in zip(*np.unique(file_ids[beaten], return_counts=True), strict=True):
            counts[int(fid)]["parsed"] -= int(n)
        rows = rows.filter(pa.array(~beaten))
        (directory / name).unlink()
        part = _write_part(directory, index, rows)
        if part is None:
            del parts[name]
        else:
            parts[name] = rows.num_rows


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


def _publish_accepted_ids(accepted: Path, dt: date) -> None:
    """The ids accepted on dt (written by ingest_events) as the dedupe state of later days,
    once the partition holding them is committed."""
    os.replace(accepted, state_dir() / f"dt={dt.isoformat()}.parquet")


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
