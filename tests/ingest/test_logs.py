"""Server logs into the lake: nginx access logs and application logs, from simulator files and
from a hand-written real-world nginx log."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ingest import lake, logs
from simulator.nginx_log import GATEWAY, route
from tests.conftest import built
from tests.ingest.damage import damaged

ROOT = Path(__file__).resolve().parents[2]
DT = date(2026, 11, 1)


def parquet(path: Path) -> str:
    return f"read_parquet('{path}/part-*.parquet')"


@pytest.fixture(scope="module")
def nginx_day(traffic_sources, module_lake):
    return logs.ingest_logs(traffic_sources, DT)


def test_every_file_accounts_for_every_line(nginx_day, traffic_sources):
    for stream, quarantine in (("nginx/access", "nginx_access"), ("app/entries", "app_entries")):
        source, table = stream.split("/")
        manifest = lake.read_manifest(lake.partition_path("logs", source, table, DT))
        assert manifest["input_files"]
        for entry in manifest["input_files"]:
            with gzip.open(traffic_sources / entry["name"]) as handle:
                assert entry["lines"] == sum(1 for _ in handle)
            assert entry["parsed"] + entry["quarantined"] == entry["lines"]
        q = lake.read_manifest(lake.quarantine_path(quarantine, DT))
        assert manifest["rejected_count"] == q["row_count"]


def test_nginx_requests_and_5xx_by_service_equal_truth(nginx_day, traffic_sources):
    truth = json.loads((traffic_sources / "truth" / f"dt={DT}.json").read_text())
    path = lake.partition_path("logs", "nginx", "access", DT)
    rows = duckdb.sql(f"select method, path, query, status from {parquet(path)}").fetchall()
    requests: dict[str, int] = {}
    errors: dict[str, int] = {}
    for method, target, query, status in rows:
        service = GATEWAY if method is None else route(target + (f"?{query}" if query else ""))
        requests[service] = requests.get(service, 0) + 1
        errors[service] = errors.get(service, 0) + (status >= 500)
    assert requests == truth["requests_by_service"]
    assert {k: v for k, v in errors.items() if v} == {
        k: v for k, v in truth["http_5xx_by_service"].items() if v
    }
    q = lake.read_manifest(lake.quarantine_path("nginx_access", DT))
    assert q["row_count"] == truth["nginx_malformed_lines"]


def test_stack_traces_are_joined_into_one_entry_with_its_trace_id(nginx_day, traffic_sources):
    truth = json.loads((traffic_sources / "truth" / f"dt={DT}.json").read_text())
    path = lake.partition_path("logs", "app", "entries", DT)
    by_service = dict(
        duckdb.sql(
            f"select service, count(*) from {parquet(path)} where level = 'ERROR' group by 1"
        ).fetchall()
    )
    assert by_service == {k: v for k, v in truth["app_errors_by_service"].items() if v}
    assert (
        duckdb.sql(f"select count(*) from {parquet(path)}").fetchone()[0]
        == truth["app_log_entries"]
    )
    errors = duckdb.sql(
        f"select trace_id, exception_class, stack, line_count, message from {parquet(path)} "
        "where level = 'ERROR' and message like 'Unhandled exception%'"
    ).fetchall()
    assert errors
    for trace_id, exception_class, stack, line_count, message in errors:
        assert len(trace_id) == 32 and "traceId" not in message
        assert exception_class and stack.startswith(exception_class)
        assert "\n\tat " in stack and line_count == stack.count("\n") + 2


REAL_WORLD = [
    # IPv6, escaped quote in the user agent (Apache style), unknown trailing fields
    '2001:db8::1 - alice [10/Oct/2026:13:55:36 -0700] "GET /a.html?x=1 HTTP/1.1" 200 2326 '
    '"http://example.com/start" "Mozilla/4.08 \\"compatible\\" [en]" "203.0.113.9" rt=0.2',
    # plain combined, `-` for the byte count and referer
    '192.0.2.7 - - [10/Oct/2026:13:55:37 +0000] "POST /login HTTP/2.0" 302 - "-" "curl/8.4.0"',
    # nginx escape=default: a quote and UTF-8 as \xHH
    '192.0.2.8 - - [10/Oct/2026:23:59:59 +0800] "GET /s?q=%E5%AE%89 HTTP/1.1" 404 153 "-" '
    '"Mozilla/5.0 \\x22x\\x22 \\xE8\\x8D\\xA3\\xE8\\x80\\x80"',
    # not a request at all (TLS on the plain port)
    '192.0.2.9 - - [10/Oct/2026:14:00:00 +0800] "\\x16\\x03\\x01" 400 157 "-" "-"',
    # cut off mid-write
    '192.0.2.10 - - [10/Oct/2026:14:00:01 +0800] "GET /b HTTP/1.1" 200 12 "-" "Mozil',
]


def test_a_real_world_combined_log_parses_and_a_broken_line_is_quarantined(tmp_path, lake_root):
    log = tmp_path / "src" / "logs" / "nginx" / "web-1" / "access.log-2026101013"
    log.parent.mkdir(parents=True)
    log.write_text("\n".join(REAL_WORLD) + "\n")
    result = logs.ingest_nginx(tmp_path / "src", date(2026, 10, 10))
    assert (result.rows, result.rejected, result.lines) == (4, 1, 5)
    rows = (
        duckdb.sql(
            f"select * from {parquet(lake.partition_path('logs', 'nginx', 'access', date(2026, 10, 10)))}"
            " order by line_no"
        )
        .to_arrow_table()
        .to_pylist()
    )
    first, second, third, fourth = rows
    # IPv6 cut to its /48 (ingest.pii, PIPL); was "2001:db8::1" before truncation
    assert first["remote_addr"] == "2001:db8::" and first["remote_user"] == "alice"
    assert str(first["requested_at"]) == "2026-10-11 04:55:36"  # -0700 -> Asia/Shanghai
    assert (first["path"], first["query"], first["status"]) == ("/a.html", "x=1", 200)
    assert first["user_agent"] == 'Mozilla/4.08 \\"compatible\\" [en]'
    assert first["extra"] == '"203.0.113.0" rt=0.2'  # an X-Forwarded-For: cut like remote_addr
    assert first["request_time_s"] is None  # plain combined: no timing fields
    assert second["body_bytes"] is None
    assert second["referer"] is None and second["method"] == "POST"
    assert third["user_agent"] == 'Mozilla/5.0 "x" 荣耀'
    assert fourth["method"] is None and fourth["request"] == "\\x16\\x03\\x01"
    q = duckdb.sql(
        f"select line, reason from {parquet(lake.quarantine_path('nginx_access', date(2026, 10, 10)))}"
    ).fetchall()
    assert q == [(5, "malformed")]


def test_a_dash_for_a_missing_upstream_time_lands_as_null(nginx_day):
    """Static files and 499s have no upstream time (`-`). Several tries (`0.5, 0.3`) are covered
    by test_several_upstream_tries_are_counted_and_summed, on lines of its own: whether a
    simulated day has one depends on the simulator's parameters."""
    path = lake.partition_path("logs", "nginx", "access", DT)
    missing = duckdb.sql(
        f"select count(*) from {parquet(path)} where upstream_response_time_s is null"
    ).fetchone()[0]
    assert missing > 0


