"""The business dashboard: one static HTML page drawn from the published RPT tables only.

Generated at publish time (warehouse/publish.py) or with `python -m serving dashboard`, into
serving/dashboard/ (index.html, dictionary.html, and docs/: the warehouse's dbt docs, column
lineage and business dictionary from warehouse/docs/ when `python -m warehouse lineage` built
them). A static page fits a nightly batch warehouse:
the numbers change once a night, the page opens from a file share or any web server, needs no
service running and no network at view time (charts are inline SVG, no JavaScript), and it
shows exactly the night that passed its tests. Every number is an HTML <data> element whose
`value` is the raw figure and whose data-source names the RPT table it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from html import escape
from pathlib import Path
from typing import Any

from serving import catalogue, dictionary, svg
from serving.domains import ALL_DOMAINS, restrict

DASHBOARD = "dashboard"
TOP_MASTERS = 10
TREND_DAYS = 30


@dataclass
class Chart:
    key: str
    title: str
    body: str  # inline SVG, or "" when there is nothing to draw
    note: str = ""


def yuan(value: float) -> str:
    return f"¥{value:,.2f}"


def count(value: float) -> str:
    return f"{value:,.0f}"


def rate(value: float) -> str:
    return f"{value * 100:.2f}%"


def ms(value: float) -> str:
    return f"{value:,.0f} ms"


def shown(value: Any, fmt, source: str) -> str:
    """A number on the page: formatted for people, raw in `value` for machines and tests."""
    if value is None:
        return f'<data value="" data-source="{escape(source)}">n/a</data>'
    raw = float(value) if isinstance(value, Decimal | int | float) else value
    return f'<data value="{raw}" data-source="{escape(source)}">{escape(fmt(raw))}</data>'


class Rpt:
    """Read-only queries on the serving copy's rpt schema."""

    def __init__(self, database: Path) -> None:
        import duckdb

        self.con = duckdb.connect(str(database), read_only=True)
        self.tables = {
            name
            for (name,) in self.con.execute(
                "select table_name from information_schema.tables where table_schema = 'rpt'"
            ).fetchall()
        }

    def rows(self, table: str, sql: str, params: list | None = None) -> list[tuple]:
        """`sql` with {t} for the table; no rows when the table was not published."""
        if table not in self.tables:
            return []
        return self.con.execute(sql.format(t=f'rpt."{table}"'), params or []).fetchall()

    def one(self, table: str, sql: str, params: list | None = None) -> tuple | None:
        found = self.rows(table, sql, params)
        return found[0] if found else None


def build_page(
    rpt: Rpt, entry: dict[str, Any] | None, night: date, docs: list[str] | None = None
) -> str:
    """The whole page as HTML."""
    since = [night, TREND_DAYS]
    kpis = _kpis(rpt, night)
    charts = [
        *_orders(rpt, night, since),
        *_finance(rpt, since),
        *_masters(rpt, night, since),
        *_traffic(rpt, night),
        *_ops(rpt, night),
    ]
    sections = {
        "Orders": [c for c in charts if c.key.startswith("orders")],
        "GMV and take rate": [c for c in charts if c.key.startswith("finance")],
        "Masters": [c for c in charts if c.key.startswith("masters")],
        "Traffic": [c for c in charts if c.key.startswith("traffic")],
        "API operations": [c for c in charts if c.key.startswith("ops")],
    }
    body = [_header(entry, night, docs or []), _quality(rpt, entry, night), _kpi_tiles(kpis)]
    for title, members in sections.items():
        body.append(f"<section><h2>{escape(title)}</h2><div class='grid'>")
        body.extend(_figure(chart) for chart in members)
        body.append("</div></section>")
    body.append(_funnel_table(rpt, night))
    body.append(_integrity_table(rpt))
    body.append(_api_table(rpt, night))
    return _document("Shifu marketplace — nightly dashboard", "".join(body))


