"""Publish a tested build (DESIGN.md, "Publishing"): the audit gate, then atomic renames.

    serving/warehouse.duckdb                 a copy of build.duckdb, swapped in by os.replace
    serving/rpt/<domain>/<model>.parquet     every rpt_<domain>__<name> table, one file each
    serving/_published.json                  what was published, when, from which build

BI tools open the serving copy read-only, so the nightly build never waits for them and they
never see a half-written file: every file is written beside its final name and renamed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from warehouse.build import target_dir

RPT_SCHEMA = "rpt"
RPT_MODEL = re.compile(r"^rpt_([a-z][a-z0-9_]*?)__([a-z0-9_]+)$")
PASSED = {"success", "pass", "warn"}


class AuditFailed(RuntimeError):
    """The last dbt build did not pass every node: publishing refuses."""


@dataclass(frozen=True)
class Published:
    database: Path
    rpt_files: list[Path]


def warehouse_dir() -> Path:
    return Path(os.environ.get("SHIFU_DATA_DIR", "data")) / "warehouse"


def audit(run_results: Path) -> int:
    """The gate: the last `dbt build` ran and every node passed. Returns the node count."""
    if not run_results.is_file():
        raise AuditFailed(f"no dbt run results at {run_results}: nothing was built")
    results = json.loads(run_results.read_text())
    command = results.get("args", {}).get("which")
    if command != "build":
        raise AuditFailed(f"the last dbt command was {command!r}, not a build")
    failed = [r["unique_id"] for r in results["results"] if r["status"] not in PASSED]
    if failed:
        shown = ", ".join(failed[:10]) + (" ..." if len(failed) > 10 else "")
        raise AuditFailed(f"{len(failed)} dbt nodes did not pass: {shown}")
    return len(results["results"])


def publish(warehouse: Path | None = None, run_results: Path | None = None) -> Published:
    """Audit the build, then swap in the serving copy and the RPT Parquet files."""
    import duckdb

    warehouse = warehouse or warehouse_dir()
    nodes = audit(run_results or target_dir() / "run_results.json")
    build_file = warehouse / "build.duckdb"
    serving = warehouse / "serving"
    serving.mkdir(parents=True, exist_ok=True)
    # Fold any write-ahead log into the file, so that a byte copy of it is the whole database.
    with duckdb.connect(str(build_file)) as con:
        con.execute("checkpoint")
    staged = _staged_copy(build_file, serving)
    staging = Path(tempfile.mkdtemp(prefix=".rpt-", dir=serving))
    try:
        exports = _export_rpt(staged, staging, serving)
        os.replace(staged, serving / "warehouse.duckdb")
        files = []
        for temporary, final in exports:
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(temporary, final)
            files.append(final)
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    marker = {
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "nodes_passed": nodes,
        "rpt_models": sorted(str(f.relative_to(serving)) for f in files),
    }
    _write_atomically(serving / "_published.json", json.dumps(marker, indent=2) + "\n")
    return Published(serving / "warehouse.duckdb", files)


def _staged_copy(build_file: Path, serving: Path) -> Path:
    handle, name = tempfile.mkstemp(prefix=".warehouse-", suffix=".duckdb", dir=serving)
    os.close(handle)
    staged = Path(name)
    shutil.copyfile(build_file, staged)
    with staged.open("rb") as f:
        os.fsync(f.fileno())
    return staged


def _export_rpt(database: Path, staging: Path, serving: Path) -> list[tuple[Path, Path]]:
    """Every RPT table to a Parquet file in `staging` (same file system): (temporary, final)."""
    import duckdb

    exports = []
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by table_name",
            [RPT_SCHEMA],
        ).fetchall()
        for (name,) in names:
            match = RPT_MODEL.match(name)
            if not match:
                continue  # validated against the naming pattern before it reaches SQL or a path
            temporary = staging / f"{name}.parquet"
            con.execute(f'copy "{RPT_SCHEMA}"."{name}" to \'{temporary}\' (format parquet)')
            exports.append((temporary, serving / "rpt" / match.group(1) / f"{name}.parquet"))
    return exports


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
