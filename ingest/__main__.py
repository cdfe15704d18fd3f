"""`python -m ingest`: extract sources into the lake for one business date.

    python -m ingest relational --source-url URL --source NAME --tables all|t1,t2 \\
        --mode full|incremental --dt 2026-11-01 [--database DB] [--cursor updated_at]
    python -m ingest cdc --source-url URL --source NAME --database DB [--start-position F:POS]
    python -m ingest logs --dt 2026-11-01 [--source-dir DIR]     # nginx + application logs
    python -m ingest events --dt 2026-11-01 [--source-dir DIR]   # tracking events
    python -m ingest all --dt 2026-11-01            # every source in the sources YAML + files

Prints a summary table (table, mode, status, rows, bytes, seconds); exits 1 if a table failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from ingest import identifiers, sources

if TYPE_CHECKING:
    from ingest.relational import TableResult


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("relational", help="snapshot or incremental extract of tables")
    rel.add_argument("--source-url", required=True, help="SQLAlchemy URL (password redacted)")
    rel.add_argument("--source", required=True, help="source name in the lake")
    rel.add_argument("--database", help="MySQL database, PostgreSQL schema or SQLite file stem")
    rel.add_argument("--tables", default="all", help="all, or t1,t2")
    rel.add_argument("--mode", choices=("full", "incremental"), default="full")
    rel.add_argument("--cursor", default="updated_at", help="cursor column (incremental)")
    rel.add_argument("--lookback-minutes", type=int, default=sources.DEFAULT_LOOKBACK_MINUTES)
    rel.add_argument("--allow-schema-change", action="store_true")
    rel.add_argument("--dt", type=date.fromisoformat, required=True)
    cdc = sub.add_parser("cdc", help="binlog changes (MySQL/MariaDB) since the saved position")
    cdc.add_argument("--source-url", required=True)
    cdc.add_argument("--source", required=True)
    cdc.add_argument("--database", required=True, help="the MySQL database to follow")
    cdc.add_argument("--tables", default="all")
    cdc.add_argument("--start-position", help="FILE:POS when there is no saved position")
    for name, text in (("logs", "nginx and application logs"), ("events", "tracking events")):
        files = sub.add_parser(name, help=f"{text} of one day into the lake")
        files.add_argument("--dt", type=date.fromisoformat, required=True)
        files.add_argument("--source-dir", help="default $SHIFU_DATA_DIR/sources")
    everything = sub.add_parser("all", help="every source and table in the sources YAML")
    everything.add_argument("--dt", type=date.fromisoformat, required=True)
    everything.add_argument("--source-dir", help="log and event files (logs, events)")
    everything.add_argument(
        "--config", help="sources YAML (default $SHIFU_SOURCES_FILE or config/sources.yml)"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        results = _run(args)
    except (sources.ConfigError, identifiers.InvalidIdentifier) as error:
        print(f"ingest: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # a source unreachable before any table ran: one line, no secret
        message = f"ingest: {type(error).__name__}: {error}"
        if getattr(args, "source_url", None):
            where = sources.redact(args.source_url)
            message = sources.scrub(
                f"ingest: source {where}: {type(error).__name__}: {error}", args.source_url
            )
        print(message, file=sys.stderr)
        return 1
    print_summary(results)
    return 1 if any(r.status == "failed" for r in results) else 0


def _run(args) -> list[TableResult]:
    if args.command in ("logs", "events"):  # (no database driver imported for these)
        return _run_files(args.command, args)
    from ingest.relational import Source, extract_tables

    if args.command == "relational":
        source_name = identifiers.validate(args.source, "source name")
        names = None if args.tables == "all" else [t for t in args.tables.split(",") if t]
        tables = None
        if names is not None:
            spec = {
                "mode": args.mode,
                "lookback_minutes": args.lookback_minutes,
                "allow_schema_change": args.allow_schema_change,
            }
            if args.mode == "incremental":
                spec["cursor"] = args.cursor
            tables = [sources.table_config(n, spec) for n in names]  # validates before SQL
        if args.database:
            identifiers.validate(args.database, "database name")
        source = Source(source_name, args.source_url, args.database)
        source.kind  # noqa: B018 - fails early on an unsupported URL
        return extract_tables(source, tables, args.dt, args.mode)
    if args.command == "cdc":
        from ingest import cdc

        names = (
            None
            if args.tables == "all"
            else [identifiers.validate(t, "table name") for t in args.tables.split(",") if t]
        )
        return cdc.capture(
            args.source_url,
            identifiers.validate(args.source, "source name"),
            identifiers.validate(args.database, "database name"),
            names,
            start_position=args.start_position,
        )
    config = sources.load(Path(args.config) if args.config else None)
    results = []
    for source_config in config.values():
        source = Source.from_config(source_config)
        tables = list(source_config.tables.values())
        batch = [t for t in tables if t.mode != "cdc"]
        if batch:
            results += extract_tables(source, batch, args.dt)
        followed = [t for t in tables if t.mode == "cdc"]
        if followed:
            from ingest import cdc

            results += cdc.sync(source, followed, args.dt)
    return results + _run_files("logs", args) + _run_files("events", args)


def _run_files(kind: str, args) -> list:
    """Log or event files of one day (ingest.logs, ingest.events)."""
    from pathlib import Path

    from ingest import lake

    source_dir = Path(args.source_dir) if args.source_dir else lake.data_dir() / "sources"
    if kind == "logs":
        from ingest.logs import ingest_logs

        return ingest_logs(source_dir, args.dt)
    from ingest.events import ingest_events

    return [ingest_events(source_dir, args.dt)]


def print_summary(results: list[TableResult]) -> None:
    header = (
        f"{'source':12} {'table':24} {'mode':11} {'status':8} {'rows':>10} "
        f"{'bytes':>12} {'seconds':>8}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        print(
            f"{r.source:12} {r.table:24} {r.mode:11} {r.status:8} {r.rows:>10} "
            f"{r.bytes:>12} {r.seconds:>8.2f}"
        )
    for r in results:
        if r.message and r.status != "ok":
            print(f"{r.source}.{r.table}: {r.message}", file=sys.stderr)
    total = sum(r.rows for r in results)
    print(
        f"{len(results)} tables, {total} rows, "
        f"{sum(1 for r in results if r.status == 'failed')} failed"
    )


if __name__ == "__main__":
    sys.exit(main())
