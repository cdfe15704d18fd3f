"""`python -m simulator`: the marketplace's production systems, simulated.

Examples:
    python -m simulator --start 2026-11-01 --days 7 --scale 0.1 --seed 42 --target data/sources
    python -m simulator --target mysql+pymysql://root@127.0.0.1:3306 --output-dir data/sources
    python -m simulator --append --target data/sources          # the next day, the nightly case
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from datetime import date
from pathlib import Path

from simulator.config import FaultRates, SimulationConfig
from simulator.database import is_url
from simulator.simulation import simulate


def _parser() -> argparse.ArgumentParser:
    data_dir = Path(os.environ.get("SHIFU_DATA_DIR", "data"))
    p = argparse.ArgumentParser(
        prog="python -m simulator",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--start",
        type=date.fromisoformat,
        default=date(2026, 11, 1),
        help="first business day (YYYY-MM-DD, Asia/Shanghai)",
    )
    p.add_argument(
        "--days",
        type=int,
        default=None,
        help="days to simulate (default 7; with --append, days to add: default 1)",
    )
    p.add_argument(
        "--scale",
        type=float,
        default=0.1,
        help="1 = about 20k orders, 1M events and 1M nginx lines a day",
    )
    p.add_argument("--seed", type=int, default=42)
    p.add_argument(
        "--target",
        default=str(data_dir / "sources"),
        help="a directory (SQLite files under db/) or a SQLAlchemy URL "
        "(mysql+pymysql://..., postgresql+psycopg2://...)",
    )
    p.add_argument(
        "--output-dir",
        type=Path,
        default=None,
        help="where logs, events, truth and state go (default: --target if it is a "
        "directory, else $SHIFU_DATA_DIR/sources)",
    )
    p.add_argument(
        "--split-date",
        type=date.fromisoformat,
        default=None,
        help="day the monolith is split into svc_order, svc_pay, svc_master",
    )
    p.add_argument(
        "--append",
        action="store_true",
        help="continue an earlier simulation in --output-dir with --days more days",
    )
    p.add_argument(
        "--schema-prefix",
        default="",
        help="prefix for database/schema names, to share a server between runs",
    )
    p.add_argument(
        "--no-files",
        action="store_true",
        help="write only the database: no logs, events or traffic truth",
    )
    p.add_argument("--workers", type=int, default=None, help="traffic worker processes")
    p.add_argument(
        "--checkpoints",
        type=Path,
        default=None,
        help="SQLite targets: keep a copy of the databases at the end of every new day in "
        "CHECKPOINTS/dt=D/db/ (to replay the week night by night from one simulation)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar (default: when stderr is a terminal)",
    )
    faults = p.add_argument_group("fault rates (fraction of the stream's lines)")
    for field in dataclasses.fields(FaultRates):
        faults.add_argument(
            f"--{field.name.replace('_', '-')}-rate",
            type=float,
            default=field.default,
            dest=f"rate_{field.name}",
        )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    output_dir = args.output_dir or (
        Path(args.target)
        if not is_url(args.target)
        else Path(os.environ.get("SHIFU_DATA_DIR", "data")) / "sources"
    )
    faults = FaultRates(
        **{f.name: getattr(args, f"rate_{f.name}") for f in dataclasses.fields(FaultRates)}
    )
    config = SimulationConfig(
        start=args.start,
        days=args.days or 7,
        scale=args.scale,
        seed=args.seed,
        split_date=args.split_date,
        faults=faults,
    )
    if args.checkpoints is not None and is_url(args.target):
        print("simulator: --checkpoints needs a SQLite --target directory", file=sys.stderr)
        return 2
    try:
        summary = simulate(
            config,
            args.target,
            output_dir,
            append_days=(args.days or 1) if args.append else 0,
            schema_prefix=args.schema_prefix,
            files=not args.no_files,
            workers=args.workers,
            progress=args.progress,
            checkpoints=args.checkpoints,
        )
    except ValueError as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    days = summary.days_written
    print(
        f"simulated {days[0]}..{days[-1]} ({len(days)} days): {summary.orders_created} orders, "
        f"{summary.db_writes} database writes, {summary.files} log/event files "
        f"({summary.bytes / 1e6:.1f} MB) in {summary.seconds:.1f} s -> {output_dir}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
