"""The dashboard in a real headless Chromium: it loads offline, every chart has data, and the
numbers it shows are the published RPT tables'. Screenshots are kept as test artifacts.

Built by the nightly DAG's publish task from the `nightly` session pipeline (tests/nightly.py);
the expected figures are queried here, independently, from the serving copy's rpt schema.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from tests.conftest import unavailable
from tests.nightly import Nightly

pytestmark = pytest.mark.slow

CHARTS = {
    "orders_trend",
    "orders_trend_by_city",
    "orders_funnel",
    "orders_by_city",
    "orders_by_category",
    "finance_gmv_trend",
    "finance_gmv_by_city",
    "finance_take_rate",
    "masters_supply",
    "masters_integrity",
    "traffic_dau",
    "traffic_sessions",
    "traffic_conversion",
    "ops_latency_p95",
    "ops_http_5xx",
}
CHROMIUM = ("/usr/bin/chromium", "/usr/bin/chromedriver")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $SHIFU_ARTIFACTS_DIR/dashboard if set, else a pytest temp dir."""
    root = os.environ.get("SHIFU_ARTIFACTS_DIR")
    out = Path(root) / "dashboard" if root else tmp_path_factory.mktemp("dashboard-artifacts")
    out.mkdir(parents=True, exist_ok=True)
    print(f"\ndashboard screenshots: {out}")
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not all(shutil.which(p) for p in CHROMIUM):
        unavailable("chromium and chromium-driver are not installed", "apt-get install them")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM[0]
    # --no-sandbox: Chromium refuses to start its sandbox as root, which CI runs as.
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(CHROMIUM[1]))
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def page(nightly: Nightly, browser, artifacts: Path):
    """The dashboard, opened from the file system (no server, no network), and screenshotted."""
    index = nightly.warehouse / "serving" / "dashboard" / "index.html"
    assert index.is_file(), "publishing did not generate the dashboard"
    browser.get(index.as_uri())
    screenshot(browser, artifacts / "dashboard.png")
    return browser


def screenshot(browser, path: Path, max_height: int = 6000) -> None:
    """The whole page (up to max_height pixels), not only the first screenful."""
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1280, min(height, max_height) + 40)
    assert browser.save_screenshot(str(path)), path
    browser.set_window_size(1280, 900)


@pytest.fixture(scope="module")
def rpt(nightly: Nightly) -> Iterator[duckdb.DuckDBPyConnection]:
    con = duckdb.connect(str(nightly.warehouse / "serving" / "warehouse.duckdb"), read_only=True)
    yield con
    con.close()


def marks(page, chart: str, series: str | None = None) -> dict[str, float]:
    """{label: value} of a chart's drawn marks, read back from the page."""
    selector = f'figure[data-chart="{chart}"] .mark'
    if series:
        selector += f'[data-series="{series}"]'
    return page.execute_script(
        "const out = {}; document.querySelectorAll(arguments[0]).forEach(m => "
        "{ out[m.dataset.label] = parseFloat(m.dataset.value); }); return out;",
        selector,
    )


def shown(page, source: str) -> list[float]:
    """The raw values of the <data> elements that name `source`."""
    return page.execute_script(
        "return Array.from(document.querySelectorAll(`data[data-source='${arguments[0]}']`))"
        ".map(d => parseFloat(d.value));",
        source,
    )


def test_the_dashboard_loads_for_the_last_night(page, nightly: Nightly) -> None:
    assert "dashboard" in page.title
    night = page.find_element("css selector", "time[data-night]").get_attribute("data-night")
    assert night == nightly.last_dt.isoformat()


def test_every_chart_is_drawn_with_data(page) -> None:
    drawn = page.execute_script(
        "return Array.from(document.querySelectorAll('figure.chart')).map(f => [f.dataset.chart,"
        " Array.from(f.querySelectorAll('.mark')).filter(m => { const b ="
        " m.getBoundingClientRect(); return b.width > 0 && b.height > 0; }).length]);"
    )
    assert {chart for chart, _ in drawn} == CHARTS
    empty = [chart for chart, count in drawn if count == 0]
    assert not empty, f"charts without visible data: {empty}"


def test_nothing_is_fetched_from_the_network(page) -> None:
    resources = page.execute_script(
        "return performance.getEntriesByType('resource').map(r => r.name);"
    )
    assert not [r for r in resources if not r.startswith("file:")], resources
    assert "http://" not in page.page_source.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in page.page_source


