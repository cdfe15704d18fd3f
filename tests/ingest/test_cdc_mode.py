"""`mode: cdc` in the sources YAML: `python -m ingest all` snapshots a table once, then lands its
binlog changes as typed rows that rebuild the live table with plain SQL."""

from __future__ import annotations

import uuid
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest

from ingest import extensions, lake
from ingest.__main__ import main
from ingest.relational import Source, extract_tables
from ingest.sources import ConfigError, load

TYPED_TABLE = """CREATE TABLE orders (
    id BIGINT UNSIGNED PRIMARY KEY, amount DECIMAL(38, 10), at DATETIME(6), stamped TIMESTAMP NULL,
    kind ENUM('install', 'repair'), tags SET('a', 'b', 'c'), doc JSON, payload BLOB, yr YEAR,
    flags BIT(10), flag BIT(1), born DATE, took TIME(3), name VARCHAR(20), tiny TINYINT(1))"""
ROW = (
    "({id}, 12345678901234567890.0123456789, '2026-11-01 23:59:59.123456', "
    "'2026-11-01 16:30:00', 'repair', 'c,a', '{{\"skills\": [\"空调\"]}}', x'00ff10', 2026, "
    "b'1010101010', b'1', '2026-11-01', '-12:30:00.5', '😀 师傅 {id}', 2)"
)


def write_yaml(path: Path, url: str, database: str) -> Path:
    path.write_text(
        f"""sources:
  shop:
    url: {url}
    database: {database}
    tables:
      orders: {{mode: cdc}}
      region: {{mode: full}}
"""
    )
    return path


@pytest.fixture
def shop(binlog_mariadb, lake_root, tmp_path):
    """A database of the test's own on the binlog server, and a sources YAML pointing at it."""
    database = f"m{uuid.uuid4().hex[:8]}"
    conn = pymysql.connect(**binlog_mariadb.connection_settings, charset="utf8mb4", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE {database} CHARACTER SET utf8mb4")
        cur.execute(f"USE {database}")
        cur.execute("SET time_zone = '+00:00'")
        cur.execute(TYPED_TABLE)
        cur.execute("CREATE TABLE region (id INT PRIMARY KEY, name VARCHAR(10))")
        cur.execute("INSERT INTO region VALUES (1, 'Beijing')")
        cur.execute("INSERT INTO orders VALUES " + ", ".join(ROW.format(id=i) for i in (1, 2, 3)))
    yield {
        "conn": conn,
        "cursor": conn.cursor(),
        "database": database,
        "url": binlog_mariadb.url,
        "yaml": write_yaml(tmp_path / "sources.yml", binlog_mariadb.url, database),
    }
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE {database}")
    conn.close()


def run_all(shop, dt: str) -> int:
    return main(["all", "--dt", dt, "--config", str(shop["yaml"])])


def test_cdc_tables_are_snapshotted_once_then_followed_in_the_binlog(shop, capsys):
    assert run_all(shop, "2026-11-01") == 0
    out = capsys.readouterr().out
    assert "cdc-initial" in out and "region" in out
    snapshots = lake.lake_dir() / "raw" / "mysql" / "shop" / "orders"
    assert [p.name for p in snapshots.glob("dt=*")] == ["dt=2026-11-01"]
    assert lake.read_state("cdc", "shop", "_binlog")["file"]

    cur = shop["cursor"]
    cur.execute("SET time_zone = '+00:00'")
    cur.execute("INSERT INTO orders VALUES " + ROW.format(id=4))
    cur.execute(
        "UPDATE orders SET amount = 0.5, tags = 'b', stamped = '2026-11-02 01:00:00' WHERE id = 2"
    )
    cur.execute("UPDATE orders SET flag = b'0', took = '838:59:59' WHERE id = 4")
    cur.execute("DELETE FROM orders WHERE id = 1")  # a hard delete
    assert run_all(shop, "2026-11-02") == 0
    assert [p.name for p in snapshots.glob("dt=*")] == ["dt=2026-11-01"]  # not snapshotted again
    changes = pq.read_table(lake.lake_dir() / "raw" / "cdc" / "shop" / "orders")
    assert sorted(changes.column("_op").to_pylist()) == ["delete", "insert", "update", "update"]

    # A fresh snapshot of the live table, to compare with snapshot + changes.
    fresh = extract_tables(Source("live", shop["url"], shop["database"]), None, date(2026, 11, 2))
    assert {r.status for r in fresh} == {"ok"}
    live = pq.read_table(lake.partition_path("mysql", "live", "orders", date(2026, 11, 2)))
    assert reconstruct("shop", "orders", date(2026, 11, 1), live.schema.names).equals(live)


def reconstruct(source: str, table: str, snapshot_dt: date, columns: list[str]):
    """The table as ODS would merge it: snapshot rows without a later change, plus the latest
    change of each key unless it is a delete. Plain SQL, no JSON."""
    snapshot = lake.partition_path("mysql", source, table, snapshot_dt)
    changes = lake.lake_dir() / "raw" / "cdc" / source / table
    names = ", ".join(f'"{c}"' for c in columns)
    con = extensions.connect()
    try:
        return con.execute(
            f"""
            with
            snapshot as (select * from read_parquet('{snapshot}/part-*.parquet')),
            changes as (
                select * from read_parquet('{changes}/dt=*/part-*.parquet', union_by_name = true)
            ),
            latest as (
                select * from changes
                qualify row_number() over (
                    partition by id order by _binlog_file desc, _binlog_pos desc, _row desc
                ) = 1
            ),
            merged as (
                select {names} from snapshot where id not in (select id from latest)
                union all
                select {names} from latest where _op <> 'delete'
            )
            select * from merged order by id
            """
        ).to_arrow_table()
    finally:
        con.close()


def test_cdc_mode_on_a_source_without_a_binlog_is_rejected(tmp_path):
    path = write_yaml(tmp_path / "sources.yml", f"sqlite:///{tmp_path}", "shop")
    with pytest.raises(ConfigError, match="mode cdc .* reads a MySQL/MariaDB binlog"):
        load(path, env={})


def test_changes_of_a_table_dropped_since_still_land_as_text(shop):
    assert run_all(shop, "2026-11-01") == 0
    cur = shop["cursor"]
    cur.execute("UPDATE orders SET amount = 7 WHERE id = 3")
    cur.execute("DROP TABLE orders")  # e.g. the legacy tables after the microservice split
    assert run_all(shop, "2026-11-02") == 0
    (change,) = pq.read_table(lake.lake_dir() / "raw" / "cdc" / "shop" / "orders").to_pylist()
    assert (change["_op"], change["id"], change["amount"]) == ("update", "3", "7.0000000000")
