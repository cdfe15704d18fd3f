"""One night's DAGs in one Python process: `airflow dags test` for each DAG, in order.

    python -m warehouse.night 2026-11-01 [DAG ...]    (scripts/airflow.sh night runs this)

Each `airflow dags test` process pays about 20 s before its first task does any work: about
10 s to start and import Airflow, 3 s to parse the DAGs, and 9.5 s to start the in-process task
API on its first task (bench/orchestration). A night of four DAGs paid that four times. Here the
same CLI command (`dags test DAG LOGICAL_DATE`, parsed by Airflow's own parser) runs for each DAG
in one interpreter, so the imports and the task API are paid once. Each DAG still gets its own
DagRun in the metadata database, with the same logical date and data interval, so
`depends_on_past`, assets and the run history are what separate commands would give.

The night of dt=D is logical date D+1 02:00 Asia/Shanghai: `dags test` runs the data interval
that ends at the logical date. The first DAG that fails stops the night (exit status 1).
"""

from __future__ import annotations

import sys
import time
from datetime import date, timedelta

NIGHT = ("ingest_relational", "ingest_logs", "ingest_events", "build_warehouse")


def logical_date(dt: date) -> str:
    """The logical date of the run whose data interval is the day `dt`."""
    return f"{dt + timedelta(days=1)}T02:00:00+08:00"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(f"usage: python -m warehouse.night YYYY-MM-DD [{' '.join(NIGHT)}]", file=sys.stderr)
        return 2
    dt = date.fromisoformat(args[0])
    dags = args[1:] or list(NIGHT)
    from airflow.cli import cli_parser  # Airflow's import takes seconds: only when running

    parser = cli_parser.get_parser()
    for dag_id in dags:
        started = time.monotonic()
        print(f"night {dt}: {dag_id} ...", flush=True)
        command = parser.parse_args(["dags", "test", dag_id, logical_date(dt)])
        try:
            command.func(command)
        except SystemExit as stop:  # "DagRun failed", or a DAG that did not parse
            if stop.code not in (None, 0):
                print(f"{dag_id} failed for dt={dt}: {stop.code}", file=sys.stderr, flush=True)
                return 1
        print(f"night {dt}: {dag_id} done in {time.monotonic() - started:.1f}s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
