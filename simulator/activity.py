"""The business actions of a day: what people did, handed from the business simulation to the
traffic generator (nginx logs, application logs, tracking events).

Every action is something a person did in an app or web page that the backend accepted, at the
moment the backend accepted it. The traffic generator wraps each one in a session, API requests
and tracking events, so that an order in the database, its POST in nginx, its line in the order
service's log and its `order_submit` event all agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# kind -> (role of the actor, HTTP method, path template, service that handles it)
ACTION_KINDS: dict[str, tuple[str, str, str, str]] = {
    "register": ("any", "POST", "/api/v1/auth/register", "user-service"),
    "order_submit": ("merchant", "POST", "/api/v1/orders", "order-service"),
    "order_cancel": ("merchant", "POST", "/api/v1/orders/{order_id}/cancel", "order-service"),
    "quote_submit": ("master", "POST", "/api/v1/orders/{order_id}/quotes", "order-service"),
    "quote_withdraw": (
        "master",
        "DELETE",
        "/api/v1/orders/{order_id}/quotes/{quote_id}",
        "order-service",
    ),
    "quote_accept": (
        "merchant",
        "POST",
        "/api/v1/orders/{order_id}/quotes/{quote_id}/accept",
        "order-service",
    ),
    "dispatch_accept": (
        "master",
        "POST",
        "/api/v1/dispatches/{dispatch_id}/accept",
        "master-service",
    ),
    "dispatch_decline": (
        "master",
        "POST",
        "/api/v1/dispatches/{dispatch_id}/decline",
        "master-service",
    ),
    "schedule_confirm": ("master", "POST", "/api/v1/orders/{order_id}/schedule", "order-service"),
    "service_checkin": ("master", "POST", "/api/v1/orders/{order_id}/checkin", "order-service"),
    "service_finish": ("master", "POST", "/api/v1/orders/{order_id}/finish", "order-service"),
    "order_confirm": ("customer", "POST", "/api/v1/orders/{order_id}/confirm", "order-service"),
    "payment_submit": ("merchant", "POST", "/api/v1/payments", "pay-service"),
    "review_submit": ("customer", "POST", "/api/v1/orders/{order_id}/reviews", "order-service"),
    "complaint_submit": (
        "customer",
        "POST",
        "/api/v1/orders/{order_id}/complaints",
        "order-service",
    ),
}


@dataclass(frozen=True, slots=True)
class Actor:
    """A person with an account who can act in an app (user_account row)."""

    user_id: int
    role: str  # customer | merchant | master
    city_code: str
    registered_at: datetime
    platform: str  # preferred platform: web | h5 | ios | android | miniprogram


@dataclass(frozen=True, slots=True)
class Action:
    """One accepted backend call made by a person. `ts` is naive Asia/Shanghai wall time."""

    ts: datetime
    kind: str  # a key of ACTION_KINDS
    user_id: int  # user_account.id of the actor
    role: str  # customer | merchant | master
    city_code: str
    order_id: int | None = None
    order_no: str | None = None
    category_code: str | None = None
    amount_fen: int | None = None  # money in the action, when there is some
    quote_id: int | None = None
    dispatch_id: int | None = None
    score: int | None = None  # review score

    def path(self) -> str:
        template = ACTION_KINDS[self.kind][2]
        return template.format(
            order_id=self.order_id, quote_id=self.quote_id, dispatch_id=self.dispatch_id
        )
