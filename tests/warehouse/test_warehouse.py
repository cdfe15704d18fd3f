"""The warehouse, end to end: a week of the simulated marketplace through ingest and dbt.

Specifications:
- `dbt build` passes (every model, snapshot, data test and unit test).
- Every figure of the simulator's ground truth equals the RPT figure, every day (DAU once the
  72-hour late window has passed); and the comparison does fail when the day is wrong.
- Late tracking events recompute their day: an incremental nightly run picks them up.
- The microservice split stops at DW: the same week with and without the split gives
  identical DW tables (those that read the databases; logs and events do not change).
- No clear phone number, ID-card number or street address anywhere in DW or RPT.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from ingest import pii
from simulator.devices import PLATFORMS
from tests.warehouse.conftest import PII_SALT, Warehouse, dbt
from tests.warehouse.truth import KEYS, LATE_KEYS, differences, final_keys, rpt_figures

pytestmark = pytest.mark.slow


def connect(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(warehouse.database), read_only=True)


def tables(con: duckdb.DuckDBPyConnection, schema: str) -> list[str]:
    return [
        row[0]
        for row in con.execute(
            "select table_name from information_schema.tables where table_schema = ? "
            "order by table_name",
            [schema],
        ).fetchall()
    ]


def test_build_passes_every_model_and_test(warehouses: dict[str, Warehouse]) -> None:
    for name, warehouse in warehouses.items():
        results = json.loads(
            (warehouse.data_dir / "dbt" / "target" / "run_results.json").read_text()
        )
        failed = [
            r["unique_id"] for r in results["results"] if r["status"] not in ("success", "pass")
        ]
        assert failed == [], f"{name}: {failed}"
        kinds = {r["unique_id"].split(".")[0] for r in results["results"]}
        assert {"model", "test", "snapshot", "seed", "unit_test"} <= kinds


def test_every_truth_figure_equals_rpt(warehouse: Warehouse) -> None:
    truth = warehouse.truth()
    assert len(truth) == 7
    last = max(truth)
    with connect(warehouse) as con:
        for dt, figures in truth.items():
            assert differences(figures, rpt_figures(con, dt), final_keys(dt, last)) == {}, dt
    totals = sum(figures["orders_created_total"] for figures in truth.values())
    assert totals > 4000  # the comparison covers real volume, not empty days
    assert sum(sum(f["requests_by_service"].values()) for f in truth.values()) > 200_000
    # DAU is compared on the days whose late window has passed: the first four of seven.
    assert [dt for dt in truth if set(LATE_KEYS) <= set(final_keys(dt, last))] == sorted(truth)[:4]


def test_comparison_fails_for_a_wrong_day(warehouse: Warehouse) -> None:
    truth = warehouse.truth()
    days = sorted(truth)
    with connect(warehouse) as con:
        # The RPT figures of the next day are not the truth of this one...
        shifted = differences(truth[days[3]], rpt_figures(con, days[4]))
        # ...and a single fen or order off is caught too.
        tampered = copy.deepcopy(truth[days[3]])
        tampered["gmv_yuan"] = f"{float(tampered['gmv_yuan']) + 0.01:.2f}"
        city = next(iter(tampered["orders_created"]))
        category = next(iter(tampered["orders_created"][city]))
        tampered["orders_created"][city][category] += 1
        off_by_one = differences(tampered, rpt_figures(con, days[3]))
    assert set(shifted) >= {
        "orders_created",
        "gmv_yuan",
        "settlements",
        "active_masters",
        "dau_by_platform",
        "requests_by_service",
        "http_5xx_by_service",
    }
    assert set(off_by_one) == {"gmv_yuan", "orders_created"}
    assert set(KEYS) >= set(shifted)


TRAFFIC_SOURCES = {"events", "nginx", "app"}


def relational_dw_tables(warehouse: Warehouse) -> list[str]:
    """The DW tables that read the databases (a source other than logs and events, upstream),
    from the build's manifest. Seeds count: they are the same in every run."""
    manifest = json.loads((warehouse.data_dir / "dbt" / "target" / "manifest.json").read_text())
    nodes = {**manifest["nodes"], **manifest["sources"]}

    def sources(unique_id: str) -> set[str]:
        node = nodes[unique_id]
        if node["resource_type"] == "source":
            return {node["source_name"]}
        found: set[str] = set()
        for parent in node.get("depends_on", {}).get("nodes", []):
            found |= sources(parent)
        return found

    return sorted(
        node["alias"]
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot")
        and node["schema"] == "dw"
        and node["config"]["materialized"] != "ephemeral"
        and not (sources(unique_id) and sources(unique_id) <= TRAFFIC_SOURCES)
    )


