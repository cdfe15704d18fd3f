"""Binlog CDC on a MariaDB of the session's own: snapshot + changes == the live table."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pymysql
import pytest

from ingest import cdc, lake
from ingest.relational import Source, extract_tables
from simulator.database import _canonical
from tests.ingest.conftest import simulate

pytestmark = pytest.mark.slow
TABLES = ("service_order", "master_quote", "master", "order_status_log")


@pytest.fixture(scope="module")
def scenario(binlog_mariadb, tmp_path_factory):
    """Day 1 simulated and snapshotted; day 2 simulated on top; CDC run once."""
    root = tmp_path_factory.mktemp("cdc")
    prefix = f"c{uuid.uuid4().hex[:6]}_"
    database = f"{prefix}shifu"
    patch = pytest.MonkeyPatch()
    patch.setenv("SHIFU_DATA_DIR", str(root / "data"))
    common = ("--schema-prefix", prefix)
    simulate(binlog_mariadb.url, "--days", "1", *common, output_dir=root / "sim")
    source = Source("shifu", binlog_mariadb.url, database)
    snapshot = extract_tables(source, None, date(2026, 11, 1))
    assert {r.status for r in snapshot} == {"ok"}, [r.message for r in snapshot]
    simulate(binlog_mariadb.url, "--append", "--days", "1", *common, output_dir=root / "sim")
    results = cdc.capture(binlog_mariadb.url, "shifu", database)
    yield {"server": binlog_mariadb, "database": database, "results": results, "root": root}
    patch.undo()


def live_rows(server, database: str, table: str) -> dict:
    conn = pymysql.connect(**server.connection_settings, database=database, charset="utf8mb4")
    with conn.cursor() as cur:
        cur.execute(f"SELECT * FROM `{table}`")
        names = [d[0] for d in cur.description]
        rows = {row[0]: canonical(dict(zip(names, row, strict=True))) for row in cur.fetchall()}
    conn.close()
    return rows


def canonical(row: dict) -> dict:
    return {k: _canonical(v) for k, v in row.items()}


def cdc_changes(table: str) -> list[dict]:
    folder = lake.lake_dir() / "raw" / "cdc" / "shifu" / table
    if not folder.exists():
        return []
    rows = pq.read_table(folder).to_pylist()  # dt=... partitions
    return sorted(rows, key=lambda r: (r["_binlog_file"], r["_binlog_pos"], r["_row"]))


def test_cdc_run_succeeds_with_every_op(scenario):
    results = {r.table: r for r in scenario["results"]}
    assert all(r.status == "ok" for r in results.values()), scenario["results"]
    assert "delete" in results["master_quote"].message  # hard deletes reached the lake
    assert "update" in results["service_order"].message


@pytest.mark.parametrize("table", TABLES)
def test_snapshot_plus_changes_reproduces_the_live_table(scenario, table):
    partition = lake.partition_path("mysql", "shifu", table, date(2026, 11, 1))
    rows = {r["id"]: canonical(r) for r in pq.read_table(partition).to_pylist()}
    columns = pq.read_schema(next(partition.glob("part-*.parquet"))).names
    for change in cdc_changes(table):
        if change["_op"] == "delete":
            rows.pop(change["id"], None)
        else:
            rows[change["id"]] = canonical({c: change[c] for c in columns})
    assert rows == live_rows(scenario["server"], scenario["database"], table)


def test_change_records_carry_the_snapshot_types_and_the_before_image(scenario):
    snapshot = pq.read_schema(
        next(
            lake.partition_path("mysql", "shifu", "service_order", date(2026, 11, 1)).glob("part-*")
        )
    )
    changes = pq.read_table(lake.lake_dir() / "raw" / "cdc" / "shifu" / "service_order")
    typed = changes.schema
    assert [typed.field(n).type for n in snapshot.names] == list(snapshot.types)
    assert typed.names[:6] == [
        "_op",
        "_binlog_file",
        "_binlog_pos",
        "_row",
        "_commit_at",
        "_before",
    ]
    update = next(r for r in changes.to_pylist() if r["_op"] == "update")
    before = json.loads(update["_before"])
    assert before["id"] == update["id"] and sorted(before) == sorted(snapshot.names)
    assert all(r["_before"] is None for r in changes.to_pylist() if r["_op"] != "update")


def test_partitions_are_by_commit_date_in_shanghai(scenario):
    changes = cdc_changes("service_order")
    days = sorted(
        Path(p).name
        for p in (lake.lake_dir() / "raw" / "cdc" / "shifu" / "service_order").glob("dt=*")
    )
    assert days == sorted({f"dt={c['_commit_at'].date()}" for c in changes})
    assert "dt=2026-11-02" in days


def test_a_replayed_range_adds_no_duplicates(scenario):
    before = {t: len(cdc_changes(t)) for t in TABLES}
    state = lake.read_state("cdc", "shifu", "_binlog")
    results = cdc.capture(
        scenario["server"].url, "shifu", scenario["database"], start_position="snapshot"
    )  # replays everything since the snapshot
    assert all(r.status == "ok" for r in results), results
    assert {t: len(cdc_changes(t)) for t in TABLES} == before
    keys = [(c["_binlog_file"], c["_binlog_pos"], c["_row"]) for c in cdc_changes("master")]
    assert len(keys) == len(set(keys))
    assert lake.read_state("cdc", "shifu", "_binlog")["file"] == state["file"]


def test_good_plus_bad_equals_read_for_cdc(scenario):
    for result in scenario["results"]:
        manifests = [
            lake.read_manifest(p)
            for p in (lake.lake_dir() / "raw" / "cdc" / "shifu" / result.table).glob("dt=*")
        ]
        assert sum(m["row_count"] + m["rejected_count"] for m in manifests) == result.rows


def test_a_purged_position_fails_loudly_with_the_resnapshot_command(scenario):
    server = scenario["server"]
    state = lake.read_state("cdc", "shifu", "_binlog")
    conn = pymysql.connect(**server.connection_settings)
    with conn.cursor() as cur:
        cur.execute("FLUSH BINARY LOGS")
        cur.execute("SHOW MASTER STATUS")
        current = cur.fetchone()[0]
        # The server keeps a file that a replica's dump thread still reads (an earlier test's
        # stream may not have hung up yet): purge until the saved file is really gone.
        for _ in range(60):
            cur.execute(f"PURGE BINARY LOGS TO '{current}'")
            cur.execute("SHOW BINARY LOGS")
            if state["file"] not in {row[0] for row in cur.fetchall()}:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"the server would not purge {state['file']}")
    conn.close()
    assert state["file"] < current
    (result,) = cdc.capture(server.url, "shifu", scenario["database"])
    assert result.status == "failed"
    assert "purged" in result.message
    assert "python -m ingest relational" in result.message
    assert "--start-position snapshot" in result.message
    assert lake.read_state("cdc", "shifu", "_binlog") == state  # nothing skipped silently


def test_a_dropped_stream_fails_the_run_and_the_rerun_lands_every_change_once(
    binlog_mariadb, tmp_path, monkeypatch
):
    """The server kills the replica's dump thread mid-read. The run fails with the position in
    its message instead of letting python-mysql-replication reconnect (without limit, from
    wherever it stopped: cdc.NoReconnect); nothing is saved, and the rerun lands every change
    exactly once."""
    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / "data"))
    # 100,000 rows of 300 bytes: more binlog than the socket buffers hold, so the server is
    # still sending when the dump thread is killed.
    database, rows, per_commit = f"k{uuid.uuid4().hex[:6]}_bulk", 100_000, 5_000
    admin = pymysql.connect(**binlog_mariadb.connection_settings, autocommit=True)
    with admin.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        file, pos = cur.fetchone()[:2]
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(f"USE `{database}`")  # the sequence engine's seq_* tables need one
        cur.execute("CREATE TABLE bulk (id INT PRIMARY KEY, note VARCHAR(300))")
        for first in range(1, rows + 1, per_commit):
            cur.execute(
                "INSERT INTO bulk SELECT seq, concat(seq, repeat('x', 290)) "
                f"FROM seq_{first}_to_{first + per_commit - 1}"
            )
    killed: list[int] = []

    def kill_the_dump_thread() -> None:
        watcher = pymysql.connect(**binlog_mariadb.connection_settings, autocommit=True)
        with watcher.cursor() as cur:
            for _ in range(3000):
                cur.execute(
                    "SELECT id FROM information_schema.processlist "
                    "WHERE command LIKE 'Binlog Dump%%' AND id != connection_id()"
                )
                found = cur.fetchone()
                if found:
                    cur.execute(f"KILL {found[0]}")
                    killed.append(found[0])
                    break
                time.sleep(0.005)
        watcher.close()

    killer = threading.Thread(target=kill_the_dump_thread)
    killer.start()
    (failed,) = cdc.capture(binlog_mariadb.url, "bulk", database, start_position=f"{file}:{pos}")
    killer.join()
    assert killed, "the dump thread was never seen"
    assert failed.status == "failed", failed
    assert f"{file}:{pos}" in failed.message and "next run resumes" in failed.message
    assert not lake.read_state("cdc", "bulk", "_binlog"), "a failed run saved a position"
    assert not (lake.lake_dir() / "raw" / "cdc" / "bulk").exists(), "a failed run landed rows"

    (landed,) = cdc.capture(binlog_mariadb.url, "bulk", database, start_position=f"{file}:{pos}")
    assert landed.status == "ok", landed
    ids = [r["id"] for r in pq.read_table(lake.lake_dir() / "raw" / "cdc" / "bulk").to_pylist()]
    assert len(ids) == rows and set(ids) == set(range(1, rows + 1))
    with admin.cursor() as cur:
        cur.execute(f"DROP DATABASE `{database}`")
    admin.close()
