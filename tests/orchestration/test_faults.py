"""Faults the nightly DAGs survive, each run through Airflow (`airflow dags test`, SQLite).

These tests reuse the `nightly` pipeline's Airflow home (its metadata database: no second
`db migrate`) and its simulated source databases, but land into a data directory of their own,
on business dates the nightly does not use, so the shared lake and serving copy stay as they are.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from tests.nightly import AIRFLOW, ROOT, Nightly, dags_test, logical_date
from tests.orchestration.receiver import TOKEN, Receiver

pytestmark = pytest.mark.slow

UNREACHABLE_DT = date(2026, 12, 1)
KILLED_DT = date(2026, 11, 20)  # before UNREACHABLE_DT: its previous run is a good one
SECRET = "crm-password-not-for-logs"
BIG_ROWS = 150_000


def isolated_env(nightly: Nightly, data_dir: Path, sources_file: Path, **extra: str) -> dict:
    """The nightly's environment and Airflow home, another data directory and sources YAML."""
    return {
        **nightly.env,
        "AIRFLOW_HOME": str(nightly.data_dir / "airflow"),
        "SHIFU_DATA_DIR": str(data_dir),
        "SHIFU_SOURCES_FILE": str(sources_file),
        **extra,
    }


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_an_unreachable_source_retries_then_fails_alerting_and_the_other_source_lands(
    nightly: Nightly, tmp_path: Path, receiver: Receiver
) -> None:
    data_dir = tmp_path / "data"
    sources_file = tmp_path / "sources.yml"
    sources_file.write_text(
        "sources:\n"
        "  shifu:\n"
        f"    url: sqlite:///{nightly.data_dir}/sources/db\n"
        "    database: shifu\n"
        "    tables: {region: {mode: full}, service_category: {mode: full}}\n"
        "  crm:\n"
        f"    url: mysql+pymysql://reader:{SECRET}@127.0.0.1:{closed_port()}/crm\n"
        "    tables: {contact: {mode: full}}\n"
    )
    env = isolated_env(
        nightly,
        data_dir,
        sources_file,
        SHIFU_TASK_RETRIES="1",
        SHIFU_RETRY_DELAY_SECONDS="1",
        SHIFU_ALERT_WEBHOOK_URL=receiver.url,
        AIRFLOW__API__BASE_URL="http://airflow.example:8080/",
    )
    completed = dags_test("ingest_relational", UNREACHABLE_DT, env)
    assert completed.returncode != 0, "the run must fail when a source is unreachable"

    # The reachable source's tables landed; the unreachable one left nothing behind.
    raw = data_dir / "lake" / "raw"
    for table in ("region", "service_category"):
        assert (raw / "sqlite/shifu" / table / f"dt={UNREACHABLE_DT}" / "_manifest.json").is_file()
    assert not list(raw.glob("mysql/crm/**/*.parquet"))

    # One alert, after the retry, naming the table, the cause and the task instance.
    assert len(receiver.alerts) == 1, receiver.alerts
    alert = receiver.alerts[0]
    assert alert["kind"] == "task_failed"
    assert (alert["dag_id"], alert["task_id"]) == ("ingest_relational", "extract_snapshot")
    assert alert["dt"] == UNREACHABLE_DT.isoformat()
    assert alert["try_number"] == 2, "the task must retry before it alerts"
    assert alert["error"].startswith("RuntimeError: crm.contact: OperationalError")
    assert "Can't connect" in alert["error"], alert["error"]
    assert alert["link"].startswith(
        "http://airflow.example:8080/dags/ingest_relational/runs/manual__"
    )
    assert f"/tasks/extract_snapshot/mapped/{alert['map_index']}" in alert["link"]
    # The same alert is in the log; no secret anywhere: not the password, not the hook's token.
    assert alert.pop("path") == f"/hooks/{TOKEN}"
    logged = [json.loads(line) for line in (data_dir / "alerts" / "alerts.jsonl").open()]
    assert logged == [alert]
    for text in (completed.stdout, completed.stderr, json.dumps(logged)):
        assert SECRET not in text
        assert TOKEN not in text


def make_big_sqlite(path: Path, rows: int) -> None:
    """A table big enough that its partition takes a while to write (the kill must land in it)."""
    con = sqlite3.connect(path)
    con.execute("create table big (id integer primary key, name text, amount real, at text)")
    con.execute(
        "with recursive seq(n) as (select 1 union all select n + 1 from seq where n < ?) "
        "insert into big select n, 'row ' || n || ' 师傅', n % 1000 / 10.0, "
        "datetime('2026-12-01', '+' || (n % 86400) || ' seconds') from seq",
        (rows,),
    )
    con.commit()
    con.close()


def parquet_files(partition: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(partition.glob("part-*.parquet"))}


def test_kill_9_of_an_ingest_task_mid_partition_then_the_rerun_lands_the_identical_partition(
    nightly: Nightly, tmp_path: Path
) -> None:
    """The task runs inside `airflow dags test`: killing that process group kills the task
    mid-write the way an OOM kill or a lost worker would; the rerun of the night is the retry."""
    (tmp_path / "db").mkdir()
    make_big_sqlite(tmp_path / "db" / "big.sqlite", BIG_ROWS)
    data_dir = tmp_path / "data"
    sources_file = tmp_path / "sources.yml"
    sources_file.write_text(
        f"sources:\n  big:\n    url: sqlite:///{tmp_path}/db\n    database: big\n"
        "    tables: {big: {mode: full}}\n"
    )
    env = isolated_env(nightly, data_dir, sources_file, SHIFU_TASK_RETRIES="0")
    partition = data_dir / "lake" / "raw" / "sqlite" / "big" / "big" / f"dt={KILLED_DT}"

    run = subprocess.Popen(
        [str(AIRFLOW), "dags", "test", "ingest_relational", logical_date(KILLED_DT)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while not list(partition.parent.glob(f".{partition.name}.tmp-*/part-*.parquet")):
        assert run.poll() is None, "the run finished before it could be killed"
        assert time.monotonic() < deadline, "the partition was never being written"
        time.sleep(0.005)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()

    # Nothing partial is visible: no partition, only the hidden temporary directory.
    assert not partition.exists()
    assert [p.name for p in partition.parent.iterdir() if not p.name.startswith(".")] == []

    rerun = dags_test("ingest_relational", KILLED_DT, env)
    assert rerun.returncode == 0, rerun.stdout[-4000:]
    after_kill = parquet_files(partition)
    manifest = json.loads((partition / "_manifest.json").read_text())
    assert manifest["row_count"] == BIG_ROWS
    assert [p.name for p in partition.parent.iterdir()] == [partition.name], "debris left"

    # An uninterrupted extract of the same table and day gives the same bytes.
    direct = [
        sys.executable,
        "-m",
        "ingest",
        "relational",
        "--source-url",
        f"sqlite:///{tmp_path}/db",
    ]
    direct += ["--database", "big", "--source", "big", "--tables", "big", "--mode", "full"]
    subprocess.run(
        direct + ["--dt", KILLED_DT.isoformat()], env=env, check=True, capture_output=True
    )
    assert parquet_files(partition) == after_kill