def test_dw_is_identical_with_and_without_the_split(warehouses: dict[str, Warehouse]) -> None:
    """Every DW table that reads the databases; the traffic tables read logs and events only,
    which the split does not touch (and which the monolith run does not simulate)."""
    split, monolith = warehouses["split"], warehouses["monolith"]
    con = duckdb.connect()
    con.execute(f"attach '{split.database}' as split (read_only)")
    con.execute(f"attach '{monolith.database}' as monolith (read_only)")
    names = relational_dw_tables(split)
    assert set(names) <= set(tables(con, "dw")) and len(names) >= 16
    assert "dw_fct_orders" in names and "dw_fct_events" not in names
    # The ODS layers do differ: post-split tables are empty in the monolith run.
    assert con.execute("select count(*) from split.ods.ods_svc_order__order_info").fetchone()[0]
    assert not con.execute(
        "select count(*) from monolith.ods.ods_svc_order__order_info"
    ).fetchone()[0]
    compared = 0
    for name in names:
        columns = {
            db: con.execute(
                "select column_name, data_type from information_schema.columns "
                "where table_catalog = ? and table_schema = 'dw' and table_name = ? "
                "order by ordinal_position",
                [db, name],
            ).fetchall()
            for db in ("split", "monolith")
        }
        assert columns["split"] == columns["monolith"], name
        only = con.execute(
            f"select count(*) from (select * from split.dw.{name} "
            f"except all select * from monolith.dw.{name}) as differing"
        ).fetchone()[0]
        missing = con.execute(
            f"select count(*) from (select * from monolith.dw.{name} "
            f"except all select * from split.dw.{name}) as differing"
        ).fetchone()[0]
        assert (only, missing) == (0, 0), name
        compared += con.execute(f"select count(*) from split.dw.{name}").fetchone()[0]
    assert compared > 50_000


PII_PATTERNS = {"phone": pii.PHONE_RE, "id_card": pii.ID_CARD_RE, "address": pii.ADDRESS_RE}
# The hex digits of a token (or of dbt's md5 snapshot ids, session ids, nginx request ids) and of
# UUIDs (event and device ids) can look like a phone number: 128-bit hex strings, plain or in
# UUID form, are removed before the scan.
TOKEN_RE = re.compile(
    r"\b(?:hmac:)?[0-9a-f]{32}\b"
    r"|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"
)


def personal_data(con: duckdb.DuckDBPyConnection, relation: str, columns: list[str]) -> list:
    """(column, kind, value) of every clear phone, ID-card number or street address."""
    found = []
    for column in columns:
        for (value,) in con.execute(
            f"select distinct cast({column} as varchar) from {relation} where {column} is not null"
        ).fetchall():
            for kind, pattern in PII_PATTERNS.items():
                if pattern.search(TOKEN_RE.sub("", value)):
                    found.append((column, kind, value))
    return found


