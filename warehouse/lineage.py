"""Column-level lineage from the lake's source columns to RPT columns, the data dictionary, and
the dbt docs site, written to $SHIFU_DATA_DIR/warehouse/docs/ (the dashboard links to
index.html, lineage.html and dictionary.html there).

Why sqlglot and not dbt-colibri: both were tried on our compiled manifest (issue 4).
dbt-colibri (0.3.7) builds on sqlglot too, but takes its schemas from catalog.json, which has no
entry for our external (read_parquet) sources, so it stops at ODS (every source column edge is
empty), and it lost the column edges of DW models that read ephemeral unions (`* exclude`,
`union all by name`). Calling sqlglot ourselves lets us name each lake source as a table
(`lake.<source>.<table>`) with the columns the sources YAML declares, and take the built
models' columns from the DuckDB warehouse itself.

How: every model's compiled SQL (ephemeral models are inlined as CTEs) goes through
`sqlglot.lineage` once; that gives, per output column, the upstream (relation, column) pairs it
reads. Relations map back to dbt nodes; composing the edges gives each RPT column's source
columns. A source with no partition yet compiles to an empty typed relation (macros/lake.sql),
so its columns have no upstream: build the docs on a lake that holds every table.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.lineage import lineage as sqlglot_lineage
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import build_scope
from sqlglot.schema import MappingSchema

ROOT = Path(__file__).resolve().parents[1]
# "GMV (成交额), yuan." -> 成交额: the Chinese business term is the parenthesis with CJK in it.
TERM = re.compile(r"[(（]([^()（）]*[\u4e00-\u9fff][^()（）]*)[)）]")

Column = tuple[str, str]  # (dbt unique_id, column name)


@dataclass
class Lineage:
    """Direct column edges per model and the composed source columns of RPT columns."""

    edges: dict[Column, set[Column]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    def sources_of(self, column: Column) -> set[Column]:
        """The source columns a column is computed from, following edges to the lake (and to
        seeds: a status name looked up in a seed comes from the seed's column; the code it was
        joined on is a join key, which column lineage does not follow)."""
        seen: set[Column] = set()
        found: set[Column] = set()
        stack = [column]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            if current[0].startswith(("source.", "seed.")):
                found.add(current)
                continue
            stack.extend(self.edges.get(current, ()))
        return found


def data_dir() -> Path:
    return Path(os.environ.get("SHIFU_DATA_DIR", "data")).resolve()


def target_dir() -> Path:
    return Path(os.environ.get("DBT_TARGET_PATH", ROOT / "dbt_project" / "target")).resolve()


def load_manifest(target: Path) -> dict:
    """manifest.json, with each model's compiled SQL. A dbt command that compiled only some
    nodes (`dbt test`, `dbt run --select`) writes a manifest without the others' compiled_code;
    their last compiled SQL is still in target/compiled/, so take it from there."""
    manifest = json.loads((target / "manifest.json").read_text())
    for node in manifest["nodes"].values():
        if node["resource_type"] == "model" and not node.get("compiled_code"):
            compiled = target / "compiled" / node["package_name"] / node["original_file_path"]
            if compiled.is_file():
                node["compiled_code"] = compiled.read_text()
    return manifest


def warehouse_schema(database: Path, manifest: dict) -> MappingSchema:
    """sqlglot schema: built models' columns from the warehouse, sources' from the YAML (built
    once: sqlglot would normalise a plain dict again for every model)."""
    schema: dict = {}
    with duckdb.connect(str(database), read_only=True) as con:
        catalog = con.execute("select current_database()").fetchone()[0]
        rows = con.execute(
            "select table_schema, table_name, column_name, data_type "
            "from information_schema.columns where table_catalog = current_database()"
        ).fetchall()
    for table_schema, table, column, data_type in rows:
        schema.setdefault(catalog, {}).setdefault(table_schema, {}).setdefault(table, {})[
            column
        ] = data_type
    for node in manifest["sources"].values():
        columns = {name: c.get("data_type") or "varchar" for name, c in node["columns"].items()}
        columns["dt"] = "date"  # the hive partition column
        schema.setdefault("lake", {}).setdefault(node["source_name"], {})[node["name"]] = columns
    return MappingSchema(schema, dialect="duckdb")


def _relations(manifest: dict) -> dict[tuple[str, str, str], str]:
    """(catalog, schema, table) -> unique_id, for models, seeds and snapshots."""
    found = {}
    for uid, node in manifest["nodes"].items():
        if node["resource_type"] in ("model", "seed", "snapshot") and node.get("relation_name"):
            parts = [p.strip('"') for p in node["relation_name"].split(".")]
            if len(parts) == 3:
                found[tuple(parts)] = uid
    for uid, node in manifest["sources"].items():
        found[("lake", node["source_name"], node["name"])] = uid
    return found


def _sql(manifest: dict, uid: str) -> str:
    """The model's compiled SQL with every lake read named as a `lake.<source>.<table>`."""
    code = manifest["nodes"][uid]["compiled_code"]
    for node in manifest["sources"].values():
        code = code.replace(
            node["relation_name"], f'"lake"."{node["source_name"]}"."{node["name"]}"'
        )
    return code


