"""Backfill: rerunning an old night through `scripts/airflow.sh backfill` is idempotent.

`airflow backfill create` only queues runs for a scheduler; offline (SQLite, no scheduler) the
script replays the range night by night with `airflow dags test`. Tracking events are immutable
source files, so the rerun of an old day must rewrite its partitions byte for byte and leave the
later day's untouched, though that day was deduplicated against it (`depends_on_past`). One DAG
only, to keep the test short: ingest_logs is the same kind of rerun. (Relational extracts read
the source as it is now: re-extracting an old day from a live database that has changed since
cannot give its old bytes.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.nightly import AIRFLOW, ROOT, START, Nightly

pytestmark = pytest.mark.slow

STREAMS = ("raw/events/tracking/events", "quarantine/tracking_events")


def partition_state(partition: Path) -> dict[str, object]:
    """Every data file's bytes and the manifest without its run times."""
    state: dict[str, object] = {
        p.name: p.read_bytes() for p in sorted(partition.iterdir()) if p.name != "_manifest.json"
    }
    manifest_file = partition / "_manifest.json"
    if manifest_file.is_file():
        manifest = json.loads(manifest_file.read_text())
        # code_version names the commit: a commit between two runs is not a change of data.
        for key in ("started_at", "finished_at", "seconds", "code_version"):
            manifest.pop(key, None)
        state["_manifest.json"] = manifest
    return state


def test_rerunning_an_old_night_rewrites_its_partitions_identically_and_no_later_one(
    nightly: Nightly,
) -> None:
    lake = nightly.data_dir / "lake"
    old, later = f"dt={START}", f"dt={nightly.last_dt}"
    partitions = [lake / s / old for s in STREAMS if (lake / s / old).is_dir()]
    assert partitions, "the old night landed no event partitions"
    before = {p: partition_state(p) for p in partitions}
    later_files = {
        p: (p.stat().st_mtime_ns, p.read_bytes())
        for s in STREAMS
        for p in sorted((lake / s / later).glob("*"))
    }

    completed = subprocess.run(
        [str(AIRFLOW), "backfill", START.isoformat(), START.isoformat()] + ["ingest_events"],
        cwd=ROOT,
        env=nightly.env,
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    assert f"backfill: night of dt={START}" in completed.stderr

    for partition, state in before.items():
        assert partition_state(partition) == state, partition
    for path, (mtime, data) in later_files.items():
        assert (path.stat().st_mtime_ns, path.read_bytes()) == (mtime, data), path
