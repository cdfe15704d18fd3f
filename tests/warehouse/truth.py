"""The simulator's ground truth next to the warehouse's RPT figures, key by key."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

import duckdb

# The relational figures of truth/dt=D.json the RPT layer reports (traffic figures come later).
RELATIONAL_KEYS = (
    "orders_created",
    "orders_completed",
    "orders_cancelled",
    "gmv_yuan",
    "gmv_by_city_yuan",
    "paid_orders",
    "refunds",
    "settlements",
    "active_masters",
    "reviews",
    "review_score_sum",
    "complaints",
)


def _yuan(value: Decimal | None) -> str:
    return f"{(value or Decimal(0)):.2f}"


def _one(con: duckdb.DuckDBPyConnection, sql: str, dt: str) -> tuple:
    row = con.execute(sql, [dt]).fetchone()
    return row if row is not None else (None,) * 8


def rpt_figures(con: duckdb.DuckDBPyConnection, dt: str) -> dict[str, Any]:
    """The day's figures as the RPT layer reports them, shaped like truth/dt=D.json."""
    by_city: dict[str, dict] = {
        "orders_created": defaultdict(dict),
        "orders_completed": defaultdict(dict),
        "orders_cancelled": defaultdict(dict),
    }
    complaints = 0
    rows = con.execute(
        "select city_code, category_code, orders_created, orders_completed, orders_cancelled, "
        "complaints from rpt.rpt_orders__daily_by_city where dt = ? "
        "order by city_code, category_code",
        [dt],
    ).fetchall()
    for city, category, created, completed, cancelled, complained in rows:
        for key, value in (
            ("orders_created", created),
            ("orders_completed", completed),
            ("orders_cancelled", cancelled),
        ):
            if value:
                by_city[key][city][category] = value
        complaints += complained
    gmv, paid, refunds, refund_amount = _one(
        con,
        "select gmv_yuan, paid_orders, refunds_count, refund_amount_yuan "
        "from rpt.rpt_finance__gmv_daily where dt = ?",
        dt,
    )[:4]
    gmv_by_city = dict(
        con.execute(
            "select city_code, gmv_yuan from rpt.rpt_finance__gmv_daily_by_city "
            "where dt = ? and paid_orders > 0 order by city_code",
            [dt],
        ).fetchall()
    )
    settled = _one(
        con,
        "select settlements_count, settlement_gross_yuan, platform_fee_yuan, settlement_net_yuan "
        "from rpt.rpt_finance__settlements_daily where dt = ?",
        dt,
    )
    active, reviews, score_sum = _one(
        con,
        "select active_masters, reviews, review_score_sum "
        "from rpt.rpt_masters__daily_activity where dt = ?",
        dt,
    )[:3]
    return {
        **{key: {c: dict(v) for c, v in value.items()} for key, value in by_city.items()},
        "gmv_yuan": _yuan(gmv),
        "gmv_by_city_yuan": {city: _yuan(value) for city, value in gmv_by_city.items()},
        "paid_orders": paid or 0,
        "refunds": {"count": refunds or 0, "amount_yuan": _yuan(refund_amount)},
        "settlements": {
            "count": settled[0] or 0,
            "gross_yuan": _yuan(settled[1]),
            "platform_fee_yuan": _yuan(settled[2]),
            "net_yuan": _yuan(settled[3]),
        },
        "active_masters": active or 0,
        "reviews": reviews or 0,
        "review_score_sum": score_sum or 0,
        "complaints": complaints,
    }


def differences(truth: dict[str, Any], reported: dict[str, Any]) -> dict[str, tuple]:
    """{key: (truth, RPT)} for every relational figure that differs (empty: reconciled)."""
    return {
        key: (truth[key], reported[key]) for key in RELATIONAL_KEYS if truth[key] != reported[key]
    }