def test_the_headline_numbers_equal_the_rpt_tables(page, rpt, nightly: Nightly) -> None:
    dt = nightly.last_dt
    expected = {
        "rpt_orders__daily_by_city.orders_created": "select sum(orders_created) "
        "from rpt.rpt_orders__daily_by_city where dt = ?",
        "rpt_orders__daily_by_city.orders_completed": "select sum(orders_completed) "
        "from rpt.rpt_orders__daily_by_city where dt = ?",
        "rpt_finance__gmv_daily.gmv_yuan": "select gmv_yuan from rpt.rpt_finance__gmv_daily "
        "where dt = ?",
        "rpt_finance__gmv_daily.paid_orders": "select paid_orders "
        "from rpt.rpt_finance__gmv_daily where dt = ?",
        "rpt_masters__daily_activity.active_masters": "select active_masters "
        "from rpt.rpt_masters__daily_activity where dt = ?",
        "rpt_traffic__dau_daily.daily_active_users": "select sum(daily_active_users) "
        "from rpt.rpt_traffic__dau_daily where dt = ?",
        "rpt_ops__api_daily_by_service.api_requests": "select sum(api_requests) "
        "from rpt.rpt_ops__api_daily_by_service where dt = ?",
    }
    for source, sql in expected.items():
        (value,) = rpt.execute(sql, [dt]).fetchone()
        assert value is not None, f"{source}: nothing in the RPT table for {dt}"
        assert shown(page, source)[0] == pytest.approx(float(value)), source


def test_the_charts_equal_the_rpt_tables(page, rpt, nightly: Nightly) -> None:
    dt = nightly.last_dt

    def rows(sql: str) -> dict[str, float]:
        return {str(k): float(v) for k, v in rpt.execute(sql, [dt]).fetchall()}

    assert marks(page, "orders_by_city") == rows(
        "select city_code, sum(orders_created) from rpt.rpt_orders__daily_by_city "
        "where dt = ? group by 1"
    )
    assert marks(page, "orders_by_category") == rows(
        "select category_code, sum(orders_created) from rpt.rpt_orders__daily_by_city "
        "where dt = ? group by 1"
    )
    assert marks(page, "orders_trend", "created") == rows(
        "select dt, sum(orders_created) from rpt.rpt_orders__daily_by_city where dt <= ? group by 1"
    )
    for city, created in rows(
        "select city_code, sum(orders_created) from rpt.rpt_orders__daily_by_city "
        "where dt = ? group by 1"
    ).items():
        assert marks(page, "orders_trend_by_city", city)[str(dt)] == created, city
    assert marks(page, "finance_gmv_by_city") == rows(
        "select city_code, gmv_yuan from rpt.rpt_finance__gmv_daily_by_city where dt = ?"
    )
    assert marks(page, "traffic_dau") == rows(
        "select platform, daily_active_users from rpt.rpt_traffic__dau_daily where dt = ?"
    )
    assert marks(page, "ops_latency_p95") == rows(
        "select service, latency_p95_ms from rpt.rpt_ops__api_daily_by_service where dt = ?"
    )
    scores = sorted(marks(page, "masters_integrity").values(), reverse=True)
    top = rpt.execute(
        "select integrity_score from rpt.rpt_masters__integrity_ranking "
        "order by integrity_rank, master_id limit 10"
    ).fetchall()
    assert scores == sorted((float(s) for (s,) in top), reverse=True)


def test_the_data_quality_of_the_night_is_shown(page, nightly: Nightly) -> None:
    run = json.loads((nightly.warehouse / "serving" / "_dbt" / "run_results.json").read_text())
    passed = sum(
        1 for r in run["results"] if r["unique_id"].startswith("test.") and r["status"] == "pass"
    )
    section = page.find_element("css selector", "section.quality")
    assert section.get_attribute("data-quality") == "passed"
    assert shown(page, "run_results.test.pass") == [passed]
    assert shown(page, "run_results.test.fail") == [0]


def test_the_data_dictionary_is_one_click_away(page, rpt, artifacts: Path) -> None:
    page.find_element("link text", "Data dictionary and lineage").click()
    try:
        documented = {
            e.get_attribute("data-model")
            for e in page.find_elements("css selector", "section[data-model]")
        }
        published = {
            name
            for (name,) in rpt.execute(
                "select table_name from information_schema.tables where table_schema = 'rpt'"
            ).fetchall()
        }
        assert published <= documented
        lineage = page.find_element(
            "css selector", 'section[data-model="rpt_finance__gmv_daily"] .lineage'
        ).text
        assert "dw_" in lineage and "ods_" in lineage, lineage
        screenshot(page, artifacts / "dictionary.png", max_height=2000)
    finally:
        page.back()
