"""DAG integrity: every DAG parses, is tagged and retried, and touches nothing at parse time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DAGS = ROOT / "dags"
EXPECTED = {"ingest_relational", "ingest_logs", "ingest_events", "build_warehouse"}

# Parses the DAG folder in a fresh interpreter, with no data directory and a source URL that
# cannot be reached: any database or file access at import time fails the parse.
PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
print(json.dumps({
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": {
        dag_id: {
            "tags": sorted(dag.tags),
            "retries": dag.default_args.get("retries"),
            "doc_md": bool(dag.doc_md),
            "task_retries": {t.task_id: t.retries for t in dag.tasks},
            "failure_callbacks": {
                t.task_id: [
                    f"{c.__module__}.{c.__qualname__}"
                    for c in (t.on_failure_callback if isinstance(t.on_failure_callback, list)
                              else [t.on_failure_callback] if t.on_failure_callback else [])
                ]
                for t in dag.tasks
            },
            "deadline_callbacks": [d.callback.path for d in dag.deadline or []],
        }
        for dag_id, dag in bag.dags.items()
    },
}))
"""


@pytest.fixture(scope="module")
def parsed(tmp_path_factory: pytest.TempPathFactory) -> dict:
    import json

    home = tmp_path_factory.mktemp("airflow_home")
    missing = home / "no-such-data-dir"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SHIFU_", "AIRFLOW"))}
    env.update(
        AIRFLOW_HOME=str(home),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(DAGS),
        AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=f"sqlite:///{home}/never-created.db",
        SHIFU_DATA_DIR=str(missing),
        SHIFU_SOURCE_URL="mysql+pymysql://nobody:secret@192.0.2.1:1/unreachable",
        SHIFU_SOURCES_FILE=str(missing / "sources.yml"),
    )
    result = subprocess.run(
        [sys.executable, "-c", PARSE, str(DAGS)],
        cwd=home,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert not missing.exists(), "parsing the DAGs created the data directory"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_every_dag_imports_without_errors(parsed: dict) -> None:
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == EXPECTED


def test_every_dag_has_tags_docs_and_retries(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["tags"], dag_id
        assert dag["doc_md"], dag_id
        assert dag["retries"] and dag["retries"] >= 1, dag_id


def test_only_the_dbt_build_runs_without_retries(parsed: dict) -> None:
    """A failing data test does not pass on a retry; every other task retries."""
    no_retries = {
        (dag_id, task_id)
        for dag_id, dag in parsed["dags"].items()
        for task_id, retries in dag["task_retries"].items()
        if not retries
    }
    assert no_retries == {("build_warehouse", "build")}


def test_dags_pass_ruff_airflow_rules() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    result = subprocess.run(
        [str(ruff), "check", "--select", "AIR", str(DAGS)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_every_task_alerts_when_it_fails_for_good(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        for task_id, callbacks in dag["failure_callbacks"].items():
            assert callbacks == ["warehouse.alerts.task_failed"], (dag_id, task_id)


def test_every_dag_alerts_on_a_missed_deadline(parsed: dict) -> None:
    for dag_id, dag in parsed["dags"].items():
        assert dag["deadline_callbacks"] == ["warehouse.alerts.deadline_missed"], dag_id
