"""Which backend service answers a request path: the API gateways' routing table.

The warehouse derives `service` for nginx lines with the same table (requests and 5xx per
service in the daily truth). The first three segments of an /api/ path decide; other /api/
paths are answered by nginx itself ("gateway", 404); everything else is the web front end's
static files and single-page-app documents ("static"). Tracking collectors (c1, c2) have their
own ingress and never appear in the gateways' logs.
"""

from __future__ import annotations

import re

ROUTES: dict[str, str] = {
    "/api/v1/orders": "order-service",
    "/api/v1/quotes": "order-service",
    "/api/v1/dispatches": "master-service",
    "/api/v1/masters": "master-service",
    "/api/v1/payments": "pay-service",
    "/api/v1/wallet": "pay-service",
    "/api/v1/auth": "user-service",
    "/api/v1/users": "user-service",
    "/api/v1/notifications": "user-service",
    "/api/v1/config": "user-service",
    "/api/v1/search": "search-service",
}
GATEWAY = "gateway"
STATIC = "static"
APP_SERVICES = ("order-service", "pay-service", "master-service", "user-service", "search-service")

_API_PREFIX = re.compile(r"/api/[^/?]*/[^/?]*")


def route(path: str) -> str:
    """The service that answers a request target (a path with an optional query)."""
    if not path.startswith("/api/"):
        return STATIC
    return ROUTES.get(_API_PREFIX.match(path).group(), GATEWAY)
