"""End to end on a real MariaDB source with a ROW binlog: two simulated days through the
Airflow DAGs (`airflow dags test`, scripts/airflow.sh), then the published RPT against the
simulator's ground truth.

The simulator writes the OLTP databases into the session's second binlog server (`own_binlog_mariadb`,
a prefix of this module's own) and the day's logs and events into the data directory; the
production sources YAML is used with `master_quote` switched to `mode: cdc`, so night 1 snapshots
it and night 2 follows the binlog, in the one task (`capture_changes`) that waits for night 1 to
have succeeded in Airflow's metadata (depends_on_past). Night 2 builds and publishes.
"""

from __future__ import annotations

import json
import sys
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pymysql
import pytest

from tests.nightly import environment
from tests.pipeline import run
from tests.warehouse.truth import RELATIONAL_KEYS, differences, rpt_figures

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = ROOT / "scripts" / "airflow.sh"
START = date(2026, 11, 1)
DAYS = (START, START + timedelta(days=1))
SCALE = "0.02"
SEED = "42"
CDC_TABLE = "master_quote"
INGEST_DAGS = ("ingest_relational", "ingest_logs", "ingest_events")


@dataclass(frozen=True)
class Run:
    data_dir: Path
    env: dict[str, str]
    connection: dict[str, object]  # pymysql.connect keywords of the binlog server
    database: str  # the simulated monolith database on it

    @property
    def serving(self) -> Path:
        return self.data_dir / "warehouse" / "serving" / "warehouse.duckdb"

    def truth(self, dt: date) -> dict:
        return json.loads((self.data_dir / "sources" / "truth" / f"dt={dt}.json").read_text())


def sources_with_cdc(path: Path) -> Path:
    """config/sources.yml, with CDC_TABLE followed through the binlog instead of snapshotted."""
    production = (ROOT / "config" / "sources.yml").read_text()
    line = f"      {CDC_TABLE}: {{mode: full}}\n"
    assert production.count(line) == 1, f"{CDC_TABLE} is no longer a full table in sources.yml"
    path.write_text(production.replace(line, f"      {CDC_TABLE}: {{mode: cdc}}\n"))
    return path


@pytest.fixture(scope="module")
def mariadb_run(own_binlog_mariadb, tmp_path_factory: pytest.TempPathFactory) -> Run:
    data_dir = tmp_path_factory.mktemp("e2e_mariadb")
    prefix = f"e{uuid.uuid4().hex[:6]}_"
    env = environment(data_dir)
    env.update(
        SHIFU_SOURCE_URL=own_binlog_mariadb.url,
        SHIFU_SOURCE_PREFIX=prefix,
        SHIFU_SOURCE_KIND="mysql",  # the ODS sources read lake/raw/mysql/...
        SHIFU_SOURCES_FILE=str(sources_with_cdc(data_dir / "sources.yml")),
    )
    simulate = [sys.executable, "-m", "simulator", "--target", own_binlog_mariadb.url]
    simulate += ["--schema-prefix", prefix, "--output-dir", str(data_dir / "sources")]
    simulate += ["--no-progress", "--days", "1"]
    run([str(AIRFLOW), "setup"], env)
    for night, dt in enumerate(DAYS):
        first = ["--start", START.isoformat(), "--scale", SCALE, "--seed", SEED]
        run(simulate + (first if night == 0 else ["--append"]), env)
        # One night's DAGs in order, as the scheduler would (build_warehouse on the assets).
        dags = INGEST_DAGS + (("build_warehouse",) if dt == DAYS[-1] else ())
        run([str(AIRFLOW), "night", dt.isoformat(), *dags], env)
    return Run(data_dir, env, own_binlog_mariadb.connection_settings, f"{prefix}shifu")


def test_published_rpt_equals_the_ground_truth(mariadb_run: Run) -> None:
    with duckdb.connect(str(mariadb_run.serving), read_only=True) as con:
        for dt in DAYS:
            truth = mariadb_run.truth(dt)
            assert truth["orders_created_total"] > 0
            reported = rpt_figures(con, dt.isoformat())
            assert differences(truth, reported, RELATIONAL_KEYS) == {}, dt


def test_the_cdc_table_was_snapshotted_then_followed_through_the_binlog(mariadb_run: Run) -> None:
    raw = mariadb_run.data_dir / "lake" / "raw"
    snapshots = sorted(p.parent.name for p in raw.glob(f"mysql/shifu/{CDC_TABLE}/*/_manifest.json"))
    assert snapshots == [f"dt={START}"], "a cdc table is snapshotted once, on its first night"
    with duckdb.connect() as con:
        operations = dict(
            con.execute(
                "select _op, count(*) from read_parquet(?, hive_partitioning = true) "
                "where dt = ? group by _op",
                [str(raw / "cdc" / "shifu" / CDC_TABLE / "dt=*" / "*.parquet"), str(DAYS[1])],
            ).fetchall()
        )
    # Day 2's quotes: new ones, accepted/rejected ones, and the hard deletes a cursor never sees.
    assert operations.get("insert", 0) > 0 and operations.get("delete", 0) > 0, operations
    # The incremental tables took their window of day 2 only, after night 1's initial load.
    manifest = raw / "mysql" / "shifu" / "service_order" / f"dt={DAYS[1]}" / "_manifest.json"
    assert json.loads(manifest.read_text())["mode"] == "incremental"


def test_published_quotes_follow_the_binlog(mariadb_run: Run) -> None:
    """The warehouse's quotes are the source's live table after night 2: inserts, status
    updates and hard deletes of day 2 applied."""
    conn = pymysql.connect(**mariadb_run.connection, database=mariadb_run.database)
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"select id, status from `{CDC_TABLE}`")
            live = set(cursor.fetchall())
    finally:
        conn.close()
    with duckdb.connect(str(mariadb_run.serving), read_only=True) as con:
        published = set(
            con.execute("select quote_id, quote_status from dw.dw_fct_quotes").fetchall()
        )
    assert live, "the source has no quotes"
    assert published == live, (len(published - live), len(live - published))
