#!/usr/bin/env bash
# Airflow on this project, offline: SQLite metadata in a project-local AIRFLOW_HOME under
# $SHIFU_DATA_DIR, the DAGs of dags/, no examples. The first call migrates the database and
# creates the `warehouse_build` pool (1 slot); both are idempotent, rerun when the stamp is gone.
#
# Usage: scripts/airflow.sh night 2026-11-01   # the nightly DAGs for dt=2026-11-01, in order
#        scripts/airflow.sh night 2026-11-01 ingest_logs   # only these DAGs of that night
#        scripts/airflow.sh backfill 2026-11-01 2026-11-07 [DAG...]   # `night` for each day
#        scripts/airflow.sh setup              # only the setup
#        scripts/airflow.sh dags test ingest_logs 2026-11-02T02:00:00+08:00   # any airflow command
# A run's dt is its data interval's start: `dags test DAG D` runs the interval that ENDS at D, so
# the night of dt=D is logical date D+1 02:00 Asia/Shanghai (what `night` passes).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$root/.venv/bin
export SHIFU_DATA_DIR=${SHIFU_DATA_DIR:-$root/data}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$SHIFU_DATA_DIR/airflow}
# bench/orchestration points it at a scratch folder (the astronomer-cosmos variant).
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$root/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}
export AIRFLOW__LOGGING__BASE_LOG_FOLDER=$AIRFLOW_HOME/logs
export AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=False
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
# The `warehouse` package is not in pyproject's package list yet: reach it from the repository.
export PYTHONPATH=$root${PYTHONPATH:+:$PYTHONPATH}
export DBT_SEND_ANONYMOUS_USAGE_STATS=false
# `dags test` fails a DAG that has a deadline alert in Airflow 3.3.2 (warehouse/alerts.py, in
# nightly_deadline); only a scheduler checks deadlines anyway: off for the offline commands.
if [[ ${1:-} == night || ${1:-} == backfill || "${1:-} ${2:-}" == "dags test" ]]; then
    export SHIFU_DEADLINE_HOURS=0
fi
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
    # `airflow dags test` of each DAG (default: all four, in order) in one Python process
    # (warehouse/night.py): Airflow's start-up is paid once a night, not once per DAG. The
    # night's log is night-D.log; its progress lines ("night D: DAG ...") are shown.
    log=$AIRFLOW_HOME/night-${2:?dt}.log
    "$bin/python" -m warehouse.night "$2" "${@:3}" 2>&1 | tee "$log" | grep --line-buffered '^night ' \
        || { tail -50 "$log" >&2; echo "the night of dt=$2 failed: $log" >&2; exit 1; }
    exit 0
fi
if [[ ${1:-} == backfill && ${2:-} =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}$ ]]; then
    # `airflow backfill create` only queues runs for a scheduler to execute; offline, replay the
    # range night by night (each night idempotent), stopping at the first night that fails.
    # (`scripts/airflow.sh backfill create ...` still reaches Airflow's own command.)
    day=$(date -d "${2:?start dt}" +%F)
    end=$(date -d "${3:?end dt}" +%F)
    while [[ ! $day > $end ]]; do
        echo "backfill: night of dt=$day" >&2
        "$0" night "$day" "${@:4}"
        day=$(date -d "$day + 1 day" +%F)
    done
    exit 0
fi
exec "$bin/airflow" "$@"
