"""Nightly relational ingest: every table of the sources YAML into its `dt` partition of the lake.

The run for dt=D covers [D 00:00, D+1 00:00) Asia/Shanghai and starts after 02:00 on D+1. One
mapped task per table (snapshot and incremental) and one per source for binlog CDC, so a table
that fails retries alone and the others still land. Incremental and CDC loads of D wait for D-1
(`depends_on_past`): a watermark or binlog position must not skip a failed night. When every
table has landed, the `shifu://lake/relational` asset is updated with the `dt` it holds.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, TriggerRule, dag, task

from warehouse import alerts

TIMEZONE = "Asia/Shanghai"
LAKE_RELATIONAL = Asset("shifu://lake/relational")
# Retries with backoff; SHIFU_TASK_RETRIES / SHIFU_RETRY_DELAY_SECONDS override them (tests, a
# laptop). Every task that fails for good alerts (warehouse/alerts.py: webhook and log).
DEFAULT_ARGS = {
    "owner": "shifu-dw",
    "retries": int(os.environ.get("SHIFU_TASK_RETRIES", "3")),
    "retry_delay": timedelta(seconds=float(os.environ.get("SHIFU_RETRY_DELAY_SECONDS", "30"))),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=10),
    "on_failure_callback": alerts.task_failed,
}


def business_date(data_interval_start) -> str:
    """The `dt` of a run: its data interval's start, in Asia/Shanghai (never now())."""
    return data_interval_start.in_timezone(TIMEZONE).date().isoformat()


@contextmanager
def named_failure(name: str, url: str) -> Iterator[None]:
    """Re-raise any error (e.g. an unreachable source) naming what failed, with the URL's secret
    scrubbed and without the chained traceback, which could quote the URL."""
    try:
        yield
    except Exception as error:
        from ingest.sources import scrub

        raise RuntimeError(f"{name}: {scrub(f'{type(error).__name__}: {error}', url)}") from None


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
    # Done by 06:00 when started at 02:00; queued-at, so a backfill does not alert at once.
    deadline=alerts.nightly_deadline(hours=4),
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
        with named_failure(key, config.url):
            results = extract_tables(Source.from_config(config), [table], dt)
        raise_on_failure(results)

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
        with named_failure(source_name, config.url):
            results = cdc.sync(Source.from_config(config), tables, dt)
        raise_on_failure(results)

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