def partition_bytes(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.glob("part-*.parquet"))}


def test_a_rerun_gives_identical_partitions(nginx_day, traffic_sources):
    path = lake.partition_path("logs", "nginx", "access", DT)
    before = partition_bytes(path)
    logs.ingest_nginx(traffic_sources, DT)
    assert partition_bytes(path) == before


def test_kill_9_mid_partition_then_rerun_gives_the_same_partition(
    traffic_sources, tmp_path, monkeypatch
):
    env = {**os.environ, "SHIFU_DATA_DIR": str(tmp_path / "data")}
    argv = [
        sys.executable,
        "-m",
        "ingest",
        "logs",
        "--dt",
        DT.isoformat(),
        "--source-dir",
        str(traffic_sources),
    ]
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / "data"))
    path = lake.partition_path("logs", "nginx", "access", DT)
    clean = partition_bytes(path)
    killed = False
    for _ in range(20):
        child = subprocess.Popen(
            argv, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while child.poll() is None and time.monotonic() < deadline:
            if any(path.parent.glob(f".{path.name}.tmp-*/part-*.parquet")):
                child.send_signal(signal.SIGKILL)
                killed = True
                break
            time.sleep(0.002)
        child.wait()
        if killed:
            break
    assert killed, "never caught the loader mid-partition"
    assert partition_bytes(path) == clean  # the old partition is untouched
    subprocess.run(argv, env=env, cwd=ROOT, check=True, capture_output=True)
    assert partition_bytes(path) == clean
    assert not list(path.parent.glob(".*"))


# ---- parallel chunks, fast path, IP truncation, undated files --------------------------------


def built_scanner():
    return built(logs._SCANNER, "ingest/_nginx.c")


def test_the_c_scanner_refuses_buffers_it_would_overrun():
    import numpy as np

    scanner = built_scanner()
    kinds = [np.int64, np.int64, np.int16, np.int64, np.uint8, np.float64, np.uint8, np.float64]
    fixed = tuple(np.empty(3, kind) for kind in kinds + [np.uint8] * 6)
    strings = tuple(b for _ in range(9) for b in (np.empty(10, np.uint8), np.empty(4, np.int32)))
    data, ok = b"x" * 10, np.ones(5, np.uint8)
    offsets = np.array([0, 10, -5, 3], np.int64)  # a line that starts before the data
    assert scanner.parse(data, offsets, 0, 3, ok, fixed + strings) == 0
    with pytest.raises(ValueError, match="too short"):
        scanner.parse(data, offsets, 0, 5, ok, fixed + strings)  # more lines than offsets
    with pytest.raises(ValueError, match="too short"):
        scanner.parse(data * 2, offsets, 0, 3, ok, fixed + strings)  # text buffers too small
    with pytest.raises(ValueError, match="number of output buffers"):
        scanner.parse(data, offsets, 0, 3, ok, fixed)


@pytest.fixture(params=["c", "arrow"])
def fast_path(request, monkeypatch):
    """Each nginx fast path: the C scanner (ingest/_nginx.c, built by `make setup`) and the
    Arrow kernels that stand in for it where it is not built."""
    if request.param == "c":
        built_scanner()
    else:
        monkeypatch.setattr(logs, "_SCANNER", None)
    return request.param


def test_the_fast_path_and_the_sql_parser_agree_line_for_line(traffic_sources, tmp_path, fast_path):
    from ingest import lines

    files = logs.find_files(traffic_sources / "logs" / "nginx", DT, 1)[:6]
    real = tmp_path / "logs" / "nginx" / "web-9" / "access.log-2026101013"
    real.parent.mkdir(parents=True)
    real.write_text("\n".join(REAL_WORLD) + "\n")
    files.append(lines.SourceFile(len(files), real, "nginx/web-9/access.log-2026101013"))
    table = lines.read_chunk(files)
    fast_rows, fast_rejects = logs.parse_nginx(table, files, fast=True)
    sql_rows, sql_rejects = logs.parse_nginx(table, files, fast=False)
    assert fast_rows.num_rows > 0.9 * table.num_rows - 10
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)