def text_columns(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> list[str]:
    return [
        name
        for name, data_type in con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()
        if "VARCHAR" in data_type or "[]" in data_type or "STRUCT" in data_type
    ]


def test_no_clear_personal_data_in_dw_or_rpt(warehouses: dict[str, Warehouse]) -> None:
    for warehouse in warehouses.values():
        with connect(warehouse) as con:
            scanned, names = 0, set()
            for schema in ("dw", "rpt"):
                for table in tables(con, schema):
                    columns = text_columns(con, schema, table)
                    assert personal_data(con, f"{schema}.{table}", columns) == [], table
                    scanned += len(columns)
                    names.add(table)
            assert scanned > 100
            assert {"dw_fct_events", "dw_fct_api_requests", "dw_fct_app_errors"} <= names
    with connect(warehouses["split"]) as con:
        assert con.execute("select count(*) from dw.dw_fct_app_errors").fetchone()[0] > 100


def test_the_scan_finds_personal_data_in_the_raw_lake(warehouse: Warehouse) -> None:
    """The scanner's control: the lake's raw relational tables do hold clear PII."""
    raw = warehouse.lake / "raw" / "sqlite" / "shifu" / "customer" / "dt=2026-11-07"
    with duckdb.connect() as con:
        relation = f"read_parquet('{raw}/part-*.parquet')"
        kinds = {kind for _, kind, _ in personal_data(con, relation, ["phone", "address"])}
    assert kinds == {"phone", "address"}


def test_tokens_are_the_lakes_tokens(warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch) -> None:
    """A customer's phone token in DW is ingest.pii's token of the phone in the source."""
    raw = warehouse.lake / "raw" / "sqlite" / "shifu" / "customer" / "dt=2026-11-07"
    with duckdb.connect() as con:
        customer_id, phone = con.execute(
            f"select id, phone from read_parquet('{raw}/part-*.parquet') order by id limit 1"
        ).fetchone()
    with connect(warehouse) as con:
        token = con.execute(
            "select phone_token from dw.dw_dim_customers where customer_id = ?", [customer_id]
        ).fetchone()[0]
    monkeypatch.setenv(pii.SALT_ENV, PII_SALT)
    assert token == pii.token("phone", phone)
    assert re.fullmatch(r"hmac:[0-9a-f]{32}", token)


def test_source_freshness_passes_on_a_fresh_lake(warehouse: Warehouse) -> None:
    result = dbt(["source", "freshness"], warehouse.data_dir)
    assert "ERROR STALE" not in result.stdout


def test_the_volume_check_fails_when_a_day_collapses(warehouse: Warehouse) -> None:
    """Demanding 5x the trailing average makes an ordinary day look collapsed: the check fails."""
    select = ["--select", "test_name:volume_has_not_collapsed"]
    dbt(["test", *select], warehouse.data_dir)
    with pytest.raises(RuntimeError, match="FAIL"):
        dbt(["test", *select, "--vars", "{volume_collapse_ratio: 5}"], warehouse.data_dir)


def test_master_history_is_scd2_across_nights(
    warehouse: Warehouse, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Two nightly builds (lake up to day 5, then up to day 7): the credit job's changes become
    versions valid from the end of the lake day they were observed, contiguous per master."""
    data_dir = tmp_path_factory.mktemp("scd2")
    shutil.copytree(warehouse.lake, data_dir / "lake")
    for partition in (data_dir / "lake" / "raw").glob("*/*/*/dt=*"):
        if partition.name > "dt=2026-11-05":
            shutil.rmtree(partition)
    select = ["--select", "+dw_dim_masters_history", "--indirect-selection", "cautious"]
    dbt(["build", *select], data_dir)
    shutil.rmtree(data_dir / "lake")
    shutil.copytree(warehouse.lake, data_dir / "lake")
    dbt(["build", *select], data_dir)
    with duckdb.connect(str(data_dir / "warehouse" / "build.duckdb"), read_only=True) as con:
        versions = con.execute(
            "select dbt_valid_from, dbt_valid_to, count(*) from dw.dw_dim_masters_history "
            "group by all order by all"
        ).fetchall()
        gaps = con.execute(
            "select count(*) from (select dbt_valid_to, lead(dbt_valid_from) over "
            "(partition by master_id order by dbt_valid_from) as next_from "
            "from dw.dw_dim_masters_history) as chained "
            "where next_from is not null and next_from != dbt_valid_to"
        ).fetchone()[0]
        current = con.execute(
            "select count(*) from dw.dw_dim_masters_history as history "
            "join dw.dw_dim_masters as masters using (master_id) "
            "where history.dbt_valid_to = timestamp '9999-12-31' "
            "and history.credit_level != masters.credit_level"
        ).fetchone()[0]
    day6, day8, forever = (
        datetime(2026, 11, 6),
        datetime(2026, 11, 8),
        datetime(9999, 12, 31),
    )
    by_window = {(start, end): n for start, end, n in versions}
    assert by_window[(day6, day8)] > 0  # versions replaced by the second night
    assert by_window[(day8, forever)] >= by_window[(day6, day8)]  # + masters who joined
    assert (gaps, current) == (0, 0)


def test_late_events_recompute_their_day_in_the_next_nightly_run(warehouse: Warehouse) -> None:
    """The traffic models were built on the night of day 4 and then, incrementally, after day 7:
    the later run picked up the events of days 2-4 that arrived after day 4, so their DAU grew
    to the truth; day 1 was already final on day 4."""
    truth = warehouse.truth()

    def day(database: Path, dt: str) -> tuple[dict[str, int], int]:
        """(DAU by platform, valid events) of event day dt in that warehouse."""
        with duckdb.connect(str(database), read_only=True) as con:
            rows = con.execute(
                "select platform, daily_active_users, tracking_events "
                "from rpt.rpt_traffic__dau_daily where dt = ?",
                [dt],
            ).fetchall()
        dau = {platform: users for platform, users, _ in rows}
        return {p: dau.get(p, 0) for p in PLATFORMS}, sum(events for _, _, events in rows)

    early, final = warehouse.early_database, warehouse.database
    assert day(early, "2026-11-01")[0] == truth["2026-11-01"]["dau_by_platform"]
    assert day(early, "2026-11-05") == ({p: 0 for p in PLATFORMS}, 0)  # not arrived yet
    for dt in ("2026-11-02", "2026-11-03", "2026-11-04"):
        assert day(final, dt)[1] > day(early, dt)[1], dt  # late events arrived after day 4
        assert day(final, dt)[0] == truth[dt]["dau_by_platform"], dt
    assert day(early, "2026-11-04")[0] != truth["2026-11-04"]["dau_by_platform"]
    # The incremental run kept every event once: DW holds what ODS holds.
    with connect(warehouse) as con:
        counts = con.execute(
            "select (select count(*) from ods.ods_events__events), "
            "(select count(distinct event_id) from dw.dw_fct_events), "
            "(select count(*) from dw.dw_fct_events)"
        ).fetchone()
    assert counts[0] == counts[1] == counts[2]
