"""Tracking events into the lake: validation, quarantine, dedupe, event time, PII, DAU."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import jsonschema
import pyarrow.compute as pc
import pytest

from ingest import events, lake, logs, pii, tracking_plan
from tests.conftest import built
from tests.ingest.damage import damaged

DAYS = [date(2026, 11, 1) + timedelta(days=k) for k in range(4)]
DT = DAYS[0]


@pytest.fixture(scope="module")
def ingested(traffic_sources, module_lake):
    for day in DAYS:
        events.ingest_events(traffic_sources, day)
    logs.ingest_logs(traffic_sources, DT)
    return module_lake


def truth(sources: Path, day: date) -> dict:
    return json.loads((sources / "truth" / f"dt={day}.json").read_text())


def manifests() -> list[dict]:
    return [
        lake.read_manifest(lake.partition_path("events", "tracking", "events", d)) for d in DAYS
    ]


def test_every_file_accounts_for_every_line(ingested, traffic_sources):
    for manifest in manifests():
        for entry in manifest["input_files"]:
            with gzip.open(traffic_sources / entry["name"]) as handle:
                assert entry["lines"] == sum(1 for _ in handle)
            assert entry["parsed"] + entry["quarantined"] + entry["duplicates"] == entry["lines"]


def test_every_fault_lands_where_it_should(ingested, traffic_sources):
    """Lines generated on day 1 are in files events-20261101.*, whatever day they arrived."""
    faults = truth(traffic_sources, DT)["event_faults"]
    stamp = f"events-{DT:%Y%m%d}"
    by_reason = dict(
        duckdb.sql(
            f"select reason, count(*) from read_parquet('{ingested}/quarantine/tracking_events/"
            f"*/part-*.parquet') where file like '%{stamp}%' group by 1"
        ).fetchall()
    )
    for reason in ("malformed", "unknown_event", "schema_violation", "bot"):
        assert by_reason[reason] == faults[reason], reason
    assert 0 < by_reason["too_late"] <= faults["late_beyond_window"]
    duplicates = sum(
        e["duplicates"] for m in manifests() for e in m["input_files"] if stamp in e["name"]
    )
    assert duplicates == faults["duplicate"]
    message = duckdb.sql(
        f"select message from read_parquet('{ingested}/quarantine/tracking_events/*/*.parquet')"
        " where reason = 'schema_violation' limit 1"
    ).fetchone()[0]
    assert message.startswith("$.")


def test_dau_by_platform_from_the_partitions_equals_truth(ingested, traffic_sources):
    """Valid events of day 1 from every arrival day, identity stitched per device and day."""
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    rows = duckdb.sql(
        f"""
        with day as (select * from read_parquet('{glob}') where event_dt = '{DT}'),
        device_user as (
            select device_id, min(cast(user_id as bigint)) as uid from day
            where user_id is not null group by 1
        )
        select platform, count(distinct coalesce(
            day.user_id, cast(device_user.uid as varchar), 'device:' || day.device_id))
        from day left join device_user using (device_id)
        group by 1
        """
    ).fetchall()
    assert dict(rows) == truth(traffic_sources, DT)["dau_by_platform"]


def test_event_time_corrects_the_device_clock(ingested):
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    skewed, late_day_1 = duckdb.sql(
        f"""select count(*) filter (abs(clock_skew_ms) > 300000 and
                abs(epoch_ms(event_at) - 8 * 3600000 - client_ts) > 300000),
               count(*) filter (event_dt < dt)
            from read_parquet('{glob}', hive_partitioning = true)"""
    ).fetchone()
    assert skewed > 0 and late_day_1 > 0
    bad = duckdb.sql(
        f"select count(*) from read_parquet('{glob}') "
        "where received_at < event_at or received_at - event_at > interval 72 hours"
    ).fetchone()[0]
    assert bad == 0


def test_personal_data_never_lands_in_clear_text(ingested, traffic_sources):
    """Phones and addresses of events, and client IP addresses from every source (nginx's
    first field, even cut off; events' `ip`; `ip=` in application logs) appear nowhere in the
    lake outside raw-files: not in parsed columns, not in the raw text or message of
    quarantined lines."""
    phones, addresses, ips = set(), set(), set()
    for path in (traffic_sources / "events").rglob("*.gz"):
        text = gzip.decompress(path.read_bytes()).decode()
        phones |= set(re.findall(r'"contact_phone":"([0-9]+)', text))
        addresses |= set(re.findall(r'"address":"([^"]+)"', text))
        ips |= set(re.findall(r'"ip":"([^"]+)"', text))
    for path in (traffic_sources / "logs").rglob("*.gz"):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        if "/nginx/" in path.as_posix():
            ips |= {line.split(" ", 1)[0] for line in text.splitlines() if line}
        ips |= set(re.findall(r"ip=([0-9.]+)", text))
    ips = {a for a in ips if pii.mask_ips(a, leading_address=True) != a}  # not already a /24
    assert phones and addresses
    assert any(":" in a for a in ips) and any("." in a for a in ips)
    for path in ingested.rglob("*.parquet"):
        if "raw-files" in path.parts:
            continue
        table = duckdb.sql(f"select * from read_parquet('{path}')").to_arrow_table()
        text = "\n".join(
            str(v) for column in table.columns for v in column.to_pylist() if isinstance(v, str)
        )
        assert not phones & set(re.findall(r"1[3-9][0-9]{9}", text)), path
        assert not [a for a in addresses if a in text], path
        assert not ips & set(re.findall(r"[0-9A-Fa-f:.]+", text)), path
    props = duckdb.sql(
        f"select props from read_parquet('{ingested}/raw/events/tracking/events/*/*.parquet') "
        "where props like '%contact_phone%' limit 1"
    ).fetchone()[0]
    assert json.loads(props)["contact_phone"].startswith("hmac:")


def test_a_rerun_is_idempotent_and_does_not_count_duplicates_twice(ingested, traffic_sources):
    day = DAYS[1]
    path = lake.partition_path("events", "tracking", "events", day)
    state = events.state_dir() / f"dt={day}.parquet"
    before = ({p.name: p.read_bytes() for p in path.glob("part-*")}, state.read_bytes())
    first = lake.read_manifest(path)
    events.ingest_events(traffic_sources, day)
    after = ({p.name: p.read_bytes() for p in path.glob("part-*")}, state.read_bytes())
    assert after == before
    assert lake.read_manifest(path)["duplicates_dropped"] == first["duplicates_dropped"]


def test_the_sql_validator_agrees_with_jsonschema(ingested, traffic_sources):
    plan = tracking_plan.load()
    good = json.loads(
        gzip.decompress(next((traffic_sources / "events").rglob("*.gz")).read_bytes())
        .decode()
        .splitlines()[0]
    )
    schema = plan[good["event"]]
    required_prop = schema["properties"]["props"]["required"][0]
    variants = [good]

    def variant(**changes):
        line = json.loads(json.dumps(good))
        for key, value in changes.items():
            if key.startswith("props_"):
                line["props"][key[6:]] = value
            else:
                line[key] = value
        variants.append(line)

    variant(platform="WEB")  # enum
    variant(client_ts="1")  # type
    variant(client_ts=1.0)  # an integer in draft 2020-12
    variant(client_ts=-5)  # minimum
    variant(event_id="not-a-uuid")  # pattern
    variant(device_id="short")  # minLength
    variant(device_id="x" * 65)  # maxLength
    variant(user_id=12)  # type of a nullable string
    variant(page="")  # minLength
    variant(props="x")  # type object
    variant(props_extra_field=1)  # additionalProperties: true
    missing = json.loads(json.dumps(good))
    del missing["props"][required_prop]
    variants.append(missing)
    no_ua = json.loads(json.dumps(good))
    del no_ua["ua"]
    variants.append(no_ua)
    quarantined = duckdb.sql(
        f"select raw from read_parquet('{ingested}/quarantine/tracking_events/*/*.parquet') "
        "where reason = 'schema_violation'"
    ).fetchall()
    variants += [json.loads(raw) for (raw,) in quarantined]
    texts = [json.dumps(v, ensure_ascii=False) for v in variants]
    verdicts = events.check_lines(texts)
    for line, (reason, message) in zip(variants, verdicts, strict=True):
        validator = jsonschema.Draft202012Validator(plan[line["event"]])
        errors = list(validator.iter_errors(line))
        assert (reason == "schema_violation") == bool(errors), (line, message, errors)


def test_a_schema_keyword_the_compiler_lacks_fails_loudly():
    with pytest.raises(tracking_plan.UnsupportedSchema, match="oneOf"):
        tracking_plan.compile_plan({"x": {"type": "object", "oneOf": []}})


# ---- fast path, exact dedupe across chunks, IP truncation ------------------------------------


def built_scanner():
    return built(events._EVENTS_SCANNER, "ingest/_events.c")


@pytest.fixture(params=["c", "msgspec"])
def fast_path(request, monkeypatch):
    """Each events fast path: the C scanner with msgspec on the lines it leaves (as built by
    `make setup`), and msgspec alone (where the scanner is not built)."""
    if request.param == "c":
        built_scanner()
    else:
        monkeypatch.setattr(events, "_EVENTS_SCANNER", None)
    return request.param


def test_the_fast_path_and_the_sql_validator_agree(traffic_sources, fast_path):
    from ingest import lines

    files = events.find_files(traffic_sources, DAYS[1])
    table = lines.read_chunk(files)
    fast_rows, fast_rejects = events.check_chunk_lines(table, files, None, fast=True)
    sql_rows, sql_rejects = events.check_chunk_lines(table, files, None, fast=False)
    assert fast_rows.num_rows > 0.9 * table.num_rows
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)


def _damaged_events(good: list[str], seed: int) -> list[str]:
    """Each line damaged at random: a byte replaced, dropped or doubled, or a JSON form the C
    scanner doubts or must read right (escapes, exponents, 1.0, long numbers, nesting, a key
    twice, blanks, a value of another type, a rule just broken)."""
    swaps = [
        ('"props":{', '"props": {'),
        ('"props":{', '"props":{"extra":[1,{"a":[]}],'),
        ('"props":{', '"props":[{'),
        ('{"event_id"', ' {"event_id"'),
        ('{"event_id"', '\t{"event_id"'),
        ('"event":"', '"event":"x'),
        ('"event":"', '"event":"\\u0063'),
        ('"platform":"', '"platform":"\\"'),
        ('"ua":"', '"ua":"bot '),
        ('"ua":"', '"ua":"Go-http-client/1.1 '),
        ('"user_id":null', '"user_id":7'),
        ('"user_id":"', '"user_id":"0'),
        ('"referrer":null', '"referrer":true'),
        ('"referrer":null', '"referrer":{}'),
        ('"page":"', '"page":"/a\\/b'),
        ('"client_ts":1', '"client_ts":-1'),
        ('"client_ts":1', '"client_ts":1.0e0'),
        ('"client_ts":1', '"client_ts":0.5'),
        ('"sent_ts":1', '"sent_ts":2'),
        ('"server_ts":1', '"server_ts":1999999999999999999'),
        ('"server_ts":1', '"server_ts":01'),
        ('"order_id":', '"order_id":-'),
        ('"order_id":', '"order_id":1.0'),
        ('"order_id":', '"order_id":0'),
        ('"order_id":', '"order_id":"1'),
        ('"score":', '"score":9'),
        ('"score":', '"score":1E0'),
        ('"price_yuan":', '"price_yuan":-'),
        ('"price_yuan":', '"price_yuan":1e2'),
        ('"price_yuan":', '"price_yuan":1.50,"x":'),
        ('"amount_yuan":', '"amount_yuan":-0,"x":'),
        ('"amount_yuan":', '"amount_yuan":0.0000001,"x":'),
        ('"amount_yuan":', '"amount_yuan":0.000001,"x":'),
        ('"amount_yuan":', '"amount_yuan":12345678.123456789,"x":'),
        ('"amount_yuan":', '"amount_yuan":1234567.12345678,"x":'),
        ('"amount_yuan":', '"amount_yuan": '),
        ('"title":"', '"title":" '),
        ('"lat":', '"lat":9'),
        ('"lat":', '"lat":90.00000000000001'),
        ('"lng":', '"lng":-180.0000000000000001'),
        ('"keyword":"', '"keyword":"'),
        ('"keyword":"', '"keyword":"' + "长" * 100),
        ('"city":"', '"city":"X'),
        ('"method":"', '"method":"Sms'),
        ('"launch_type":"', '"launch_type":"hot'),
        ('"network":"', '"network":null,"network":"'),
        ('"event_id":"', '"event_id":"x","event_id":"'),
        ('"title":"', '"title":"\u00e9\u0001'),
        ('"has_text":', '"has_text":"'),
        ('","', '" , "'),
        ("}}", "} }"),
        ("}}", "}} "),
        ("}}", "}}x"),
        ("}}", "}},"),
        (",", ",,"),
        (":", "::"),
    ]
    alphabet = ['"', "\\", ",", ":", "{", "}", "[", "]", " ", "0", "e", "-", ".", "é", "\t"]
    return damaged(good, seed, alphabet, swaps, swap_odds=2)


def test_lengths_count_characters_not_bytes(traffic_sources, fast_path):
    """minLength/maxLength count characters: a 3-byte character is one. The C path settles
    most lengths by their byte count (1-4 bytes a character) and counts the rest; both fast
    paths must judge as the SQL does, just inside and just outside each bound."""
    from ingest import lines

    files = events.find_files(traffic_sources, DAYS[1])[:1]
    table = lines.read_chunk(files)
    rows, _rejects = events.check_chunk_lines(table, files, None)
    accepted = table["line"].take(pc.subtract(rows["line_no"], 1)).to_pylist()
    good = [json.loads(t) for t in accepted]
    search = next(e for e in good if e["event"] == "search" and "keyword" in e["props"])
    view = next(e for e in good if e["event"] == "page_view")
    texts = []
    for n in (2, 3, 7, 8, 9, 21, 22, 64, 65):  # device_id: 8 to 64 characters
        texts.append({**view, "device_id": "长" * n})
        texts.append({**view, "device_id": "d" * n})
    for n in (1, 33, 34, 99, 100, 101):  # keyword: 1 to 100 characters
        texts.append({**search, "props": {**search["props"], "keyword": "长" * n}})
    texts = [json.dumps(t, separators=(",", ":"), ensure_ascii=False) for t in texts]
    files = [lines.SourceFile(0, Path("x"), "events/c1/2026-11-02/00/x.ndjson")]
    table = lines.split_lines(("\n".join(texts) + "\n").encode(), 0)
    fast_rows, fast_rejects = events.check_chunk_lines(table, files, None, fast=True)
    sql_rows, sql_rejects = events.check_chunk_lines(table, files, None, fast=False)
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)
    assert 6 <= fast_rejects.num_rows <= 10  # (2, 3, 7 and 65 twice; 101; a bot or two)
    if fast_path == "c":  # the scanner's column rules took every good line themselves
        plan = events._column_plan(None)
        _rows, taken, _rejects = events._scanned_events(table, files, plan)
    else:
        _rows, taken, _rejects = events._fast_paths(table, files, None)
    taken = taken.to_pylist()
    assert all(taken[n - 1] for n in fast_rows["line_no"].to_pylist())


@pytest.mark.parametrize("seed", [5, 6])
def test_the_fast_path_and_the_sql_validator_agree_on_damaged_lines(
    traffic_sources, fast_path, seed
):
    """Whatever the fast paths take, the SQL validator must judge alike, and every line they
    doubt is left to it."""
    from ingest import lines

    files = events.find_files(traffic_sources, DAYS[1])
    every = lines.read_chunk(files)["line"].to_pylist()
    good = every[:: max(1, len(every) // 1500)][:1500]  # every kind of event
    assert len(good) == 1500
    texts = good[:300] + _damaged_events(good, seed) + ["", " ", "{}", "[]", "null", "{"]
    files = [lines.SourceFile(0, Path("x"), "events/c1/2026-11-02/00/x.ndjson")]
    table = lines.split_lines(("\n".join(texts) + "\n").encode(), 0)
    fast_rows, fast_rejects = events.check_chunk_lines(table, files, None, fast=True)
    sql_rows, sql_rejects = events.check_chunk_lines(table, files, None, fast=False)
    _rows, taken, _rejects = events._fast_paths(table, files, None)
    taken = sum(taken.to_pylist())
    assert 300 <= taken < len(texts) - 300  # both paths had work to do
    if not fast_rows.equals(sql_rows):
        for name in fast_rows.column_names:
            a, b = fast_rows[name].to_pylist(), sql_rows[name].to_pylist()
            for k, (x, y) in enumerate(zip(a, b, strict=True)):
                assert x == y, (name, x, y, texts[fast_rows["line_no"][k].as_py() - 1])
    assert fast_rows.equals(sql_rows)
    if not fast_rejects.equals(sql_rejects):
        a, b = fast_rejects.to_pylist(), sql_rejects.to_pylist()
        for x, y in zip(a, b, strict=True):
            assert x == y
    assert fast_rejects.equals(sql_rejects)


def test_times_the_event_time_cannot_take_are_quarantined_not_a_crash(traffic_sources):
    """Found by the damaged-lines test: a time past int64 arithmetic, or a number that is not
    one, used to stop the whole stream with a DuckDB error."""
    from ingest import lines

    files = events.find_files(traffic_sources, DAYS[1])
    good = lines.read_chunk(files)["line"].to_pylist()[0]
    assert '"server_ts":1' in good and '"client_ts":1' in good
    texts = [
        re.sub(r'"server_ts":[0-9]+', '"server_ts":1999999999999999999', good),
        re.sub(r'"client_ts":[0-9]+', '"client_ts":-1999999999999999999', good),
        re.sub(r'"client_ts":[0-9]+', '"client_ts":"12]3"', good),
        re.sub(r'"sent_ts":[0-9]+', '"sent_ts":123456789012345678901234567890', good),
    ]
    verdicts = events.check_lines(texts)
    assert [reason for reason, _ in verdicts] == ["schema_violation"] * 4
    assert "server_ts 1999999999999999999" in verdicts[0][1]
    assert verdicts[0][1].startswith("not a time within 10^15 ms of 1970: client_ts ")
    assert "is not of type 'integer'" in verdicts[2][1]
    assert "sent_ts 123456789012345678901234567890" in verdicts[3][1]
    files = [lines.SourceFile(0, Path("x"), "events/c1/2026-11-02/00/x.ndjson")]
    table = lines.split_lines(("\n".join(texts) + "\n").encode(), 0)
    rows, rejects = events.check_chunk_lines(table, files, None, fast=True)
    assert (rows.num_rows, rejects.num_rows) == (0, 4)


def test_the_c_scanner_reads_each_kind_of_value_and_doubts_the_rest():
    import numpy as np

    scanner = built_scanner()
    texts = [
        b'{"a":"x y","b":-12,"c":1.50,"d":true,"e":false,"f":null,"g":{"h":[1,"}"],"i":"j"}}',
        b'{"a" : "\xc3\xa9" , "g" : {} }  ',  # blanks, but not inside props
        b'{"a":"x","a":"y"}',  # a tracked key twice
        b'{"a":"x\\n"}',  # an escape
        b'{"b":1e5}',  # an exponent
        b'{"b":1234567890123456789}',  # 19 digits
        b'{"b":01}',
        b'{"a":"x"} x',
        b' {"a":"x"}',
        b'{"z":' + b"[" * 40 + b"]" * 40 + b"}",  # nesting beyond MAX_DEPTH
        b'{"a":"x\tz"}',  # a control byte in a string
        b'{"g":{ }}',  # a blank inside props: DuckDB prints {}
        b'{"a":"203.0.113.77","g":{}}',  # slot 0 is cut_slot: a bare IPv4 address is cut
        b'{"a":"1.2.3.4.5","g":{}}',  # not one
    ]
    data = b"".join(texts)
    offsets = np.cumsum([0] + [len(t) for t in texts]).astype(np.int64)
    n = len(texts)
    top = (b"a", b"b", b"c", b"d", b"e", b"f", b"g")
    chunks = [(data, offsets, 0, 3), (b"", np.zeros(1, np.int64), 0, 0), (data, offsets, 3, n - 3)]
    ok, kinds, columns, cut = scanner.scan(chunks, np.ones(n, np.uint8), top, (b"i",), 6, 0)
    assert list(ok) == [1, 1] + [0] * (n - 4) + [1, 1]
    assert list(cut) == [0] * (n - 2) + [1, 0]
    kinds = np.frombuffer(kinds, np.uint8).reshape(len(top) + 1, n)
    assert kinds[:, 0].tolist() == [6, 4, 5, 3, 2, 1, 7, 6]
    assert kinds[:, 1].tolist() == [6, 0, 0, 0, 0, 0, 7, 0]

    def text(slot, line):
        chars, ends = columns[slot]
        ends = np.frombuffer(ends, np.int32)
        return chars[ends[line] : ends[line + 1]]

    assert [text(s, 0) for s in range(8)] == [
        b"x y",
        b"-12",
        b"1.50",
        b"true",
        b"false",
        b"null",
        b'{"h":[1,"}"],"i":"j"}',
        b"j",
    ]
    assert (text(0, 1), text(6, 1)) == ("é".encode(), b"{}")
    assert all(text(s, k) == b"" for s in range(8) for k in range(2, n - 2))
    assert (text(0, n - 2), text(0, n - 1)) == (b"203.0.113.0", b"1.2.3.4.5")
    not_utf8 = np.array([1, 0] + [1] * (n - 2), np.uint8)
    assert list(scanner.scan(chunks, not_utf8, top, (b"i",), 6, -1)[0])[:2] == [1, 0]


def test_a_props_text_taken_as_written_is_what_duckdb_prints(fast_path):
    """The fast paths write props as the line has it, the SQL path as DuckDB prints it: where
    they take a props text, the two must be the same (numbers are where they part: 1.50, -0,
    1e-7, 17 digits). Checked against DuckDB itself on ~3,000 numbers and blanks."""
    import random

    import duckdb
    import numpy as np
    import pyarrow as pa

    rng = random.Random(3)
    texts = ["-0", "0", "-0.0", "0.0", "1.50", "1.0", "0.000001", "0.0000001", "0.0000000"]
    texts += ["123456789012345.5", "12345678901234.5", "0.123456789012345", "1e5", "2E-3"]
    for _ in range(3000):
        whole = rng.choice(["0", "-0", str(rng.randrange(1, 10 ** rng.randrange(1, 19)))])
        if rng.random() < 0.2:
            texts.append(whole)
        else:
            texts.append(
                f"{whole}.{'0' * rng.randrange(0, 8)}{rng.randrange(0, 10 ** rng.randrange(1, 12))}"
            )
    props = [f'{{"i":{t}}}' for t in texts] + [
        '{"i": 1}',
        '{ "i":1}',
        '{"i":[1, 2]}',
        '{"i":"a b"}',
    ]
    lines_ = [f'{{"g":{p},"a": 1.50}}' for p in props]
    printed = duckdb.execute(
        "select json_extract(line, '$.g')::varchar from unnest($lines) t(line)", {"lines": lines_}
    ).fetchall()
    same = np.array([row[0] == p for row, p in zip(printed, props, strict=True)])
    verbatim = events._verbatim(pa.array(props))  # msgspec's test: a regex, cautious
    assert not (verbatim & ~same).any()
    if fast_path == "c":
        data = "".join(lines_).encode()
        offsets = np.cumsum([0] + [len(x.encode()) for x in lines_]).astype(np.int64)
        n = len(lines_)
        ok, _kinds, _texts, _cut = built_scanner().scan(
            [(data, offsets, 0, n)], np.ones(n, np.uint8), (b"g", b"a"), (b"i",), 0, -1
        )
        taken = np.frombuffer(ok, np.bool_)
        assert not (taken & ~same).any()
        assert taken.sum() > 0.5 * n and (same & ~taken).sum() < 0.05 * n  # exact, not timid


def test_the_c_scanner_refuses_buffers_it_would_overrun():
    import numpy as np

    scanner = built_scanner()
    data, ok = b'{"a":1}' * 2, np.ones(5, np.uint8)
    offsets = np.array([0, 7, -5, 3], np.int64)  # a line that starts before the data

    def scan(chunks, utf8_ok=ok, nested_slot=0):
        return scanner.scan(chunks, utf8_ok, (b"a",), (), nested_slot, -1)

    assert list(scan([(data, offsets, 0, 3)])[0]) == [1, 0, 0]
    with pytest.raises(ValueError, match="too short"):
        scan([(data, offsets, 0, 5)])  # more lines than offsets
    with pytest.raises(ValueError, match="too short"):
        scan([(data, offsets, 0, 3)] * 2)  # more lines than utf8_ok flags
    with pytest.raises(ValueError, match="outside the data"):
        scan([(data, np.array([0, 99], np.int64), 0, 1)])
    with pytest.raises(ValueError, match="nested slot"):
        scan([(data, offsets, 0, 1)], nested_slot=1)


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("last", ["fast", "sql"])
def test_the_first_received_copy_wins_whatever_the_file_order(
    traffic_sources, tmp_path, monkeypatch, workers, last, id_table
):
    """Four collectors, one hour, every file a chunk of its own: the copy in the file that
    sorts LAST arrived first (smallest server_ts) and is the one kept. The copies before it
    are each written first (the chunks before it are written while it is read: with one
    worker, deterministically) and taken out afterwards (ingest.dedupe's fixups): by a later
    chunk's copy, and by the last one, read by the fast path or left to the SQL validator
    (json.dumps's blanks). The same with the id table in C and in numpy, on 1 and 2 workers;
    a rerun writes the same bytes."""
    from ingest import dedupe, lines

    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHIFU_PII_SALT", "test-salt-not-a-secret-0123456789")
    monkeypatch.setenv(lines.WORKERS_ENV, str(workers))
    monkeypatch.setattr(lines, "CHUNK_BYTES", 1)
    good = json.loads(
        gzip.decompress(next((traffic_sources / "events").rglob("*.gz")).read_bytes())
        .decode()
        .splitlines()[0]
    )
    day = date(2026, 11, 1)
    ts = good["server_ts"]
    other = {**good, "event_id": "00000000-0000-4000-8000-000000000001"}
    batches = {
        "c1": [other, {**good, "server_ts": ts + 5_000}],
        "c2": [other],  # a copy received later: dropped when read
        "c3": [{**good, "server_ts": ts + 2_000}],  # beats c1's, written by then
        "c4": [{**good, "server_ts": ts}],  # the first received: beats c3's
    }
    for collector, events_ in batches.items():
        path = tmp_path / "src" / "events" / collector / day.isoformat() / "00" / "batch.ndjson"
        path.parent.mkdir(parents=True)
        spaced = collector == "c4" and last == "sql"
        separators = (", ", ": ") if spaced else (",", ":")
        path.write_text(
            "".join(
                json.dumps(e, separators=separators, ensure_ascii=False) + "\n" for e in events_
            )
        )
    fixups = []
    real_fixups = dedupe.DayIds.fixups
    monkeypatch.setattr(
        dedupe.DayIds, "fixups", lambda self: fixups.append(real_fixups(self)) or fixups[-1]
    )
    result = events.ingest_events(tmp_path / "src", day)
    if workers == 1:  # c1's copy taken out of its part; and c3's, when c4's is the SQL's
        assert sum(map(len, fixups[0].values())) == (1 if last == "fast" else 2)
    path = lake.partition_path("events", "tracking", "events", day)
    kept = duckdb.sql(
        f"select file, line_no, server_ts from read_parquet('{path}/part-*.parquet') "
        f"order by event_id"
    ).fetchall()
    assert kept == [
        ("events/c1/2026-11-01/00/batch.ndjson", 1, ts),
        ("events/c4/2026-11-01/00/batch.ndjson", 1, ts),
    ]
    manifest = lake.read_manifest(path)
    assert manifest["duplicates_dropped"] == 3
    assert [f["duplicates"] for f in manifest["input_files"]] == [1, 1, 1, 0]
    assert result.rows == 2
    # c1's part, rewritten without its copy; c4's (chunk 3), or the SQL validator's (4)
    last_part = "part-00003.parquet" if last == "fast" else "part-00004.parquet"
    assert [f["name"] for f in manifest["files"]] == ["part-00000.parquet", last_part]
    state = events.state_dir() / f"dt={day}.parquet"
    ids = duckdb.sql(f"select event_id::varchar from '{state}' order by 1").fetchall()
    assert ids == sorted([(other["event_id"],), (good["event_id"],)])
    if workers == 1 and id_table == "c":
        before = {p.name: p.read_bytes() for p in [*path.glob("part-*"), state]}
        events.ingest_events(tmp_path / "src", day)
        assert {p.name: p.read_bytes() for p in [*path.glob("part-*"), state]} == before


def test_small_chunks_on_three_workers_keep_the_same_events(traffic_sources, tmp_path, monkeypatch):
    """Two days (the second deduplicated against the first), read in one chunk per worker as
    usual, then in ~40 small chunks on three workers (claims racing, chunks kept pending,
    read out of order) with the id table in numpy: the same rows, quarantine, duplicates per
    file and accepted ids."""
    from ingest import dedupe, lines

    monkeypatch.setenv("SHIFU_PII_SALT", "test-salt-not-a-secret-0123456789")
    found = {}
    for name, workers, chunk_bytes, table in (
        ("usual", 2, lines.CHUNK_BYTES, dedupe._C),
        ("small", 3, 2_000, None),
    ):
        monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / name))
        monkeypatch.setenv(lines.WORKERS_ENV, str(workers))
        monkeypatch.setattr(lines, "CHUNK_BYTES", chunk_bytes)
        monkeypatch.setattr(dedupe, "_C", table)
        seen = []
        for day in DAYS[:2]:
            events.ingest_events(traffic_sources, day)
            path = lake.partition_path("events", "tracking", "events", day)
            manifest = lake.read_manifest(path)
            quarantine = lake.lake_dir() / "quarantine" / "tracking_events" / f"dt={day}"
            state = events.state_dir() / f"dt={day}.parquet"
            seen.append(
                (
                    len(manifest["files"]),
                    sorted(duckdb.sql(f"select * from '{path}/part-*.parquet'").fetchall()),
                    sorted(duckdb.sql(f"select * from '{quarantine}/*.parquet'").fetchall()),
                    [(f["name"], f["duplicates"]) for f in manifest["input_files"]],
                    duckdb.sql(f"select event_id from '{state}'").fetchall(),
                )
            )
        found[name] = seen
    assert [s[0] for s in found["small"]] > [s[0] for s in found["usual"]]  # more parts
    assert [s[1:] for s in found["small"]] == [s[1:] for s in found["usual"]]
    assert found["usual"][1][3] and any(n for _f, n in found["usual"][1][3])  # duplicates


def test_ip_addresses_are_cut_to_their_network(ingested):
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    addresses = [
        a for (a,) in duckdb.sql(f"select distinct ip from read_parquet('{glob}')").fetchall()
    ]
    assert addresses
    assert all(a.endswith("::") if ":" in a else a.endswith(".0") for a in addresses)
