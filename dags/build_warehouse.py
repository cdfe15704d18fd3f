"""The nightly warehouse: `dbt build` into build.duckdb, then publish only if everything passed.

Runs when the day's relational, log and event assets have all been updated (data-aware
scheduling). One writer of build.duckdb: both tasks take the single slot of the
`warehouse_build` pool. Write, audit, publish (DESIGN.md, "Publishing"): `build` runs every
model and test; `publish` re-checks dbt's run_results.json and swaps the serving DuckDB and the
RPT Parquet files in by atomic rename. A failed build publishes nothing: serving stays as it was.

One task for the whole dbt build for now; per-model tasks (astronomer-cosmos) cost one dbt
invocation per node (see tests/orchestration/README.md).
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

POOL = "warehouse_build"
SERVING = Asset("shifu://warehouse/serving")
INGESTED = [
    Asset("shifu://lake/relational"),
    Asset("shifu://lake/logs"),
    Asset("shifu://lake/events"),
]


@dag(
    schedule=INGESTED,
    start_date=pendulum.datetime(2026, 11, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shifu", "warehouse", "dbt"],
    default_args={"owner": "shifu-dw", "retries": 1, "retry_delay": timedelta(minutes=1)},
)
def build_warehouse():
    # A failing data test does not pass on a retry: fix, then rerun the night.
    @task(pool=POOL, retries=0)
    def build() -> None:
        from warehouse.build import build

        build()

    @task(pool=POOL, outlets=[SERVING])
    def publish() -> None:
        from warehouse.publish import publish

        published = publish()
        print(f"published {published.database}: {len(published.rpt_files)} RPT files")

    build() >> publish()


build_warehouse()
