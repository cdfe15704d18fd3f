"""`python -m serving`: read the catalogue, regenerate the dashboard, or the per-domain files.

python -m serving catalogue              # what was published when, from which night, tests
python -m serving dashboard              # serving/dashboard/ from the serving copy and _dbt/
python -m serving domains                # serving/domains/<domain>.duckdb, group-guarded

All act on $SHIFU_DATA_DIR/warehouse/serving unless --serving says otherwise.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from serving import catalogue, dashboard
    from serving.domains import publish_domains
    from warehouse.publish import warehouse_dir

    parser = argparse.ArgumentParser(prog="python -m serving", description=__doc__)
    parser.add_argument("command", choices=("catalogue", "dashboard", "domains"))
    parser.add_argument("--serving", type=Path, help="the serving directory")
    parser.add_argument("--manifest", type=Path, help="dbt's manifest.json, for the dictionary")
    parser.add_argument("--json", action="store_true", help="catalogue: print the raw JSON")
    args = parser.parse_args(argv)
    serving = args.serving or warehouse_dir() / "serving"
    if args.command == "catalogue":
        if args.json:  # the catalogue and any refusals still waiting beside serving/
            print(json.dumps({"entries": catalogue.read(serving)}, indent=2))
        else:
            print(catalogue.render(catalogue.read(serving)))
        return 0
    if not (serving / "warehouse.duckdb").is_file():
        print(f"serving: nothing published in {serving}", file=sys.stderr)
        return 1
    if args.command == "dashboard":
        manifest = args.manifest or serving / "_dbt" / "manifest.json"
        page = dashboard.generate(serving, manifest)
        print(f"dashboard: {page}")
        return 0
    written = publish_domains(serving / "warehouse.duckdb", serving / "domains")
    print("\n".join(f"{domain}: {file}" for domain, file in written.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
