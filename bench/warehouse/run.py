"""The nightly warehouse build after a short and after a long history: does it grow with history?

    python bench/warehouse/run.py [--scale 0.25] [--history 30] [--work /tmp/shifu-bench-warehouse]
                                  [--phase all|lake|short|long|report]

1. One lake, built the way production builds it: the simulator runs night by night (`--append`,
   databases only: `--no-files`) and `python -m ingest all --dt D` lands each night with the
   default config/sources.yml (incremental extracts by cursor, full snapshots where the config
   says so). Kept in <work>/lake-run and resumed or reused by later runs with the same scale.
2. For each history H in (3, --history): a data directory whose lake holds the partitions of
   nights 1..H (hard links to the lake of step 1: exactly the files nightly ingest wrote), a
   `dbt build` of it (the warehouse as it stood after night H), then night H+1's partitions
   are linked in and `dbt build` runs again: the timed nightly run.
3. On the long history: `dbt build --full-refresh` on the same lake for comparison, and the
   incremental warehouse and the full-refresh one are compared table by table (ODS, DW, RPT).

One run, wall seconds, ratios; the load average is recorded before and after each timed run.
Results go to bench/results/warehouse.json. The traffic half (logs, events) is not simulated:
its models are incremental by day already and build empty here; see README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from warehouse import sandbox

ROOT = Path(__file__).resolve().parents[2]
START = date(2026, 11, 1)
SEED = "42"
SALT = "bench-warehouse-salt-not-a-secret"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def environment(data_dir: Path) -> dict[str, str]:
    return sandbox.environment(data_dir, SALT)


def run(argv: list[str], data_dir: Path) -> float:
    started = time.monotonic()
    result = subprocess.run(
        argv, cwd=ROOT, env=environment(data_dir), capture_output=True, text=True
    )
    if result.returncode != 0:
        sys.exit(f"{' '.join(argv)} failed:\n{result.stdout[-5000:]}\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def dbt(args: list[str], data_dir: Path) -> dict:
    """A timed `dbt <args>` with the load around it and the slowest nodes of run_results.json."""
    before = load()
    executable = str(Path(sys.executable).with_name("dbt"))
    seconds = run(
        [executable, *args, "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
        data_dir,
    )
    results = json.loads((data_dir / "dbt" / "target" / "run_results.json").read_text())
    nodes = sorted(results["results"], key=lambda r: -r["execution_time"])
    return {
        "seconds": round(seconds, 1),
        "load_before": before,
        "load_after": load(),
        "nodes": len(nodes),
        "slowest": {r["unique_id"]: round(r["execution_time"], 2) for r in nodes[:8]},
    }


def build_lake(lake_run: Path, scale: str, nights: int) -> None:
    """Simulate and ingest `nights` nights, one at a time, as production does. Resumes where an
    interrupted run stopped (progress.json: nights simulated and ingested)."""
    progress_file = lake_run / "progress.json"
    progress = json.loads(progress_file.read_text()) if progress_file.exists() else {}
    if progress.get("scale") != scale:
        shutil.rmtree(lake_run, ignore_errors=True)
        lake_run.mkdir(parents=True)
        progress = {"scale": scale, "simulated": 0, "ingested": 0}
    simulate = [sys.executable, "-m", "simulator", "--target", str(lake_run / "sources")]
    simulate += ["--no-progress", "--no-files", "--days", "1"]
    for offset in range(progress["ingested"], nights):
        day = START + timedelta(days=offset)
        if progress["simulated"] <= offset:
            first = ["--start", START.isoformat(), "--scale", scale, "--seed", SEED]
            run(simulate + (first if offset == 0 else ["--append"]), lake_run)
            progress["simulated"] = offset + 1
            progress_file.write_text(json.dumps(progress))
        run([sys.executable, "-m", "ingest", "all", "--dt", day.isoformat()], lake_run)
        progress["ingested"] = offset + 1
        progress_file.write_text(json.dumps(progress))
        print(f"night {day}: simulated and ingested", flush=True)


def wait_for_night(lake_run: Path, night: int) -> None:
    """Wait until `--phase lake`, running beside this phase, has ingested `night`."""
    progress = lake_run / "progress.json"
    while json.loads(progress.read_text())["ingested"] < night:
        time.sleep(5)


def link_nights(lake_run: Path, data_dir: Path, first: int, last: int) -> None:
    """Hard-link the lake partitions of nights first..last (1-based) into data_dir's lake."""
    days = {f"dt={(START + timedelta(days=n - 1)).isoformat()}" for n in range(first, last + 1)}
    source = lake_run / "lake"
    for partition in source.rglob("dt=*"):
        if partition.is_dir() and partition.name in days:
            target = data_dir / "lake" / partition.relative_to(source)
            shutil.copytree(partition, target, copy_function=os.link, dirs_exist_ok=True)
    state = data_dir / "lake" / "_state"
    if not state.exists():
        shutil.copytree(source / "_state", state)


