"""The simulator's ground truth next to the warehouse's RPT figures, key by key."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

import duckdb

from simulator.devices import PLATFORMS
from simulator.routing import APP_SERVICES

# The relational figures of truth/dt=D.json the RPT layer reports.
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
    "new_merchants",
    "new_masters",
)
# The traffic figures: tracking events, nginx and application logs.
TRAFFIC_KEYS = (
    "dau_by_platform",
    "requests_by_service",
    "http_5xx_by_service",
    "app_errors_by_service",
)
KEYS = RELATIONAL_KEYS + TRAFFIC_KEYS
# Figures that late data can still change: final only LATE_DAYS after the day (tracking events
# arrive up to 72 hours late), compared only then.
LATE_KEYS = ("dau_by_platform",)
LATE_DAYS = 3


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
    active, reviews, score_sum, new_masters = _one(
        con,
        "select active_masters, reviews, review_score_sum, new_masters "
        "from rpt.rpt_masters__daily_activity where dt = ?",
        dt,
    )[:4]
    (new_merchants,) = _one(
        con, "select new_merchants from rpt.rpt_merchants__daily_activity where dt = ?", dt
    )[:1]
    dau = dict(
        con.execute(
            "select platform, daily_active_users from rpt.rpt_traffic__dau_daily where dt = ?",
            [dt],
        ).fetchall()
    )
    services = con.execute(
        "select service, api_requests, http_5xx, app_errors "
        "from rpt.rpt_ops__api_daily_by_service where dt = ? order by service",
        [dt],
    ).fetchall()
    app_errors = {service: errors for service, _, _, errors in services}
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
        "new_merchants": new_merchants or 0,
        "new_masters": new_masters or 0,
        "dau_by_platform": {platform: dau.get(platform, 0) for platform in PLATFORMS},
        "requests_by_service": {s: requests for s, requests, _, _ in services if requests},
        "http_5xx_by_service": {s: errors for s, requests, errors, _ in services if requests},
        "app_errors_by_service": {s: app_errors.get(s, 0) for s in APP_SERVICES},
    }


def differences(
    truth: dict[str, Any], reported: dict[str, Any], keys: tuple[str, ...] = KEYS
) -> dict[str, tuple]:
    """{key: (truth, RPT)} for every figure of `keys` that differs (empty: reconciled)."""
    return {key: (truth[key], reported[key]) for key in keys if truth[key] != reported[key]}


def final_keys(dt: str, last_dt: str) -> tuple[str, ...]:
    """The keys that are final for day `dt` in a lake whose newest day is `last_dt`."""
    days_after = (date.fromisoformat(last_dt) - date.fromisoformat(dt)).days
    return KEYS if days_after >= LATE_DAYS else tuple(k for k in KEYS if k not in LATE_KEYS)
