"""`python -m simulator` end to end: same seed and options give the same bytes, and the nightly
`--append` gives what a longer run would have."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from simulator.database import SourceDatabase, canonical_dump

ROOT = Path(__file__).resolve().parents[1]
OPTIONS = ["--start", "2026-11-01", "--scale", "0.02", "--seed", "11", "--split-date", "2026-11-03"]


def _simulate(target: Path, *args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "simulator", *OPTIONS, "--target", str(target), *args],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )


def _digests(root: Path) -> dict[str, str]:
    """sha256 of every file the simulator wrote, except the SQLite files (compared by dump) and
    the state file (it names its own directory; its config is compared instead)."""
    digests = {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and "db" not in path.relative_to(root).parts
    }
    state = json.loads(digests.pop("simulation.json") and (root / "simulation.json").read_text())
    digests["simulation.json:config"] = json.dumps(state["config"], sort_keys=True)
    return digests


def _tables(root: Path) -> dict:
    db = SourceDatabase(str(root))
    db.detect_split()
    try:
        return canonical_dump(db)
    finally:
        db.close()


def test_same_seed_and_options_give_identical_files_and_tables(tmp_path):
    _simulate(tmp_path / "a", "--days", "3")
    _simulate(tmp_path / "b", "--days", "3")
    digests = _digests(tmp_path / "a")
    kinds = {name.split("/")[0] for name in digests}
    assert kinds >= {"logs", "events", "truth", "simulation.json:config"}
    assert len(digests) > 200
    assert _digests(tmp_path / "b") == digests
    assert _tables(tmp_path / "b") == _tables(tmp_path / "a")


def test_another_seed_gives_other_bytes(tmp_path):
    _simulate(tmp_path / "a", "--days", "1")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "simulator",
            *OPTIONS[:-2],
            "--seed",
            "12",
            "--days",
            "1",
            "--target",
            str(tmp_path / "b"),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    a, b = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert a.keys() & b.keys()
    assert all(a[k] != b[k] for k in a.keys() & b.keys() if k.endswith(".gz"))


def test_append_writes_what_the_longer_run_wrote_byte_for_byte(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    _simulate(tmp_path / "full", "--days", "3", "--checkpoints", str(checkpoints))
    _simulate(tmp_path / "nightly", "--days", "2")
    before = _digests(tmp_path / "nightly")
    # The one-pass run's checkpoint of day 2 is the database the nightly run had after day 2.
    assert _tables(checkpoints / "dt=2026-11-02") == _tables(tmp_path / "nightly")
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "dt=2026-11-01",
        "dt=2026-11-02",
        "dt=2026-11-03",
    ]
    _simulate(tmp_path / "nightly", "--append")
    after = _digests(tmp_path / "nightly")
    full = _digests(tmp_path / "full")
    assert after == full
    assert _tables(tmp_path / "nightly") == _tables(tmp_path / "full")
    assert _tables(checkpoints / "dt=2026-11-03") == _tables(tmp_path / "full")
    # Files of earlier days are untouched; the new day only adds (late events land in new files).
    assert all(after[name] == digest for name, digest in before.items() if "simulation" not in name)
    state = json.loads((tmp_path / "nightly" / "simulation.json").read_text())
    assert state["last_day"] == "2026-11-03"
