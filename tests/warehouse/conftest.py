"""The warehouse built for real, once per session: simulator -> ingest -> dbt build.

Two lakes from the same simulation (seed, scale, days), one with the microservice split on day 4
and one without, each simulated and ingested night by night (`--append`, then
`python -m ingest all --dt D`), then built with `dbt build`. The two pipelines run side by side
(they share nothing), so the session costs one pipeline's time on two cores.

Every table is extracted in full (tests/warehouse/sources_full.yml says why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCES_FILE = Path(__file__).with_name("sources_full.yml")
START = date(2026, 11, 1)
DAYS = 7
SPLIT_DATE = date(2026, 11, 4)
SCALE = "0.04"
SEED = "42"
# Both lakes tokenise with the same salt, so their warehouses can be compared cell by cell.
PII_SALT = "warehouse-tests-salt-not-a-secret"


@dataclass(frozen=True)
class Warehouse:
    """A built warehouse: its data directory, DuckDB file and simulated ground truth."""

    data_dir: Path
    dbt_seconds: float

    @property
    def database(self) -> Path:
        return self.data_dir / "warehouse" / "build.duckdb"

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def truth(self) -> dict[str, dict]:
        """truth/dt=D.json of every simulated day, by dt."""
        files = sorted((self.data_dir / "sources" / "truth").glob("dt=*.json"))
        return {json.loads(f.read_text())["dt"]: json.loads(f.read_text()) for f in files}


def environment(data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFU_", "DBT_"))}
    env.update(
        SHIFU_DATA_DIR=str(data_dir),
        SHIFU_SOURCES_FILE=str(SOURCES_FILE),
        SHIFU_PII_SALT=PII_SALT,
        SHIFU_DBT_THREADS="2",
        DBT_TARGET_PATH=str(data_dir / "dbt" / "target"),
        DBT_LOG_PATH=str(data_dir / "dbt" / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n"
            f"{result.stdout[-6000:]}\n{result.stderr[-3000:]}"
        )
    return result


def dbt(args: list[str], data_dir: Path) -> subprocess.CompletedProcess:
    """`dbt <args>` on the project, from the repository root, against `data_dir`."""
    executable = Path(sys.executable).with_name("dbt")
    argv = [str(executable), *args, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]
    return run(argv, environment(data_dir))


def build_pipeline(data_dir: Path, split_date: date | None) -> Warehouse:
    """Simulate and ingest night by night, then `dbt build`."""
    import time

    env = environment(data_dir)
    sources = data_dir / "sources"
    simulate = [sys.executable, "-m", "simulator", "--target", str(sources), "--no-files"]
    simulate += ["--no-progress", "--days", "1"]
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        if offset == 0:
            first = ["--start", START.isoformat(), "--scale", SCALE, "--seed", SEED]
            if split_date is not None:
                first += ["--split-date", split_date.isoformat()]
            run(simulate + first, env)
        else:
            run(simulate + ["--append"], env)
        run([sys.executable, "-m", "ingest", "all", "--dt", day.isoformat()], env)
    started = time.monotonic()
    dbt(["build"], data_dir)
    return Warehouse(data_dir, time.monotonic() - started)


@pytest.fixture(scope="session")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Warehouse]:
    """{"split": ..., "monolith": ...}: the same week with and without the split on day 4."""
    root = tmp_path_factory.mktemp("warehouse")
    with ThreadPoolExecutor(max_workers=2) as pool:
        split = pool.submit(build_pipeline, root / "split", SPLIT_DATE)
        monolith = pool.submit(build_pipeline, root / "monolith", None)
        return {"split": split.result(), "monolith": monolith.result()}


@pytest.fixture(scope="session")
def warehouse(warehouses: dict[str, Warehouse]) -> Warehouse:
    """The split run: its RPT figures exercise both the monolith and the services' tables."""
    return warehouses["split"]
