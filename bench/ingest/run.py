"""Snapshot engines side by side on the same MariaDB table: rows/s, ratio to the native client,
peak RSS. Also ours on a 100k-row table, to show that memory does not grow with size.

    python bench/ingest/run.py [--rows 2000000] [--small-rows 100000] [--rounds 3]

Builds `bench_ingest.orders_<rows>` (a service_order-like table: BIGINT, VARCHAR, DECIMAL,
DATETIME, ENUM, TEXT) with MariaDB's SEQUENCE engine, then runs each candidate in a subprocess
of its own (peak RSS from wait4), one after the other, in interleaved rounds; prints medians and
writes bench/results/ingest.json. Candidates: ours (`python -m ingest relational`: key ranges
read by connectorx, two at a time), ours forced onto the DuckDB mysql scanner path (the previous
engine, now the fallback), pandas read_sql + to_parquet, connectorx on the whole table -> Arrow
-> Parquet, and `mariadb --quick -e 'select ...' > /dev/null` (the ceiling).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pymysql

ROOT = Path(__file__).resolve().parents[2]
DATABASE = "bench_ingest"


def create_table(conn, rows: int) -> str:
    name = f"orders_{rows}"
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE} CHARACTER SET utf8mb4")
        cur.execute(
            f"SELECT count(*) FROM information_schema.tables WHERE table_schema = "
            f"'{DATABASE}' AND table_name = '{name}'"
        )
        if cur.fetchone()[0]:
            return name
        cur.execute(f"""CREATE TABLE {DATABASE}.{name} (
            id BIGINT PRIMARY KEY, order_no VARCHAR(32) NOT NULL, merchant_id BIGINT NOT NULL,
            status ENUM('created','assigned','completed','cancelled') NOT NULL,
            amount DECIMAL(12,2), address VARCHAR(255) NOT NULL, lat DECIMAL(9,6) NOT NULL,
            remark TEXT, created_at DATETIME NOT NULL, updated_at DATETIME NOT NULL)""")
        cur.execute(f"""INSERT INTO {DATABASE}.{name}
            SELECT seq, CONCAT('SO', LPAD(seq, 16, '0')), seq % 5000,
                   ELT(1 + seq % 4, 'created','assigned','completed','cancelled'),
                   (seq % 100000) / 100, CONCAT('北京市通州区巢湖路', seq % 997, '号'),
                   39.9 + (seq % 1000) / 10000, IF(seq % 7 = 0, NULL, REPEAT('师傅 ok ', seq % 5)),
                   '2026-11-01' + INTERVAL (seq % 86400) SECOND,
                   '2026-11-01' + INTERVAL (seq % 86400) SECOND
            FROM {DATABASE}.seq_1_to_{rows}""")
    conn.commit()
    return name


CANDIDATE_CODE = {
    "pandas_read_sql": """
import pandas as pd, sqlalchemy
engine = sqlalchemy.create_engine('mysql+pymysql://{user}:{password}@{host}:{port}/{db}?charset=utf8mb4')
df = pd.read_sql('SELECT * FROM {table} ORDER BY id', engine)
df.to_parquet('{out}/x.parquet', compression='zstd'); print(len(df))
""",
    "connectorx_whole_table": """
import connectorx as cx, pyarrow.parquet as pq
t = cx.read_sql('mysql://{user}:{password}@{host}:{port}/{db}', 'SELECT * FROM {table} ORDER BY id',
                return_type='arrow')
pq.write_table(t, '{out}/x.parquet', compression='zstd'); print(t.num_rows)
""",
    # Our previous engine: the same CLI with connectorx hidden, so every table takes the DuckDB
    # mysql scanner path (the fallback for tables without a single integer key).
    "ours_duckdb_scanner_path": """
import sys
from ingest import mysql_scan
mysql_scan.connectorx = None
from ingest.__main__ import main
sys.exit(main(["relational", "--source-url", "{url}", "--source", "bench", "--tables", "{table}",
               "--mode", "full", "--dt", "2026-11-01"]))
