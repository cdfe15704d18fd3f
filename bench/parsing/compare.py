"""Two lakes built from the same source files, compared row for row (issue 3's check that a
parser change keeps every partition and quarantine as it was).

    SHIFU_DATA_DIR=/tmp/before python -m ingest logs --dt D --source-dir SRC   # old code
    SHIFU_DATA_DIR=/tmp/after  python -m ingest logs --dt D --source-dir SRC   # new code
    python bench/parsing/compare.py /tmp/before/lake /tmp/after/lake [--mask-ips]

Every Parquet partition of the log and event streams and of their quarantine is compared as
a multiset of rows (part files and row order may differ; the rows may not). Both lakes must
use the same PII salt. `--mask-ips` applies `pii.mask_ips` to the old lake's free-text columns
first: the expected difference when the old lake predates IP masking in free text. Exits 1 on
any difference and prints the first differing rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ingest import pii  # noqa: E402

STREAMS = {
    "raw/logs/nginx/access": ("path", "query", "referer", "request", "extra"),
    "raw/logs/app/entries": ("message", "stack"),
    "raw/events/tracking/events": ("page", "referrer", "props"),
    "quarantine/nginx_access": ("message", "raw"),
    "quarantine/app_entries": ("message", "raw"),
    "quarantine/tracking_events": ("message", "raw"),
}


def _masked(stream: str, column: str) -> str:
    leading = stream == "quarantine/nginx_access" and column == "raw"
    return f"mask_ips_{'leading' if leading else 'text'}({column}) as {column}"


def compare(before: Path, after: Path, mask: bool) -> int:
    con = duckdb.connect()
    con.create_function("mask_ips_text", lambda t: pii.mask_ips(t), ["VARCHAR"], "VARCHAR")
    con.create_function("mask_ips_leading", lambda t: pii.mask_ips(t, True), ["VARCHAR"], "VARCHAR")
    failures = 0
    for stream, text_columns in STREAMS.items():
        for partition in sorted((before / stream).glob("dt=*")):
            other = after / stream / partition.name
            old = f"read_parquet('{partition}/part-*.parquet')"
            new = f"read_parquet('{other}/part-*.parquet')"
            if mask:
                old = f"(select * replace ({', '.join(_masked(stream, c) for c in text_columns)}) from {old})"
            n_old = con.sql(f"select count(*) from {old}").fetchone()[0]
            n_new = con.sql(f"select count(*) from {new}").fetchone()[0] if other.exists() else 0
            gone = con.sql(f"select * from {old} except all select * from {new}").fetchall()
            added = con.sql(f"select * from {new} except all select * from {old}").fetchall()
            same = not gone and not added and n_old == n_new
            failures += not same
            print(
                f"{stream}/{partition.name}: before {n_old} rows, after {n_new} rows: "
                + (
                    "identical"
                    if same
                    else f"{len(gone)} rows only before, {len(added)} only after"
                )
            )
            for row in (gone[:2] + added[:2]) if not same else []:
                print("   ", str(row)[:300])
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--mask-ips", action="store_true")
    args = parser.parse_args()
    sys.exit(1 if compare(args.before, args.after, args.mask_ips) else 0)


if __name__ == "__main__":
    main()
