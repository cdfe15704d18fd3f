"""The API gateways' nginx access logs: which service a path goes to, what each request got
back, and the lines nginx writes.

log_format (combined + timing + request id):
    $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent
    "$http_referer" "$http_user_agent" $request_time $upstream_response_time $request_id

nginx escapes `"`, `\\` and bytes outside 0x20-0x7E in these fields as \\xHH (escape=default),
so a quote in a user agent appears as \\x22 and UTF-8 as \\xE8\\x8D.... $upstream_response_time
is `-` when no upstream was asked (static files, 499s, 502 with no live upstream) and lists
several times ("0.001, 0.000") when nginx tried a second upstream.

Which service a path goes to is simulator.routing's table; tracking collectors have their own
ingress and are not in these logs.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property

from simulator.activity import ACTION_KINDS, Action
from simulator.devices import FETCHING_BOT_UAS, SCANNER_UAS, draw_bot_ip
from simulator.randomness import FastRandom
from simulator.routing import APP_SERVICES, GATEWAY, STATIC, route
from simulator.screens import PAGES
from simulator.sessions import DAY_MS, TAG_LOGIN, SessionBuilder

# Status of a plain API GET: (upper bound of a uniform draw, status).
_GET_STATUS = (
    (0.0015, 500),
    (0.0020, 502),
    (0.0025, 504),
    (0.0055, 499),
    (0.0135, 401),
    (0.0155, 404),
    (0.0165, 400),
)
_SUCCESS_STATUS = {
    "register": 201,
    "order_submit": 201,
    "quote_submit": 201,
    "payment_submit": 201,
    "review_submit": 201,
    "complaint_submit": 201,
}
_BODY = {
    "order-service": (800, 6000),
    "pay-service": (200, 2000),
    "master-service": (500, 4000),
    "user-service": (150, 1500),
    "search-service": (2000, 15000),
    GATEWAY: (150, 160),
    STATIC: (2100, 2600),
}
_ERROR_BODY = {500: 98, 502: 157, 504: 167, 404: 153, 401: 61, 400: 88, 429: 73, 499: 0}
_ASSET_BYTES = {"js": 412_337, "css": 58_211, "png": 7_864, "woff2": 23_180}
# Share of actions whose first attempt failed (500 from the service, 502/504 from nginx).
ACTION_RETRY_SHARE = 0.015
# Share of the day's nginx lines from crawlers, scrapers and scanners (no tracking events).
CRAWLER_SHARE = 0.012

SCAN_PATHS = (
    "/wp-login.php",
    "/.env",
    "/.git/config",
    "/phpmyadmin/index.php",
    "/actuator/env",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/cgi-bin/luci/;stok=/locale",
    "/api/v2/debug/vars",
    "/admin/config.php",
    "/solr/admin/info/system?wt=json",
    "/index.php?s=/Index/\\think\\app/invokefunction&function=call_user_func_array",
)
# What reaches nginx when a client speaks TLS to the plain port, or connects and says nothing.
_GARBAGE_REQUESTS = ("\\x16\\x03\\x01\\x02\\x00\\x01\\x00\\x01\\xFC\\x03\\x03", "-")

# (request end ms since midnight, host, ip, method or None, path or raw request, protocol,
#  status, body bytes, referer or None, user agent, request ms, upstream time text, service)
Request = tuple[int, int, str, str | None, str, str, int, int, str | None, str, int, str, str]


def gateway_hosts(scale: float) -> list[str]:
    """The nginx hosts behind the load balancer: four at full scale, fewer for small runs."""
    return [f"gw-{k:02d}" for k in range(1, max(1, min(4, round(4 * scale**0.5))) + 1)]


@dataclass
class AccessLog:
    """A day's requests, with the hooks the application logs hang off them."""

    requests: list[Request] = field(default_factory=list)
    # (ms, service, kind, request index, detail): what the handling service logs about a request
    hooks: list[tuple[int, str, str, int, object]] = field(default_factory=list)
    cut: dict[int, float] = field(default_factory=dict)  # truncated lines: request -> where
    ids: bytes = b""  # 16 random bytes per request: its $request_id

    @cached_property
    def hex_ids(self) -> str:
        """All request ids as one hex string: request k's $request_id is [32k, 32k + 32)."""
        return self.ids.hex()

    def request_id(self, k: int) -> str:
        return self.hex_ids[32 * k : 32 * k + 32]


