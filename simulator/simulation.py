"""One simulation run: the business day by day into the database, traffic into files in
parallel worker processes, ground truth per day, and the state that `--append` continues from."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time as timer
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from tqdm import tqdm

from simulator.config import SimulationConfig
from simulator.database import SourceDatabase, is_url
from simulator.world import World

STATE_FILE = "simulation.json"
OUTPUT_DIRS = ("logs", "events", "truth")
# How far back a later day's files can receive late events: the latest a tracking event arrives
# is 7 days after it happened, plus the hour it may straddle midnight.
SPILL_DAYS = 8


@dataclass
class RunSummary:
    days_written: list[date]
    db_writes: int
    orders_created: int
    files: int
    bytes: int
    seconds: float


def _atomic_write_json(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    os.replace(tmp, path)


def _traffic_job(config, day, actions, actors, out_dir, write_from, write_to):
    from simulator.traffic import generate_traffic_day  # imported in the worker

    return generate_traffic_day(config, day, actions, actors, Path(out_dir), write_from, write_to)


def load_state(output_dir: Path) -> dict | None:
    path = output_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def simulate(
    config: SimulationConfig,
    target: str,
    output_dir: Path,
    *,
    append_days: int = 0,
    schema_prefix: str = "",
    files: bool = True,
    workers: int | None = None,
    progress: bool | None = None,
    checkpoints: Path | None = None,
) -> RunSummary:
    """Run (or with `append_days`, continue) a simulation. Returns what was written.

    A fresh run replaces whatever an earlier simulation wrote to `target` and `output_dir`;
    an append re-simulates the history in memory (it is deterministic) and writes only the new
    days, so N days plus an append of one equals N+1 days, byte for byte.

    `checkpoints` (SQLite only): after each new day, a copy of the databases as they stood at
    its end goes to `checkpoints/dt=D/db/` (a
    simulator target directory of its own), so that a week simulated in one pass can be ingested
    night by night (each night reading its own day's database) without re-simulating history."""
    started = timer.monotonic()
    output_dir = Path(output_dir)
    db = SourceDatabase(target, schema_prefix)
    if append_days:
        state = load_state(output_dir)
        if state is None or not db.exists():
            raise SystemExit(f"--append: no earlier simulation found in {output_dir} / {target}")
        previous = SimulationConfig.from_json(state["config"])
        if state.get("target") != _describe(target, schema_prefix):
            raise SystemExit(f"--append: {output_dir} belongs to target {state.get('target')}")
        config = replace(previous, days=previous.days + append_days)
        files = state.get("files", True)
        first_new = previous.start + timedelta(days=previous.days)
        db.detect_split()
    else:
        config.validate()
        first_new = config.start
        db.reset()
        for name in (*OUTPUT_DIRS, STATE_FILE):
            path = output_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
        db.create_monolith()
    last_day = config.dates[-1]
    new_days = [d for d in config.dates if d >= first_new]
    world = World(config)
    workers = workers or max(1, min(2, os.cpu_count() or 1))
    bar = tqdm(
        total=len(new_days),
        unit="day",
        disable=not (progress if progress is not None else sys.stderr.isatty()),
        desc="simulating",
    )
    db_writes = orders = 0
    pending: deque[tuple[date, dict, Future | None]] = deque()

    def finish_oldest() -> None:
        day, truth, future = pending.popleft()
        if future is not None:
            traffic = future.result()
            if day >= first_new:
                truth = {**truth, **traffic}
        if day >= first_new:
            _atomic_write_json(output_dir / "truth" / f"dt={day.isoformat()}.json", truth)
            bar.update(1)

    with ProcessPoolExecutor(max_workers=workers) as pool:
        for day in config.dates:
            out = world.simulate_day(day)
            writes_db = day >= first_new
            if writes_db:
                if config.split_date == day:
                    db.migrate_split(day)
                db_writes += db.apply(out.ops)
                if checkpoints is not None:
                    db.checkpoint(Path(checkpoints) / f"dt={day.isoformat()}" / "db")
                orders += out.truth["orders_created_total"]
            future = None
            if files and day >= first_new - timedelta(days=SPILL_DAYS):
                future = pool.submit(
                    _traffic_job,
                    config,
                    day,
                    out.actions,
                    out.actors,
                    str(output_dir),
                    max(day, first_new),
                    last_day,
                )
            if writes_db or future is not None:
                pending.append((day, out.truth, future))
            while len(pending) > workers:
                finish_oldest()
            bar.set_postfix(day=day.isoformat(), orders=orders)
        while pending:
            finish_oldest()
    bar.close()
    db.close()
    _atomic_write_json(
        output_dir / STATE_FILE,
        {
            "config": config.to_json(),
            "target": _describe(target, schema_prefix),
            "files": files,
            "last_day": last_day.isoformat(),
        },
    )
    n_files = n_bytes = 0
    for sub in ("logs", "events"):
        for path in (output_dir / sub).rglob("*.gz"):
            n_files += 1
            n_bytes += path.stat().st_size
    return RunSummary(new_days, db_writes, orders, n_files, n_bytes, timer.monotonic() - started)


def _describe(target: str, prefix: str) -> str:
    """The target without credentials, for the state file."""
    if is_url(target):
        from sqlalchemy.engine import make_url

        url = make_url(target)
        return f"{url.drivername}://{url.host}:{url.port}/{url.database or ''}#{prefix}"
    return f"sqlite:{Path(target).resolve()}#{prefix}"
