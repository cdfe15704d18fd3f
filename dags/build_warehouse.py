"""The nightly warehouse: `dbt build` into build.duckdb, then publish only if everything passed.

Runs when the day's relational, log and event assets have all been updated (data-aware
scheduling). The day it builds (`dt`) is the one its triggering asset events name (all three
must agree), or `dt` in the run conf for a manual rerun of one day; the build refuses a day
whose lake partitions have not all landed. One writer of build.duckdb: both tasks take the
single slot of the `warehouse_build` pool. Write, audit, publish (DESIGN.md, "Publishing"):
`build` runs every model and test; `publish` re-checks dbt's run_results.json and swaps the
serving DuckDB and the RPT Parquet files in by atomic rename. A failed build publishes nothing:
serving stays as it was, and the alert names the dbt nodes that failed.

One task for the whole dbt build for now; per-model tasks (astronomer-cosmos) cost one dbt
invocation per node (see tests/orchestration/README.md).
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, dag, task

from warehouse import alerts

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
    default_args={
        "owner": "shifu-dw",
        "retries": 1,
        "retry_delay": timedelta(seconds=float(os.environ.get("SHIFU_RETRY_DELAY_SECONDS", "60"))),
        "on_failure_callback": alerts.task_failed,
    },
    deadline=alerts.nightly_deadline(hours=4),
)
def build_warehouse():
    @task(task_id=alerts.DT_TASK)
    def resolve_dt(dag_run=None, triggering_asset_events=None, logical_date=None) -> str:
        """The day this run builds; fails if its lake partitions have not all landed."""
        from warehouse.build import require_ingested, resolve_dt

        asset_dts = {
            asset.uri: [(event.extra or {}).get("dt") for event in triggering_asset_events[asset]]
            for asset in INGESTED
            if triggering_asset_events and asset in triggering_asset_events
        }
        dt = resolve_dt((dag_run.conf or {}).get("dt"), asset_dts, logical_date)
        require_ingested(dt)
        return dt

    # A failing data test does not pass on a retry: fix, then rerun the night.
    @task(pool=POOL, retries=0)
    def build(dt: str) -> None:
        from warehouse.build import build

        print(f"building the warehouse for dt={dt}")
        build(dt=dt)

    @task(pool=POOL, outlets=[SERVING])
    def publish(dt: str, outlet_events=None) -> None:
        from warehouse.publish import publish

        published = publish(dt=dt)
        outlet_events[SERVING].extra = {"dt": dt}
        print(f"published dt={dt} {published.database}: {len(published.rpt_files)} RPT files")

    dt = resolve_dt()
    build(dt) >> publish(dt)


build_warehouse()
