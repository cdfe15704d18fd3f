"""The compose stack's topology, natively: a night through the Airflow DAGs with Airflow's
metadata in the machine's PostgreSQL and the source in its MariaDB (docs/deployment.md).

Kept cheap: a tiny simulation, night 1 landed with the ingest CLI (no Airflow), night 2 through
all four DAGs (`scripts/airflow.sh night`, i.e. `airflow dags test`) on PostgreSQL metadata.
"""

from __future__ import annotations

import sys
import uuid
from datetime import date, timedelta
from pathlib import Path

import psycopg2
import pymysql
import pytest

from serving import catalogue
from tests.conftest import MARIADB, unavailable
from tests.nightly import ROOT, environment
from tests.pipeline import run

pytestmark = pytest.mark.slow

AIRFLOW = ROOT / "scripts" / "airflow.sh"
START = date(2026, 11, 1)
NIGHT = START + timedelta(days=1)
SCALE = "0.01"
SOURCE_DATABASES = ("shifu", "svc_order", "svc_pay", "svc_master")
DAGS = ("ingest_relational", "ingest_logs", "ingest_events", "build_warehouse")


@pytest.fixture
def source_prefix() -> str:
    """A prefix for the simulator's MariaDB databases, dropped after the test."""
    try:
        admin = pymysql.connect(**MARIADB, connect_timeout=5, autocommit=True)
    except pymysql.err.OperationalError as error:
        unavailable("MariaDB on 127.0.0.1:3306 is not reachable", error)
    prefix = f"n{uuid.uuid4().hex[:6]}_"
    try:
        yield prefix
    finally:
        with admin.cursor() as cursor:
            for name in SOURCE_DATABASES:
                cursor.execute(f"drop database if exists `{prefix}{name}`")
        admin.close()


def test_a_night_runs_with_airflow_metadata_in_postgresql(
    postgres_url: str, source_prefix: str, tmp_path: Path
) -> None:
    source_url = f"mysql+pymysql://{MARIADB['user']}@{MARIADB['host']}:{MARIADB['port']}"
    env = environment(tmp_path)
    env.update(
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=postgres_url,
        SHIFU_SOURCE_URL=source_url,
        SHIFU_SOURCE_PREFIX=source_prefix,
        SHIFU_SOURCE_KIND="mysql",
    )
    simulate = [sys.executable, "-m", "simulator", "--target", source_url, "--no-progress"]
    simulate += ["--schema-prefix", source_prefix, "--output-dir", str(tmp_path / "sources")]
    run([str(AIRFLOW), "setup"], env)
    run(simulate + ["--start", START.isoformat(), "--days", "1", "--scale", SCALE], env)
    run([sys.executable, "-m", "ingest", "all", "--dt", START.isoformat()], env)
    run(simulate + ["--append"], env)
    run([str(AIRFLOW), "night", NIGHT.isoformat()], env)

    # The runs are in PostgreSQL, and Airflow made no SQLite database of its own.
    assert not list((tmp_path / "airflow").glob("*.db"))
    with psycopg2.connect(postgres_url.replace("postgresql+psycopg2", "postgresql")) as con:
        with con.cursor() as cursor:
            cursor.execute("select dag_id, state from dag_run order by dag_id")
            runs = cursor.fetchall()
    assert runs == sorted((dag, "success") for dag in DAGS)
    # ... and the night was built from the MariaDB source and published.
    assert list((tmp_path / "lake" / "raw" / "mysql" / "shifu").glob(f"*/dt={NIGHT}"))
    published = catalogue.last_published(tmp_path / "warehouse" / "serving")
    assert published is not None and published["dt"] == NIGHT.isoformat()
    assert published["dbt"]["failed"] == [] and published["dbt"]["counts"]["test"]["pass"] > 0