def test_the_fast_path_and_the_sql_parser_agree_on_times_at_the_edges(fast_path):
    """$request_time and $upstream_response_time as nginx never writes them but a proxy might:
    long, tiny, many digits (the C scanner takes up to 15 digits), malformed."""
    from ingest import lines

    line = (
        '1.2.3.4 - - [01/Nov/2026:00:05:59 +0800] "GET /a HTTP/2.0" 200 23 "-" "ua" {} {} '
        "e5f3c8096c26c6ec66c9bca37e144874"
    )
    values = ["0.1", "0.004", "12.345", "0.000001", "123456789012345", "1234567890123456"]
    values += ["0.123456789012345", "0.1234567890123456", "99999999999999999999999", "007.50"]
    values += ["352.2458", "3.5334", "0.0009", "0.00024"]  # a / 10^k is not a * (1 / 10^k)
    values += ["0.30000000000000004", "1.", ".5", "-"]
    texts = [line.format(a, b) for a in values for b in ("-", "0.2")]
    files = [lines.SourceFile(0, Path("x"), "nginx/gw-01/access.log-2026110113")]
    table = lines.split_lines(("\n".join(texts) + "\n").encode(), 0)
    fast_rows, fast_rejects = logs.parse_nginx(table, files, fast=True)
    sql_rows, sql_rejects = logs.parse_nginx(table, files, fast=False)
    assert 10 < logs._nginx_fast(table, files)[0].num_rows < len(texts)
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)


