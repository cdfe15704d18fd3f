"""Nightly tracking-event ingest: the day's NDJSON batches from every collector into the lake.

Validated against the tracking plan (schemas/), deduplicated by event_id across days, rejects
quarantined with a reason code. Deduplication reads the earlier days' accepted ids, so the run
for D waits for D-1 (`depends_on_past`). Updates the `shifu://lake/events` asset with its `dt`.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

TIMEZONE = "Asia/Shanghai"
LAKE_EVENTS = Asset("shifu://lake/events")
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


@dag(
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone=TIMEZONE),
    start_date=pendulum.datetime(2026, 11, 1, tz=TIMEZONE),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["shifu", "ingest", "events"],
    default_args=DEFAULT_ARGS,
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
