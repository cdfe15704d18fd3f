"""Alerts for the nightly DAGs: a failed task or a missed deadline, to a webhook and a log.

Every alert is appended to `$SHIFU_DATA_DIR/alerts/alerts.jsonl` first (the record that cannot
get lost), then POSTed as JSON to `$SHIFU_ALERT_WEBHOOK_URL` when it is set. An alert carries
the DAG, task, business date (`dt`), error and a link to the task instance in the Airflow UI
(`AIRFLOW__API__BASE_URL`, default http://localhost:8080/).

The DAG files import this module at parse time: standard library only, no I/O at import. An
alert that cannot be delivered never raises: it must not hide the failure it reports. The
webhook URL is never written anywhere (it often carries a token in its path or query): logs
name only its scheme and host.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

WEBHOOK_ENV = "SHIFU_ALERT_WEBHOOK_URL"
DEFAULT_BASE_URL = "http://localhost:8080/"
TIMEZONE = ZoneInfo("Asia/Shanghai")
WEBHOOK_TIMEOUT_SECONDS = 10
MAX_ERROR_CHARS = 4000
DT_TASK = "resolve_dt"  # the task of an asset-triggered DAG that returns its dt

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Alert:
    """One alert, as logged and as POSTed (JSON object with these keys)."""

    kind: str  # task_failed | deadline_missed
    dag_id: str
    task_id: str | None
    dt: str | None
    error: str
    link: str
    run_id: str | None = None
    map_index: int | None = None
    try_number: int | None = None
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def alert_log() -> Path:
    """The JSON-lines alert log under the data directory."""
    return Path(os.environ.get("SHIFU_DATA_DIR", "data")) / "alerts" / "alerts.jsonl"


def base_url() -> str:
    """The Airflow UI's base URL ([api] base_url), for links in alerts."""
    return os.environ.get("AIRFLOW__API__BASE_URL") or DEFAULT_BASE_URL


def shown(url: str) -> str:
    """What may be printed of a webhook URL: its scheme and host, never a path, query or user."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}/..."


def send(alert: Alert) -> None:
    """Append the alert to the log, then POST it to the webhook if one is configured."""
    body = json.dumps(asdict(alert), sort_keys=True)
    path = alert_log()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One write of one line in append mode: concurrent tasks do not interleave their lines.
        with path.open("a", encoding="utf-8") as f:
            f.write(body + "\n")
    except OSError as error:
        log.error("could not write the alert log %s: %s", path, error)
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/json", "User-Agent": "shifu-dw-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            response.read()
    except Exception as error:  # any delivery failure is logged, never raised
        # The exception's text may quote the URL: name only its type.
        log.error("alert webhook %s failed: %s", shown(url), type(error).__name__)


def business_dt(context: Any) -> str | None:
    """An ingest run's `dt`: its data interval's start in Shanghai (as the tasks compute it)."""
    start = context.get("data_interval_start")
    if start is None:
        return None
    return start.astimezone(TIMEZONE).date().isoformat()


def task_failed(context: Any) -> None:
    """on_failure_callback of every task: the task failed for good (its retries are spent)."""
    ti = context["ti"]
    error = context.get("exception")
    text = f"{type(error).__name__}: {error}" if error is not None else "failed"
    try:
        link = ti.log_url
    except Exception:  # a link is a convenience; the alert must still go out
        link = task_link(ti.dag_id, ti.run_id, ti.task_id, ti.map_index)
    dt = None
    if DT_TASK in getattr(ti.task.dag, "task_ids", ()):
        # build_warehouse is asset-triggered: its dt is what its first task resolved.
        try:
            dt = ti.xcom_pull(task_ids=DT_TASK)
        except Exception:  # the data interval is the fallback
            dt = None
    send(
        Alert(
            kind="task_failed",
            dag_id=ti.dag_id,
            task_id=ti.task_id,
            dt=dt or business_dt(context),
            error=text[:MAX_ERROR_CHARS],
            link=link,
            run_id=ti.run_id,
            map_index=ti.map_index if ti.map_index is not None and ti.map_index >= 0 else None,
            try_number=ti.try_number,
        )
    )


def task_link(dag_id: str, run_id: str, task_id: str, map_index: int | None = None) -> str:
    mapped = f"/mapped/{map_index}" if map_index is not None and map_index >= 0 else ""
    return f"{base_url().rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}/tasks/{task_id}{mapped}"


def deadline_missed(context: dict[str, Any], hours: float | None = None) -> None:
    """DeadlineAlert callback: the run was not done `hours` after it was queued.

    Called by the scheduler's executor with a plain context: {"dag_run": {...}, "deadline": ...}.
    """
    dag_run = context.get("dag_run") or {}
    dag_id = str(dag_run.get("dag_id", "?"))
    run_id = str(dag_run.get("dag_run_id") or dag_run.get("run_id") or "")
    conf = dag_run.get("conf") or {}
    dt = conf.get("dt")
    if not dt and dag_run.get("data_interval_start"):
        start = datetime.fromisoformat(str(dag_run["data_interval_start"]).replace("Z", "+00:00"))
        dt = start.astimezone(TIMEZONE).date().isoformat()
    deadline = (context.get("deadline") or {}).get("deadline_time")
    limit = f" ({hours:g} h after it was queued)" if hours else ""
    send(
        Alert(
            kind="deadline_missed",
            dag_id=dag_id,
            task_id=None,
            dt=dt,
            error=f"run {run_id} not finished by its deadline {deadline}{limit}",
            link=f"{base_url().rstrip('/')}/dags/{dag_id}/runs/{quote(run_id)}",
            run_id=run_id or None,
        )
    )


def nightly_deadline(hours: float | None = None):
    """A DeadlineAlert: alert when a run is not finished `hours` after it was queued, or None.

    Queued-at rather than logical date: a backfill of an old day must not alert at once.
    `$SHIFU_DEADLINE_HOURS` overrides `hours`; 0 turns the alert off. scripts/airflow.sh turns
    it off for `airflow dags test`: in Airflow 3.3.2 a DAG with a deadline fails `dags test` at
    the end of a successful run (dag.test() deserializes the DAG in memory, so `dag.deadline`
    holds encoded alerts where DagRun.update_state expects their database ids). Only the
    scheduler checks deadlines anyway.
    """
    configured = os.environ.get("SHIFU_DEADLINE_HOURS")
    hours = float(configured) if configured else hours
    if not hours:
        return None
    from airflow.sdk import DeadlineAlert, DeadlineReference, SyncCallback

    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(hours=hours),
        callback=SyncCallback("warehouse.alerts.deadline_missed", kwargs={"hours": hours}),
        name=f"not finished {hours:g} h after queued",
    )
