"""The nightly run through Airflow against the same steps run directly, on the same nights.

Simulates `--days` nights (default 2 from 2026-11-01, scale 0.1, seed 42, SQLite) into one
sources directory, night by night (`--append`), and after each night runs, in alternating order:
  direct   - `python -m ingest all --dt D`, then `python -m warehouse build` and
             `python -m warehouse publish` (on the build nights)
  airflow  - scripts/airflow.sh night D: `airflow dags test` of ingest_relational, ingest_logs,
             ingest_events, then build_warehouse (on the build nights), in one process
             (warehouse/night.py), SQLite metadata
Each variant has its own lake and warehouse (both read the shared sources through a symlink).
The warehouse builds from the second night on (a one-day lake does not build yet,
tests/orchestration/README.md), so night 1 is ingest only.

Where Airflow's time goes: per DAG run, the wall time of `airflow dags test` against the sum of
its task instances' durations (Airflow's own metadata); the CLI's fixed cost (`airflow version`,
a one-task no-op DAG) and the cost per extra task (a no-op DAG of --noop-tasks tasks).

astronomer-cosmos (in the locked stack): the same dbt build rendered as one Airflow task per
node (ExecutionMode.LOCAL, TestBehavior.BUILD, dbtRunner in-process) for the `--cosmos-select`
slice, against `dbt build --select` of that slice, both on the direct variant's last lake.

    python bench/orchestration/run.py [--days 2] [--scale 0.1] [--cosmos-select SELECTOR|none]

Writes bench/results/orchestration.json; the reading is in bench/orchestration/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from warehouse import sandbox

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
AIRFLOW = ROOT / "scripts" / "airflow.sh"
BIN = Path(sys.executable).parent
INGEST_DAGS = ["ingest_relational", "ingest_logs", "ingest_events"]
BUILD_DAG = "build_warehouse"

NOOP_DAGS = '''"""No-op DAGs: the fixed cost of `airflow dags test` and the cost of one more task."""

import pendulum
from airflow.sdk import dag, task

START = pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai")


@dag(schedule=None, start_date=START, catchup=False, tags=["bench"])
def noop_1():
    @task
    def nothing() -> None:
        pass

    nothing()


@dag(schedule=None, start_date=START, catchup=False, tags=["bench"])
def noop_n():
    @task
    def nothing(i: int) -> None:
        pass

    nothing.expand(i=list(range({tasks})))


noop_1()
noop_n()
'''

# "airflow" and "dag" must both appear in a DAG file, or the DagBag's safe mode skips it.
COSMOS_DAG = '''"""The warehouse build rendered by astronomer-cosmos as an Airflow DAG: a task per dbt node."""

from pathlib import Path

import pendulum
from cosmos import DbtDag, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior

PROJECT = Path({project!r})

cosmos_build = DbtDag(
    dag_id="cosmos_build",
    schedule=None,
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai"),
    catchup=False,
    tags=["bench"],
    project_config=ProjectConfig(
        dbt_project_path=PROJECT,
        models_relative_path="../models",  # dbt_project.yml: model-paths ["../models"]
        manifest_path={manifest!r},
        install_dbt_deps=False,
    ),
    profile_config=ProfileConfig(
        profile_name="shifu_dw", target_name="prod", profiles_yml_filepath=PROJECT / "profiles.yml"
    ),
    execution_config=ExecutionConfig(
        execution_mode=ExecutionMode.LOCAL,
        invocation_mode=InvocationMode.DBT_RUNNER,
        dbt_executable_path={dbt!r},
    ),
    render_config=RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        test_behavior=TestBehavior.BUILD,
        select={select!r},
        exclude={exclude!r},
        enable_mock_profile=False,
    ),
)
'''


def environment(data_dir: Path) -> dict[str, str]:
    # dbt on the profile's threads; the DAG files import the project's packages
    env = sandbox.environment(data_dir, "bench-orchestration-salt-not-a-secret", dbt_threads=None)
    env["PYTHONPATH"] = str(ROOT)
    return env


def timed(argv: list[str], env: dict[str, str], log: Path) -> float:
    """Run a command (output to `log`); its wall seconds. Raises on failure."""
    started = time.monotonic()
    with log.open("w") as out:
        completed = subprocess.run(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        tail = log.read_text(errors="replace")[-4000:]
        raise RuntimeError(f"{' '.join(argv)} failed ({completed.returncode}):\n{tail}")
    return seconds


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_direct(env: dict[str, str], dt: date, build: bool, logs: Path) -> dict[str, float]:
    python = sys.executable
    steps = {"ingest all": [python, "-m", "ingest", "all", "--dt", dt.isoformat()]}
    if build:
        steps["warehouse build"] = [python, "-m", "warehouse", "build"]
        steps["warehouse publish"] = [python, "-m", "warehouse", "publish"]
    return {
        name: timed(argv, env, logs / f"direct-{dt}-{name.replace(' ', '_')}.log")
        for name, argv in steps.items()
    }


def run_airflow(env: dict[str, str], dt: date, build: bool, logs: Path) -> dict[str, float]:
    """`scripts/airflow.sh night D DAG...`: the night's DAGs in one process (warehouse/night.py).
    Per DAG, the seconds its progress line reports; "start-up" is the rest of the wall time."""
    dags = INGEST_DAGS + ([BUILD_DAG] if build else [])
    log = logs / f"af-{dt}.log"
    wall = timed([str(AIRFLOW), "night", dt.isoformat(), *dags], env, log)
    per_dag = {
        dag: float(seconds)
        for dag, seconds in re.findall(
            r"^night \S+: (\S+) done in ([0-9.]+)s$", log.read_text(), re.M
        )
    }
    assert list(per_dag) == dags, f"progress lines in {log}: {per_dag}"
    return {"start-up": wall - sum(per_dag.values()), **per_dag}


def task_seconds(airflow_db: Path) -> dict[str, dict]:
    """Per DAG run (`dag_id logical_date`): task count and summed task-instance durations."""
    with sqlite3.connect(airflow_db) as con:
        rows = con.execute(
            "select dag_id, run_id, count(*), sum(duration), min(start_date), max(end_date) "
            "from task_instance group by dag_id, run_id order by dag_id, run_id"
        ).fetchall()
    result = {}
    for dag_id, run_id, tasks, seconds, first, last in rows:
        span = (datetime.fromisoformat(last) - datetime.fromisoformat(first)).total_seconds()
        result[f"{dag_id} {run_id}"] = {
            "tasks": tasks,
            "task_seconds": round(seconds or 0, 1),
            "first_start_to_last_end": round(span, 1),
        }
    return result


def fresh_airflow_home(template: Path, home: Path) -> None:
    """A migrated, set-up Airflow home from the template (skips a 20-30 s `db migrate`)."""
    home.mkdir(parents=True)
    shutil.copyfile(template, home / "airflow.db")
    (home / ".setup-done").touch()


def measure_overhead(work: Path, template: Path, tasks: int) -> dict[str, float]:
    """`airflow version`; `dags test` of a one-task and of a `tasks`-task no-op DAG."""
    dags = work / "noop_dags"
    dags.mkdir()
    (dags / "noop.py").write_text(NOOP_DAGS.replace("{tasks}", str(tasks)))
    home = work / "noop_airflow"
    fresh_airflow_home(template, home)
    env = environment(work / "noop_data")
    env.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__DAGS_FOLDER=str(dags))
    logical = "2026-11-02T02:00:00+08:00"
    figures = {"airflow version": timed([str(AIRFLOW), "version"], env, work / "noop-version.log")}
    for dag_id in ("noop_1", "noop_n"):
        # Twice: the first run of a DAG also serializes it into the metadata database.
        for attempt in ("first", "again"):
            argv = [str(AIRFLOW), "dags", "test", dag_id, logical]
            figures[f"dags test {dag_id} ({attempt})"] = timed(
                argv, env, work / f"noop-{dag_id}-{attempt}.log"
            )
    one, many = figures["dags test noop_1 (again)"], figures["dags test noop_n (again)"]
    figures["seconds per extra task"] = (many - one) / (tasks - 1)
    return {k: round(v, 2) for k, v in figures.items()}


# Seeds are left out of both sides: cosmos's LOCAL mode runs dbt in a temporary directory of
# symlinks to the project's entries, and dbt-duckdb loads a seed through DuckDB, whose glob does
# not follow the symlinked seeds/ ("No files found that match the pattern .../seeds/x.csv").
COSMOS_EXCLUDE = "resource_type:seed"


def cosmos_project(work: Path) -> Path:
    """Where cosmos runs dbt from. LOCAL mode symlinks the project's entries into a fresh temp
    directory per task, and dbt_project.yml reads models from `../models`: TMPDIR is set to a
    folder with a `models` link, so `$TMPDIR/<task dir>/../models` resolves."""
    base = work / "cosmos"
    (base / "tmp").mkdir(parents=True)
    (base / "tmp" / "models").symlink_to(ROOT / "models")
    return base


def measure_cosmos(work: Path, template: Path, data_dir: Path, select: str) -> dict[str, object]:
    """`dbt build --select` of a slice directly, then the same slice as a cosmos DAG."""
    env = environment(data_dir)
    logs = work / "logs"
    project = ROOT / "dbt_project"
    dbt = str(BIN / "dbt")
    base = cosmos_project(work)
    direct = [dbt, "build", "--select", select, "--exclude", COSMOS_EXCLUDE]
    direct += ["--project-dir", str(project)]
    direct += ["--profiles-dir", str(project)]
    direct_seconds = timed(direct, env, logs / "cosmos-direct-dbt-build.log")
    manifest = data_dir / "dbt" / "target" / "manifest.json"
    nodes = json.loads((data_dir / "dbt" / "target" / "run_results.json").read_text())["results"]
    dags = work / "cosmos_dags"
    dags.mkdir()
    (dags / "cosmos_build.py").write_text(
        COSMOS_DAG.format(
            project=str(project),
            manifest=str(manifest),
            dbt=dbt,
            select=[select],
            exclude=[COSMOS_EXCLUDE],
        )
    )
    home = work / "cosmos_airflow"
    fresh_airflow_home(template, home)
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__DAGS_FOLDER=str(dags),
        TMPDIR=str(base / "tmp"),
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",  # offline: no usage pings
    )
    argv = [str(AIRFLOW), "dags", "test", "cosmos_build", "2026-11-02T02:00:00+08:00"]
    cosmos_seconds = timed(argv, env, logs / "cosmos-dags-test.log")
    runs = task_seconds(home / "airflow.db")
    return {
        "select": select,
        "dbt_nodes": len(nodes),
        "direct_dbt_build_seconds": round(direct_seconds, 1),
        "cosmos_dags_test_seconds": round(cosmos_seconds, 1),
        "ratio": round(cosmos_seconds / direct_seconds, 2),
        "cosmos_tasks": runs,
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--noop-tasks", type=int, default=21)
    parser.add_argument("--cosmos-select", default="+rpt_finance__gmv_daily")
    parser.add_argument("--work-dir", type=Path, help="keep everything here (default: a temp dir)")
    parser.add_argument(
        "--cosmos-only",
        type=Path,
        metavar="WORK_DIR",
        help="only the cosmos measurement, on the direct lake of an earlier run's --work-dir",
    )
    args = parser.parse_args()
    if args.cosmos_only:
        earlier = args.cosmos_only
        work = Path(tempfile.mkdtemp(prefix="cosmos-", dir=earlier))
        (work / "logs").mkdir()
        cosmos = measure_cosmos(
            work, earlier / "airflow-template.db", earlier / "direct", args.cosmos_select
        )
        cosmos["loadavg"] = loadavg()
        out = RESULTS / "orchestration-cosmos.json"
        out.write_text(json.dumps(cosmos, indent=2) + "\n")
        print(json.dumps({k: v for k, v in cosmos.items() if k != "cosmos_tasks"}, indent=2))
        return 0
    if args.days < 2:
        parser.error("--days must be at least 2: the warehouse builds from the second night on")

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="bench-orchestration-"))
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "logs"
    logs.mkdir(exist_ok=True)
    sources = work / "sources"
    variants = {name: work / name for name in ("direct", "airflow")}
    envs = {}
    for name, data_dir in variants.items():
        data_dir.mkdir()
        (data_dir / "sources").symlink_to(sources)
        envs[name] = environment(data_dir)
    figures: dict[str, object] = {
        "options": {"days": args.days, "scale": args.scale, "seed": args.seed, "db": "sqlite"},
        "cpus": os.cpu_count(),
        "loadavg_start": loadavg(),
        "nights": [],
    }
    setup = timed([str(AIRFLOW), "setup"], envs["airflow"], logs / "airflow-setup.log")
    figures["airflow_setup_seconds"] = round(setup, 1)
    template = work / "airflow-template.db"
    shutil.copyfile(variants["airflow"] / "airflow" / "airflow.db", template)

    simulate = [sys.executable, "-m", "simulator", "--target", str(sources), "--no-progress"]
    for night in range(args.days):
        dt = args.start + timedelta(days=night)
        if night == 0:
            first = ["--start", dt.isoformat(), "--days", "1", "--scale", str(args.scale)]
            timed(simulate + first + ["--seed", str(args.seed)], envs["direct"], logs / "sim.log")
        else:
            timed(simulate + ["--append"], envs["direct"], logs / f"sim-{dt}.log")
        build = night > 0
        order = ["direct", "airflow"] if night % 2 == 0 else ["airflow", "direct"]
        entry: dict[str, object] = {"dt": dt.isoformat(), "build": build, "order": order}
        for name in order:
            runner = run_direct if name == "direct" else run_airflow
            entry["loadavg_before_" + name] = loadavg()
            steps = runner(envs[name], dt, build, logs)
            entry[name] = {k: round(v, 1) for k, v in steps.items()}
            entry[name + "_seconds"] = round(sum(steps.values()), 1)
        entry["ratio"] = round(entry["airflow_seconds"] / entry["direct_seconds"], 2)
        figures["nights"].append(entry)
        print(json.dumps(entry), flush=True)

    nights = figures["nights"]
    built = [n for n in nights if n["build"]]
    for label, subset in (("all_nights", nights), ("build_nights", built)):
        direct = sum(n["direct_seconds"] for n in subset)
        through = sum(n["airflow_seconds"] for n in subset)
        figures[label] = {
            "direct_seconds": round(direct, 1),
            "airflow_seconds": round(through, 1),
            "ratio": round(through / direct, 2),
        }
    figures["airflow_runs"] = task_seconds(variants["airflow"] / "airflow" / "airflow.db")
    figures["overhead"] = measure_overhead(work, template, args.noop_tasks)
    if args.cosmos_select != "none":
        try:
            figures["cosmos"] = measure_cosmos(
                work, template, variants["direct"], args.cosmos_select
            )
        except RuntimeError as error:
            figures["cosmos"] = {"error": str(error)[-3000:]}
    figures["loadavg_end"] = loadavg()
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "orchestration.json"
    out.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps({k: figures[k] for k in ("all_nights", "build_nights", "overhead")}, indent=2))
    if "cosmos" in figures:
        cosmos = figures["cosmos"]
        print(json.dumps({k: v for k, v in cosmos.items() if k != "cosmos_tasks"}, indent=2))
    print(f"figures: {out}; work directory: {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
