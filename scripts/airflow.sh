#!/usr/bin/env bash
# Airflow on this project, offline: SQLite metadata in a project-local AIRFLOW_HOME under
# $SHIFU_DATA_DIR, the DAGs of dags/, no examples. The first call migrates the database and
# creates the `warehouse_build` pool (1 slot); both are idempotent, rerun when the stamp is gone.
#
# Usage: scripts/airflow.sh night 2026-11-01   # the nightly DAGs for dt=2026-11-01, in order
#        scripts/airflow.sh setup              # only the setup
#        scripts/airflow.sh dags test ingest_logs 2026-11-02T02:00:00+08:00   # any airflow command
# A run's dt is its data interval's start: `dags test DAG D` runs the interval that ENDS at D, so
# the night of dt=D is logical date D+1 02:00 Asia/Shanghai (what `night` passes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.venv/bin
export SHIFU_DATA_DIR=${SHIFU_DATA_DIR:-$root/data}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$SHIFU_DATA_DIR/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=$root/dags
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$AIRFLOW_HOME/logs
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
# The `warehouse` package is not in pyproject's package list yet: reach it from the repository.
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
mkdir -p "$AIRFLOW_HOME"
cd "$root"

stamp=$AIRFLOW_HOME/.setup-done
if [[ ! -f $stamp ]]; then
    "$bin/airflow" db migrate >"$AIRFLOW_HOME/setup.log" 2>&1 \
        || { cat "$AIRFLOW_HOME/setup.log" >&2; exit 1; }
    "$bin/airflow" pools set warehouse_build 1 "one writer of build.duckdb" >>"$AIRFLOW_HOME/setup.log" 2>&1 \
        || { cat "$AIRFLOW_HOME/setup.log" >&2; exit 1; }
    touch "$stamp"
fi
[[ ${1:-} == setup ]] && exit 0
if [[ ${1:-} == night ]]; then
    logical=$(date -d "${2:?dt} + 1 day" +%F)T02:00:00+08:00
    for dag in ingest_relational ingest_logs ingest_events build_warehouse; do
        "$bin/airflow" dags test "$dag" "$logical" >"$AIRFLOW_HOME/night-$2-$dag.log" 2>&1 \
            || { tail -50 "$AIRFLOW_HOME/night-$2-$dag.log" >&2; echo "$dag failed for dt=$2" >&2; exit 1; }
    done
    exit 0
fi
exec "$bin/airflow" "$@"
