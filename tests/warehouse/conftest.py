"""The warehouse built for real, once per session: simulator -> ingest -> dbt build.

The simulator writes the OLTP databases and the day's nginx logs, application logs and tracking
events (late events of earlier days included); `python -m ingest all` lands all three kinds.

Two lakes from the same simulation (seed, scale, days), one with the microservice split on day 4
and one without, each simulated, ingested night by night (`python -m ingest all --dt D` with
config/sources.yml, each night from its own day's database) and built with `dbt build`. The two
pipelines run side by side (they share nothing), so the session costs one pipeline's time on two
cores.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from tests.pipeline import run
from warehouse import sandbox

START = date(2026, 11, 1)
DAYS = 7
# The traffic models are also built on the night of this day (tracking events that arrived up
# to then), so the final build runs them incrementally and picks up the late events of days
# 2-4; the night's warehouse is kept as Warehouse.early_database.
EARLY_NIGHT = date(2026, 11, 4)
EARLY_SELECT = ["--select", "+rpt_traffic__dau_daily"]
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
    def early_database(self) -> Path:
        """The traffic models as the night of EARLY_NIGHT built them (split run only)."""
        return self.data_dir / "warehouse" / f"night-{EARLY_NIGHT.isoformat()}.duckdb"

    @property
    def lake(self) -> Path:
        return self.data_dir / "lake"

    def truth(self) -> dict[str, dict]:
        """truth/dt=D.json of every simulated day, by dt."""
        files = sorted((self.data_dir / "sources" / "truth").glob("dt=*.json"))
        return {json.loads(f.read_text())["dt"]: json.loads(f.read_text()) for f in files}


def environment(data_dir: Path) -> dict[str, str]:
    return sandbox.environment(data_dir, PII_SALT)


def dbt(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    """`dbt <args>` on the project, from the repository root, against `data_dir`; `env` adds to
    or overrides the environment()."""
    executable = Path(sys.executable).with_name("dbt")
    argv = [str(executable), *args, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]
    return run(argv, {**environment(data_dir), **env})


def build_pipeline(data_dir: Path, split_date: date | None, traffic: bool) -> Warehouse:
    """Simulate the week, then ingest it night by night and `dbt build`. `traffic`: the
    simulator writes logs and tracking events too (else the databases only).

    The week is simulated in one pass with `--checkpoints`: the simulator keeps a copy of the
    SQLite databases as they stood at the end of each day, and night D ingests from its own
    day's copy (SHIFU_SOURCE_URL), with the production sources YAML (snapshots, incremental
    extracts with their watermarks). That is what `--append` night by night gives
    (tests/test_simulator_cli.py proves the copies equal the appended databases) without
    re-simulating the history every night. Log and event files are per day in their names, so
    night D reads only what arrived on D."""
    import time

    env = environment(data_dir)
    sources = data_dir / "sources"
    checkpoints = data_dir / "checkpoints"
    simulate = [sys.executable, "-m", "simulator", "--target", str(sources), "--no-progress"]
    simulate += ["--start", START.isoformat(), "--days", str(DAYS), "--scale", SCALE]
    simulate += ["--seed", SEED, "--checkpoints", str(checkpoints)]
    simulate += [] if traffic else ["--no-files"]
    if split_date is not None:
        simulate += ["--split-date", split_date.isoformat()]
    run(simulate, env)
    for offset in range(DAYS):
        day = START + timedelta(days=offset)
        night = {**env, "SHIFU_SOURCE_URL": f"sqlite:///{checkpoints / f'dt={day}' / 'db'}"}
        run([sys.executable, "-m", "ingest", "all", "--dt", day.isoformat()], night)
        if traffic and day == EARLY_NIGHT:
            dbt(["run", *EARLY_SELECT], data_dir)
            database = data_dir / "warehouse" / "build.duckdb"
            shutil.copyfile(database, database.with_name(f"night-{day.isoformat()}.duckdb"))
    started = time.monotonic()
    dbt(["build"], data_dir)
    return Warehouse(data_dir, time.monotonic() - started)


@pytest.fixture(scope="session")
def warehouses(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Warehouse]:
    """{"split": ..., "monolith": ...}: the same week with and without the split on day 4.

    Only the split run simulates traffic (logs and tracking events): the split changes the
    databases, never the traffic (the simulator writes the same bytes either way), and the
    traffic's half of the pipeline would double the session's time. The monolith run's traffic
    models build empty; the split-invariance test compares the DW tables that read the
    databases."""
    root = tmp_path_factory.mktemp("warehouse")
    with ThreadPoolExecutor(max_workers=2) as pool:
        split = pool.submit(build_pipeline, root / "split", SPLIT_DATE, True)
        monolith = pool.submit(build_pipeline, root / "monolith", None, False)
        return {"split": split.result(), "monolith": monolith.result()}


@pytest.fixture(scope="session")
def warehouse(warehouses: dict[str, Warehouse]) -> Warehouse:
    """The split run: its RPT figures exercise both the monolith and the services' tables."""
    return warehouses["split"]