def _align_unions_by_name(tree: exp.Expression) -> exp.Expression:
    """Rewrite `union [all] by name` as a positional union of the same columns.

    sqlglot's lineage pairs a union's columns by position, which for DuckDB's BY NAME (our
    int_*_unioned models) pairs unrelated columns. On the qualified tree (stars expanded),
    every branch gets the full list of names in the left branch's order, NULL where a branch
    lacks a column, as DuckDB does."""
    for union in reversed(list(tree.find_all(exp.Union))):
        if not union.args.get("by_name"):
            continue
        left, right = union.this, union.expression
        names = list(left.named_selects)
        names += [name for name in right.named_selects if name not in names]
        for branch in (left, right):
            if not isinstance(branch, exp.Select):
                continue
            by_name = {e.alias_or_name: e for e in branch.expressions}
            branch.set(
                "expressions",
                [by_name.get(name) or exp.alias_(exp.Null(), name, quoted=True) for name in names],
            )
        union.set("by_name", None)
    return tree


def model_edges(manifest: dict, schema: MappingSchema, uid: str) -> dict[str, set[Column]]:
    """Each output column of one model -> the upstream (node, column) pairs it reads."""
    relations = _relations(manifest)
    tree = qualify(
        sqlglot.parse_one(_sql(manifest, uid), dialect="duckdb"),
        schema=schema,
        dialect="duckdb",
        validate_qualify_columns=False,
    )
    # The tree is qualified already: hand lineage its scope, or it qualifies it again.
    tree = _align_unions_by_name(tree)
    nodes = sqlglot_lineage(
        None,
        tree,
        schema=schema,
        dialect="duckdb",
        scope=build_scope(tree),
        copy=False,
        trim_selects=False,  # trimming deep-copies every SELECT per node: 90% of the time
    )
    edges: dict[str, set[Column]] = {}
    for column, node in nodes.items():
        upstream = set()
        for step in node.walk():
            if step.downstream or not isinstance(step.source, exp.Table):
                continue
            table = step.source
            key = (table.catalog, table.db, table.name)
            if key in relations:
                upstream.add((relations[key], step.name.split(".")[-1].strip('"')))
        edges[column] = upstream
    return edges


def column_lineage(manifest: dict, schema: MappingSchema, targets: Iterable[str]) -> Lineage:
    """Edges of the target models and of every model upstream of them."""
    result = Lineage()
    pending = list(targets)
    done: set[str] = set()
    while pending:
        uid = pending.pop()
        if uid in done or uid not in manifest["nodes"]:
            continue
        done.add(uid)
        node = manifest["nodes"][uid]
        if node["resource_type"] != "model" or not node.get("compiled_code"):
            continue
        try:
            edges = model_edges(manifest, schema, uid)
        except (sqlglot.errors.SqlglotError, KeyError, ValueError) as error:
            result.errors[uid] = f"{type(error).__name__}: {error}"[:300]
            edges = {}
        for column, upstream in edges.items():
            result.edges[(uid, column)] = upstream
        pending.extend(node["depends_on"]["nodes"])
    return result


def rpt_models(manifest: dict) -> list[str]:
    return sorted(
        uid
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["name"].startswith("rpt_")
    )


def _short(uid: str) -> str:
    return ".".join(uid.split(".")[2:])


def lineage_document(manifest: dict, result: Lineage) -> dict:
    """The JSON written to lineage.json: RPT columns -> source columns, and the direct edges."""
    rpt = {}
    for uid in rpt_models(manifest):
        for column in manifest["nodes"][uid]["columns"]:
            sources = result.sources_of((uid, column))
            rpt[f"{_short(uid)}.{column}"] = sorted(f"{_short(s)}.{c}" for s, c in sources)
    return {
        "rpt_columns": rpt,
        "edges": [
            {
                "model": _short(uid),
                "column": column,
                "reads": sorted(f"{_short(s)}.{c}" for s, c in up),
            }
            for (uid, column), up in sorted(result.edges.items())
        ],
        "errors": {_short(uid): message for uid, message in sorted(result.errors.items())},
    }


def term(description: str | None) -> str:
    found = TERM.search(description or "")
    return found.group(1) if found else ""


