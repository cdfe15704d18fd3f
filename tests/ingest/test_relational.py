"""Relational extraction: types, windows, schema drift, retired tables, safe identifiers."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import psycopg2
import pyarrow.parquet as pq
import pymysql
import pytest
from sqlalchemy.engine import make_url

from ingest import lake, mysql_scan
from ingest.identifiers import InvalidIdentifier
from ingest.relational import Source, extract_tables
from ingest.sources import TableConfig, load, table_config
from tests.ingest.conftest import ROOT, simulate

DT = date(2026, 11, 1)


def mysql_connect(url: str) -> pymysql.Connection:
    parsed = make_url(url)
    return pymysql.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        database=parsed.database,
        charset="utf8mb4",
        autocommit=True,
    )


def run(
    url: str,
    database: str | None,
    tables: list[TableConfig] | None,
    dt: date = DT,
    source: str = "src",
):
    return extract_tables(Source(source, url, database), tables, dt)


def only(results):
    assert len(results) == 1, results
    return results[0]


@pytest.mark.parametrize("engine", ["connectorx", "duckdb"])
def test_every_mysql_type_keeps_its_meaning(mariadb_url, lake_root, engine, monkeypatch):
    if engine == "duckdb":  # the path of tables without a single integer key
        monkeypatch.setattr(mysql_scan, "connectorx", None)
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("SET sql_mode = ''")  # allows zero dates, as legacy servers do
        cur.execute("SET time_zone = '+00:00'")
        cur.execute("""CREATE TABLE typed (
            id INT PRIMARY KEY, money DECIMAL(38, 10), at DATETIME(6), stamped TIMESTAMP NULL,
            kind ENUM('install', 'repair'), tags SET('a', 'b', 'c'), doc JSON, payload BLOB,
            yr YEAR, flags BIT(10), flag BIT(1), big BIGINT UNSIGNED, born DATE,
            seen DATETIME, name VARCHAR(20), tiny TINYINT(1), took TIME(3))""")
        cur.execute("""INSERT INTO typed VALUES (1, 12345678901234567890.0123456789,
            '2026-11-01 23:59:59.123456', '2026-11-01 16:30:00', 'repair', 'a,c',
            '{"skills": ["空调"]}', x'00ff10', 2026, b'1010101010', b'1', 18446744073709551615,
            '0000-00-00', '2026-00-15 10:00:00', '😀 师傅', 2, '-12:30:00.5')""")
        cur.execute("INSERT INTO typed (id) VALUES (2)")
    result = only(run(mariadb_url, None, [TableConfig("typed")]))
    assert result.status == "ok", result.message
    assert result.manifest["engine"] == engine
    partition = lake.partition_path("mysql", "src", "typed", DT)
    table = pq.read_table(partition)
    row = table.to_pylist()[0]
    assert row["money"] == Decimal("12345678901234567890.0123456789")
    assert str(table.schema.field("money").type) == "decimal128(38, 10)"
    assert row["at"] == datetime(2026, 11, 1, 23, 59, 59, 123456)
    assert row["stamped"] == datetime(2026, 11, 2, 0, 30)  # 16:30 UTC is 00:30 in Shanghai
    assert (row["kind"], row["tags"]) == ("repair", "a,c")
    assert row["doc"] == '{"skills": ["空调"]}'
    assert row["payload"] == b"\x00\xff\x10"
    assert row["yr"] == 2026
    assert int.from_bytes(row["flags"], "big") == 0b1010101010 and row["flag"] is True
    assert row["big"] == 2**64 - 1
    assert row["born"] is None and row["seen"] is None  # zero and partial dates -> NULL ...
    assert result.manifest["zero_dates"] == {"born": 1, "seen": 1}  # ... and counted
    assert row["name"] == "😀 师傅"
    assert row["tiny"] == 2  # TINYINT(1) is a number, not a boolean
    assert row["took"] == "-12:30:00.500"  # TIME is a duration, possibly negative: text
    assert table.to_pylist()[1]["money"] is None
    assert result.manifest["row_count"] == 2 and result.manifest["rejected_count"] == 0
    if engine == "connectorx":
        # Zero dates made the fast path read dates as text, and the next run starts so:
        # the same bytes either way.
        assert result.manifest["dates_as_text"] is True
        files = {p.name: p.read_bytes() for p in partition.glob("part-*")}
        again = only(run(mariadb_url, None, [TableConfig("typed")]))
        assert again.manifest["zero_dates"] == {"born": 1, "seen": 1}
        assert {p.name: p.read_bytes() for p in partition.glob("part-*")} == files


def test_incremental_takes_the_cursor_window_with_lookback(sqlite_sources, lake_root):
    table = TableConfig("service_order", "incremental", cursor="updated_at", lookback_minutes=120)
    run(f"sqlite:///{sqlite_sources}", "shifu", [table], date(2026, 11, 1))  # the initial load
    result = only(run(f"sqlite:///{sqlite_sources}", "shifu", [table], date(2026, 11, 2)))
    con = sqlite3.connect(sqlite_sources / "shifu.sqlite")
    (expected,) = con.execute(
        "SELECT count(*) FROM service_order WHERE updated_at >= '2026-11-01 22:00:00' "
        "AND updated_at < '2026-11-03 00:00:00'"
    ).fetchone()
    assert result.rows == expected > 0
    ids = (
        pq.read_table(lake.partition_path("sqlite", "src", "service_order", date(2026, 11, 2)))
        .column("id")
        .to_pylist()
    )
    assert ids == sorted(ids)  # deterministic order: by primary key
    assert result.manifest["watermark"] == {
        "column": "updated_at",
        "from": "2026-11-01 22:00:00",
        "to": "2026-11-03 00:00:00",
        "initial_load": False,
    }


def test_the_first_incremental_extract_is_an_initial_load_of_all_history(sqlite_sources, lake_root):
    """Accounts created before the first night (2023..) are landed on that night, and a rerun of
    the first night after the second still lands them: the lake, not the state, decides."""
    table = TableConfig("user_account", "incremental", cursor="updated_at", lookback_minutes=120)
    url = f"sqlite:///{sqlite_sources}"
    con = sqlite3.connect(sqlite_sources / "shifu.sqlite")
    (history,) = con.execute(
        "SELECT count(*) FROM user_account WHERE updated_at < '2026-11-01 00:00:00'"
    ).fetchone()
    (through_day_one,) = con.execute(
        "SELECT count(*) FROM user_account WHERE updated_at < '2026-11-02 00:00:00'"
    ).fetchone()
    assert history > 50, "the simulated platform has accounts from before the first night"
    first = only(run(url, "shifu", [table], date(2026, 11, 1)))
    assert first.rows == through_day_one
    assert first.manifest["watermark"]["initial_load"] is True
    assert first.manifest["watermark"]["from"] is None
    partition = lake.partition_path("sqlite", "src", "user_account", date(2026, 11, 1))
    before = {p.name: p.read_bytes() for p in partition.glob("part-*.parquet")}
    second = only(run(url, "shifu", [table], date(2026, 11, 2)))
    assert second.manifest["watermark"]["initial_load"] is False
    assert second.rows < through_day_one
    rerun = only(run(url, "shifu", [table], date(2026, 11, 1)))
    assert rerun.rows == first.rows
    assert {p.name: p.read_bytes() for p in partition.glob("part-*.parquet")} == before


def test_postgres_tables_are_extracted(postgres_url, lake_root, tmp_path):
    simulate(postgres_url, "--days", "1", output_dir=tmp_path / "out")
    results = run(postgres_url, "shifu", None)
    assert {r.status for r in results} == {"ok"}
    conn = psycopg2.connect(postgres_url.replace("postgresql+psycopg2", "postgresql"))
    with conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM shifu.service_order")
        (orders,) = cur.fetchone()
    conn.close()
    by_table = {r.table: r for r in results}
    assert by_table["service_order"].rows == orders > 0
    schema = dict((f["name"], f["type"]) for f in by_table["service_order"].manifest["schema"])
    assert schema["order_amount"] == "decimal128(12, 2)"


def test_a_new_column_is_carried_and_recorded(mariadb_url, lake_root):
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))")
        cur.execute("INSERT INTO t VALUES (1, 'x')")
        only(run(mariadb_url, None, [TableConfig("t")]))
        cur.execute("ALTER TABLE t ADD COLUMN b DECIMAL(5, 1)")
    result = only(run(mariadb_url, None, [TableConfig("t")], date(2026, 11, 2)))
    assert result.status == "ok"
    assert result.manifest["schema_changes"]["added"] == [{"name": "b", "type": "DECIMAL(5,1)"}]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ("ALTER TABLE t DROP COLUMN a", "column a dropped (was VARCHAR)"),
        ("ALTER TABLE t MODIFY a BIGINT", "column a retyped from VARCHAR to BIGINT"),
    ],
)
def test_a_dropped_or_retyped_column_fails_the_table(mariadb_url, lake_root, change, expected):
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, a VARCHAR(10))")
        cur.execute("CREATE TABLE other (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO t VALUES (1, '7')")
        run(mariadb_url, None, None)
        cur.execute(change)
    results = {r.table: r for r in run(mariadb_url, None, None, date(2026, 11, 2))}
    assert results["t"].status == "failed"
    assert "table t" in results["t"].message and expected in results["t"].message
    assert results["other"].status == "ok"  # one table's drift does not stop the others
    allowed = TableConfig("t", allow_schema_change=True)
    assert only(run(mariadb_url, None, [allowed], date(2026, 11, 2))).status == "ok"


def test_a_table_gone_after_the_split_is_retired_not_retried(tmp_path, lake_root):
    db = tmp_path / "db"
    simulate(str(tmp_path), "--days", "2", "--split-date", "2026-11-02")
    url = f"sqlite:///{db}"
    (tmp_path / "pre").mkdir()
    # Before the split: snapshot the monolith as it was (a copy taken on day one).
    simulate(str(tmp_path / "pre"), "--days", "1")
    assert (
        only(
            run(
                f"sqlite:///{tmp_path / 'pre' / 'db'}",
                "shifu",
                [TableConfig("master_quote")],
                source="shifu",
            )
        ).status
        == "ok"
    )
    first = only(run(url, "shifu", [TableConfig("master_quote")], date(2026, 11, 2), "shifu"))
    assert (first.status, first.message) == (
        "retired",
        "table no longer exists in the source; retired as of 2026-11-02",
    )
    again = only(run(url, "shifu", [TableConfig("master_quote")], date(2026, 11, 3), "shifu"))
    assert (again.status, again.message) == ("retired", "retired on 2026-11-02")


def test_a_missing_table_that_was_never_seen_fails(sqlite_sources, lake_root):
    result = only(run(f"sqlite:///{sqlite_sources}", "shifu", [TableConfig("no_such_table")]))
    assert result.status == "failed" and "no_such_table does not exist" in result.message


HOSTILE = 'x"; drop table y; --'


def test_a_hostile_table_name_is_rejected_before_any_sql_runs(mariadb_url, lake_root):
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE y (id INT PRIMARY KEY)")
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest",
            "relational",
            "--source-url",
            mariadb_url,
            "--source",
            "src",
            "--tables",
            HOSTILE,
            "--mode",
            "full",
            "--dt",
            "2026-11-01",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert "is not allowed" in completed.stderr
    with conn.cursor() as cur:
        cur.execute("SHOW TABLES")
        assert cur.fetchall() == (("y",),)
    assert not lake_root.exists()


@pytest.mark.parametrize("field", ["name", "cursor", "primary_key"])
def test_hostile_identifiers_in_the_yaml_are_rejected(field):
    spec = {"mode": "incremental", "cursor": "updated_at"}
    name = "t"
    if field == "name":
        name = HOSTILE
    else:
        spec[field] = HOSTILE
    with pytest.raises(InvalidIdentifier):
        table_config(name, spec)


def test_passwords_never_appear_in_messages(lake_root):
    url = "mysql+pymysql://reader:s3cret-pw@127.0.0.1:1/shop"
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "ingest",
            "relational",
            "--source-url",
            url,
            "--source",
            "shop",
            "--tables",
            "t",
            "--dt",
            "2026-11-01",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode != 0
    assert "s3cret-pw" not in completed.stdout + completed.stderr
    assert "***" in completed.stderr


def test_the_default_yaml_reads_the_simulator_sqlite_sources(tmp_path):
    config = load(env={"SHIFU_DATA_DIR": str(tmp_path)})
    assert config["shifu"].url == f"sqlite:///{tmp_path}/sources/db"
    assert config["shifu"].tables["review"].mode == "full"
    assert config["svc_order"].optional


def test_ingest_all_runs_every_configured_table(sqlite_sources, lake_root, monkeypatch):
    monkeypatch.setenv("SHIFU_SOURCE_URL", f"sqlite:///{sqlite_sources}")
    completed = subprocess.run(
        [sys.executable, "-m", "ingest", "all", "--dt", "2026-11-02"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr
    assert "service_order" in completed.stdout and "absent" in completed.stdout
    assert Path(lake.partition_path("sqlite", "shifu", "review", date(2026, 11, 2))).is_dir()


def test_postgres_timestamptz_lands_as_shanghai_wall_time(postgres_url, lake_root):
    conn = psycopg2.connect(postgres_url.replace("postgresql+psycopg2", "postgresql"))
    conn.autocommit = True
    with conn.cursor() as cur:
        name = make_url(postgres_url).database
        # A session zone far from Shanghai: the result must not depend on it.
        cur.execute(f"ALTER DATABASE \"{name}\" SET timezone = 'America/New_York'")
        cur.execute("CREATE SCHEMA shop")
        cur.execute("CREATE TABLE shop.t (id INT PRIMARY KEY, at TIMESTAMPTZ, plain TIMESTAMP)")
        cur.execute(
            "INSERT INTO shop.t VALUES (1, '2026-11-01 16:30:00+00', '2026-11-01 10:00:00'), "
            "(2, '2026-11-01 15:59:00+00', NULL)"
        )
    conn.close()
    result = only(run(postgres_url, "shop", [TableConfig("t")]))
    assert result.status == "ok", result.message
    table = pq.read_table(lake.partition_path("postgres", "src", "t", DT))
    assert str(table.schema.field("at").type) == "timestamp[us]"  # naive: Shanghai wall time
    assert table.column("at").to_pylist() == [
        datetime(2026, 11, 2, 0, 30),  # 16:30 UTC
        datetime(2026, 11, 1, 23, 59),
    ]
    assert table.column("plain").to_pylist()[0] == datetime(2026, 11, 1, 10, 0)  # unchanged
    incremental = TableConfig("t", "incremental", cursor="at", lookback_minutes=0)
    result = only(run(postgres_url, "shop", [incremental], date(2026, 11, 2)))
    assert result.status == "ok", result.message
    partition = lake.partition_path("postgres", "src", "t", date(2026, 11, 2))
    assert pq.read_table(partition).column("id").to_pylist() == [1]  # 11-02 in Shanghai only


def test_mysql_rerun_for_the_same_dt_gives_identical_files(mariadb_url, lake_root):
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TABLE t (id BIGINT PRIMARY KEY, amount DECIMAL(12, 2), at DATETIME, "
            "note VARCHAR(40))"
        )
        cur.execute(
            "INSERT INTO t SELECT seq, seq / 7, '2026-11-01' + INTERVAL seq SECOND, "
            "CONCAT('师傅 ', seq) FROM seq_1_to_20000"
        )
        cur.execute("DELETE FROM t WHERE id % 3 = 0")  # gaps in the key
    first = only(run(mariadb_url, None, [TableConfig("t")]))
    partition = lake.partition_path("mysql", "src", "t", DT)
    files = {p.name: p.read_bytes() for p in partition.glob("part-*.parquet")}
    manifest = {k: v for k, v in first.manifest.items() if not k.endswith("_at")}
    # Other key ranges (as a changed row estimate would give) must not change a byte.
    mysql_scan_rows, mysql_scan.RANGE_ROWS = mysql_scan.RANGE_ROWS, 1000
    try:
        again = only(run(mariadb_url, None, [TableConfig("t")]))
    finally:
        mysql_scan.RANGE_ROWS = mysql_scan_rows
    assert again.status == "ok" and again.manifest["key_ranges"] != first.manifest["key_ranges"]
    assert {p.name: p.read_bytes() for p in partition.glob("part-*.parquet")} == files
    assert {
        k: v for k, v in again.manifest.items() if not k.endswith("_at") and k != "key_ranges"
    } == {k: v for k, v in manifest.items() if k != "key_ranges"}
    assert again.rows == 20000 - 20000 // 3


def test_an_empty_mysql_table_gives_a_partition_with_its_schema(mariadb_url, lake_root):
    conn = mysql_connect(mariadb_url)
    with conn.cursor() as cur:
        cur.execute("CREATE TABLE t (id INT PRIMARY KEY, amount DECIMAL(12, 2), at DATETIME)")
    result = only(run(mariadb_url, None, [TableConfig("t")]))
    assert (result.status, result.rows, result.manifest["engine"]) == ("ok", 0, "connectorx")
    table = pq.read_table(lake.partition_path("mysql", "src", "t", DT))
    assert table.num_rows == 0
    assert [str(t) for t in table.schema.types] == ["int32", "decimal128(12, 2)", "timestamp[us]"]
