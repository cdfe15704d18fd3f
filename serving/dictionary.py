"""The data dictionary and lineage page, from dbt's manifest.json (the models' YAML).

One static page beside the dashboard: every RPT model by domain with its description, columns
and the metric each column reports, then its lineage down to the sources, and the DW and ODS
models it reads, each with its own entry. Built from the manifest the nightly build wrote, so
it describes exactly the models that were published; no dbt run and no network needed.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

PAGE = "dictionary.html"
LAYERS = ("rpt", "dw", "ods")


def render(manifest: Path | None) -> str:
    from serving.dashboard import STYLE

    if manifest is None or not manifest.is_file():
        body = "<p>No dbt manifest was found when this page was generated.</p>"
    else:
        body = _body(json.loads(manifest.read_text()))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Data dictionary and lineage</title><style>{STYLE}"
        "section.model{background:#fff;border:1px solid #e5e7eb;border-radius:8px;"
        "padding:8px 14px;margin:12px 0}.lineage{color:#374151;font-size:.9em}</style></head>"
        "<body><p><a href='index.html'>Back to the dashboard</a></p>"
        f"<h1>Data dictionary and lineage</h1>{body}</body></html>"
    )


def _name(node: dict[str, Any]) -> str:
    return node.get("alias") or node["name"]


def _body(manifest: dict[str, Any]) -> str:
    nodes = manifest["nodes"]
    sources = manifest.get("sources", {})
    models = {uid: n for uid, n in nodes.items() if n["resource_type"] in ("model", "snapshot")}
    tests: dict[str, int] = {}
    for node in nodes.values():
        if node["resource_type"] == "test":
            for parent in node.get("depends_on", {}).get("nodes", []):
                tests[parent] = tests.get(parent, 0) + 1
    parts = []
    for layer in LAYERS:
        members = sorted(
            (n for n in models.values() if n.get("schema") == layer or _name(n).startswith(layer)),
            key=_name,
        )
        if not members:
            continue
        parts.append(f"<h2>{layer.upper()}</h2>")
        for node in members:
            parts.append(_model(node, nodes, sources, tests.get(node["unique_id"], 0)))
    source_rows = "".join(
        f'<tr id="{escape(s["unique_id"])}"><td>{escape(s["source_name"])}.{escape(s["name"])}'
        f"</td><td>{escape(s.get('description') or '')}</td></tr>"
        for s in sorted(sources.values(), key=lambda s: (s["source_name"], s["name"]))
    )
    parts.append(f"<h2>Sources</h2><table>{source_rows}</table>")
    return "".join(parts)


def _link(uid: str, nodes: dict, sources: dict) -> str:
    if uid in sources:
        source = sources[uid]
        label = f"{source['source_name']}.{source['name']}"
    elif uid in nodes:
        label = _name(nodes[uid])
    else:
        label = uid
    return f'<a href="#{escape(uid)}">{escape(label)}</a>'


def _model(node: dict, nodes: dict, sources: dict, test_count: int) -> str:
    uid = node["unique_id"]
    parents = node.get("depends_on", {}).get("nodes", [])
    upstream = _upstream(uid, nodes)
    columns = "".join(
        f"<tr><td>{escape(c['name'])}</td><td>{escape(c.get('data_type') or '')}</td>"
        f"<td>{escape(c.get('description') or '')}</td>"
        f"<td>{escape(str((c.get('meta') or c.get('config', {}).get('meta') or {}).get('metric', '')))}"
        "</td></tr>"
        for c in node.get("columns", {}).values()
    )
    reads = ", ".join(_link(p, nodes, sources) for p in parents if not p.startswith("seed.")) or "-"
    lineage = " &larr; ".join(
        ", ".join(_link(u, nodes, sources) for u in level) for level in upstream
    )
    return (
        f'<section class="model" id="{escape(uid)}" data-model="{escape(_name(node))}">'
        f"<h3>{escape(_name(node))}</h3><p>{escape(node.get('description') or '')}</p>"
        f"<p>Reads: {reads}. Tests: {test_count}.</p>"
        f'<p class="lineage">Lineage: {lineage or "-"}</p>'
        + (
            f"<table><tr><th>column</th><th>type</th><th>description</th><th>metric</th></tr>"
            f"{columns}</table>"
            if columns
            else ""
        )
        + "</section>"
    )


def _upstream(uid: str, nodes: dict) -> list[list[str]]:
    """Ancestors level by level (parents, grandparents, ...), each node at its nearest level."""
    levels: list[list[str]] = []
    seen = {uid}
    frontier = [uid]
    while frontier:
        following = []
        for current in frontier:
            for parent in nodes.get(current, {}).get("depends_on", {}).get("nodes", []):
                if parent not in seen and not parent.startswith("seed."):
                    seen.add(parent)
                    following.append(parent)
        if following:
            levels.append(sorted(following))
        frontier = following
    return levels