def _kpis(rpt: Rpt, night: date) -> list[tuple[str, str]]:
    at = [night]
    orders = rpt.one(
        "rpt_orders__daily_by_city",
        "select sum(orders_created), sum(orders_completed) from {t} where dt = ?",
        at,
    ) or (None, None)
    gmv = rpt.one(
        "rpt_finance__gmv_daily", "select gmv_yuan, paid_orders from {t} where dt = ?", at
    ) or (None, None)
    take = rpt.one(
        "rpt_finance__settlements_daily",
        "select take_rate, dt from {t} where dt <= ? order by dt desc limit 1",
        at,
    ) or (None, None)
    masters = rpt.one(
        "rpt_masters__daily_activity", "select active_masters from {t} where dt = ?", at
    )
    dau = rpt.one(
        "rpt_traffic__dau_daily", "select sum(daily_active_users) from {t} where dt = ?", at
    )
    api = rpt.one(
        "rpt_ops__api_daily_by_service",
        "select sum(api_requests), sum(http_5xx) from {t} where dt = ?",
        at,
    ) or (None, None)
    take_label = f"Take rate ({take[1]})" if take[1] else "Take rate"
    return [
        ("Orders created", shown(orders[0], count, "rpt_orders__daily_by_city.orders_created")),
        (
            "Orders completed",
            shown(orders[1], count, "rpt_orders__daily_by_city.orders_completed"),
        ),
        ("GMV", shown(gmv[0], yuan, "rpt_finance__gmv_daily.gmv_yuan")),
        ("Paid orders", shown(gmv[1], count, "rpt_finance__gmv_daily.paid_orders")),
        (take_label, shown(take[0], rate, "rpt_finance__settlements_daily.take_rate")),
        (
            "Active masters",
            shown(masters and masters[0], count, "rpt_masters__daily_activity.active_masters"),
        ),
        (
            "Daily active users",
            shown(dau and dau[0], count, "rpt_traffic__dau_daily.daily_active_users"),
        ),
        ("API requests", shown(api[0], count, "rpt_ops__api_daily_by_service.api_requests")),
        ("API 5xx", shown(api[1], count, "rpt_ops__api_daily_by_service.http_5xx")),
    ]


def _trend(rows: list[tuple], names: list[str], fmt=svg._number) -> str:
    labels = [str(r[0]) for r in rows]
    series = {
        name: [None if r[i + 1] is None else float(r[i + 1]) for r in rows]
        for i, name in enumerate(names)
    }
    return svg.line(labels, series, fmt)


def _pivot_trend(rows: list[tuple]) -> str:
    """(dt, series, value) rows to one line per series over every dt."""
    dates = sorted({r[0] for r in rows})
    values = {(r[0], r[1]): float(r[2]) for r in rows}
    names = sorted({r[1] for r in rows})
    series = {name: [values.get((d, name)) for d in dates] for name in names}
    return svg.line([str(d) for d in dates], series)


def _bars(rows: list[tuple], fmt=svg._number, color: str = svg.PALETTE[0]) -> str:
    return svg.hbar([str(r[0]) for r in rows], [float(r[1] or 0) for r in rows], fmt, color)


RECENT = "dt > ?::date - ?::integer and dt <= ?::date"


def _orders(rpt: Rpt, night: date, since: list) -> list[Chart]:
    table, funnel = "rpt_orders__daily_by_city", "rpt_orders__funnel_daily"
    window = [*since, night]
    trend = rpt.rows(
        table,
        "select dt, sum(orders_created), sum(orders_completed), sum(orders_cancelled) "
        f"from {{t}} where {RECENT} group by dt order by dt",
        window,
    )
    by_city = rpt.rows(
        table,
        "select city_code, sum(orders_created) as n from {t} where dt = ? group by 1 "
        "order by n desc, 1",
        [night],
    )
    by_category = rpt.rows(
        table,
        "select category_code, sum(orders_created) as n from {t} where dt = ? group by 1 "
        "order by n desc, 1",
        [night],
    )
    by_city_trend = rpt.rows(
        table,
        "select dt, city_code, sum(orders_created) "
        f"from {{t}} where {RECENT} group by 1, 2 order by 1, 2",
        window,
    )
    steps = rpt.one(
        funnel,
        "select sum(orders_created), sum(cohort_orders_assigned), sum(cohort_orders_completed) "
        "from {t} where dt = ?",
        [night],
    )
    funnel_rows = (
        list(zip(("created", "assigned", "completed"), steps, strict=True))
        if steps and steps[0] is not None
        else []
    )
    return [
        Chart(
            "orders_trend",
            "Orders per day",
            _trend(trend, ["created", "completed", "cancelled"]),
            f"{table}, last {TREND_DAYS} days",
        ),
        Chart(
            "orders_trend_by_city",
            "Orders created per day, by city",
            _pivot_trend(by_city_trend),
            f"{table}, last {TREND_DAYS} days",
        ),
        Chart(
            "orders_funnel", f"Order funnel, orders created on {night}", _bars(funnel_rows), funnel
        ),
        Chart("orders_by_city", f"Orders created by city, {night}", _bars(by_city), table),
        Chart(
            "orders_by_category",
            f"Orders created by category, {night}",
            _bars(by_category, color=svg.PALETTE[3]),
            table,
        ),
    ]