def test_the_fast_path_and_the_sql_parser_agree_on_damaged_lines(traffic_sources, fast_path):
    """Lines in the common shape, each damaged at random (a byte replaced, dropped or doubled,
    an impossible date, a field emptied): whatever the fast path takes, it must parse as the
    SQL does, and leave every other line to it."""
    from ingest import lines

    files = logs.find_files(traffic_sources / "logs" / "nginx", DT, 1)
    good = lines.read_chunk(files)["line"].to_pylist()[:1500]
    assert len(good) == 1500
    swaps = [
        ("Nov", "Feb"),
        ("/2026:", "/2023:"),
        ("[0", "[3"),
        ("[0", "[00"),
        (":1", ":6"),
        ("[", "[ "),
        (" +0800", " -1130"),
        (" 200 ", " 2000 "),
        (' "-" ', ' "" '),
        ("HTTP/", "HTTP/x"),
        ("GET", "get"),
        ("?", "??"),
        (" -", " +"),
        (".", ".."),
    ]
    alphabet = [" ", '"', "\\", "-", "?", "a", "0", "9", ".", "\t", "é", "[", "]", ":", "/"]
    broken = damaged(good, 11, alphabet, swaps)
    lines_ = good[:300] + broken + ["", " ", "-"]
    files = [lines.SourceFile(0, Path("x"), "nginx/gw-01/access.log-2026110113")]
    table = lines.split_lines(("\n".join(lines_) + "\n").encode(), 0)
    fast_rows, fast_rejects = logs.parse_nginx(table, files, fast=True)
    sql_rows, sql_rejects = logs.parse_nginx(table, files, fast=False)
    taken, _ = logs._nginx_fast(table, files)
    assert 300 <= taken.num_rows < len(lines_) - 300  # both paths had work to do
    if not fast_rows.equals(sql_rows):
        for name in fast_rows.column_names:
            a, b = fast_rows[name].to_pylist(), sql_rows[name].to_pylist()
            for k, (x, y) in enumerate(zip(a, b, strict=True)):
                assert x == y, (name, x, y, lines_[fast_rows["line_no"][k].as_py() - 1])
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)


def test_ip_addresses_are_cut_to_their_network_in_the_partition(nginx_day):
    path = lake.partition_path("logs", "nginx", "access", DT)
    addresses = [
        a for (a,) in duckdb.sql(f"select distinct remote_addr from {parquet(path)}").fetchall()
    ]
    assert any(":" in a for a in addresses) and any("." in a for a in addresses)
    for address in addresses:
        if ":" in address:
            assert address.endswith("::"), address
        else:
            assert address.endswith(".0"), address


def test_a_log_file_without_a_date_in_its_name_is_reported_not_dropped(tmp_path, lake_root):
    host = tmp_path / "src" / "logs" / "nginx" / "web-1"
    host.mkdir(parents=True)
    (host / "access.log-2026101013").write_text(REAL_WORLD[1] + "\n")
    (host / "access.log").write_text(REAL_WORLD[1] + "\n")
    result = logs.ingest_nginx(tmp_path / "src", date(2026, 10, 10))
    assert result.rows == 1 and "WARNING" in result.message and "access.log" in result.message
    manifest = lake.read_manifest(
        lake.partition_path("logs", "nginx", "access", date(2026, 10, 10))
    )
    assert manifest["skipped_files"] == [
        {"name": "logs/nginx/web-1/access.log", "reason": "no date stamp in the file name"}
    ]


def test_many_small_chunks_give_the_same_rows_as_one(traffic_sources, tmp_path, monkeypatch):
    """Chunking is an implementation detail: the rows do not depend on it."""
    from ingest import lines

    def rows(data: Path) -> list:
        monkeypatch.setenv("SHIFU_DATA_DIR", str(data))
        monkeypatch.setenv("SHIFU_PII_SALT", "test-salt-not-a-secret-0123456789")
        logs.ingest_nginx(traffic_sources, DT)
        path = lake.partition_path("logs", "nginx", "access", DT)
        return duckdb.sql(f"select * exclude (file) from {parquet(path)}").fetchall()

    one = rows(tmp_path / "one")
    monkeypatch.setattr(lines, "CHUNK_BYTES", 20_000)
    many = rows(tmp_path / "many")
    assert one == many
    assert len(list(lake.partition_path("logs", "nginx", "access", DT).glob("part-*"))) > 3


