"""The serving catalogue: every publish (and every refused one), night by night, kept for good.

    serving/_catalogue.json    {"entries": [entry, ...]}, oldest first, rewritten atomically
    _refused.json              (beside serving/) refused nights not yet folded in

An entry says when it was published, from which night (dt), what dbt's last build reported
(pass / fail counts per node kind, from run_results.json), and which RPT tables went out with
how many rows. A refused night is recorded too, so "why is the dashboard still on Tuesday?" has
an answer in the same place: but a refusal must leave serving/ exactly as it was, so it waits in
_refused.json beside serving/ and moves into the catalogue with the next publish.
`python -m serving catalogue` prints both.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

CATALOGUE = "_catalogue.json"
REFUSED = "_refused.json"
# run_results.json node kinds, by the first part of a unique_id; "test" covers data tests.
NODE_KINDS = ("model", "test", "unit_test", "seed", "snapshot")


def path(serving: Path) -> Path:
    return serving / CATALOGUE


def refused_path(serving: Path) -> Path:
    return serving.parent / REFUSED


def _entries(file: Path) -> list[dict[str, Any]]:
    return json.loads(file.read_text())["entries"] if file.is_file() else []


def _write(file: Path, entries: list[dict[str, Any]]) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    temporary = file.with_name(f".{file.name}.tmp")
    temporary.write_text(json.dumps({"entries": entries}, indent=2) + "\n")
    os.chmod(temporary, 0o644)  # metadata only: every reader may see what was published when
    os.replace(temporary, file)


def read(serving: Path) -> list[dict[str, Any]]:
    """All entries, oldest first, refusals not yet folded in included; none is no history."""
    return _entries(path(serving)) + _entries(refused_path(serving))


def summarize_run(run_results: Path) -> dict[str, Any]:
    """Counts of each status per node kind of a dbt run, and the run's identity."""
    if not run_results.is_file():
        return {"invocation_id": None, "command": None, "counts": {}}
    results = json.loads(run_results.read_text())
    counts: dict[str, Counter] = {}
    for result in results["results"]:
        kind = result["unique_id"].split(".", 1)[0]
        counts.setdefault(kind, Counter())[result["status"]] += 1
    return {
        "invocation_id": results["metadata"].get("invocation_id"),
        "command": results.get("args", {}).get("which"),
        "generated_at": results["metadata"].get("generated_at"),
        "elapsed_seconds": round(results.get("elapsed_time", 0.0), 1),
        "counts": {kind: dict(sorted(c.items())) for kind, c in sorted(counts.items())},
        "failed": sorted(
            r["unique_id"] for r in results["results"] if r["status"] in ("fail", "error")
        ),
    }


def record(
    serving: Path,
    *,
    status: str,
    dt: date | None,
    run_results: Path,
    tables: dict[str, int] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """Append one entry ("published" or "refused") and return it.

    A published entry takes the waiting refusals with it into serving/_catalogue.json.
    """
    entry: dict[str, Any] = {
        "status": status,
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "dt": dt.isoformat() if dt else None,
        "dbt": summarize_run(run_results),
    }
    if tables is not None:
        entry["rpt_rows"] = dict(sorted(tables.items()))
    if reason:
        entry["reason"] = reason
    if status != "published":
        _write(refused_path(serving), _entries(refused_path(serving)) + [entry])
        return entry
    _write(path(serving), read(serving) + [entry])
    refused_path(serving).unlink(missing_ok=True)
    return entry


def last_published(serving: Path) -> dict[str, Any] | None:
    published = [e for e in _entries(path(serving)) if e["status"] == "published"]
    return published[-1] if published else None


def tests_line(entry: dict[str, Any]) -> str:
    """'338 pass, 0 fail' style summary of the data and unit tests of an entry."""
    counts: Counter = Counter()
    for kind in ("test", "unit_test"):
        counts.update(entry["dbt"]["counts"].get(kind, {}))
    failed = counts["fail"] + counts["error"]
    return f"{counts['pass']} pass, {counts['warn']} warn, {failed} fail"


def render(entries: list[dict[str, Any]]) -> str:
    """The history as a plain table, newest first, for `python -m serving catalogue`."""
    if not entries:
        return "nothing published yet"
    lines = [f"{'recorded at (UTC)':<26} {'night':<11} {'status':<10} {'tests':<28} rpt tables"]
    for entry in reversed(entries):
        tables = entry.get("rpt_rows", {})
        shown = f"{len(tables)} ({sum(tables.values())} rows)" if tables else "-"
        lines.append(
            f"{entry['recorded_at']:<26} {entry['dt'] or '?':<11} {entry['status']:<10} "
            f"{tests_line(entry):<28} {shown}"
        )
        if entry.get("reason"):
            lines.append(f"{'':<26} {entry['reason']}")
    return "\n".join(lines)
