"""The lake's partition writes: atomic, idempotent, crash-safe."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from ingest import lake
from ingest.relational import Source, extract_tables

DT = date(2026, 11, 1)


def read_files(partition: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in partition.glob("part-*.parquet")}


def manifest_without_times(partition: Path) -> dict:
    manifest = json.loads((partition / "_manifest.json").read_text())
    for key in ("started_at", "finished_at"):
        manifest.pop(key)
    return manifest


def test_rerun_for_the_same_dt_gives_identical_files_and_manifest(sqlite_sources, lake_root):
    source = Source("shifu", f"sqlite:///{sqlite_sources}", "shifu")
    extract_tables(source, None, DT)
    partition = lake.partition_path("sqlite", "shifu", "service_order", DT)
    first_files, first_manifest = read_files(partition), manifest_without_times(partition)
    results = extract_tables(source, None, DT)
    assert all(r.status == "ok" for r in results)
    assert read_files(partition) == first_files
    assert manifest_without_times(partition) == first_manifest


def test_manifest_checksums_match_the_files(sqlite_sources, lake_root):
    extract_tables(Source("shifu", f"sqlite:///{sqlite_sources}", "shifu"), None, DT)
    partition = lake.partition_path("sqlite", "shifu", "master", DT)
    manifest = lake.read_manifest(partition)
    for entry in manifest["files"]:
        size, digest = lake._size_and_sha256(partition / entry["name"])
        assert (size, digest) == (entry["bytes"], entry["sha256"])
    assert manifest["row_count"] == pq.read_table(partition).num_rows


def test_a_failed_write_leaves_the_old_partition_and_no_temporary(lake_root):
    path = lake.partition_path("logs", "nginx", "access", DT)
    table = pa.table({"x": [1, 2, 3]})
    lake.write_partition(path, [table.to_batches()[0]], {"source": "nginx"})

    def failing():
        yield pa.record_batch({"x": [9]})
        raise RuntimeError("source went away")

    try:
        lake.write_partition(path, failing(), {"source": "nginx"})
    except RuntimeError:
        pass
    assert pq.read_table(path).column("x").to_pylist() == [1, 2, 3]
    assert [p.name for p in path.parent.iterdir()] == [path.name]


def test_quarantine_writer_counts_rejects_by_reason(lake_root):
    with lake.QuarantineWriter("nginx_access", DT) as quarantine:
        quarantine.reject("a.log.gz", 3, "malformed", "no closing quote", 'GET "/x')
        quarantine.reject("a.log.gz", 9, "malformed", "no closing quote", 'GET "/y')
        quarantine.reject("b.log.gz", 1, "bad_time", "month 13", "[13/13/2026]")
        manifest = quarantine.commit({"mode": "files"})
    assert manifest["row_count"] == 3
    assert manifest["rejected_by_reason"] == {"bad_time": 1, "malformed": 2}
    rows = pq.read_table(lake.quarantine_path("nginx_access", DT)).to_pylist()
    assert rows[0] == {
        "file": "a.log.gz",
        "line": 3,
        "reason": "malformed",
        "message": "no closing quote",
        "raw": 'GET "/x',
    }


def make_big_sqlite(path: Path, rows: int) -> None:
    con = sqlite3.connect(path)
    con.execute(
        "CREATE TABLE big (id INTEGER PRIMARY KEY, label TEXT NOT NULL, "
        "amount NUMERIC(12, 2), created_at DATETIME NOT NULL)"
    )
    con.execute(
        "WITH RECURSIVE seq(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM seq WHERE n < ?) "
        "INSERT INTO big SELECT n, 'row ' || n || ' 师傅', n % 1000 / 10.0, "
        "datetime('2026-11-01', '+' || (n % 86400) || ' seconds') FROM seq",
        (rows,),
    )
    con.commit()
    con.close()


def test_kill_9_mid_partition_then_rerun_gives_the_identical_partition(tmp_path, lake_root):
    make_big_sqlite(tmp_path / "big.sqlite", 600_000)
    argv = [
        sys.executable,
        "-m",
        "ingest",
        "relational",
        "--source-url",
        f"sqlite:///{tmp_path}",
        "--database",
        "big",
        "--source",
        "big",
        "--tables",
        "big",
        "--mode",
        "full",
        "--dt",
        DT.isoformat(),
    ]
    env = {**os.environ, "SHIFU_DATA_DIR": str(lake_root.parent)}
    subprocess.run(argv, env=env, check=True, capture_output=True)
    partition = lake.partition_path("sqlite", "big", "big", DT)
    complete = read_files(partition)

    loader = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while not list(partition.parent.glob(f".{partition.name}.tmp-*/part-*.parquet")):
        assert loader.poll() is None, "the loader finished before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    loader.send_signal(signal.SIGKILL)
    loader.wait()

    # Readers see the last complete partition, never the partial one.
    assert read_files(partition) == complete
    assert list(partition.parent.glob("dt=*")) == [partition]
    subprocess.run(argv, env=env, check=True, capture_output=True)
    assert read_files(partition) == complete
    assert [p.name for p in partition.parent.iterdir()] == [partition.name]


def test_the_same_rows_in_other_batch_sizes_give_the_same_bytes(lake_root):
    table = pa.table({"id": list(range(300_000)), "name": [f"师傅 {i}" for i in range(300_000)]})
    digests = []
    for batch_rows in (65_536, 100_000, 7_777):
        path = lake.partition_path("mysql", "src", f"t{batch_rows}", DT)
        manifest = lake.write_partition(path, table.to_batches(max_chunksize=batch_rows), {})
        digests.append([f["sha256"] for f in manifest["files"]])
        metadata = pq.ParquetFile(path / "part-00000.parquet").metadata
        assert metadata.row_group(0).num_rows == lake.ROWS_PER_ROW_GROUP
    assert digests[0] == digests[1] == digests[2]
