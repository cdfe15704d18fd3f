"""Log and event parsing against `zcat` of the same files (issue 3's bench).

    python -m simulator --days 1 --scale 1 --target /tmp/bench-src
    python bench/parsing/run.py --source-dir /tmp/bench-src --dt 2026-11-01

For nginx access logs and tracking events: `zcat <files> | wc -l` (the ceiling: decompress and
count, one core), then our full ingest of the same files in a child process (read, parse,
validate, scrub PII, write Parquet + quarantine + manifest, copy raw files) into a throw-away
lake. Reports lines/s, the ratio to zcat, peak RSS and the cores used ((user + sys) / wall,
workers included). Peak memory is the proportional set size (PSS: shared pages split between
the processes that share them, so forked workers are not counted twice) summed over the
process tree (parent + workers), sampled every 200 ms from /proc in a separate, untimed run
(sampling walks the workers' page tables and slows them); `max1` is wait4's ru_maxrss,
the RSS of the largest single process.
The load average before each measurement is printed: other jobs on the machine take cores
from both sides (zcat uses one core, we use all of them, so load hurts us more).
Target: ratio >= 0.5.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def zcat(files: list[Path]) -> dict:
    started = time.monotonic()
    zcat_proc = subprocess.Popen(["zcat", *map(str, files)], stdout=subprocess.PIPE)
    count = subprocess.run(["wc", "-l"], stdin=zcat_proc.stdout, capture_output=True, text=True)
    zcat_proc.wait()
    seconds = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    lines = int(count.stdout.split()[0])
    return {"lines": lines, "seconds": seconds, "lines_per_s": lines / seconds, "usage": usage}


def ours(stream: str, source_dir: Path, dt: date, code: Path = ROOT, sample: bool = False) -> dict:
    """Run the ingest of one stream in a child process (the `ingest` package of the checkout
    `code`); measure wall, CPU and the largest process's peak RSS; with `sample`, also the
    process tree's peak PSS (sampling /proc walks the workers' page tables while they run, which
    slows them down: the timed runs do not sample)."""
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "SHIFU_DATA_DIR": data}
        env.setdefault("SHIFU_PII_SALT", "bench-salt-not-a-secret-0123456789")
        started = time.monotonic()
        child = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--worker",
                stream,
                "--source-dir",
                str(source_dir),
                "--dt",
                dt.isoformat(),
                "--code",
                str(code),
            ],
            stdout=subprocess.PIPE,
            env=env,
            cwd=code,
        )
        sampler = TreeRss(child.pid) if sample else None
        output = child.stdout.read()
        _pid, status, usage = os.wait4(child.pid, 0)
        if sampler is not None:
            sampler.stop()
        seconds = time.monotonic() - started
        if status != 0:
            raise SystemExit(f"{stream} worker failed ({status})")
    result = json.loads(output)
    result.update(
        seconds=seconds,
        lines_per_s=result["lines"] / seconds,
        peak_rss_mb=sampler.peak / (1 << 20) if sampler is not None else None,
        max1_rss_mb=usage.ru_maxrss / 1024,
        cores_used=(usage.ru_utime + usage.ru_stime) / seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
    )
    return result


def _pss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            for line in handle:
                if line.startswith("Pss:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


class TreeRss:
    """Peak of the summed resident memory of a process and its descendants (Linux /proc)."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self._done = pid, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.is_set():
            self.peak = max(self.peak, self._sample())
            self._done.wait(0.2)  # smaps_rollup walks page tables: not too often

    def _sample(self) -> int:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    fields = handle.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry)] = int(fields[1])
        tree, total = {self.pid}, 0
        for pid in sorted(parents):  # children have larger pids than their parent, mostly
            if parents[pid] in tree:
                tree.add(pid)
        for pid in parents:  # a second pass catches the rest
            if parents[pid] in tree:
                tree.add(pid)
        for pid in tree:
            total += _pss(pid)
        return total

    def stop(self) -> None:
        self._done.set()
        self._thread.join()


