"""Nightly tracking-event ingest: the day's NDJSON batches from every collector into the lake.

Validated against the tracking plan (schemas/), deduplicated by event_id across days, rejects
quarantined with a reason code. Deduplication reads the earlier days' accepted ids, so the run
for D waits for D-1 (`depends_on_past`). Updates the `shifu://lake/events` asset with its `dt`.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from warehouse import alerts

TIMEZONE = "Asia/Shanghai"
LAKE_EVENTS = Asset("shifu://lake/events")
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


@dag(
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shifu", "ingest", "events"],
    default_args=DEFAULT_ARGS,
    # Done by 06:00 when started at 02:00; queued-at, so a backfill does not alert at once.
    deadline=alerts.nightly_deadline(hours=4),
)
def ingest_events():
    @task(outlets=[LAKE_EVENTS], depends_on_past=True)
    def ingest_tracking(outlet_events=None, data_interval_start=None) -> None:
        from ingest import events, lake

        dt = pendulum.parse(business_date(data_interval_start)).date()
        result = events.ingest_events(lake.data_dir() / "sources", dt)
        if result.status == "failed":
            raise RuntimeError(f"{result.source}.{result.table}: {result.message}")
        outlet_events[LAKE_EVENTS].extra = {"dt": dt.isoformat()}

    ingest_tracking()


ingest_events()
