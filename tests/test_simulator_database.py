"""The simulated OLTP database: the same rows on every engine, a binlog with real row changes,
ground truth that plain SQL over the tables agrees with, and --append equal to a longer run."""

from __future__ import annotations

import sqlite3
import uuid
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pymysql
import pytest
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import DeleteRowsEvent, UpdateRowsEvent, WriteRowsEvent

from ingest.cdc import NoReconnect, replica_id
from simulator.config import SimulationConfig
from simulator.database import SourceDatabase, canonical_dump
from simulator.simulation import load_state, simulate

START = date(2026, 11, 1)
SHANGHAI = ZoneInfo("Asia/Shanghai")


def _config(days: int = 3, scale: float = 0.03, split: date | None = None) -> SimulationConfig:
    return SimulationConfig(start=START, days=days, scale=scale, seed=7, split_date=split)


def _dump(target: str, prefix: str = "") -> dict:
    db = SourceDatabase(target, prefix)
    db.detect_split()
    try:
        return canonical_dump(db)
    finally:
        db.close()


@pytest.fixture
def mysql_prefix() -> str:
    """A fresh database-name prefix on the machine's MariaDB, cleaned up afterwards."""
    prefix = f"t{uuid.uuid4().hex[:10]}_"
    yield prefix
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="")
    with conn.cursor() as cur:
        for name in ("shifu", "svc_order", "svc_pay", "svc_master"):
            cur.execute(f"DROP DATABASE IF EXISTS `{prefix}{name}`")
    conn.close()


def test_sqlite_mariadb_and_postgres_hold_the_same_rows(tmp_path, mysql_prefix, postgres_url):
    config = _config(split=START + timedelta(days=2))
    mysql = "mysql+pymysql://root@127.0.0.1:3306?charset=utf8mb4"
    simulate(config, str(tmp_path / "lite"), tmp_path / "lite", files=False)
    simulate(config, mysql, tmp_path / "my", files=False, schema_prefix=mysql_prefix)
    simulate(config, postgres_url, tmp_path / "pg", files=False)
    lite = _dump(str(tmp_path / "lite"))
    assert sum(len(rows) for rows in lite.values()) > 10_000
    assert "svc_order.order_info" in lite and "shifu.service_order" not in lite
    assert _dump(mysql, mysql_prefix) == lite
    assert _dump(postgres_url) == lite


def test_append_of_one_day_equals_the_longer_run(tmp_path):
    simulate(
        _config(days=3, split=START + timedelta(days=2)),
        str(tmp_path / "a"),
        tmp_path / "a",
        files=False,
    )
    simulate(
        _config(days=2, split=START + timedelta(days=2)),
        str(tmp_path / "b"),
        tmp_path / "b",
        files=False,
    )
    simulate(_config(), str(tmp_path / "b"), tmp_path / "b", files=False, append_days=1)
    assert _dump(str(tmp_path / "b")) == _dump(str(tmp_path / "a"))
    for day in ("2026-11-01", "2026-11-02", "2026-11-03"):
        name = f"truth/dt={day}.json"
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    assert load_state(tmp_path / "b")["config"]["days"] == 3


def test_append_refuses_a_directory_without_a_simulation(tmp_path):
    with pytest.raises(SystemExit, match="no earlier simulation"):
        simulate(_config(), str(tmp_path), tmp_path, files=False, append_days=1)


def _truth(out: Path, day: str) -> dict:
    import json

    return json.loads((out / "truth" / f"dt={day}.json").read_text())


def _sql_figures(conn: sqlite3.Connection, split: bool) -> dict[str, dict]:
    """The truth's figures, recomputed with plain SQL over the source tables."""
    if split:
        orders = "svc_order.order_info"
        created, completed, cancelled = "gmt_create", "complete_time", "cancel_time"
        pay = "SELECT pay_time, amount_fen / 100.0 FROM svc_pay.pay_order WHERE pay_status = 1"
        refund = (
            "SELECT refund_time, refund_amount_fen / 100.0 FROM svc_pay.pay_refund "
            "WHERE refund_status = 1"
        )
        settle = (
            "SELECT settle_time, gross_fen / 100.0, fee_fen / 100.0, net_fen / 100.0 "
            "FROM svc_pay.pay_settlement WHERE settle_status = 1"
        )
        started = "SELECT service_start_time, master_id FROM svc_order.order_info"
    else:
        orders = "service_order"
        created, completed, cancelled = "created_at", "completed_at", "cancelled_at"
        pay = "SELECT paid_at, amount FROM payment WHERE status = 'success'"
        refund = "SELECT refunded_at, amount FROM refund WHERE status = 'success'"
        settle = (
            "SELECT settled_at, gross_amount, platform_fee, net_amount FROM settlement "
            "WHERE status = 'settled'"
        )
        started = "SELECT service_started_at, master_id FROM service_order"
    out: dict[str, dict] = defaultdict(lambda: defaultdict(Counter))
    for label, col in (("created", created), ("completed", completed), ("cancelled", cancelled)):
        for day, city, cat, n in conn.execute(
            f"SELECT substr(o.{col}, 1, 10), r.city_code, c.code, count(*) FROM {orders} o "
            "JOIN region r ON r.id = o.region_id JOIN service_category c ON c.id = o.category_id "
            f"WHERE o.{col} IS NOT NULL GROUP BY 1, 2, 3"
        ):
            out[day][label][(city, cat)] = n
    money = defaultdict(lambda: defaultdict(Decimal))
    for ts, amount in conn.execute(pay):
        money[ts[:10]]["gmv"] += Decimal(str(amount)).quantize(Decimal("0.01"))
        money[ts[:10]]["paid"] += 1
    for ts, amount in conn.execute(refund):
        money[ts[:10]]["refund"] += Decimal(str(amount)).quantize(Decimal("0.01"))
    for ts, gross, fee, net in conn.execute(settle):
        for key, value in (("gross", gross), ("fee", fee), ("net", net)):
            money[ts[:10]][key] += Decimal(str(value)).quantize(Decimal("0.01"))
    masters = defaultdict(set)
    for ts, master in conn.execute(started):
        if ts is not None:
            masters[ts[:10]].add(master)
    return {"orders": out, "money": money, "masters": masters}