""",
}


def run_measured(argv: list[str], env: dict | None = None, shell: bool = False) -> dict:
    """Run a command; wall seconds and the child's peak RSS (MB) from wait4."""
    started = time.monotonic()
    proc = subprocess.Popen(
        argv, env=env, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.monotonic() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        return {"error": (err or out).decode(errors="replace")[-800:], "seconds": seconds}
    return {
        "seconds": seconds,
        "peak_rss_mb": usage.ru_maxrss / 1024,
        "stdout": out.decode()[-200:],
    }


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--rows", type=int, default=2_000_000)
    p.add_argument("--small-rows", type=int, default=100_000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=3306)
    p.add_argument("--user", default="root")
    p.add_argument("--password", default=os.environ.get("BENCH_MYSQL_PASSWORD", ""))
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds; medians reported")
    p.add_argument("--skip", default="", help="comma-separated candidates to skip")
    args = p.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    conn = pymysql.connect(
        host=args.host, port=args.port, user=args.user, password=args.password, charset="utf8mb4"
    )
    big = create_table(conn, args.rows)
    small = create_table(conn, args.small_rows)
    conn.close()
    url = f"mysql+pymysql://{args.user}:{args.password}@{args.host}:{args.port}/{DATABASE}"
    runs: list[dict] = []
    for round_number in range(args.rounds):
        for table, rows in ((big, args.rows), (small, args.small_rows)):
            work = Path(tempfile.mkdtemp(prefix="bench_ingest_"))
            for name, (argv, kwargs) in candidates(args, url, table, work, big).items():
                if name in skip or (round_number and name in ONCE):
                    continue
                print(f"round {round_number + 1}: {name} on {table} ...", file=sys.stderr)
                if kwargs.get("shell"):
                    result = run_measured(argv[0], env=kwargs["env"], shell=True)
                else:
                    result = run_measured(argv, env=kwargs.get("env"))
                result.update(
                    {"candidate": name, "table": table, "rows": rows, "round": round_number}
                )
                runs.append(result)
            shutil.rmtree(work, ignore_errors=True)
    results = summarise(runs)
    print_table(results)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "ingest.json").write_text(json.dumps({"runs": runs, "summary": results}, indent=2))
    return 0


# Slow and memory-bound: measured in the first round only.
ONCE = {"pandas_read_sql"}


def candidates(args, url: str, table: str, work: Path, big: str) -> dict:
    env = {**os.environ, "SHIFU_DATA_DIR": str(work), "PYTHONPATH": str(ROOT)}
    ours = [sys.executable, "-m", "ingest", "relational", "--source-url", url]
    ours += ["--source", "bench", "--tables", table, "--mode", "full", "--dt", "2026-11-01"]
    runs = {
        "native_mariadb_quick": (
            [
                f"mariadb --quick --batch --skip-column-names -h {args.host} -P {args.port} "
                f"-u {args.user} {DATABASE} -e 'SELECT * FROM {table} ORDER BY id' > /dev/null"
            ],
            {"shell": True, "env": {**os.environ, "MYSQL_PWD": args.password}},
        ),
        "ours_key_ranges_connectorx": (ours, {"env": env}),
    }
    fmt = {
        "host": args.host,
        "port": args.port,
        "user": args.user,
        "password": args.password,
        "db": DATABASE,
        "table": table,
        "out": work,
        "url": url,
    }
    for name, code in CANDIDATE_CODE.items():
        if table == big or name == "ours_duckdb_scanner_path":
            runs[name] = ([sys.executable, "-c", code.format(**fmt)], {"env": env})
    return runs


def summarise(runs: list[dict]) -> list[dict]:
    """Median seconds per (candidate, table); the ratio to the native client is the median of
    the per-round ratios (each against the native run of the same round: the machine is shared
    and its load drifts between rounds)."""
    native = {
        (r["table"], r["round"]): r["seconds"]
        for r in runs
        if r["candidate"] == "native_mariadb_quick" and "error" not in r
    }
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["candidate"], r["table"]), []).append(r)
    summary = []
    for (candidate, table), group in groups.items():
        good = [r for r in group if "error" not in r]
        if not good:
            summary.append({"candidate": candidate, "table": table, "error": group[0]["error"]})
            continue
        ratios = [
            native[(r["table"], r["round"])] / r["seconds"]
            for r in good
            if (r["table"], r["round"]) in native
        ]
        seconds = statistics.median(r["seconds"] for r in good)
        summary.append(
            {
                "candidate": candidate,
                "table": table,
                "rows": good[0]["rows"],
                "rounds": len(good),
                "seconds": seconds,
                "rows_per_second": good[0]["rows"] / seconds,
                "ratio_to_native": statistics.median(ratios) if ratios else None,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in good),
            }
        )
    return summary


def print_table(results: list[dict]) -> None:
    print(
        f"{'candidate':28} {'table':16} {'rows':>9} {'rounds':>6} {'seconds':>8} {'rows/s':>10} "
        f"{'x native':>8} {'peak RSS MB':>11}"
    )
    for r in results:
        if "error" in r:
            print(f"{r['candidate']:28} {r['table']:16} failed: {r['error'][-300:]}")
            continue
        print(
            f"{r['candidate']:28} {r['table']:16} {r['rows']:>9} {r['rounds']:>6} "
            f"{r['seconds']:>8.2f} {r['rows_per_second']:>10.0f} {r['ratio_to_native']:>8.2f} "
            f"{r['peak_rss_mb']:>11.0f}"
        )


if __name__ == "__main__":
    sys.exit(main())
