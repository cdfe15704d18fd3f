"""Which day build_warehouse builds: its triggering assets' dt, a run conf, or the night's date.

An asset-triggered run needs a scheduler (these tests run none), so the decision is tested as
the function the DAG's `resolve_dt` task calls, on the dt extras the ingest DAGs emit.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tests.nightly import START, Nightly
from warehouse.build import BuildFailed, missing_partitions, resolve_dt

RELATIONAL, LOGS, EVENTS = "shifu://lake/relational", "shifu://lake/logs", "shifu://lake/events"
SHANGHAI = timezone(timedelta(hours=8))


def test_the_build_is_of_the_day_its_triggering_assets_name() -> None:
    events = {
        RELATIONAL: ["2026-11-01", "2026-11-02"],
        LOGS: ["2026-11-02"],
        EVENTS: ["2026-11-02"],
    }
    assert resolve_dt(None, events, datetime(2026, 12, 24, tzinfo=SHANGHAI)) == "2026-11-02"


def test_assets_of_different_days_do_not_make_a_night() -> None:
    events = {RELATIONAL: ["2026-11-02"], LOGS: ["2026-11-01"], EVENTS: ["2026-11-02"]}
    with pytest.raises(BuildFailed, match="shifu://lake/logs dt=2026-11-01"):
        resolve_dt(None, events, None)


def test_a_run_conf_names_the_day_of_a_manual_rerun() -> None:
    events = {RELATIONAL: ["2026-11-02"], LOGS: ["2026-11-02"], EVENTS: ["2026-11-02"]}
    assert resolve_dt("2026-11-01", events, None) == "2026-11-01"


def test_without_events_the_night_of_d_runs_on_d_plus_1() -> None:
    night = datetime(2026, 11, 3, 2, tzinfo=SHANGHAI)
    assert resolve_dt(None, {}, night) == "2026-11-02"
    # The same instant given in UTC (2026-11-02 18:00): the date is still taken in Shanghai.
    assert resolve_dt(None, {}, night.astimezone(UTC)) == "2026-11-02"


def test_a_day_whose_partitions_have_not_landed_is_not_built(nightly: Nightly) -> None:
    assert missing_partitions(nightly.last_dt.isoformat(), nightly.data_dir) == []
    never = (START - timedelta(days=1)).isoformat()
    assert missing_partitions(never, nightly.data_dir) == [
        "relational",
        "nginx logs",
        "app logs",
        "tracking events",
    ]
