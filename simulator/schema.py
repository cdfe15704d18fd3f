"""The marketplace's OLTP tables: the monolith `shifu` and, after the microservice split,
`svc_order`, `svc_pay` and `svc_master`.

The business simulation speaks only in monolith terms (logical tables and columns). After the
split, `translate_row` maps a logical row to the service that now owns it: tables and columns are
renamed, money moves from yuan DECIMAL to fen BIGINT, statuses from strings to codes, the master's
skills from a JSON column to rows of `master_skill`. That is exactly the change the warehouse's DW
layer has to absorb.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    PrimaryKeyConstraint,
    SmallInteger,
    String,
    Table,
    Text,
)

MONOLITH = "shifu"
SERVICES = ("svc_order", "svc_pay", "svc_master")


def _money() -> Numeric:
    return Numeric(12, 2, asdecimal=True)


def _audit(*, deleted: bool = False, updated: bool = True) -> list[Column]:
    cols = [Column("created_at", DateTime, nullable=False)]
    if updated:
        cols.append(Column("updated_at", DateTime, nullable=False))
    if deleted:
        cols.append(Column("is_deleted", SmallInteger, nullable=False, server_default="0"))
    return cols


def build_monolith(metadata: MetaData, schema: str) -> dict[str, Table]:
    """The monolith's tables, as the original PHP-turned-Java application created them."""
    t = {}
    t["region"] = Table(
        "region",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("province", String(32), nullable=False),
        Column("city", String(32), nullable=False),
        Column("city_code", String(8), nullable=False),
        Column("district", String(32), nullable=False),
        Column("lat", Numeric(9, 6), nullable=False),
        Column("lng", Numeric(9, 6), nullable=False),
        *_audit(),
        schema=schema,
    )
    t["service_category"] = Table(
        "service_category",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=False),
        Column("parent_id", Integer),
        Column("code", String(32), nullable=False),
        Column("name_zh", String(32), nullable=False),
        Column("name_en", String(64), nullable=False),
        Column("base_price", _money(), nullable=False),
        Column("platform_fee_rate", Numeric(5, 4), nullable=False),
        *_audit(),
        schema=schema,
    )
    t["user_account"] = Table(
        "user_account",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("role", String(16), nullable=False),
        Column("phone", String(20), nullable=False),
        Column("nickname", String(64)),
        Column("register_channel", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        *_audit(deleted=True),
        schema=schema,
    )
    t["merchant"] = Table(
        "merchant",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("user_id", BigInteger, nullable=False),
        Column("merchant_name", String(128), nullable=False),
        Column("merchant_type", String(32), nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("contact_name", String(64), nullable=False),
        Column("contact_phone", String(20), nullable=False),
        Column("level", String(16), nullable=False),
        *_audit(deleted=True),
        schema=schema,
    )
    t["master"] = Table(
        "master",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("user_id", BigInteger, nullable=False),
        Column("real_name", String(64), nullable=False),
        Column("phone", String(20), nullable=False),
        Column("id_card_no", String(18), nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("home_lat", Numeric(9, 6), nullable=False),
        Column("home_lng", Numeric(9, 6), nullable=False),
        Column("service_radius_km", Integer, nullable=False),
        Column("skills", JSON, nullable=False),
        Column("status", String(16), nullable=False),
        Column("credit_level", SmallInteger, nullable=False),
        Column("rating_avg", Numeric(3, 2)),
        Column("completed_orders", Integer, nullable=False),
        *_audit(deleted=True),
        schema=schema,
    )
    t["customer"] = Table(
        "customer",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("user_id", BigInteger),
        Column("name", String(64), nullable=False),
        Column("phone", String(20), nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("address", String(255), nullable=False),
        Column("lat", Numeric(9, 6), nullable=False),
        Column("lng", Numeric(9, 6), nullable=False),
        *_audit(),
        schema=schema,
    )
    t["service_order"] = Table(
        "service_order",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_no", String(32), nullable=False, unique=True),
        Column("merchant_id", BigInteger, nullable=False),
        Column("customer_id", BigInteger, nullable=False),
        Column("category_id", Integer, nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("service_address", String(255), nullable=False),
        Column("lat", Numeric(9, 6), nullable=False),
        Column("lng", Numeric(9, 6), nullable=False),
        Column("dispatch_mode", String(8), nullable=False),
        Column("status", String(16), nullable=False),
        Column("order_amount", _money()),
        Column("master_id", BigInteger),
        Column("appointment_start", DateTime, nullable=False),
        Column("appointment_end", DateTime, nullable=False),
        Column("remark", String(255)),
        Column("cancel_reason", String(32)),
        Column("assigned_at", DateTime),
        Column("scheduled_at", DateTime),
        Column("service_started_at", DateTime),
        Column("finished_at", DateTime),
        Column("completed_at", DateTime),
        Column("cancelled_at", DateTime),
        *_audit(deleted=True),
        schema=schema,
    )
    t["order_status_log"] = Table(
        "order_status_log",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("from_status", String(16)),
        Column("to_status", String(16), nullable=False),
        Column("operator_role", String(16), nullable=False),
        Column("operator_id", BigInteger),
        *_audit(updated=False),
        schema=schema,
    )
    t["master_quote"] = Table(
        "master_quote",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("amount", _money(), nullable=False),
        Column("distance_m", Integer, nullable=False),
        Column("status", String(16), nullable=False),
        *_audit(),
        schema=schema,
    )
    t["order_dispatch"] = Table(
        "order_dispatch",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("dispatch_type", String(8), nullable=False),
        Column("distance_m", Integer, nullable=False),
        Column("result", String(16), nullable=False),
        Column("dispatched_at", DateTime, nullable=False),
        Column("responded_at", DateTime),
        *_audit(),
        schema=schema,
    )
    t["payment"] = Table(
        "payment",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("payment_no", String(32), nullable=False, unique=True),
        Column("order_id", BigInteger, nullable=False),
        Column("merchant_id", BigInteger, nullable=False),
        Column("amount", _money(), nullable=False),
        Column("channel", String(16), nullable=False),
        Column("status", String(16), nullable=False),
        Column("paid_at", DateTime),
        *_audit(),
        schema=schema,
    )
    t["refund"] = Table(
        "refund",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("refund_no", String(32), nullable=False, unique=True),
        Column("order_id", BigInteger, nullable=False),
        Column("payment_id", BigInteger, nullable=False),
        Column("amount", _money(), nullable=False),
        Column("reason", String(32), nullable=False),
        Column("status", String(16), nullable=False),
        Column("refunded_at", DateTime),
        *_audit(),
        schema=schema,
    )
    t["settlement"] = Table(
        "settlement",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("gross_amount", _money(), nullable=False),
        Column("platform_fee", _money(), nullable=False),
        Column("net_amount", _money(), nullable=False),
        Column("status", String(16), nullable=False),
        Column("settled_at", DateTime),
        *_audit(),
        schema=schema,
    )
    # Reviews have no updated_at: follow-up comments rewrite `content` in place, so an
    # incremental load by timestamp misses them (a real trap, kept on purpose).
    t["review"] = Table(
        "review",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("customer_id", BigInteger, nullable=False),
        Column("score", SmallInteger, nullable=False),
        Column("content", Text),
        *_audit(updated=False),
        schema=schema,
    )
    t["complaint"] = Table(
        "complaint",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("complainant_role", String(16), nullable=False),
        Column("complaint_type", String(16), nullable=False),
        Column("content", Text),
        Column("status", String(16), nullable=False),
        Column("resolution", String(16)),
        Column("resolved_at", DateTime),
        *_audit(),
        schema=schema,
    )
    return t


# ---- the split ------------------------------------------------------------------------------

ORDER_STATUS_CODE = {
    "created": 10,
    "quoting": 20,
    "assigned": 30,
    "scheduled": 40,
    "in_service": 50,
    "completed": 60,
    "cancelled": 70,
    "refunded": 80,
}
PAY_STATUS_CODE = {"pending": 0, "success": 1, "failed": 2}
REFUND_STATUS_CODE = {"pending": 0, "success": 1}
SETTLE_STATUS_CODE = {"pending": 0, "settled": 1}
MASTER_STATUS_CODE = {"pending": 0, "active": 1, "suspended": 2, "left": 9}


def _gmt(name: str) -> Column:
    return Column(name, DateTime, nullable=False)


def build_services(metadata: MetaData, schemas: dict[str, str]) -> dict[str, Table]:
    """The services' tables after the split; `schemas` maps logical to physical schema names."""
    so, sp, sm = schemas["svc_order"], schemas["svc_pay"], schemas["svc_master"]
    t = {}
    t["order_info"] = Table(
        "order_info",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_no", String(32), nullable=False, unique=True),
        Column("merchant_id", BigInteger, nullable=False),
        Column("customer_id", BigInteger, nullable=False),
        Column("category_id", Integer, nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("service_address", String(255), nullable=False),
        Column("latitude", Numeric(9, 6), nullable=False),
        Column("longitude", Numeric(9, 6), nullable=False),
        Column("dispatch_mode", String(8), nullable=False),
        Column("order_status", SmallInteger, nullable=False),
        Column("order_amount_fen", BigInteger),
        Column("master_id", BigInteger),
        Column("appointment_start", DateTime, nullable=False),
        Column("appointment_end", DateTime, nullable=False),
        Column("remark", String(255)),
        Column("cancel_reason", String(32)),
        Column("assigned_time", DateTime),
        Column("scheduled_time", DateTime),
        Column("service_start_time", DateTime),
        Column("finish_time", DateTime),
        Column("complete_time", DateTime),
        Column("cancel_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        Column("deleted", SmallInteger, nullable=False, server_default="0"),
        schema=so,
    )
    t["order_status_history"] = Table(
        "order_status_history",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("from_status", SmallInteger),
        Column("to_status", SmallInteger, nullable=False),
        Column("operator_role", String(16), nullable=False),
        Column("operator_id", BigInteger),
        _gmt("gmt_create"),
        schema=so,
    )
    t["order_quote"] = Table(
        "order_quote",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("quote_amount_fen", BigInteger, nullable=False),
        Column("distance_m", Integer, nullable=False),
        Column("quote_status", String(16), nullable=False),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=so,
    )
    t["order_dispatch"] = Table(
        "order_dispatch",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("dispatch_type", String(8), nullable=False),
        Column("distance_m", Integer, nullable=False),
        Column("dispatch_result", String(16), nullable=False),
        Column("dispatch_time", DateTime, nullable=False),
        Column("respond_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=so,
    )
    t["order_review"] = Table(
        "order_review",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("customer_id", BigInteger, nullable=False),
        Column("score", SmallInteger, nullable=False),
        Column("content", Text),
        _gmt("gmt_create"),
        schema=so,
    )
    t["order_complaint"] = Table(
        "order_complaint",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("complainant_role", String(16), nullable=False),
        Column("complaint_type", String(16), nullable=False),
        Column("content", Text),
        Column("complaint_status", String(16), nullable=False),
        Column("resolution", String(16)),
        Column("resolve_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=so,
    )
    t["pay_order"] = Table(
        "pay_order",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("pay_no", String(32), nullable=False, unique=True),
        Column("order_id", BigInteger, nullable=False),
        Column("merchant_id", BigInteger, nullable=False),
        Column("amount_fen", BigInteger, nullable=False),
        Column("pay_channel", String(16), nullable=False),
        Column("pay_status", SmallInteger, nullable=False),
        Column("pay_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=sp,
    )
    t["pay_refund"] = Table(
        "pay_refund",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("refund_no", String(32), nullable=False, unique=True),
        Column("order_id", BigInteger, nullable=False),
        Column("pay_id", BigInteger, nullable=False),
        Column("refund_amount_fen", BigInteger, nullable=False),
        Column("reason", String(32), nullable=False),
        Column("refund_status", SmallInteger, nullable=False),
        Column("refund_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=sp,
    )
    t["pay_settlement"] = Table(
        "pay_settlement",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("order_id", BigInteger, nullable=False),
        Column("master_id", BigInteger, nullable=False),
        Column("gross_fen", BigInteger, nullable=False),
        Column("fee_fen", BigInteger, nullable=False),
        Column("net_fen", BigInteger, nullable=False),
        Column("settle_status", SmallInteger, nullable=False),
        Column("settle_time", DateTime),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        schema=sp,
    )
    t["master_profile"] = Table(
        "master_profile",
        metadata,
        Column("id", BigInteger, primary_key=True, autoincrement=False),
        Column("user_id", BigInteger, nullable=False),
        Column("real_name", String(64), nullable=False),
        Column("mobile", String(20), nullable=False),
        Column("id_card_no", String(18), nullable=False),
        Column("region_id", Integer, nullable=False),
        Column("home_latitude", Numeric(9, 6), nullable=False),
        Column("home_longitude", Numeric(9, 6), nullable=False),
        Column("service_radius_m", Integer, nullable=False),
        Column("master_status", SmallInteger, nullable=False),
        Column("credit_level", SmallInteger, nullable=False),
        Column("rating_avg", Numeric(3, 2)),
        Column("completed_orders", Integer, nullable=False),
        _gmt("gmt_create"),
        _gmt("gmt_modified"),
        Column("deleted", SmallInteger, nullable=False, server_default="0"),
        schema=sm,
    )
    t["master_skill"] = Table(
        "master_skill",
        metadata,
        Column("master_id", BigInteger, nullable=False),
        Column("category_code", String(32), nullable=False),
        _gmt("gmt_create"),
        PrimaryKeyConstraint("master_id", "category_code"),
        schema=sm,
    )
    return t


def to_fen(value: Decimal | None) -> int | None:
    """Yuan to integer fen, exactly (SQLite hands money back as float: go through its repr)."""
    return None if value is None else int((Decimal(str(value)) * 100).to_integral_value())


@dataclass(frozen=True)
class Route:
    """Where a logical (monolith) table lives after the split, and how its columns change."""

    service: str  # logical schema: svc_order | svc_pay | svc_master
    table: str
    columns: dict[str, tuple[str, Callable | None]]  # logical column -> (physical, transform)


_TIME = {"created_at": "gmt_create", "updated_at": "gmt_modified", "is_deleted": "deleted"}


def _route(service, table, renames=None, transforms=None) -> Route:
    renames = {**_TIME, **(renames or {})}
    transforms = transforms or {}
    cols = {k: (v, transforms.get(k)) for k, v in renames.items()}
    for k, fn in transforms.items():
        if k not in cols:
            cols[k] = (k, fn)
    return Route(service, table, cols)


def _code(mapping):
    return lambda v: None if v is None else mapping[v]


SPLIT_ROUTES: dict[str, Route] = {
    "service_order": _route(
        "svc_order",
        "order_info",
        {
            "lat": "latitude",
            "lng": "longitude",
            "status": "order_status",
            "order_amount": "order_amount_fen",
            "assigned_at": "assigned_time",
            "scheduled_at": "scheduled_time",
            "service_started_at": "service_start_time",
            "finished_at": "finish_time",
            "completed_at": "complete_time",
            "cancelled_at": "cancel_time",
        },
        {"status": _code(ORDER_STATUS_CODE), "order_amount": to_fen},
    ),
    "order_status_log": _route(
        "svc_order",
        "order_status_history",
        {},
        {"from_status": _code(ORDER_STATUS_CODE), "to_status": _code(ORDER_STATUS_CODE)},
    ),
    "master_quote": _route(
        "svc_order",
        "order_quote",
        {"amount": "quote_amount_fen", "status": "quote_status"},
        {"amount": to_fen},
    ),
    "order_dispatch": _route(
        "svc_order",
        "order_dispatch",
        {
            "result": "dispatch_result",
            "dispatched_at": "dispatch_time",
            "responded_at": "respond_time",
        },
    ),
    "review": _route("svc_order", "order_review"),
    "complaint": _route(
        "svc_order",
        "order_complaint",
        {"status": "complaint_status", "resolved_at": "resolve_time"},
    ),
    "payment": _route(
        "svc_pay",
        "pay_order",
        {
            "payment_no": "pay_no",
            "amount": "amount_fen",
            "channel": "pay_channel",
            "status": "pay_status",
            "paid_at": "pay_time",
        },
        {"amount": to_fen, "status": _code(PAY_STATUS_CODE)},
    ),
    "refund": _route(
        "svc_pay",
        "pay_refund",
        {
            "payment_id": "pay_id",
            "amount": "refund_amount_fen",
            "status": "refund_status",
            "refunded_at": "refund_time",
        },
        {"amount": to_fen, "status": _code(REFUND_STATUS_CODE)},
    ),
    "settlement": _route(
        "svc_pay",
        "pay_settlement",
        {
            "gross_amount": "gross_fen",
            "platform_fee": "fee_fen",
            "net_amount": "net_fen",
            "status": "settle_status",
            "settled_at": "settle_time",
        },
        {
            "gross_amount": to_fen,
            "platform_fee": to_fen,
            "net_amount": to_fen,
            "status": _code(SETTLE_STATUS_CODE),
        },
    ),
    "master": _route(
        "svc_master",
        "master_profile",
        {
            "phone": "mobile",
            "home_lat": "home_latitude",
            "home_lng": "home_longitude",
            "service_radius_km": "service_radius_m",
            "status": "master_status",
        },
        {"service_radius_km": lambda km: km * 1000, "status": _code(MASTER_STATUS_CODE)},
    ),
}

# Tables that stay in the monolith after the split.
MONOLITH_KEEPS = ("region", "service_category", "user_account", "merchant", "customer")


def translate_row(table: str, values: dict) -> tuple[Route, dict]:
    """Map a logical row (or partial row, for updates) to its post-split table and columns.

    The master's `skills` column is not carried: skills become rows of `master_skill`, which
    the writer maintains from the before and after lists.
    """
    route = SPLIT_ROUTES[table]
    out = {}
    for col, value in values.items():
        if table == "master" and col == "skills":
            continue
        physical, fn = route.columns.get(col, (col, None))
        out[physical] = fn(value) if fn is not None else value
    return route, out


def skills_json(skills: list[str]) -> str:
    return json.dumps(sorted(skills), separators=(",", ":"))