def _nested(counter: Counter) -> dict:
    out: dict = defaultdict(dict)
    for (city, cat), n in sorted(counter.items()):
        out[city][cat] = n
    return dict(out)


@pytest.mark.parametrize("split", [False, True], ids=["monolith", "after-split"])
def test_ground_truth_agrees_with_plain_sql(tmp_path, split):
    config = _config(days=6, scale=0.05, split=START + timedelta(days=2) if split else None)
    simulate(config, str(tmp_path), tmp_path, files=False)
    conn = sqlite3.connect(tmp_path / "db" / "shifu.sqlite")
    if split:
        for name in ("svc_order", "svc_pay"):
            conn.execute(f"ATTACH DATABASE '{tmp_path / 'db' / name}.sqlite' AS {name}")
    figures = _sql_figures(conn, split)
    checked = 0
    for day in config.dates:
        key, truth = day.isoformat(), _truth(tmp_path, day.isoformat())
        orders, money = figures["orders"][key], figures["money"][key]
        assert truth["orders_created"] == _nested(orders["created"])
        assert truth["orders_completed"] == _nested(orders["completed"])
        assert truth["orders_cancelled"] == _nested(orders["cancelled"])
        assert Decimal(truth["gmv_yuan"]) == money["gmv"]
        assert truth["paid_orders"] == money["paid"]
        assert Decimal(truth["refunds"]["amount_yuan"]) == money["refund"]
        assert Decimal(truth["settlements"]["gross_yuan"]) == money["gross"]
        assert Decimal(truth["settlements"]["platform_fee_yuan"]) == money["fee"]
        assert Decimal(truth["settlements"]["net_yuan"]) == money["net"]
        assert truth["active_masters"] == len(figures["masters"][key])
        checked += truth["orders_created_total"] + truth["orders_completed_total"]
    assert checked > 1000, "the comparison must cover real volume"
    assert any(_truth(tmp_path, d.isoformat())["refunds"]["count"] for d in config.dates[1:])


def test_ground_truth_comparison_detects_a_wrong_figure(tmp_path):
    """The comparison above is not vacuous: one order moved to another day breaks it."""
    simulate(_config(days=2), str(tmp_path), tmp_path, files=False)
    conn = sqlite3.connect(tmp_path / "db" / "shifu.sqlite")
    conn.execute("UPDATE service_order SET created_at = '2026-11-02 09:00:00' WHERE id = 1")
    figures = _sql_figures(conn, split=False)
    assert _truth(tmp_path, "2026-11-01")["orders_created"] != _nested(
        figures["orders"]["2026-11-01"]["created"]
    )


def test_mariadb_binlog_holds_each_days_inserts_updates_and_deletes(tmp_path, binlog_mariadb):
    prefix = f"b{uuid.uuid4().hex[:8]}_"
    config = _config(days=2, scale=0.05)
    conn = pymysql.connect(**binlog_mariadb.connection_settings)
    with conn.cursor() as cur:
        cur.execute("SHOW MASTER STATUS")
        log_file, log_pos = cur.fetchone()[:2]
    simulate(config, binlog_mariadb.url, tmp_path, files=False, schema_prefix=prefix)
    stream = BinLogStreamReader(
        connection_settings=binlog_mariadb.connection_settings,
        server_id=replica_id(),
        pymysql_wrapper=NoReconnect((log_file, log_pos)),
        log_file=log_file,
        log_pos=log_pos,
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent, UpdateRowsEvent, DeleteRowsEvent],
        only_schemas=[f"{prefix}shifu"],
    )
    seen: dict[tuple[str, str, str], int] = Counter()
    try:
        for event in stream:
            day = datetime.fromtimestamp(event.timestamp, SHANGHAI).date().isoformat()
            kind = type(event).__name__.removesuffix("RowsEvent").lower()
            seen[(day, event.table, kind)] += len(event.rows)
    finally:
        stream.close()
    days = {d for d, _, _ in seen}
    assert days == {"2026-11-01", "2026-11-02"}, "commit times are the simulated days"
    for day in days:
        truth = _truth(tmp_path, day)
        assert seen[(day, "service_order", "write")] == truth["orders_created_total"]
        assert seen[(day, "service_order", "update")] > truth["orders_created_total"]
        assert seen[(day, "order_status_log", "write")] > 0
        assert seen[(day, "master_quote", "delete")] > 0, "withdrawn quotes are hard-deleted"
    with conn.cursor() as cur:
        cur.execute(f"SELECT count(*) FROM `{prefix}shifu`.`service_order`")
        assert cur.fetchone()[0] == sum(_truth(tmp_path, d)["orders_created_total"] for d in days)
        cur.execute(f"DROP DATABASE `{prefix}shifu`")
    conn.close()