def worker(stream: str, source_dir: Path, dt: date, code: Path = ROOT) -> None:
    sys.path.insert(0, str(code))
    from ingest import events, logs

    if stream == "nginx":
        result = logs.ingest_nginx(source_dir, dt)
    else:
        result = events.ingest_events(source_dir, dt)
    print(
        json.dumps(
            {
                "lines": result.lines,
                "rows": result.rows,
                "rejected": result.rejected,
                "inner_seconds": result.seconds,
            }
        )
    )


def input_files(stream: str, source_dir: Path, dt: date) -> list[Path]:
    sys.path.insert(0, str(ROOT))
    from ingest import events, logs

    if stream == "nginx":
        return [f.path for f in logs.find_files(source_dir / "logs" / "nginx", dt, 1)]
    return [f.path for f in events.find_files(source_dir, dt)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source-dir", type=Path, default=Path("/tmp/bench-src"))
    parser.add_argument("--dt", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--worker", choices=("nginx", "events"))
    parser.add_argument("--repeat", type=int, default=2, help="runs per side, each printed")
    parser.add_argument("--streams", default="nginx,events")
    parser.add_argument(
        "--code",
        type=Path,
        action="append",
        help="checkout(s) whose ingest package to run (default: this one); several: each "
        "is run right after the same zcat, so old and new code see the same load",
    )
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.source_dir, args.dt, args.code[0] if args.code else ROOT)
        return
    codes = args.code or [ROOT]
    ratios: dict[tuple[str, str], list[float]] = {}
    print(
        f"{'stream':8} {'tool':6} {'lines':>9} {'seconds':>8} {'lines/s':>10} {'ratio':>6} "
        f"{'PSS MB':>7} {'max1':>5} {'cores':>5} {'cpu s':>6} {'load':>5}"
    )
    for stream in args.streams.split(","):
        files = input_files(stream, args.source_dir, args.dt)
        for _ in range(args.repeat):  # zcat and ours alternate: both see the same load
            load = os.getloadavg()[0]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            base = zcat(files)
            after = base.pop("usage")
            base_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            print(
                f"{stream:8} {'zcat':6} {base['lines']:>9} {base['seconds']:>8.2f} "
                f"{base['lines_per_s']:>10.0f} {1.0:>6.2f} {'':>7} {'':>5} "
                f"{base_cpu / base['seconds']:>5.2f} {base_cpu:>6.2f} {load:>5.1f}"
            )
            for k, code in enumerate(codes):
                mine = ours(stream, args.source_dir, args.dt, code)
                assert mine["lines"] == base["lines"], (mine, base)
                ratio = mine["lines_per_s"] / base["lines_per_s"]
                tool = "ours" if len(codes) == 1 else f"ours{k + 1}"
                ratios.setdefault((stream, tool), []).append(ratio)
                print(
                    f"{stream:8} {tool:6} {mine['lines']:>9} {mine['seconds']:>8.2f} "
                    f"{mine['lines_per_s']:>10.0f} {ratio:>6.2f} "
                    f"{'':>7} {mine['max1_rss_mb']:>5.0f} "
                    f"{mine['cores_used']:>5.2f} {mine['cpu_seconds']:>6.2f} "
                    f"{os.getloadavg()[0]:>5.1f} {mine['cpu_seconds'] / mine['lines'] * 1e6:>5.1f}"
                    " us/line",
                    flush=True,
                )
        for k, code in enumerate(codes):  # peak PSS of the whole tree: a run of its own
            mine = ours(stream, args.source_dir, args.dt, code, sample=True)
            tool = "ours" if len(codes) == 1 else f"ours{k + 1}"
            print(
                f"{stream:8} {tool:6} {mine['lines']:>9} {mine['seconds']:>8.2f} (memory run, "
                f"not timed) PSS {mine['peak_rss_mb']:.0f} MB, largest process "
                f"{mine['max1_rss_mb']:.0f} MB",
                flush=True,
            )
    for (stream, tool), values in ratios.items():
        print(f"median ratio {stream} {tool}: {statistics.median(values):.2f} ({len(values)} runs)")


if __name__ == "__main__":
    main()
