"""An environment for running the project's own commands (simulator, ingest, dbt,
scripts/airflow.sh) against a data directory of their own: what the tests and the benches
use, so none of a developer's settings leaks into what they measure or check."""

from __future__ import annotations

import os
from pathlib import Path


def environment(data_dir: Path, pii_salt: str, dbt_threads: int | None = 2) -> dict[str, str]:
    """This process's environment pointed at `data_dir`: no SHIFU_, DBT_ or AIRFLOW setting of
    the developer's leaks in (scripts/airflow.sh puts Airflow's home under the data directory),
    dbt writes its target and logs there, on `dbt_threads` threads (None: the profile's
    default), with the given PII salt. SHIFU_DBT_PROJECT_DIR passes through: a developer can
    point the build at another checkout of the dbt project."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFU_", "DBT_", "AIRFLOW"))}
    env.update(
        SHIFU_DATA_DIR=str(data_dir),
        SHIFU_PII_SALT=pii_salt,
        DBT_TARGET_PATH=str(data_dir / "dbt" / "target"),
        DBT_LOG_PATH=str(data_dir / "dbt" / "logs"),
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    if dbt_threads is not None:
        env["SHIFU_DBT_THREADS"] = str(dbt_threads)
    if os.environ.get("SHIFU_DBT_PROJECT_DIR"):
        env["SHIFU_DBT_PROJECT_DIR"] = os.environ["SHIFU_DBT_PROJECT_DIR"]
    return env
