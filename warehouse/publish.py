"""Publish a tested build (DESIGN.md, "Publishing"): the audit gate, then atomic renames.

    serving/warehouse.duckdb                 a copy of build.duckdb, swapped in by os.replace
    serving/rpt/<domain>/<model>.parquet     every rpt_<domain>__<name> table, one file each
    serving/_published.json                  what was published, when, from which build
    serving/_catalogue.json                  every night's publish (or refusal), kept for good
    serving/domains/<domain>.duckdb          one domain's rpt tables, for that domain's readers
    serving/dashboard/index.html             the business dashboard and data dictionary

BI tools open the serving copy read-only, so the nightly build never waits for them and they
never see a half-written file: every file is written beside its final name, given its
permissions (serving/domains.py: one POSIX group per domain) and renamed.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from serving import catalogue, dashboard
from serving.domains import ALL_DOMAINS, publish_domains, restrict
from warehouse.build import target_dir

RPT_SCHEMA = "rpt"
RPT_MODEL = re.compile(r"^rpt_([a-z][a-z0-9_]*?)__([a-z0-9_]+)$")
PASSED = {"success", "pass", "warn"}
# The audited run_results.json and its manifest.json, kept with what they describe: the
# catalogue's test counts and the dashboard's data dictionary are read from them.
DBT_METADATA = "_dbt"


class AuditFailed(RuntimeError):
    """The last dbt build did not pass every node: publishing refuses."""


@dataclass(frozen=True)
class Published:
    database: Path
    rpt_files: list[Path]
    domain_files: dict[str, Path]
    dashboard: Path
    dt: date


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


def publish(
    warehouse: Path | None = None, run_results: Path | None = None, dt: str | None = None
) -> Published:
    """Audit the build, then swap in the serving copy, the RPT Parquet and per-domain files.

    `dt`, the business date the build is of, is recorded in _published.json and the catalogue;
    without it the latest date in the RPT tables stands in. A refused night leaves serving/ as
    it was and waits beside it to be catalogued (serving/catalogue.py).
    """
    import duckdb

    warehouse = warehouse or warehouse_dir()
    run_results = run_results or target_dir() / "run_results.json"
    serving = warehouse / "serving"
    try:
        nodes = audit(run_results)
    except AuditFailed as error:
        night = date.fromisoformat(dt) if dt else None
        catalogue.record(
            serving, status="refused", dt=night, run_results=run_results, reason=str(error)
        )
        raise
    build_file = warehouse / "build.duckdb"
    serving.mkdir(parents=True, exist_ok=True)
    # Fold any write-ahead log into the file, so that a byte copy of it is the whole database.
    with duckdb.connect(str(build_file)) as con:
        con.execute("checkpoint")
    staged = _staged_copy(build_file, serving)
    restrict(staged, ALL_DOMAINS)
    staging = Path(tempfile.mkdtemp(prefix=".rpt-", dir=serving))
    try:
        exports = _export_rpt(staged, staging, serving)
        os.replace(staged, serving / "warehouse.duckdb")
        files = []
        for temporary, final in exports:
            final.parent.mkdir(parents=True, exist_ok=True)
            domain = final.parent.name
            restrict(final.parent, domain)
            restrict(temporary, domain)
            os.replace(temporary, final)
            files.append(final)
    finally:
        staged.unlink(missing_ok=True)
        shutil.rmtree(staging, ignore_errors=True)
    marker = {
        "dt": dt,
        "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "nodes_passed": nodes,
        "rpt_models": sorted(str(f.relative_to(serving)) for f in files),
    }
    _write_atomically(serving / "_published.json", json.dumps(marker, indent=2) + "\n")
    database = serving / "warehouse.duckdb"
    _keep_build_metadata(run_results, serving / DBT_METADATA)
    domain_files = publish_domains(database, serving / "domains")
    rows, latest = _rpt_rows_and_latest_dt(database)
    night = date.fromisoformat(dt) if dt else latest
    catalogue.record(serving, status="published", dt=night, run_results=run_results, tables=rows)
    page = dashboard.generate(serving, manifest=serving / DBT_METADATA / "manifest.json")
    return Published(database, files, domain_files, page, night)


def _rpt_rows_and_latest_dt(database: Path) -> tuple[dict[str, int], date | None]:
    """Row count of every rpt table, and the latest business date (`dt`) any of them holds."""
    import duckdb

    rows: dict[str, int] = {}
    latest: date | None = None
    with duckdb.connect(str(database), read_only=True) as con:
        tables = con.execute(
            "select table_name, bool_or(column_name = 'dt') from information_schema.columns "
            "where table_schema = ? group by table_name order by table_name",
            [RPT_SCHEMA],
        ).fetchall()
        for name, has_dt in tables:
            if not RPT_MODEL.match(name):
                continue
            if has_dt:
                count, newest = con.execute(
                    f'select count(*), max(dt) from "{RPT_SCHEMA}"."{name}"'
                ).fetchone()
                latest = max(filter(None, (latest, newest)), default=None)
            else:
                (count,) = con.execute(f'select count(*) from "{RPT_SCHEMA}"."{name}"').fetchone()
            rows[name] = count
    return rows, latest


def _keep_build_metadata(run_results: Path, out: Path) -> None:
    out.mkdir(exist_ok=True)
    for source in (run_results, run_results.with_name("manifest.json")):
        if source.is_file():
            temporary = out / f".{source.name}.tmp"
            shutil.copyfile(source, temporary)
            os.chmod(temporary, 0o644)  # compiled SQL and test results: no data, no secrets
            os.replace(temporary, out / source.name)


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