def test_several_upstream_tries_are_counted_and_summed(tmp_path, lake_root):
    """Independent of the simulated day (its faults vary with the simulator's parameters)."""
    rid = "fc03098ee46a1da0fc9882585ecddb40"
    head = '203.0.113.7 - - [10/Oct/2026:14:00:01 +0800] "GET /api/v1/orders/1 HTTP/2.0"'
    text = "\n".join(
        [
            f'{head} 502 0 "-" "okhttp/4" 0.120 0.004, 0.100 : 0.002 {rid}',
            f'{head} 200 12 "-" "okhttp/4" 0.010 0.009 {rid}',
            f'{head} 200 12 "-" "okhttp/4" 0.010 - {rid}',
        ]
    )
    log = tmp_path / "src" / "logs" / "nginx" / "web-1" / "access.log-2026101014"
    log.parent.mkdir(parents=True)
    log.write_text(text + "\n")
    logs.ingest_nginx(tmp_path / "src", date(2026, 10, 10))
    path = lake.partition_path("logs", "nginx", "access", date(2026, 10, 10))
    rows = duckdb.sql(
        f"select upstream_attempts, round(upstream_response_time_s, 3), remote_addr "
        f"from {parquet(path)} order by line_no"
    ).fetchall()
    assert rows == [(3, 0.106, "203.0.113.0"), (1, 0.009, "203.0.113.0"), (1, None, "203.0.113.0")]


def test_client_addresses_are_cut_in_extra_fields_and_in_quarantined_lines(tmp_path, lake_root):
    """ods_nginx__access_rejected reads the quarantine's raw text: the client address there
    (and in unknown trailing fields such as an X-Forwarded-For) is cut like remote_addr, even
    in a line cut off inside the address."""
    rid = "fc03098ee46a1da0fc9882585ecddb40"
    text = "\n".join(
        [
            '2001:db8:aa:bb::7 - - [10/Oct/2026:14:00:01 +0800] "GET /a HTTP/2.0" 200 1 "-" '
            f'"okhttp/4" 0.010 0.009 {rid} "198.51.100.23, 2408:8456:36de:ed6::960"',
            f'203.0.113.7 - - [10/Oct/2026:14:00:02 +0800] "GET /b HTTP/2.0" 200 1 "-" "x" 0.1 0.1 {rid}',
            "2409:8a28:7895:5daa:ca1",
            '198.51.100.99 - - [10/Oct/2026:14:00:03 +0800] "GET /c HTTP/2.0" 200 1 "-" "Mozil',
        ]
    )
    log = tmp_path / "src" / "logs" / "nginx" / "web-1" / "access.log-2026101014"
    log.parent.mkdir(parents=True)
    log.write_text(text + "\n")
    logs.ingest_nginx(tmp_path / "src", date(2026, 10, 10))
    path = lake.partition_path("logs", "nginx", "access", date(2026, 10, 10))
    rows = duckdb.sql(f"select remote_addr, extra from {parquet(path)} order by line_no").fetchall()
    assert rows == [("2001:db8:aa::", '"198.51.100.0, 2408:8456:36de::"'), ("203.0.113.0", None)]
    quarantine = lake.quarantine_path("nginx_access", date(2026, 10, 10))
    raws = duckdb.sql(f"select raw from {parquet(quarantine)} order by line").fetchall()
    assert [r for (r,) in raws] == [
        "2409:8a28:7895::",
        '198.51.100.0 - - [10/Oct/2026:14:00:03 +0800] "GET /c HTTP/2.0" 200 1 "-" "Mozil',
    ]


def test_raw_file_copies_are_kept_for_the_configured_days_only(lake_root, monkeypatch):
    """The copies kept for replay hold personal data in clear text: older ones are deleted."""
    from ingest import lines

    area = lines.raw_files_dir() / "logs" / "nginx" / "web-1"
    area.mkdir(parents=True)
    for name in ("access.log-2026100923", "access.log-2026100800", "access.log"):
        (area / name).write_text("x\n")
    dt = date(2026, 11, 8)
    day_of = lambda p: logs.file_day(p.name)  # noqa: E731
    monkeypatch.setenv(lines.RAW_FILES_DAYS_ENV, "forever")
    assert lines.prune_raw_files("logs/nginx", dt, day_of) == []
    monkeypatch.delenv(lines.RAW_FILES_DAYS_ENV)  # default: 30 days before dt
    assert lines.prune_raw_files("logs/nginx", dt, day_of) == [
        "logs/nginx/web-1/access.log-2026100800"
    ]
    monkeypatch.setenv(lines.RAW_FILES_DAYS_ENV, "1")
    assert lines.prune_raw_files("logs/nginx", dt, day_of) == [
        "logs/nginx/web-1/access.log-2026100923"
    ]
    assert [p.name for p in area.iterdir()] == ["access.log"]  # no date: never guessed