def _finance(rpt: Rpt, since: list) -> list[Chart]:
    night = since[0]
    window = [*since, night]
    gmv = rpt.rows(
        "rpt_finance__gmv_daily",
        f"select dt, gmv_yuan from {{t}} where {RECENT} order by dt",
        window,
    )
    by_city = rpt.rows(
        "rpt_finance__gmv_daily_by_city",
        "select city_code, gmv_yuan from {t} where dt = ? order by gmv_yuan desc, 1",
        [night],
    )
    take = rpt.rows(
        "rpt_finance__settlements_daily",
        f"select dt, take_rate from {{t}} where {RECENT} order by dt",
        window,
    )
    return [
        Chart(
            "finance_gmv_trend", "GMV per day", _trend(gmv, ["GMV"], yuan), "rpt_finance__gmv_daily"
        ),
        Chart(
            "finance_gmv_by_city",
            f"GMV by city, {night}",
            _bars(by_city, yuan, svg.PALETTE[1]),
            "rpt_finance__gmv_daily_by_city",
        ),
        Chart(
            "finance_take_rate",
            "Take rate (platform fee / settled gross)",
            _trend(take, ["take rate"], rate),
            "rpt_finance__settlements_daily",
        ),
    ]


def _masters(rpt: Rpt, night: date, since: list) -> list[Chart]:
    supply = rpt.rows(
        "rpt_masters__daily_activity",
        f"select dt, active_masters, new_masters from {{t}} where {RECENT} order by dt",
        [*since, night],
    )
    ranking = rpt.rows(
        "rpt_masters__integrity_ranking",
        "select '#' || integrity_rank || ' master ' || master_id || ' (' || city_code || ')', "
        "integrity_score from {t} order by integrity_rank, master_id limit ?",
        [TOP_MASTERS],
    )
    return [
        Chart(
            "masters_supply",
            "Masters supply: active and new masters per day",
            _trend(supply, ["active", "new"]),
            "rpt_masters__daily_activity",
        ),
        Chart(
            "masters_integrity",
            f"Integrity ranking, top {TOP_MASTERS}",
            _bars(ranking, color=svg.PALETTE[4]),
            "rpt_masters__integrity_ranking",
        ),
    ]


def _traffic(rpt: Rpt, night: date) -> list[Chart]:
    dau = rpt.rows(
        "rpt_traffic__dau_daily",
        "select platform, daily_active_users from {t} where dt = ? order by 2 desc, 1",
        [night],
    )
    sessions = rpt.rows(
        "rpt_traffic__sessions_daily",
        "select platform, sessions from {t} where dt = ? order by 2 desc, 1",
        [night],
    )
    conversion = rpt.rows(
        "rpt_traffic__funnel_daily",
        "select platform, order_conversion_rate from {t} where dt = ? order by 2 desc, 1",
        [night],
    )
    return [
        Chart(
            "traffic_dau",
            f"Daily active users by platform, {night}",
            _bars(dau, color=svg.PALETTE[5]),
            "rpt_traffic__dau_daily",
        ),
        Chart(
            "traffic_sessions",
            f"Sessions by platform, {night}",
            _bars(sessions, color=svg.PALETTE[5]),
            "rpt_traffic__sessions_daily",
        ),
        Chart(
            "traffic_conversion",
            f"Order conversion by platform, {night}",
            _bars(conversion, rate, svg.PALETTE[6]),
            "rpt_traffic__funnel_daily",
        ),
    ]


def _ops(rpt: Rpt, night: date) -> list[Chart]:
    table = "rpt_ops__api_daily_by_service"
    p95 = rpt.rows(
        table,
        "select service, latency_p95_ms from {t} where dt = ? order by 2 desc, 1",
        [night],
    )
    errors = rpt.rows(
        table,
        "select service, http_5xx from {t} where dt = ? order by 2 desc, 1",
        [night],
    )
    return [
        Chart("ops_latency_p95", f"API latency P95 by service, {night}", _bars(p95, ms), table),
        Chart(
            "ops_http_5xx",
            f"API 5xx responses by service, {night}",
            _bars(errors, color=svg.PALETTE[2]),
            table,
        ),
    ]