def _fmt_seconds(ms: int) -> str:
    return f"{ms // 1000}.{ms % 1000:03d}"


class AccessLogBuilder:
    """Turns the sessions' intents into requests, adds crawlers, retries and polling up to the
    day's volume, and picks the lines that get truncated."""

    def __init__(self, rng: FastRandom, builder: SessionBuilder, n_hosts: int) -> None:
        self.rng = rng
        self.b = builder
        self.n_hosts = n_hosts
        self.log = AccessLog()

    def _add(
        self,
        t_end: int,
        ip: str,
        method: str | None,
        path: str,
        proto: str,
        status: int,
        nbytes: int,
        referer: str | None,
        ua: str,
        rt: int,
        upstream: str,
        service: str,
    ) -> int:
        t_end = min(max(t_end, 0), DAY_MS - 1)
        self.log.requests.append(
            (
                t_end,
                self.rng.below(self.n_hosts),
                ip,
                method,
                path,
                proto,
                status,
                nbytes,
                referer,
                ua,
                rt,
                upstream,
                service,
            )
        )
        return len(self.log.requests) - 1

    def _hook(self, t: int, service: str, kind: str, req: int, detail: object = None) -> None:
        self.log.hooks.append((min(max(t, 0), DAY_MS - 1), service, kind, req, detail))

    def _api(
        self,
        t: int,
        ip: str,
        method: str,
        path: str,
        proto: str,
        referer: str | None,
        ua: str,
        service: str,
        status: int = 200,
    ) -> int:
        """One API request answered by `service` (or by nginx for 502/504/499)."""
        rng = self.rng
        if status == 504:
            rt = 60_000 + rng.between(1, 9)
            return self._add(
                t + rt,
                ip,
                method,
                path,
                proto,
                504,
                _ERROR_BODY[504],
                referer,
                ua,
                rt,
                _fmt_seconds(rt - 1),
                service,
            )
        if status == 502:
            rt = rng.between(0, 4)
            upstream = "-" if rng.random() < 0.4 else f"0.00{rng.between(0, 3)}, 0.000"
            return self._add(
                t + rt,
                ip,
                method,
                path,
                proto,
                502,
                _ERROR_BODY[502],
                referer,
                ua,
                rt,
                upstream,
                service,
            )
        if status == 499:
            rt = rng.between(1000, 15_000)
            return self._add(t + rt, ip, method, path, proto, 499, 0, referer, ua, rt, "-", service)
        r = rng.random()
        rt = 4 + int(300 * r**3) if r < 0.99 else rng.between(1000, 6000)
        if status == 200:
            lo, hi = _BODY.get(service, (200, 2000))
            nbytes = rng.between(lo, hi)
        else:
            nbytes = _ERROR_BODY.get(status, 120)
        req = self._add(
            t + rt,
            ip,
            method,
            path,
            proto,
            status,
            nbytes,
            referer,
            ua,
            rt,
            _fmt_seconds(max(rt - rng.between(0, 3), 0)),
            service,
        )
        if service in APP_SERVICES:
            if status == 500:
                self._hook(t + rt - 2, service, "error", req)
            elif status == 401:
                self._hook(t + 2, service, "unauthorized", req)
            elif status == 400:
                self._hook(t + rt - 1, service, "invalid", req)
            elif status == 429:
                self._hook(t + 1, service, "rate_limited", req)
            elif rt >= 2000:
                self._hook(t + rt - 1, service, "slow", req)
        return req

    def _static(self, t: int, ip: str, path: str, proto: str, referer: str | None, ua: str) -> None:
        rng = self.rng
        ext = path.rsplit(".", 1)[-1] if path.startswith("/static/") else ""
        if ext:
            status = 304 if rng.random() < 0.6 else 200
            nbytes = 0 if status == 304 else _ASSET_BYTES.get(ext, 10_000)
        else:
            status, nbytes = 200, rng.between(2100, 2600)
            if path == "/robots.txt":
                nbytes = 312
        rt = rng.between(0, 3) if status == 304 or not ext else rng.between(2, 120)
        self._add(t + rt, ip, "GET", path, proto, status, nbytes, referer, ua, rt, "-", STATIC)

    def add_intents(self, actions: list[Action]) -> None:
        """Every request the sessions made: page loads, API calls, logins and actions."""
        sessions = self.b.sessions
        login_user = self.b.login_user
        for k, (t, s, method, path, referer, tag, service) in enumerate(self.b.intents):
            sess = sessions[s]
            proto = "HTTP/2.0" if sess.http2 else "HTTP/1.1"
            if tag >= 0:
                self._action(t, sess.ip, sess.ua, proto, referer, tag, actions[tag])
            elif service == STATIC:
                self._static(t, sess.ip, path, proto, referer, sess.ua)
            elif tag == TAG_LOGIN:
                req = self._api(t, sess.ip, method, path, proto, referer, sess.ua, service)
                self._hook(t + 5, service, "login", req, login_user[k])
            else:
                self._plain_get(t, sess.ip, method, path, proto, referer, sess.ua, service)

    def _plain_get(
        self,
        t: int,
        ip: str,
        method: str,
        path: str,
        proto: str,
        referer: str | None,
        ua: str,
        service: str,
    ) -> None:
        rng = self.rng
        r = rng.random()
        if r >= _GET_STATUS[-1][0]:
            # The common case, inlined: a million of these a day.
            r = rng.random()
            rt = 4 + int(300 * r * r * r) if r < 0.99 else rng.between(1000, 6000)
            lo, hi = _BODY.get(service, (200, 2000))
            end = t + rt
            upstream = max(rt - int(rng.random() * 3), 0)
            req = len(self.log.requests)
            self.log.requests.append(
                (
                    end if 0 <= end < DAY_MS else min(max(end, 0), DAY_MS - 1),
                    int(rng.random() * self.n_hosts),
                    ip,
                    method,
                    path,
                    proto,
                    200,
                    lo + int(rng.random() * (hi - lo)),
                    referer,
                    ua,
                    rt,
                    f"{upstream // 1000}.{upstream % 1000:03d}",
                    service,
                )
            )
            if rt >= 2000 and service in APP_SERVICES:
                self._hook(end - 1, service, "slow", req)
            return
        status = 200
        for bound, code in _GET_STATUS:
            if r < bound:
                status = code
                break
        req = self._api(t, ip, method, path, proto, referer, ua, service, status)
        if status == 401:  # the app refreshes its token and tries again
            t2 = self.log.requests[req][0] + 40
            self._api(t2, ip, "POST", "/api/v1/auth/refresh", proto, referer, ua, "user-service")
            self._api(t2 + 90, ip, method, path, proto, referer, ua, service)

    def _action(
        self, t: int, ip: str, ua: str, proto: str, referer: str | None, i: int, action: Action
    ) -> None:
        """The accepted call of an action: committed at `t`, sometimes after a failed try."""
        rng = self.rng
        _role, method, _template, service = ACTION_KINDS[action.kind]
        path = action.path()
        if rng.random() < ACTION_RETRY_SHARE:
            r = rng.random()
            status = 500 if r < 0.6 else 502 if r < 0.8 else 504
            end = t - rng.between(1000, 8000)
            start = end - (60_000 if status == 504 else 150)
            if start >= 0:
                self._api(start, ip, method, path, proto, referer, ua, service, status)
        before, after = rng.between(10, 200), rng.between(5, 150)
        rt = before + after
        status = _SUCCESS_STATUS.get(action.kind, 200)
        lo, hi = _BODY.get(service, (200, 2000))
        req = self._add(
            t + after,
            ip,
            method,
            path,
            proto,
            status,
            rng.between(lo, hi) // 4,
            referer,
            ua,
            rt,
            _fmt_seconds(rt - rng.between(0, 3)),
            service,
        )
        # The service logs after its commit, before the response is out.
        self._hook(t + after // 3, service, "action", req, i)

    def add_crawlers(self, n_lines: int) -> None:
        """Search engines fetching pages, scrapers calling the search API, vulnerability
        scanners probing for admin pages, and clients that never send a proper request."""
        rng = self.rng
        made = 0
        page_names = ("home", "category", "master_profile")
        while made < n_lines:
            kind = rng.random()
            t = rng.below(DAY_MS - 3_600_000)
            if kind < 0.55:  # a search engine crawling pages
                ua = FETCHING_BOT_UAS[rng.below(4)]
                ip = draw_bot_ip(rng, ua)
                self._static(t, ip, "/robots.txt", "HTTP/1.1", None, ua)
                made += 1
                for _ in range(rng.between(2, 25)):
                    t += rng.between(500, 20_000)
                    page = PAGES[page_names[rng.below(3)]]
                    path = page.web.format(cat="furniture_install", mid=rng.between(100001, 160000))
                    self._static(t, ip, path, "HTTP/1.1", None, ua)
                    made += 1
            elif kind < 0.8:  # a script scraping masters and prices through the API
                ua = FETCHING_BOT_UAS[4 + rng.below(4)]
                ip = draw_bot_ip(rng, ua)
                for _ in range(rng.between(5, 60)):
                    t += rng.between(50, 1500)
                    status = 429 if rng.random() < 0.3 else 200
                    self._api(
                        t,
                        ip,
                        "GET",
                        f"/api/v1/search?q=%E5%AE%89%E8%A3%85&city=sh&page={rng.between(1, 50)}",
                        "HTTP/1.1",
                        None,
                        ua,
                        "search-service",
                        status,
                    )
                    made += 1
            elif kind < 0.97:  # a scanner
                ua = SCANNER_UAS[rng.below(len(SCANNER_UAS))]
                ip = draw_bot_ip(rng, "scanner")
                for path in rng.sample(SCAN_PATHS, rng.between(2, 6)):
                    t += rng.between(20, 400)
                    method = "POST" if path.endswith(".php") and rng.random() < 0.3 else "GET"
                    proto = "HTTP/1.0" if rng.random() < 0.3 else "HTTP/1.1"
                    self._add(
                        t + 1,
                        ip,
                        method,
                        nginx_escape(path),
                        proto,
                        404,
                        153,
                        None,
                        ua,
                        1,
                        "-",
                        route(path),
                    )
                    made += 1
            else:  # TLS on the plain port, or a connection that never sent a request
                raw = _GARBAGE_REQUESTS[rng.below(2)]
                ip = draw_bot_ip(rng, "scanner")
                self._add(
                    t, ip, None, raw, "", 400, 0 if raw == "-" else 157, None, "-", 0, "-", GATEWAY
                )
                made += 1

    def add_polling(self, n_lines: int, real_events: int) -> None:
        """Apps poll the unread-message counter while open: fills the day up to its volume."""
        rng = self.rng
        events, sessions = self.b.events, self.b.sessions
        for _ in range(n_lines):
            t, *_rest, s = events[rng.below(real_events)]
            sess = sessions[s]
            self._plain_get(
                t + rng.between(5000, 55_000),
                sess.ip,
                "GET",
                "/api/v1/notifications/unread-count",
                "HTTP/2.0" if sess.http2 else "HTTP/1.1",
                None,
                sess.ua,
                "user-service",
            )

    def finish(self, malformed_rate: float) -> AccessLog:
        """Draw request ids and truncate round(rate * lines) lines, none of which the tests
        or the application logs refer to (actions, errors)."""
        rng = self.rng
        log = self.log
        log.ids = rng.randbytes(16 * len(log.requests))
        hooked = {h[3] for h in log.hooks}
        candidates = [k for k in range(len(log.requests)) if k not in hooked]
        n_cut = min(round(malformed_rate * len(log.requests)), len(candidates))
        for k in sorted(rng.sample(candidates, n_cut)):
            log.cut[k] = rng.random()
        return log


# ---- the lines -------------------------------------------------------------------------------

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def time_local_table(day: date) -> list[str]:
    """$time_local for every second of the day."""
    prefix = f"{day.day:02d}/{_MONTHS[day.month - 1]}/{day.year}:"
    return [
        f"{prefix}{h:02d}:{m:02d}:{s:02d} +0800"
        for h in range(24)
        for m in range(60)
        for s in range(60)
    ]


def nginx_escape(value: str) -> str:
    """A header value as nginx's escape=default logs it."""
    if value.isascii() and '"' not in value and "\\" not in value:
        return value
    return "".join(
        chr(b) if 0x20 <= b <= 0x7E and b not in (0x22, 0x5C) else f"\\x{b:02X}"
        for b in value.encode("utf-8")
    )


def format_lines(log: AccessLog, refs: list[int], time_local: list[str]) -> bytes:
    """The access-log lines of requests `refs`, in that order."""
    out = []
    requests, cut = log.requests, log.cut
    hexs = log.hex_ids
    escaped: dict[str | None, str] = {None: "-"}  # user agents and referers as nginx logs them
    for k in refs:
        (
            t_end,
            _host,
            ip,
            method,
            path,
            proto,
            status,
            nbytes,
            referer,
            ua,
            rt,
            upstream,
            _service,
        ) = requests[k]
        agent = escaped.get(ua)
        if agent is None:
            agent = escaped[ua] = nginx_escape(ua)
        came_from = escaped.get(referer)
        if came_from is None:
            came_from = escaped[referer] = nginx_escape(referer)
        # Paths are stored as nginx logs them; not an HTTP request at all: the raw bytes.
        request = path if method is None else f"{method} {path} {proto}"
        line = (
            f'{ip} - - [{time_local[t_end // 1000]}] "{request}" {status} {nbytes} '
            f'"{came_from}" "{agent}" '
            f"{rt // 1000}.{rt % 1000:03d} {upstream} {hexs[32 * k : 32 * k + 32]}"
        )
        if k in cut:
            # A line cut off mid-write: at least the request id is lost.
            line = line[: 1 + int(cut[k] * (len(line) - 34))]
        out.append(line)
    out.append("")
    return "\n".join(out).encode("utf-8")


def group_lines_by_file(log: AccessLog) -> dict[tuple[int, int], list[int]]:
    """Request indices per (host, hour of $time_local), in time order."""
    keyed: dict[int, list[int]] = {}
    ends = []
    for k, req in enumerate(log.requests):
        ends.append(req[0])
        key = req[1] * 32 + req[0] // 3_600_000
        group = keyed.get(key)
        if group is None:
            keyed[key] = [k]
        else:
            group.append(k)
    out = {}
    for key in sorted(keyed):
        refs = keyed[key]
        refs.sort(key=ends.__getitem__)  # stable: ties keep generation order
        out[(key // 32, key % 32)] = refs
    return out


def count_requests(log: AccessLog) -> dict[str, object]:
    """Requests and 5xx per service over the well-formed lines of the day."""
    requests, cut = log.requests, log.cut
    kept = [req for k, req in enumerate(requests) if k not in cut] if cut else requests
    by_service = Counter([req[12] for req in kept])
    errors = Counter([req[12] for req in kept if req[6] >= 500])
    statuses = Counter([req[6] for req in kept])
    return {
        "requests_by_service": dict(sorted(by_service.items())),
        "http_5xx_by_service": {s: errors.get(s, 0) for s in sorted(by_service)},
        "requests_by_status": {str(code): n for code, n in sorted(statuses.items())},
        "nginx_lines": len(requests),
        "nginx_malformed_lines": len(cut),
    }