def row_counts(database: Path) -> dict[str, int]:
    with duckdb.connect(str(database), read_only=True) as con:
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('ods', 'dw', 'rpt') order by 1, 2"
        ).fetchall()
        return {
            f"{s}.{t}": con.execute(f'select count(*) from "{s}"."{t}"').fetchone()[0]
            for s, t in names
        }


def differing_tables(left: Path, right: Path) -> list[str]:
    """Tables of ods/dw/rpt whose rows differ (as multisets) between two warehouses."""
    with duckdb.connect(str(left), read_only=True) as con:
        con.execute(f"attach '{right}' as other (read_only)")
        names = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema in ('ods', 'dw', 'rpt') "
            "order by 1, 2"
        ).fetchall()
        differing = []
        for schema, table in names:
            if schema == "dw" and table.endswith("_history"):
                continue  # SCD2 snapshots record when dbt ran, not what the data is
            ours, theirs = f'"{schema}"."{table}"', f'other."{schema}"."{table}"'
            count = con.execute(
                f"select count(*) from ((select * from {ours} except all select * from {theirs})"
                f" union all (select * from {theirs} except all select * from {ours}))"
            ).fetchone()[0]
            if count:
                differing.append(f"{schema}.{table}")
        return differing


def history_run(lake_run: Path, work: Path, history: int, full_refresh: bool) -> dict:
    data_dir = work / f"history-{history}"
    state = data_dir / "history-build.json"
    if state.exists():  # the warehouse after night H, from an interrupted earlier run
        figures = {"history_build": json.loads(state.read_text())}
    else:
        shutil.rmtree(data_dir, ignore_errors=True)
        link_nights(lake_run, data_dir, 1, history)
        # Models, seeds and snapshots as the nights before left them (tests add no state).
        nights = ["build", "--resource-type", "model", "--resource-type", "seed"]
        figures = {"history_build": dbt([*nights, "--resource-type", "snapshot"], data_dir)}
        state.write_text(json.dumps(figures["history_build"]))
    figures["history_days"] = history
    wait_for_night(lake_run, history + 1)
    link_nights(lake_run, data_dir, history + 1, history + 1)
    figures["nightly"] = dbt(["build"], data_dir)
    database = data_dir / "warehouse" / "build.duckdb"
    figures["rows"] = row_counts(database)
    if full_refresh:
        incremental = database.with_name("incremental.duckdb")
        shutil.copyfile(database, incremental)
        figures["full_refresh"] = dbt(["build", "--full-refresh"], data_dir)
        figures["differing_tables"] = differing_tables(incremental, database)
    return figures


def report(results: Path, scale: str) -> dict:
    """Ratios from the two phases' figures (either may have run in an earlier invocation)."""
    figures = json.loads(results.read_text())
    short, long = figures["short"], figures["long"]
    return {
        "scale": scale,
        "history_days": [short.get("history_days", 3), long.get("history_days")],
        "orders_after_long_history": long["rows"].get("dw.dw_fct_orders", 0),
        "nightly_seconds": {"3": short["nightly"]["seconds"], "long": long["nightly"]["seconds"]},
        "ratio_long_to_3": round(long["nightly"]["seconds"] / short["nightly"]["seconds"], 2),
        "full_refresh_seconds": long["full_refresh"]["seconds"],
        "ratio_full_refresh_to_long_nightly": round(
            long["full_refresh"]["seconds"] / long["nightly"]["seconds"], 2
        ),
        "incremental_equals_full_refresh": long["differing_tables"] == [],
        "differing_tables": long["differing_tables"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scale", default="0.25")
    parser.add_argument("--history", type=int, default=30)
    parser.add_argument("--work", type=Path, default=Path("/tmp/shifu-bench-warehouse"))
    parser.add_argument(
        "--phase",
        choices=("all", "lake", "short", "long", "report"),
        default="all",
        help="lake: simulate and ingest only; short / long: one history (each waits for the "
        "night it needs from a lake phase running beside it); report: the summary again",
    )
    args = parser.parse_args()

    lake_run = args.work / "lake-run"
    results = args.work / "figures.json"
    figures = json.loads(results.read_text()) if results.exists() else {}
    if args.phase in ("all", "lake"):
        build_lake(lake_run, args.scale, args.history + 1)
    if args.phase in ("all", "short"):
        figures["short"] = history_run(lake_run, args.work, 3, full_refresh=False)
        results.write_text(json.dumps(figures, indent=2))
    if args.phase in ("all", "long"):
        figures["long"] = history_run(lake_run, args.work, args.history, full_refresh=True)
        results.write_text(json.dumps(figures, indent=2))
    if "short" not in figures or "long" not in figures:
        return
    summary = report(results, args.scale)
    out = ROOT / "bench" / "results" / "warehouse.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({**summary, **figures}, indent=2) + "\n")
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
