#!/usr/bin/env bash
# The main job on the embedded default, night by night: the simulated marketplace lives one more
# day (`python -m simulator --append`), the night's ingest lands that day in the lake
# (`python -m ingest all --dt D`), and after the last night dbt builds and tests the warehouse.
# Issue 5 replaces this loop with the Airflow DAGs; until then it is the same steps, in order.
#
# Usage: scripts/demo.sh START DAYS SCALE SEED     (make demo passes the DEMO_* variables)
set -euo pipefail
cd "$(dirname "$0")/.."

start=${1:?start date} days=${2:?days} scale=${3:?scale} seed=${4:?seed}
data_dir=${SHIFU_DATA_DIR:-$PWD/data}
export SHIFU_DATA_DIR=$data_dir
python=.venv/bin/python
sources=$data_dir/sources
started=$SECONDS

step() { printf '\n==> [%ss] %s\n' "$((SECONDS - started))" "$*"; }

# A fresh demo: the lake and the warehouse are rebuilt from the new simulation.
rm -rf "$data_dir/lake" "$data_dir/warehouse"
for ((i = 0; i < days; i++)); do
    dt=$(date -d "$start + $i day" +%F)
    if ((i == 0)); then
        step "simulate $dt (a fresh marketplace: scale $scale, seed $seed) into $sources"
        $python -m simulator --start "$start" --days 1 --scale "$scale" --seed "$seed" \
            --target "$sources"
    else
        step "simulate $dt (--append)"
        $python -m simulator --append --target "$sources"
    fi
    step "ingest dt=$dt into the lake"
    $python -m ingest all --dt "$dt"
done

step "dbt build: ODS -> DW -> RPT, every test"
.venv/bin/dbt build --project-dir dbt_project --profiles-dir dbt_project --quiet

step "done in $((SECONDS - started))s"
database=$data_dir/warehouse/build.duckdb
$python - "$database" <<'EOF'
import sys

import duckdb

con = duckdb.connect(sys.argv[1], read_only=True)
tables = con.execute(
    "select table_schema, count(*) from information_schema.tables group by 1 order by 1"
).fetchall()
print("warehouse tables by layer:", ", ".join(f"{schema} {n}" for schema, n in tables))
print("orders per day (rpt.rpt_orders__daily_by_city):")
for dt, created, completed, cancelled in con.execute(
    "select dt, sum(orders_created), sum(orders_completed), sum(orders_cancelled) "
    "from rpt.rpt_orders__daily_by_city group by dt order by dt"
).fetchall():
    print(f"  {dt}  created {created:>6}  completed {completed:>6}  cancelled {cancelled:>5}")
EOF
cat <<EOF

Where things are:
  source systems (OLTP, logs, events):  $sources   (truth per day: $sources/truth)
  the lake (Parquet + manifests):       $data_dir/lake
  the warehouse (dbt's DuckDB):          $database
Query it:  .venv/bin/python -c "import duckdb; print(duckdb.connect('$database', read_only=True).sql('select * from rpt.rpt_finance__gmv_daily order by dt'))"
EOF
