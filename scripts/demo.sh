#!/usr/bin/env bash
# The main job on the embedded default, through the real Airflow DAGs, night by night: the
# simulated marketplace lives one more day (`python -m simulator --append`, so the source
# databases hold that night's state), then the night's DAGs run for dt=D with
# `airflow dags test` on SQLite, one process a night (scripts/airflow.sh night, warehouse/night.py):
# ingest_relational, ingest_logs, ingest_events. All nights share one Airflow metadata database, so the incremental and CDC
# tasks of D (depends_on_past) see D-1's runs succeeded. After the last night build_warehouse
# builds and tests ODS -> DW -> RPT with dbt and publishes the serving copy if every test passed.
#
# The warehouse is built once, on the last night, by default: dbt builds the whole lake each
# time (about a minute at scale 0.1), so seven builds would double the demo's time for six
# intermediate warehouses nobody looks at. DEMO_BUILD=nightly builds and publishes every night
# from the second on, as production does (a one-day lake does not build yet: see
# tests/orchestration/README.md).
#
# Usage: scripts/demo.sh START DAYS SCALE SEED     (make demo passes the DEMO_* variables)
set -euo pipefail
cd "$(dirname "$0")/.."

start=${1:?start date} days=${2:?days} scale=${3:?scale} seed=${4:?seed}
build_every_night=0
case ${DEMO_BUILD:-last} in
    last) ;;
    nightly) build_every_night=1 ;;
    *) echo "DEMO_BUILD must be 'last' or 'nightly', not '$DEMO_BUILD'" >&2; exit 2 ;;
esac
data_dir=${SHIFU_DATA_DIR:-$PWD/data}
mkdir -p "$data_dir"
data_dir=$(cd "$data_dir" && pwd)
export SHIFU_DATA_DIR=$data_dir
# dbt's run_results.json (the publish gate reads it) and logs live with the data, not the repo.
export DBT_TARGET_PATH=${DBT_TARGET_PATH:-$data_dir/dbt/target}
export DBT_LOG_PATH=${DBT_LOG_PATH:-$data_dir/dbt/logs}
export AIRFLOW_HOME=$data_dir/airflow
python=.venv/bin/python
sources=$data_dir/sources
logs=$data_dir/demo-logs
started=$SECONDS

# One line per step: elapsed time when it starts, then its own duration when it ends. Its
# output goes to a log file, shown (the end of it) only if the step fails.
step() {
    local label=$1 log=$2 began=$SECONDS
    shift 2
    printf '[%4ss] %-62s' "$((SECONDS - started))" "$label"
    if "$@" >"$log" 2>&1; then
        printf ' ok %4ss\n' "$((SECONDS - began))"
    else
        printf ' FAILED after %ss\n' "$((SECONDS - began))"
        tail -40 "$log" >&2
        echo "the whole log: $log" >&2
        exit 1
    fi
}

# A fresh demo: a new simulation, so the lake, the warehouse and Airflow's history of runs go.
rm -rf "$data_dir/lake" "$data_dir/warehouse" "$data_dir/dbt" "$AIRFLOW_HOME" "$logs"
mkdir -p "$logs"
echo "Shifu DW demo: $days nights from $start, scale $scale, seed $seed, data in $data_dir"
step "airflow: metadata database (SQLite) and the warehouse pool" "$logs/airflow-setup.log" \
    scripts/airflow.sh setup
last=$(date -d "$start + $((days - 1)) day" +%F)
for ((i = 0; i < days; i++)); do
    dt=$(date -d "$start + $i day" +%F)
    if ((i == 0)); then
        step "simulate $dt (a fresh marketplace)" "$logs/simulate-$dt.log" \
            $python -m simulator --start "$start" --days 1 --scale "$scale" --seed "$seed" \
            --target "$sources" --no-progress
    else
        step "simulate $dt (--append)" "$logs/simulate-$dt.log" \
            $python -m simulator --append --target "$sources" --no-progress
    fi
    dags=(ingest_relational ingest_logs ingest_events)
    if [[ $dt == "$last" ]] || ((build_every_night && i > 0)); then
        dags+=(build_warehouse)
    fi
    step "night $dt: airflow dags test ${dags[*]}" "$logs/night-$dt.log" \
        scripts/airflow.sh night "$dt" "${dags[@]}"
done
echo "done in $((SECONDS - started))s"

$python - "$data_dir" "$DBT_TARGET_PATH/run_results.json" <<'EOF'
"""The summary: what landed (lake manifests), what dbt checked, what was published."""
import json
import sys
from collections import defaultdict
from pathlib import Path

data_dir, run_results = Path(sys.argv[1]), Path(sys.argv[2])
raw = data_dir / "lake" / "raw"
landed = defaultdict(lambda: {"tables": set(), "partitions": 0, "rows": 0, "rejected": 0})
for manifest in sorted(raw.glob("*/*/*/dt=*/_manifest.json")):
    kind, source, table = manifest.parent.parent.relative_to(raw).parts
    figures = json.loads(manifest.read_text())
    entry = landed[f"{kind}/{source}"]
    entry["tables"].add(table)
    entry["partitions"] += 1
    entry["rows"] += figures.get("row_count", 0)
    entry["rejected"] += figures.get("rejected_count", 0)
print("\nRows landed in the lake, per source (all nights; snapshots count every night):")
for name, entry in sorted(landed.items()):
    print(
        f"  {name:<24} {len(entry['tables']):>3} tables {entry['partitions']:>4} partitions "
        f"{entry['rows']:>11,} rows  {entry['rejected']:>7,} quarantined"
    )

results = json.loads(run_results.read_text())["results"]
by_type = defaultdict(lambda: defaultdict(int))
for result in results:
    by_type[result["unique_id"].split(".")[0]][result["status"]] += 1
tests = by_type.pop("test", {})
print(
    f"\ndbt build: {sum(tests.values())} tests, "
    + ", ".join(f"{n} {status}" for status, n in sorted(tests.items()))
    + "; built "
    + ", ".join(f"{sum(s.values())} {kind}s" for kind, s in sorted(by_type.items()))
)

serving = data_dir / "warehouse" / "serving"
published = json.loads((serving / "_published.json").read_text())
print(
    f"\nPublished at {published['published_at']} ({published['nodes_passed']} dbt nodes passed): "
    f"{len(published['rpt_models'])} RPT tables"
)
for model in published["rpt_models"]:
    print(f"  {serving / model}")
EOF
serving=$data_dir/warehouse/serving/warehouse.duckdb
cat <<EOF

Where things are:
  source systems (OLTP, logs, events):  $sources   (truth per day: $sources/truth)
  the lake (Parquet + manifests):       $data_dir/lake
  Airflow (SQLite metadata, task logs): $AIRFLOW_HOME
  the serving DuckDB (read-only copy):  $serving
Query it:
  .venv/bin/python -c "import duckdb; print(duckdb.connect('$serving', read_only=True).sql('select * from rpt.rpt_finance__gmv_daily order by dt'))"
EOF
