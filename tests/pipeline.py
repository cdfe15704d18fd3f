"""Running the project's own commands (simulator, ingest, dbt, scripts/airflow.sh) from a test,
in a data directory of the test's own (its environment: warehouse.sandbox)."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run a command from the repository root; on failure raise with the end of its output."""
    result = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(argv)} failed ({result.returncode}):\n"
            f"{result.stdout[-5000:]}\n{result.stderr[-5000:]}"
        )
    return result
