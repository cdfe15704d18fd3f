"""Nightly relational ingest: every table of the sources YAML into its `dt` partition of the lake.

The run for dt=D covers [D 00:00, D+1 00:00) Asia/Shanghai and starts after 02:00 on D+1. One
mapped task per table (snapshot and incremental) and one per source for binlog CDC, so a table
that fails retries alone and the others still land. Incremental and CDC loads of D wait for D-1
(`depends_on_past`): a watermark or binlog position must not skip a failed night. When every
table has landed, the `shifu://lake/relational` asset is updated with the `dt` it holds.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, TriggerRule, dag, task

TIMEZONE = "Asia/Shanghai"
LAKE_RELATIONAL = Asset("shifu://lake/relational")
DEFAULT_ARGS = {
    "owner": "shifu-dw",
    "retries": 3,
    "retry_delay": timedelta(seconds=30),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
}


def business_date(data_interval_start) -> str:
    """The `dt` of a run: its data interval's start, in Asia/Shanghai (never now())."""
    return data_interval_start.in_timezone(TIMEZONE).date().isoformat()


def raise_on_failure(results) -> None:
    failed = [r for r in results if r.status == "failed"]
    if failed:
        raise RuntimeError("; ".join(f"{r.source}.{r.table}: {r.message}" for r in failed))


@dag(
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shifu", "ingest", "relational"],
    default_args=DEFAULT_ARGS,
)
def ingest_relational():
    @task
    def plan(mode: str) -> list[str]:
        """The sources YAML, read at run time: `source.table` keys of one mode (cdc: sources)."""
        from ingest import sources

        keys = [
            f"{source.name}.{table.name}"
            for source in sources.load().values()
            for table in source.tables.values()
            if table.mode == mode
        ]
        return sorted({k.split(".")[0] for k in keys}) if mode == "cdc" else keys

    def extract(key: str, data_interval_start) -> None:
        from ingest import sources
        from ingest.relational import Source, extract_tables

        source_name, table_name = key.split(".", 1)
        config = sources.load()[source_name]
        table = config.tables[table_name]
        dt = pendulum.parse(business_date(data_interval_start)).date()
        raise_on_failure(extract_tables(Source.from_config(config), [table], dt))

    @task(map_index_template="{{ key }}")
    def extract_snapshot(key: str, data_interval_start=None) -> None:
        extract(key, data_interval_start)

    @task(map_index_template="{{ key }}", depends_on_past=True)
    def extract_incremental(key: str, data_interval_start=None) -> None:
        extract(key, data_interval_start)

    @task(map_index_template="{{ source_name }}", depends_on_past=True)
    def capture_changes(source_name: str, data_interval_start=None) -> None:
        """Binlog CDC, one task per source: the binlog position is per source, not per table."""
        from ingest import cdc, sources
        from ingest.relational import Source

        config = sources.load()[source_name]
        tables = [t for t in config.tables.values() if t.mode == "cdc"]
        dt = pendulum.parse(business_date(data_interval_start)).date()
        raise_on_failure(cdc.sync(Source.from_config(config), tables, dt))

    @task(outlets=[LAKE_RELATIONAL], trigger_rule=TriggerRule.NONE_FAILED)
    def landed(outlet_events=None, data_interval_start=None) -> None:
        """Every table landed (a mode with no tables is skipped, not failed)."""
        outlet_events[LAKE_RELATIONAL].extra = {"dt": business_date(data_interval_start)}

    loads = [
        extract_snapshot.expand(key=plan.override(task_id="plan_full")("full")),
        extract_incremental.expand(key=plan.override(task_id="plan_incremental")("incremental")),
        capture_changes.expand(source_name=plan.override(task_id="plan_cdc")("cdc")),
    ]
    loads >> landed()


ingest_relational()
