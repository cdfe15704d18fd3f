"""Running the project's own commands (simulator, ingest, dbt, scripts/airflow.sh) from a test,
in a data directory of the test's own."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def environment(data_dir: Path, pii_salt: str) -> dict[str, str]:
    """This process's environment pointed at `data_dir`: no SHIFU_, DBT_ or AIRFLOW setting of
    the developer's leaks in (scripts/airflow.sh puts Airflow's home under the data directory),
    dbt writes its target and logs there, on two threads, with the given PII salt."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFU_", "DBT_", "AIRFLOW"))}
    env.update(
        SHIFU_DATA_DIR=str(data_dir),
        SHIFU_PII_SALT=pii_salt,
        SHIFU_DBT_THREADS="2",
        DBT_TARGET_PATH=str(data_dir / "dbt" / "target"),
        DBT_LOG_PATH=str(data_dir / "dbt" / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    # A developer can point the build at another checkout of the dbt project.
    if os.environ.get("SHIFU_DBT_PROJECT_DIR"):
        env["SHIFU_DBT_PROJECT_DIR"] = os.environ["SHIFU_DBT_PROJECT_DIR"]
    return env


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command from the repository root; on failure raise with the end of its output."""
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n"
            f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
    return result
