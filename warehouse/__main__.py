"""`python -m warehouse`: build the warehouse with dbt, or publish the last build.

python -m warehouse build      # dbt build: every model and every test, into build.duckdb
python -m warehouse publish    # audit run_results.json, then swap in serving/ atomically
python -m warehouse lineage    # dbt docs, column lineage and the data dictionary -> docs/
"""

from __future__ import annotations

import argparse
import sys

from warehouse.build import BuildFailed, build
from warehouse.publish import AuditFailed, publish


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse", description=__doc__)
    parser.add_argument("command", choices=("build", "publish", "lineage"))
    args = parser.parse_args(argv)
    if args.command == "lineage":
        from warehouse.lineage import main as lineage_main

        return lineage_main()
    try:
        if args.command == "build":
            build()
            return 0
        published = publish()
    except (BuildFailed, AuditFailed) as error:
        print(f"warehouse: {error}", file=sys.stderr)
        return 1
    print(f"published {published.database} and {len(published.rpt_files)} RPT Parquet files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
