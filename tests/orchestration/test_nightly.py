"""The nightly DAGs end to end: lake partitions, the build, and what was published."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from tests.nightly import ROOT, Nightly, dags_test
from tests.orchestration.receiver import Receiver

pytestmark = pytest.mark.slow


def rpt_tables(database: Path) -> list[str]:
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select table_name from information_schema.tables where table_schema = 'rpt'"
        ).fetchall()
    return sorted(name for (name,) in rows)


def fingerprint(serving: Path) -> dict[str, str]:
    """sha256 of every published file: what a BI tool would read."""
    return {
        str(path.relative_to(serving)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(serving.rglob("*"))
        if path.is_file()
    }


def test_each_ingest_dag_lands_its_partitions(nightly: Nightly) -> None:
    raw = nightly.data_dir / "lake" / "raw"
    dt = f"dt={nightly.last_dt.isoformat()}"
    for table in ("sqlite/shifu/service_order", "sqlite/shifu/region", "logs/nginx/access"):
        assert (raw / table / dt / "_manifest.json").is_file(), table
    assert (raw / "logs" / "app" / "entries" / dt / "_manifest.json").is_file()
    assert (raw / "events" / "tracking" / "events" / dt / "_manifest.json").is_file()
    manifest = json.loads((raw / "sqlite/shifu/service_order" / dt / "_manifest.json").read_text())
    assert manifest["dt"] == nightly.last_dt.isoformat()
    assert manifest["mode"] == "incremental"


def test_the_warehouse_is_built_and_published(nightly: Nightly) -> None:
    serving = nightly.warehouse / "serving"
    assert (nightly.warehouse / "build.duckdb").is_file()
    assert (serving / "warehouse.duckdb").is_file()
    names = rpt_tables(nightly.warehouse / "build.duckdb")
    assert names, "the build has no RPT models"
    published = sorted(p.stem for p in (serving / "rpt").glob("*/*.parquet"))
    assert published == names
    assert not [p for p in serving.iterdir() if p.name.startswith(".")], "temporary files left"


def test_serving_rpt_equals_build_rpt(nightly: Nightly) -> None:
    serving = nightly.warehouse / "serving"
    with duckdb.connect() as con:
        con.execute(f"attach '{nightly.warehouse / 'build.duckdb'}' as build (read_only)")
        con.execute(f"attach '{serving / 'warehouse.duckdb'}' as served (read_only)")
        for name in rpt_tables(nightly.warehouse / "build.duckdb"):
            domain = name.removeprefix("rpt_").split("__")[0]
            parquet = serving / "rpt" / domain / f"{name}.parquet"
            built = f"build.rpt.{name}"
            for copy in (f"served.rpt.{name}", f"read_parquet('{parquet}')"):
                counts = con.execute(
                    f"select (select count(*) from {built}), (select count(*) from {copy}), "
                    f"(select count(*) from (select * from {built} except all select * from {copy}))"
                ).fetchone()
                assert counts[0] == counts[1] and counts[2] == 0, (name, copy, counts)


@pytest.fixture
def failing_project(tmp_path: Path) -> Path:
    """A copy of the dbt project with one singular data test that always fails."""
    source = Path(os.environ.get("SHIFU_DBT_PROJECT_DIR") or ROOT / "dbt_project")
    project = tmp_path / "dbt_project"
    shutil.copytree(source, project, ignore=shutil.ignore_patterns("target", "logs"))
    (tmp_path / "models").symlink_to(source.parent / "models")  # model-paths: ["../models"]
    (project / "tests" / "always_fails.sql").write_text("select 1 as failed_on_purpose\n")
    return project


# A BI tool's session: opens the serving copy read-only, answers each line of stdin with what it
# sees (the probe table a test put there, and the row count of every RPT table), until EOF.
READER = """
import json, sys
import duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
for _ in sys.stdin:
    tables = [t for (t,) in con.execute(
        "select table_name from information_schema.tables where table_schema = 'rpt'").fetchall()]
    probe = con.execute(
        "select count(*) from information_schema.tables where table_name = 'reader_probe'"
    ).fetchone()[0]
    counts = {t: con.execute(f'select count(*) from rpt."{t}"').fetchone()[0] for t in tables}
    print(json.dumps({"probe": probe, "rpt": counts}), flush=True)
"""


def ask(reader: subprocess.Popen) -> dict:
    reader.stdin.write("?\n")
    reader.stdin.flush()
    return json.loads(reader.stdout.readline())


def published(serving: Path) -> dict:
    return json.loads((serving / "_published.json").read_text())


def test_a_failed_night_publishes_nothing_alerts_and_the_fixed_rerun_publishes(
    nightly: Nightly, failing_project: Path, receiver: Receiver
) -> None:
    """Night D fails a data test: serving keeps the last good state and an alert names the
    test. After the fix the rerun of D publishes, while a BI reader that holds the serving DuckDB
    open through the whole build and publish keeps its complete old state, unblocked."""
    serving = nightly.warehouse / "serving"
    before = fingerprint(serving)
    marker = published(serving)
    env = {**nightly.env, "SHIFU_ALERT_WEBHOOK_URL": receiver.url}
    completed = dags_test(
        "build_warehouse", nightly.last_dt, {**env, "SHIFU_DBT_PROJECT_DIR": str(failing_project)}
    )
    assert completed.returncode != 0
    assert fingerprint(serving) == before

    (alert,) = receiver.alerts
    assert (alert["dag_id"], alert["task_id"]) == ("build_warehouse", "build")
    assert alert["dt"] == nightly.last_dt.isoformat()
    assert "1 nodes did not pass: test.shifu_dw.always_fails" in alert["error"], alert["error"]
    assert "/dags/build_warehouse/runs/" in alert["link"] and "/tasks/build" in alert["link"]

    # The audit gate refuses on its own too: the last build's run_results record the failure.
    direct = subprocess.run(
        [sys.executable, "-m", "warehouse", "publish"],
        cwd=ROOT,
        env={**env, "SHIFU_DBT_PROJECT_DIR": str(failing_project)},
        capture_output=True,
        text=True,
    )
    assert direct.returncode == 1
    assert "always_fails" in direct.stderr
    assert fingerprint(serving) == before

    # Mark the old serving copy, so that "old state" and "new state" can be told apart, and open
    # it in a reader before the rerun starts.
    with duckdb.connect(str(serving / "warehouse.duckdb")) as con:
        con.execute("create table main.reader_probe as select 'old copy' as note")
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(serving / "warehouse.duckdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        seen_before = ask(reader)
        assert seen_before["probe"] == 1 and seen_before["rpt"]

        rerun = dags_test("build_warehouse", nightly.last_dt, env)
        assert rerun.returncode == 0, rerun.stdout[-4000:]

        # The reader was not in the way, and still sees the complete old copy.
        assert ask(reader) == seen_before
    finally:
        reader.stdin.close()
        reader.wait(timeout=30)
    # A new connection sees the new copy: no probe, the same RPT tables and rows.
    with duckdb.connect(str(serving / "warehouse.duckdb"), read_only=True) as con:
        assert not con.execute(
            "select count(*) from information_schema.tables where table_name = 'reader_probe'"
        ).fetchone()[0]
    after = published(serving)
    assert after["dt"] == nightly.last_dt.isoformat()
    assert after["published_at"] >= marker["published_at"]
    assert after["rpt_models"] == marker["rpt_models"]
    assert len(receiver.alerts) == 1, "the successful rerun must not alert"