def dictionary_rows(manifest: dict) -> tuple[list[dict], list[dict]]:
    """Metrics (semantic layer) and RPT columns, each with its meaning and Chinese term."""
    metrics = []
    for node in sorted(manifest.get("metrics", {}).values(), key=lambda n: n["name"]):
        description = node.get("description") or ""
        measure = (node.get("type_params") or {}).get("measure") or {}
        if not term(description) and measure.get("name"):
            for model in manifest.get("semantic_models", {}).values():
                for candidate in model.get("measures", []):
                    if candidate["name"] == measure["name"]:
                        description = description or candidate.get("description") or ""
        metrics.append(
            {
                "metric": node["name"],
                "label": node.get("label") or "",
                "type": node.get("type") or "",
                "term": term(node.get("label")) or term(description),
                "meaning": description,
            }
        )
    columns = []
    for uid in rpt_models(manifest):
        node = manifest["nodes"][uid]
        for name, column in node["columns"].items():
            meta = column.get("meta") or (column.get("config") or {}).get("meta") or {}
            columns.append(
                {
                    "model": node["name"],
                    "column": name,
                    "type": column.get("data_type") or "",
                    "metric": meta.get("metric", ""),
                    "term": term(column.get("description")),
                    "meaning": column.get("description") or "",
                }
            )
    return metrics, columns


def _table(headers: list[str], rows: Iterable[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in row) + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:2em}}
td,th{{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}}
th{{background:#f3f3f3}}</style></head><body><h1>{title}</h1>{body}</body></html>
"""


def lineage_html(document: dict) -> str:
    by_model: dict[str, list[list[str]]] = {}
    for key, sources in document["rpt_columns"].items():
        model, column = key.rsplit(".", 1)
        by_model.setdefault(model, []).append([column, "\n".join(sources) or "(none found)"])
    body = "<p>Each RPT column and the lake source columns (source.table.column) it is computed from.</p>"
    for model, rows in sorted(by_model.items()):
        body += f"<h2>{html.escape(model)}</h2>" + _table(["column", "source columns"], rows)
    if document["errors"]:
        body += "<h2>Models sqlglot could not trace</h2>" + _table(
            ["model", "error"], [[m, e] for m, e in document["errors"].items()]
        )
    return PAGE.format(title="Column lineage: lake -> RPT", body=body.replace("\n", "<br>"))


def dictionary_html(metrics: list[dict], columns: list[dict]) -> str:
    body = "<h2>Metrics (指标)</h2>" + _table(
        ["metric", "中文", "label", "type", "meaning"],
        [[m["metric"], m["term"], m["label"], m["type"], m["meaning"]] for m in metrics],
    )
    body += "<h2>RPT columns (报表字段)</h2>" + _table(
        ["model", "column", "中文", "type", "metric", "meaning"],
        [
            [c["model"], c["column"], c["term"], c["type"], c["metric"], c["meaning"]]
            for c in columns
        ],
    )
    return PAGE.format(title="Data dictionary (数据字典)", body=body)


def dbt_docs(target: Path) -> Path:
    """`dbt docs generate --static` into `target`; returns the self-contained page."""
    dbt = Path(sys.executable).with_name("dbt")
    env = dict(os.environ, DBT_TARGET_PATH=str(target))
    argv = [str(dbt), "docs", "generate", "--static"]
    argv += ["--project-dir", "dbt_project", "--profiles-dir", "dbt_project"]
    subprocess.run(argv, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    return target / "static_index.html"


def write_docs(docs: Path, target: Path, database: Path, run_dbt_docs: bool = True) -> dict:
    """Write index.html (dbt docs), lineage.json/.html and dictionary.json/.html into `docs`."""
    docs.mkdir(parents=True, exist_ok=True)
    if run_dbt_docs:
        shutil.copyfile(dbt_docs(target), docs / "index.html")
    manifest = load_manifest(target)
    result = column_lineage(manifest, warehouse_schema(database, manifest), rpt_models(manifest))
    document = lineage_document(manifest, result)
    (docs / "lineage.json").write_text(json.dumps(document, indent=1, ensure_ascii=False))
    (docs / "lineage.html").write_text(lineage_html(document))
    metrics, columns = dictionary_rows(manifest)
    dictionary = {"metrics": metrics, "rpt_columns": columns}
    (docs / "dictionary.json").write_text(json.dumps(dictionary, indent=1, ensure_ascii=False))
    (docs / "dictionary.html").write_text(dictionary_html(metrics, columns))
    return document


def main(run_dbt_docs: bool = True) -> int:
    docs = data_dir() / "warehouse" / "docs"
    target = docs / "target" if run_dbt_docs else target_dir()
    document = write_docs(docs, target, data_dir() / "warehouse" / "build.duckdb", run_dbt_docs)
    traced = sum(1 for sources in document["rpt_columns"].values() if sources)
    print(
        f"docs in {docs}: {traced} of {len(document['rpt_columns'])} RPT columns traced to the "
        f"lake, {len(document['errors'])} models not traced"
    )
    return 0