# The warehouse's own docs (warehouse/lineage.py, `python -m warehouse lineage`), published
# beside the dashboard when they were built: {file: link text}.
WAREHOUSE_DOCS = {
    "index.html": "dbt docs (model graph)",
    "lineage.html": "Column lineage to the sources",
    "dictionary.html": "Metrics and business terms",
}


def _header(entry: dict[str, Any] | None, night: date, docs: list[str]) -> str:
    published = entry["recorded_at"] if entry else "unknown"
    links = [f"<a href='{dictionary.PAGE}'>Data dictionary and lineage</a>"]
    links += [f"<a href='docs/{name}'>{escape(WAREHOUSE_DOCS[name])}</a>" for name in docs]
    return (
        "<header><h1>Shifu marketplace — the night of "
        f'<time data-night="{night}">{night}</time></h1>'
        f"<p>Published {escape(published)} (UTC) from the tested warehouse build.</p>"
        f"<nav>{' · '.join(links)}</nav></header>"
    )


def _quality(rpt: Rpt, entry: dict[str, Any] | None, night: date) -> str:
    """The data-quality status of the last night: dbt's tests and the finance reconciliation."""
    rows = []
    status = "unknown"
    if entry:
        counts = entry["dbt"]["counts"]
        tests = counts.get("test", {})
        units = counts.get("unit_test", {})
        failed = tests.get("fail", 0) + tests.get("error", 0)
        status = "passed" if entry["status"] == "published" and failed == 0 else "failed"
        rows.append(
            ("Data tests passed", shown(tests.get("pass", 0), count, "run_results.test.pass"))
        )
        rows.append(
            ("Data tests warned", shown(tests.get("warn", 0), count, "run_results.test.warn"))
        )
        rows.append(("Data tests failed", shown(failed, count, "run_results.test.fail")))
        rows.append(
            ("Unit tests passed", shown(units.get("pass", 0), count, "run_results.unit_test.pass"))
        )
    reconciliation = rpt.one(
        "rpt_finance__settlement_reconciliation",
        "select payments_without_settlement, gross_mismatches + fee_mismatches + net_mismatches "
        "from {t} where dt = ?",
        [night],
    )
    if reconciliation:
        source = "rpt_finance__settlement_reconciliation"
        rows.append(("Payments without settlement", shown(reconciliation[0], count, source)))
        rows.append(("Settlement amount mismatches", shown(reconciliation[1], count, source)))
    final = rpt.one(
        "rpt_traffic__dau_daily", "select bool_and(is_final) from {t} where dt = ?", [night]
    )
    if final and final[0] is not None:
        rows.append(
            ("Traffic figures final", "yes" if final[0] else "no: late events may still arrive")
        )
    cells = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return (
        f'<section class="quality" data-quality="{status}"><h2>Data quality of the night: '
        f'<span class="badge {status}">{status}</span></h2><table>{cells}</table></section>'
    )


def _kpi_tiles(kpis: list[tuple[str, str]]) -> str:
    tiles = "".join(f'<div class="kpi"><span>{escape(k)}</span>{v}</div>' for k, v in kpis)
    return f'<section class="kpis">{tiles}</section>'


def _figure(chart: Chart) -> str:
    body = chart.body or '<p class="empty">No data published for this chart.</p>'
    return (
        f'<figure class="chart" data-chart="{chart.key}" data-empty="{str(not chart.body).lower()}">'
        f"<figcaption>{escape(chart.title)}</figcaption>{body}"
        f'<p class="source">{escape(chart.note)}</p></figure>'
    )


def _funnel_table(rpt: Rpt, night: date) -> str:
    table = "rpt_orders__funnel_daily"
    rows = rpt.rows(
        table,
        "select city_code, sum(orders_created), sum(cohort_orders_assigned), "
        "sum(cohort_orders_completed), sum(cohort_orders_cancelled) from {t} where dt = ? "
        "group by 1 order by 1",
        [night],
    )
    head = ["city", "orders_created", "cohort_orders_assigned", "cohort_orders_completed"]
    head.append("cohort_orders_cancelled")
    fmts = [str, count, count, count, count]
    title = f"Order funnel by city, orders created on {night}"
    return _table("orders_funnel_table", title, table, head, rows, fmts)


