"""Fixtures for the ingest tests: a simulated SQLite source and a lake of the test's own."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
START = "2026-11-01"


def simulate(target: str, *args: str, output_dir: Path | None = None) -> None:
    """Run the simulator (small scale, no log/event files) into `target`."""
    argv = [
        sys.executable,
        "-m",
        "simulator",
        "--start",
        START,
        "--scale",
        "0.02",
        "--seed",
        "7",
        "--target",
        target,
        "--no-files",
        "--no-progress",
        *args,
    ]
    if output_dir is not None:
        argv += ["--output-dir", str(output_dir)]
    subprocess.run(argv, check=True, cwd=ROOT, capture_output=True)


@pytest.fixture(scope="session")
def sqlite_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two simulated days in SQLite: <dir>/db/shifu.sqlite (read-only for the tests)."""
    target = tmp_path_factory.mktemp("sqlite_sources")
    simulate(str(target), "--days", "2")
    return target / "db"


@pytest.fixture
def lake_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """$SHIFU_DATA_DIR of the test's own; returns the lake directory."""
    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data" / "lake"


@pytest.fixture(scope="session")
def traffic_sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Four simulated days with log and event files (day 1's late events have all arrived
    by day 4): <dir>/logs, <dir>/events, <dir>/truth. Read-only for the tests."""
    target = tmp_path_factory.mktemp("traffic_sources")
    argv = [
        sys.executable,
        "-m",
        "simulator",
        "--start",
        START,
        "--days",
        "4",
        "--scale",
        "0.01",
        "--seed",
        "7",
        "--target",
        str(target),
        "--no-progress",
    ]
    subprocess.run(argv, check=True, cwd=ROOT, capture_output=True)
    return target


@pytest.fixture(scope="module")
def module_lake(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A lake shared by one test module (SHIFU_DATA_DIR and a PII salt set for its duration)."""
    data = tmp_path_factory.mktemp("module_lake")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHIFU_DATA_DIR", str(data))
        patch.setenv("SHIFU_PII_SALT", "test-salt-not-a-secret-0123456789")
        yield data / "lake"


@pytest.fixture(params=["c", "numpy"])
def id_table(request, monkeypatch):
    """The events' id table (ingest.dedupe) with its C module (as `make setup` builds it), and
    in numpy (where it is not built)."""
    from ingest import dedupe
    from tests.conftest import built

    if request.param == "c":
        built(dedupe._C, "ingest/_dedupe.c")
    else:
        monkeypatch.setattr(dedupe, "_C", None)
    return request.param
