"""Two simulated nights run through the real DAGs with `airflow dags test`, on SQLite.

The `nightly` session fixture is registered in tests/conftest.py so that every test directory
(orchestration, serving, ...) shares the one pipeline instead of paying for its own.

Night 1 lands the lake (ingest DAGs only), night 2 lands it again and builds and publishes the
warehouse: one day alone is not a warehouse the tests pass on yet (see README.md). Everything
lives under one temporary SHIFU_DATA_DIR, Airflow's home included (scripts/airflow.sh).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.pipeline import ROOT, run
from warehouse import sandbox
from warehouse.night import logical_date

AIRFLOW = ROOT / "scripts" / "airflow.sh"
START = date(2026, 11, 1)
NIGHTS = 2
SCALE = "0.02"
SEED = "42"
INGEST_DAGS = ("ingest_relational", "ingest_logs", "ingest_events")


@dataclass
class Nightly:
    data_dir: Path
    env: dict[str, str]
    last_dt: date
    seconds: dict[str, float] = field(default_factory=dict)

    @property
    def warehouse(self) -> Path:
        return self.data_dir / "warehouse"


def environment(data_dir: Path) -> dict[str, str]:
    return sandbox.environment(data_dir, "orchestration-tests-salt-not-a-secret")


def dags_test(dag_id: str, dt: date, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(AIRFLOW), "dags", "test", dag_id, logical_date(dt)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


@pytest.fixture(scope="session")
def nightly(tmp_path_factory: pytest.TempPathFactory) -> Nightly:
    data_dir = tmp_path_factory.mktemp("orchestration")
    env = environment(data_dir)
    run([str(AIRFLOW), "setup"], env)
    simulate = [sys.executable, "-m", "simulator", "--target", str(data_dir / "sources")]
    simulate += ["--no-progress", "--days", "1"]
    result = Nightly(data_dir, env, START + timedelta(days=NIGHTS - 1))
    for night in range(NIGHTS):
        dt = START + timedelta(days=night)
        first = ["--start", START.isoformat(), "--scale", SCALE, "--seed", SEED]
        run(simulate + (first if night == 0 else ["--append"]), env)
        dags = INGEST_DAGS + (("build_warehouse",) if dt == result.last_dt else ())
        for dag_id in dags:
            started = time.monotonic()
            completed = dags_test(dag_id, dt, env)
            result.seconds[f"{dag_id} {dt}"] = time.monotonic() - started
            if completed.returncode != 0:
                raise RuntimeError(
                    f"airflow dags test {dag_id} for dt={dt} failed:\n{completed.stdout[-8000:]}"
                )
    return result
