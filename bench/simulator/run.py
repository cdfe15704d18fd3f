"""How long a week of the marketplace at full scale takes to simulate, and its size on disk.

Runs, side by side on the same options (7 days from 2026-11-01, --scale 1, seed 42, SQLite):
  full     - everything: database, logs, events, truth, traffic on 2 worker processes
  1-worker - the same with one traffic worker (what the parallelism buys)
  db-only  - `--no-files`: the business simulation and database writes alone
Reports wall seconds, peak RSS and bytes by kind, and the ratios between the runs.

    python bench/simulator/run.py [--days 7] [--scale 1] [--only full]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"


def _size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


def run_variant(name: str, extra: list[str], days: int, scale: float) -> dict:
    with tempfile.TemporaryDirectory(prefix=f"bench-sim-{name}-") as tmp:
        out = Path(tmp)
        cmd = [
            sys.executable,
            "-m",
            "simulator",
            "--start",
            "2026-11-01",
            "--days",
            str(days),
            "--scale",
            str(scale),
            "--seed",
            "42",
            "--target",
            str(out),
            "--no-progress",
            *extra,
        ]
        # A fresh interpreter per variant: ru_maxrss of children is the largest child's peak.
        wrapper = [
            sys.executable,
            "-c",
            "import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
            "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
            *cmd,
        ]
        started = time.monotonic()
        proc = subprocess.run(wrapper, cwd=ROOT, capture_output=True, text=True, check=True)
        seconds = time.monotonic() - started
        peak_kib = int(proc.stdout.strip().splitlines()[-1])
        sizes = {kind: _size(out / kind) for kind in ("db", "logs", "events", "truth")}
        lines = proc.stdout.strip().splitlines()
        return {
            "variant": name,
            "seconds": round(seconds, 1),
            "peak_rss_mib": peak_kib // 1024,
            "bytes": sizes,
            "summary": lines[-2] if len(lines) > 1 else "",
        }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", choices=("full", "1-worker", "db-only"), action="append")
    args = parser.parse_args()
    variants = {
        "full": ["--workers", "2"],
        "1-worker": ["--workers", "1"],
        "db-only": ["--no-files"],
    }
    chosen = args.only or list(variants)
    results = []
    for name in chosen:
        print(f"==> {name} ...", flush=True)
        result = run_variant(name, variants[name], args.days, args.scale)
        results.append(result)
        total = sum(result["bytes"].values())
        print(
            f"    {result['seconds']:7.1f} s  peak RSS {result['peak_rss_mib']} MiB  "
            f"{total / 1e6:8.1f} MB on disk {result['bytes']}",
            flush=True,
        )
    by_name = {r["variant"]: r for r in results}
    if "full" in by_name:
        base = by_name["full"]["seconds"]
        for r in results:
            r["ratio_to_full"] = round(r["seconds"] / base, 2)
        print("\nvariant     seconds  ratio-to-full")
        for r in results:
            print(f"{r['variant']:<10} {r['seconds']:8.1f}  {r['ratio_to_full']:>6.2f}x")
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = {
        "days": args.days,
        "scale": args.scale,
        "cpus": os.cpu_count(),
        "max_rss_self_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "results": results,
    }
    path = RESULTS / "simulator.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
