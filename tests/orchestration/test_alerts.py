"""The alert module on its own: the deadline callback, and delivery that fails without raising.

Task-failure alerts are tested through real `airflow dags test` runs (test_faults.py and
test_nightly.py). A missed deadline is only ever detected by a running scheduler, which calls
`deadline_missed` with the plain context below (airflow/models/deadline.py, Deadline.handle_miss:
the DagRun as the REST API's DAGRunResponse JSON, and the deadline).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.orchestration.receiver import TOKEN, Receiver
from warehouse import alerts

RUN_ID = "scheduled__2026-11-02T18:00:00+00:00"


def scheduler_context() -> dict:
    return {
        "dag_run": {
            "dag_run_id": RUN_ID,
            "dag_id": "ingest_events",
            "logical_date": "2026-11-02T18:00:00Z",
            "data_interval_start": "2026-11-02T18:00:00Z",
            "data_interval_end": "2026-11-03T18:00:00Z",
            "queued_at": "2026-11-03T18:00:05Z",
            "state": "running",
            "conf": {},
        },
        "deadline": {"id": "0193-deadline", "deadline_time": datetime(2026, 11, 3, 22, tzinfo=UTC)},
    }


@pytest.fixture
def alert_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example/")
    return tmp_path / "alerts" / "alerts.jsonl"


def test_a_missed_deadline_alerts_the_webhook_and_the_log(
    alert_env: Path, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(alerts.WEBHOOK_ENV, receiver.url)
    alerts.deadline_missed(scheduler_context(), hours=4)
    (alert,) = receiver.alerts
    assert alert.pop("path") == f"/hooks/{TOKEN}"
    assert alert["kind"] == "deadline_missed"
    assert alert["dag_id"] == "ingest_events"
    # The data interval starts at 02:00 Shanghai on 2026-11-03: dt is that Shanghai date.
    assert alert["dt"] == "2026-11-03"
    assert alert["link"] == (
        "https://airflow.example/dags/ingest_events/runs/"
        "scheduled__2026-11-02T18%3A00%3A00%2B00%3A00"
    )
    assert "4 h after it was queued" in alert["error"]
    assert [json.loads(line) for line in alert_env.open()] == [alert]


def test_an_unreachable_webhook_neither_raises_nor_logs_its_url(
    alert_env: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    receiving = Receiver()  # bound, never served, then closed: nothing listens on its port
    url = receiving.url
    receiving.server.server_close()
    monkeypatch.setenv(alerts.WEBHOOK_ENV, url)
    with caplog.at_level(logging.ERROR, logger=alerts.__name__):
        alerts.deadline_missed(scheduler_context())
    assert len(alert_env.read_text().splitlines()) == 1, "the log has the alert all the same"
    assert "alert webhook http://127.0.0.1" in caplog.text
    assert TOKEN not in caplog.text