def _integrity_table(rpt: Rpt) -> str:
    table = "rpt_masters__integrity_ranking"
    rows = rpt.rows(
        table,
        "select integrity_rank, master_id, city_code, credit_level, services_completed, "
        "average_review_score, complaint_rate, on_time_rate, integrity_score from {t} "
        "order by integrity_rank, master_id limit ?",
        [TOP_MASTERS],
    )
    head = "rank master city credit services review complaints on-time score".split()
    fmts = [count, str, str, count, count, svg._number, rate, rate, svg._number]
    return _table("masters_integrity_table", "Integrity ranking", table, head, rows, fmts)


def _api_table(rpt: Rpt, night: date) -> str:
    table = "rpt_ops__api_daily_by_service"
    rows = rpt.rows(
        table,
        "select service, api_requests, latency_p50_ms, latency_p95_ms, latency_p99_ms, http_5xx, "
        "error_rate_5xx, app_errors from {t} where dt = ? order by service",
        [night],
    )
    head = "service requests p50 p95 p99 5xx 5xx-rate app-errors".split()
    fmts = [str, count, ms, ms, ms, count, rate, count]
    return _table("ops_api_table", f"API latency and errors, {night}", table, head, rows, fmts)


def _table(key, title, source, head, rows, fmts) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = []
    for row in rows:
        cells = []
        for name, value, fmt in zip(head, row, fmts, strict=True):
            if fmt is str:
                cells.append(f"<td>{escape(str(value))}</td>")
            else:
                cells.append(f"<td>{shown(value, fmt, f'{source}.{name}')}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return (
        f'<section><h2>{escape(title)}</h2><table class="data" data-table="{key}">'
        f"<thead><tr>{header}</tr></thead><tbody>{''.join(body)}</tbody></table></section>"
    )


STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1200px;
padding:16px;color:#111827;background:#f9fafb}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:28px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:16px}
figure.chart{background:#fff;border:1px solid #e5e7eb;border-radius:8px;margin:0;padding:12px}
figcaption{font-weight:600;margin-bottom:6px}.source{color:#6b7280;font-size:.8em;margin:4px 0 0}
svg text{font-size:11px;fill:#374151}svg .grid{stroke:#e5e7eb}svg .value{fill:#111827}
.kpis{display:grid;grid-template-columns:repeat(auto-fill,minmax(170px,1fr));gap:12px}
.kpi{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:10px}
.kpi span{display:block;color:#6b7280;font-size:.85em}.kpi data{font-size:1.4em;font-weight:600}
table{border-collapse:collapse;background:#fff}th,td{padding:4px 10px;border-bottom:1px solid
#e5e7eb;text-align:left}td data{font-variant-numeric:tabular-nums}
.badge{padding:2px 8px;border-radius:6px;color:#fff}.passed{background:#16a34a}
.failed{background:#dc2626}.unknown{background:#6b7280}.empty{color:#dc2626}
"""


def _document(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<style>{STYLE}</style></head><body>{body}"
        f"<footer><p class='source'>Generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from "
        "the published RPT tables (serving/warehouse.duckdb, schema rpt).</p></footer>"
        "</body></html>"
    )


def generate(serving: Path, manifest: Path | None = None) -> Path:
    """Write serving/dashboard/index.html and dictionary.html, each by an atomic rename."""
    entry = catalogue.last_published(serving)
    built_docs = serving.parent / "docs"
    docs = [name for name in WAREHOUSE_DOCS if (built_docs / name).is_file()]
    rpt = Rpt(serving / "warehouse.duckdb")
    try:
        night = date.fromisoformat(entry["dt"]) if entry and entry["dt"] else _latest(rpt)
        pages = {"index.html": build_page(rpt, entry, night, docs)}
    finally:
        rpt.con.close()
    pages[dictionary.PAGE] = dictionary.render(manifest)
    out = serving / DASHBOARD
    out.mkdir(exist_ok=True)
    restrict(out, ALL_DOMAINS)  # every domain's figures: the readers of the whole copy
    for name, text in pages.items():
        _write(out / name, text.encode("utf-8"))
    if docs:
        (out / "docs").mkdir(exist_ok=True)
        for name in docs:
            _write(out / "docs" / name, (built_docs / name).read_bytes())
    return out / "index.html"


def _write(path: Path, content: bytes) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(content)
    os.chmod(temporary, 0o644)  # the dashboard directory's group decides who gets this far
    os.replace(temporary, path)


def _latest(rpt: Rpt) -> date:
    row = rpt.one("rpt_orders__daily_by_city", "select max(dt) from {t}")
    return row[0] if row and row[0] else date.today()
