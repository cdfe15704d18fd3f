"""`dbt build` of the whole project into `$SHIFU_DATA_DIR/warehouse/build.duckdb` (the write)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROJECT_DIR = ROOT / "dbt_project"


class BuildFailed(RuntimeError):
    """dbt build exited non-zero: a model or a test failed; nothing may be published."""


def project_dir() -> Path:
    """$SHIFU_DBT_PROJECT_DIR, default the repository's dbt_project/."""
    return Path(os.environ.get("SHIFU_DBT_PROJECT_DIR") or DEFAULT_PROJECT_DIR)


def target_dir() -> Path:
    """Where dbt writes run_results.json ($DBT_TARGET_PATH, default <project>/target)."""
    configured = os.environ.get("DBT_TARGET_PATH")
    return Path(configured) if configured else project_dir() / "target"


def build(select: str | None = None) -> None:
    """Run `dbt build` (seeds, models, snapshots, every test); raise BuildFailed on failure."""
    project = project_dir()
    argv = [str(Path(sys.executable).with_name("dbt")), "build"]
    argv += ["--project-dir", str(project), "--profiles-dir", str(project)]
    if select:
        argv += ["--select", select]
    # The audit reads run_results.json: a build that dies before writing it must not leave the
    # previous night's (passing) results behind.
    (target_dir() / "run_results.json").unlink(missing_ok=True)
    # dbt resolves the profile's relative paths against the working directory: run from the root.
    completed = subprocess.run(argv, cwd=ROOT, check=False)
    if completed.returncode != 0:
        raise BuildFailed(f"dbt build failed (exit {completed.returncode}); see the log above")
