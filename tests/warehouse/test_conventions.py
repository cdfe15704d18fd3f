"""The project's conventions, enforced by tools on the real project (STYLE.md: "Conventions
enforced by tools, not reviewers"): sqlfluff with the dbt templater over every model, and
dbt-bouncer over dbt's manifest (names per layer, RPT reads DW only, DW reads no source).

Both need a compiled project, so they run against the session's built warehouse. Each tool
exits non-zero on a violation, and `run` turns that into a failure that shows its output."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.pipeline import ROOT, run
from tests.warehouse.conftest import Warehouse, environment


def _tool(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def test_every_model_passes_sqlfluff(warehouse: Warehouse):
    run(
        [_tool("sqlfluff"), "lint", "models", "--disable-progress-bar"],
        environment(warehouse.data_dir),
    )


def test_manifest_follows_the_layering_and_naming_rules(warehouse: Warehouse, tmp_path):
    manifest_dir = warehouse.data_dir / "dbt" / "target"
    assert (manifest_dir / "manifest.json").exists()
    # dbt-bouncer.yml points at dbt_project/target; this build wrote its manifest elsewhere.
    config = tmp_path / "dbt-bouncer.yml"
    config.write_text(
        (ROOT / "dbt-bouncer.yml")
        .read_text()
        .replace("dbt_artifacts_dir: dbt_project/target", f"dbt_artifacts_dir: {manifest_dir}")
    )
    result = run(
        [_tool("dbt-bouncer"), "run", "--config-file", str(config)], environment(warehouse.data_dir)
    )
    assert "All checks passed" in result.stdout, result.stdout[-2000:]
