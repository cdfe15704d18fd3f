"""`dbt build` of the whole project into `$SHIFU_DATA_DIR/warehouse/build.duckdb` (the write).

The nightly build is of one business date `dt`: the day whose relational, log and event
partitions have all landed. `resolve_dt` decides which day a run builds, `require_ingested`
refuses to build a day whose partitions are not all in the lake, and a failed build names the
dbt nodes that failed (from run_results.json), so that the alert says which test to look at.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PROJECT_DIR = ROOT / "dbt_project"
TIMEZONE = ZoneInfo("Asia/Shanghai")
PASSED = {"success", "pass", "warn", "skipped"}
SHOWN_NODES = 10
# One partition of each kind that every night lands (relational: any table of any source).
DAY_PARTITIONS = {
    "relational": "lake/raw/{kind}/*/*/dt={dt}/_manifest.json",
    "nginx logs": "lake/raw/logs/nginx/access/dt={dt}/_manifest.json",
    "app logs": "lake/raw/logs/app/entries/dt={dt}/_manifest.json",
    "tracking events": "lake/raw/events/tracking/events/dt={dt}/_manifest.json",
}
RELATIONAL_KINDS = ("sqlite", "mysql", "postgres")


class BuildFailed(RuntimeError):
    """dbt build exited non-zero: a model or a test failed; nothing may be published."""


def project_dir() -> Path:
    """$SHIFU_DBT_PROJECT_DIR, default the repository's dbt_project/."""
    return Path(os.environ.get("SHIFU_DBT_PROJECT_DIR") or DEFAULT_PROJECT_DIR)


def target_dir() -> Path:
    """Where dbt writes run_results.json ($DBT_TARGET_PATH, default <project>/target)."""
    configured = os.environ.get("DBT_TARGET_PATH")
    return Path(configured) if configured else project_dir() / "target"


def data_dir() -> Path:
    return Path(os.environ.get("SHIFU_DATA_DIR", "data"))


def resolve_dt(
    conf_dt: str | None,
    asset_dts: Mapping[str, Sequence[str | None]],
    logical_date: datetime | None,
) -> str:
    """The business date a warehouse run builds.

    1. `dt` in the run's conf: a manual rerun or a backfill of one day says which.
    2. The `dt` extras of the triggering asset events (data-aware scheduling): the newest event
       of each asset; all of them must name the same day, or the day is not complete.
    3. Neither (`airflow dags test build_warehouse D+1T02:00+08:00`, as scripts/airflow.sh runs
       a night): the day before the logical date in Shanghai, as for the ingest DAGs.
    """
    if conf_dt:
        return date.fromisoformat(str(conf_dt)).isoformat()
    newest = {uri: dts[-1] for uri, dts in asset_dts.items() if dts}
    if newest:
        days = set(newest.values())
        if len(days) != 1 or None in days:
            shown = ", ".join(f"{uri} dt={dt}" for uri, dt in sorted(newest.items()))
            raise BuildFailed(f"the triggering assets name different days ({shown})")
        return date.fromisoformat(str(days.pop())).isoformat()
    if logical_date is None:
        raise BuildFailed("no dt: no run conf, no triggering asset events, no logical date")
    return (logical_date.astimezone(TIMEZONE).date() - timedelta(days=1)).isoformat()


def missing_partitions(dt: str, root: Path | None = None) -> list[str]:
    """The kinds of lake partition of `dt` that have not landed (each needs its manifest)."""
    root = root or data_dir()
    missing = []
    for name, pattern in DAY_PARTITIONS.items():
        kinds = RELATIONAL_KINDS if "{kind}" in pattern else ("",)
        if not any(next(root.glob(pattern.format(kind=k, dt=dt)), None) for k in kinds):
            missing.append(name)
    return missing


def require_ingested(dt: str) -> None:
    """The build of D waits for its own ingestion: refuse a day the lake does not hold."""
    missing = missing_partitions(dt)
    if missing:
        raise BuildFailed(f"dt={dt} is not fully ingested: no {', '.join(missing)} partition")


def failed_nodes(run_results: Path) -> list[str]:
    """`unique_id (status: message)` of every node of the last dbt run that did not pass."""
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
    failed = []
    for result in results:
        if result.get("status") in PASSED:
            continue
        message = " ".join(str(result.get("message") or "").split())[:200]
        failed.append(f"{result['unique_id']} ({result.get('status')}: {message})")
    return failed


def build(select: str | None = None, dt: str | None = None) -> None:
    """Run `dbt build` (seeds, models, snapshots, every test); raise BuildFailed on failure."""
    project = project_dir()
    argv = [str(Path(sys.executable).with_name("dbt")), "build"]
    argv += ["--project-dir", str(project), "--profiles-dir", str(project)]
    if select:
        argv += ["--select", select]
    # The audit reads run_results.json: a build that dies before writing it must not leave the
    # previous night's (passing) results behind.
    run_results = target_dir() / "run_results.json"
    run_results.unlink(missing_ok=True)
    # dbt resolves the profile's relative paths against the working directory: run from the root.
    completed = subprocess.run(argv, cwd=ROOT, check=False)
    if completed.returncode != 0:
        failed = failed_nodes(run_results)
        day = f" for dt={dt}" if dt else ""
        if not failed:
            raise BuildFailed(f"dbt build{day} failed (exit {completed.returncode}); see its log")
        shown = "; ".join(failed[:SHOWN_NODES])
        more = f" and {len(failed) - SHOWN_NODES} more" if len(failed) > SHOWN_NODES else ""
        raise BuildFailed(f"dbt build{day}: {len(failed)} nodes did not pass: {shown}{more}")
