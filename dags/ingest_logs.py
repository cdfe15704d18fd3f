"""Nightly log ingest: nginx access logs and application logs of one business date.

One mapped task per stream reads that day's hourly gzip files from the source directory
(`$SHIFU_DATA_DIR/sources` by default), parses them into the lake and quarantines what does not
parse (parsed + quarantined = input lines). When both streams have landed, the
`shifu://lake/logs` asset is updated with the `dt` it holds.
"""

from __future__ import annotations

import os
from datetime import timedelta

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from warehouse import alerts

TIMEZONE = "Asia/Shanghai"
LAKE_LOGS = Asset("shifu://lake/logs")
STREAMS = ["nginx", "app"]
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
    tags=["shifu", "ingest", "logs"],
    default_args=DEFAULT_ARGS,
    # Done by 06:00 when started at 02:00; queued-at, so a backfill does not alert at once.
    deadline=alerts.nightly_deadline(hours=4),
)
def ingest_logs():
    @task(map_index_template="{{ stream }}")
    def ingest_stream(stream: str, data_interval_start=None) -> None:
        from ingest import lake, logs

        dt = pendulum.parse(business_date(data_interval_start)).date()
        ingest = {"nginx": logs.ingest_nginx, "app": logs.ingest_app}[stream]
        result = ingest(lake.data_dir() / "sources", dt)
        if result.status == "failed":
            raise RuntimeError(f"{result.source}.{result.table}: {result.message}")

    @task(outlets=[LAKE_LOGS])
    def landed(outlet_events=None, data_interval_start=None) -> None:
        outlet_events[LAKE_LOGS].extra = {"dt": business_date(data_interval_start)}

    ingest_stream.expand(stream=STREAMS) >> landed()


ingest_logs()
