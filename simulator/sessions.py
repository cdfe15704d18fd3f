"""People using the apps: sessions of page views, clicks and business actions on a device.

A `SessionBuilder` turns a day's accepted backend calls (`Action`s) into sessions around them and
adds browsing sessions of active accounts, anonymous visitors (some of whom log in) and
JavaScript-rendering crawlers until the day has its volume of tracking events. Along the way it
records the API calls each screen makes (`Intent`s), which become nginx and application log
lines. Times are milliseconds since the business day's midnight (Asia/Shanghai); every event
happens in [00:00:00, 23:59:55) of its day.
"""

from __future__ import annotations

import hashlib
import json
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date, datetime
from urllib.parse import quote

from simulator.activity import ACTION_KINDS, Action, Actor
from simulator.catalog import LEAF_CATEGORIES
from simulator.devices import (
    APP_PLATFORMS,
    RENDERING_BOT_UAS,
    ROLE_PLATFORMS,
    derive_device_id,
    draw_address,
    draw_bot_ip,
    draw_ip,
    draw_phone,
    format_device_id,
    pick_app_version,
    pick_user_agent,
)
from simulator.geography import CITIES, CITY_BY_CODE
from simulator.randomness import FastRandom
from simulator.routing import STATIC, route
from simulator.screens import (
    ACTION_EVENTS,
    ACTION_PAGES,
    API_SERVICES,
    BROWSE_PAGES,
    CLICK_SHARE,
    CLICKS,
    DEFAULT_CLICKS,
    ENCODED_KEYWORDS,
    EXTERNAL_REFERRERS,
    KEYWORD_JSON,
    MINIPROGRAM_REFERER,
    ORDER_STATUSES,
    PAGE_NEEDS,
    PAGE_PROPS,
    PAGES,
    QUOTE_VIEW_PAGES,
    SEARCH_KEYWORDS,
    SEARCH_SHARE,
    UNKNOWN_EVENTS,
    WEB_ORIGIN,
    Page,
    draw_assets,
    pay_channel,
)

DAY_MS = 86_400_000
# True event times stay before 23:59:55 so that time + network latency is still the same day.
LAST_EVENT_MS = 86_395_000 - 1
MINUTE_MS = 60_000
# Sessions of one device are at least this far apart (30 min inactivity ends a session).
SESSION_SEPARATION_MS = 31 * MINUTE_MS
# Actions of one person at most this far apart share a session (so no session has 30 min of
# inactivity inside); sessions of further-apart actions are kept SESSION_SEPARATION_MS apart.
CLUSTER_GAP_MS = 30 * MINUTE_MS

# Share of sessions per hour of the day (Asia/Shanghai), for traffic not driven by actions.
HOUR_WEIGHTS = (
    0.6,
    0.3,
    0.2,
    0.15,
    0.15,
    0.3,
    0.8,
    1.8,
    3.5,
    5.2,
    6.0,
    5.8,
    4.8,
    4.5,
    5.4,
    5.8,
    5.6,
    5.2,
    4.6,
    5.0,
    5.6,
    5.2,
    3.6,
    1.8,
)


@dataclass(slots=True)
class Session:
    """A visit of one device: the envelope every event of it shares."""

    platform: str
    device_id: str
    app_version: str
    ip: str
    ua: str
    role: str | None  # of the account, None for anonymous visitors and crawlers
    city: str
    http2: bool
    bot: bool = False
    first: int = 0  # index of its first event in SessionBuilder.events
    count: int = 0  # number of events


# One tracking event: (ms since midnight, event name, page, referrer or None, props as a JSON
# object text, user id or None, session index).
Event = tuple[int, str, str, str | None, str, int | None, int]
# One API or page request the client made: (ms since midnight, session index, method, path,
# referer or None, tag, service that answers it). tag >= 0 is the index of the Action it carries;
# TAG_PLAIN otherwise; TAG_LOGIN marks a login.
Intent = tuple[int, int, str, str, str | None, int, str]
TAG_PLAIN = -1
TAG_LOGIN = -2

_LN36 = math.log(36.0)


def day_ms(ts: datetime, day: date) -> int:
    """Milliseconds from the day's midnight to a naive wall-clock time on that day."""
    return (
        ((ts.hour * 60 + ts.minute) * 60 + ts.second) * 1000
        + ts.microsecond // 1000
        + (ts.date() - day).days * DAY_MS
    )


class SessionBuilder:
    """Builds a day's sessions, tracking events and API intents. All randomness comes from `rng`.

    Usage: `add_action_sessions()`, then `add_browsing(target)` to reach the volume, then
    `add_bots(n)` and `add_unknown_events(n)` for the fault lines.
    """

    def __init__(
        self, rng: FastRandom, seed: int, day: date, actions: list[Action], actors: list[Actor]
    ) -> None:
        self.rng = rng
        self.seed = seed
        self.day = day
        self.actions = actions
        self.actors = sorted(actors, key=lambda a: a.user_id)
        self.actor_by_id = {a.user_id: a for a in self.actors}
        self.sessions: list[Session] = []
        self.events: list[Event] = []
        self.intents: list[Intent] = []
        self.login_user: dict[int, int] = {}  # intent index -> user id of a login request
        # Busy intervals per device, so that sessions of one device stay 30 min apart.
        self._busy: dict[str, list[tuple[int, int]]] = {}
        midnight = datetime(day.year, day.month, day.day)
        self._eligible: dict[str, list[Actor]] = {"master": [], "merchant": [], "customer": []}
        for actor in self.actors:  # accounts that existed before the day can browse at any time
            if actor.registered_at < midnight and actor.role in self._eligible:
                self._eligible[actor.role].append(actor)
        order_ids = sorted({a.order_id for a in actions if a.order_id is not None})
        self._order_ids = order_ids or list(range(1, 1001))
        dispatch_ids = sorted({a.dispatch_id for a in actions if a.dispatch_id is not None})
        self._dispatch_ids = dispatch_ids or list(range(1, 501))
        masters = [a.user_id for a in self.actors if a.role == "master"]
        self._master_ids = masters or list(range(100001, 100101))
        self._hour_cum = _cumulative(HOUR_WEIGHTS)
        self._browse = {
            role: (tuple(p for p, _ in pages), _cumulative([w for _, w in pages]))
            for role, pages in BROWSE_PAGES.items()
        }
        self._cities = tuple(c.code for c in CITIES)

    # ---- building blocks -------------------------------------------------------------------

    def _gap(self) -> int:
        """Think time between two events of a session: 5 s to 3 min, mostly short."""
        return int(5000 * math.exp(self.rng.random() * _LN36))

    def _start_ms(self) -> int:
        """A session start drawn from the hour-of-day profile."""
        hour = _pick_cum(self._hour_cum, self.rng.random())
        return hour * 3_600_000 + self.rng.below(3_600_000)

    def _new_session(
        self,
        platform: str,
        device_id: str,
        device_key: int,
        role: str | None,
        city: str,
        *,
        bot_ua: str | None = None,
    ) -> int:
        rng = self.rng
        if bot_ua is not None:
            ua, version, ip, http2 = (
                bot_ua,
                pick_app_version(device_key, platform),
                draw_bot_ip(rng, bot_ua),
                False,
            )
        else:
            version = pick_app_version(device_key, platform)
            ua = pick_user_agent(device_key, platform, role, version)
            ip = draw_ip(rng)
            http2 = platform in APP_PLATFORMS or (platform != "miniprogram" and device_key % 10 < 7)
        self.sessions.append(
            Session(
                platform,
                device_id,
                version,
                ip,
                ua,
                role,
                city,
                http2,
                bot_ua is not None,
                len(self.events),
                0,
            )
        )
        return len(self.sessions) - 1

    def _close_session(self, s: int) -> None:
        sess = self.sessions[s]
        sess.count = len(self.events) - sess.first

    def _is_free(self, device_id: str, start: int, end: int) -> bool:
        for b_start, b_end in self._busy.get(device_id, ()):
            if start < b_end + SESSION_SEPARATION_MS and end > b_start - SESSION_SEPARATION_MS:
                return False
        return True

    def _occupy(self, device_id: str, start: int, end: int) -> None:
        self._busy.setdefault(device_id, []).append((start, end))

    def _ids(self, page_type: str, city: str, oid: int | None) -> dict:
        """Values for the placeholders of a page's addresses (only those it uses)."""
        rng = self.rng
        ids: dict = {"city": city, "n": 1 if rng.random() < 0.7 else rng.between(2, 6)}
        needs = PAGE_NEEDS[page_type]
        if "oid" in needs:
            ids["oid"] = (
                oid if oid is not None else self._order_ids[rng.below(len(self._order_ids))]
            )
        if "did" in needs:
            ids["did"] = self._dispatch_ids[rng.below(len(self._dispatch_ids))]
        if "mid" in needs:
            ids["mid"] = self._master_ids[rng.below(len(self._master_ids))]
        if "cat" in needs:
            ids["cat"] = LEAF_CATEGORIES[rng.below(len(LEAF_CATEGORIES))].code
        if "status" in needs:
            ids["status"] = ORDER_STATUSES[rng.below(len(ORDER_STATUSES))]
        if "q" in needs:
            ids["q"] = ENCODED_KEYWORDS[rng.below(len(ENCODED_KEYWORDS))]
        return ids

    def _page_string(self, sess: Session, page: Page, ids: dict) -> tuple[str, str]:
        """(page as the event reports it, what the next event reports as its referrer)."""
        platform = sess.platform
        if platform in ("web", "h5"):
            path = page.web.format_map(ids) if "{" in page.web else page.web
            return path, WEB_ORIGIN[platform] + path
        if platform == "miniprogram":
            path = page.mini.format_map(ids) if "{" in page.mini else page.mini
            return path, path
        return page.app, page.app

    # ---- events ------------------------------------------------------------------------------

    def _emit(
        self, s: int, t: int, name: str, page: str, ref: str | None, props: str, uid: int | None
    ) -> int:
        self.events.append((t, name, page, ref, props, uid, s))
        return len(self.events) - 1

    def _intent(
        self,
        t: int,
        s: int,
        method: str,
        path: str,
        referer: str | None,
        tag: int = TAG_PLAIN,
        service: str | None = None,
    ) -> None:
        self.intents.append((t, s, method, path, referer, tag, service or route(path)))

    def _referer(self, sess: Session, cur: _Cursor) -> str | None:
        """The Referer header of an API call made from the current page."""
        if sess.platform in ("web", "h5"):
            return cur.ref_next
        return MINIPROGRAM_REFERER if sess.platform == "miniprogram" else None

    def _view(self, cur: _Cursor, t: int, page_type: str, oid: int | None = None) -> None:
        """A page view and the requests that load the page."""
        sess = cur.sess
        page = PAGES[page_type]
        ids = self._ids(page_type, sess.city, oid)
        platform = sess.platform
        if platform == "web" or platform == "h5":
            page_str = page.web.format_map(ids) if "{" in page.web else page.web
            ref_next = WEB_ORIGIN[platform] + page_str
        elif platform == "miniprogram":
            page_str = ref_next = page.mini.format_map(ids) if "{" in page.mini else page.mini
        else:
            page_str = ref_next = page.app
        props = (
            f'{{"page_type":"{page_type}","title":"{page.title}","order_id":{ids["oid"]}}}'
            if "oid" in ids
            else PAGE_PROPS[page_type]
        )
        referrer = cur.ref_next
        self.events.append((t, "page_view", page_str, referrer, props, cur.uid, cur.s))
        intents = self.intents
        if ref_next is not page_str and not cur.loaded:  # web or h5
            # A single-page app: the first page loads the document and the bundles.
            intents.append((t - 400, cur.s, "GET", page_str, referrer, TAG_PLAIN, STATIC))
            if not cur.assets_done:
                for asset in draw_assets(self.rng):
                    intents.append((t - 250, cur.s, "GET", asset, ref_next, TAG_PLAIN, STATIC))
                cur.assets_done = True
            cur.loaded = not sess.bot  # crawlers load every page as a document
        cur.page_type, cur.page, cur.page_ref, cur.ref_next, cur.ids = (
            page_type,
            page_str,
            referrer,
            ref_next,
            ids,
        )
        # Pages the app revisits come from its cache without a request.
        if page.apis and self.rng.random() < 0.7:
            referer = self._referer(sess, cur)
            services = API_SERVICES[page_type]
            intents.append(
                (
                    t + 30,
                    cur.s,
                    "GET",
                    page.apis[0].format_map(ids),
                    referer,
                    TAG_PLAIN,
                    services[0],
                )
            )
            if len(page.apis) > 1 and self.rng.random() < 0.2:
                intents.append(
                    (
                        t + 45,
                        cur.s,
                        "GET",
                        page.apis[1].format_map(ids),
                        referer,
                        TAG_PLAIN,
                        services[1],
                    )
                )

    def _click(self, cur: _Cursor, t: int) -> None:
        options = CLICKS.get(cur.page_type, DEFAULT_CLICKS)
        element, text = options[self.rng.below(len(options))]
        self._emit(
            cur.s,
            t,
            "click",
            cur.page or "/",
            cur.page_ref,
            f'{{"element_id":"{element}","element_text":"{text}"}}',
            cur.uid,
        )
        page = PAGES.get(cur.page_type)
        if page is not None and page.apis and self.rng.random() < 0.15:
            ids = dict(cur.ids, n=cur.ids["n"] + 1)  # "load more" / refresh
            self._intent(
                t + 40,
                cur.s,
                "GET",
                page.apis[0].format_map(ids),
                self._referer(self.sessions[cur.s], cur),
            )

    def _search(self, cur: _Cursor, t: int) -> None:
        rng = self.rng
        sess = self.sessions[cur.s]
        k = rng.below(len(SEARCH_KEYWORDS))
        count = 0 if rng.random() < 0.08 else rng.between(1, 60)
        referer = self._referer(sess, cur)
        for typed in range(1 if rng.random() < 0.3 else 0):  # suggestions while typing
            self._intent(
                t - 2000 + typed * 600,
                cur.s,
                "GET",
                f"/api/v1/search/suggest?q={quote(SEARCH_KEYWORDS[k][: typed + 1])}",
                referer,
            )
        self._intent(
            t + 20,
            cur.s,
            "GET",
            f"/api/v1/search?q={ENCODED_KEYWORDS[k]}&city={sess.city}&page=1",
            referer,
        )
        self._emit(
            cur.s,
            t,
            "search",
            cur.page or "/",
            cur.page_ref,
            f'{{"keyword":{KEYWORD_JSON[k]},"result_count":{count},"city":"{sess.city}"}}',
            cur.uid,
        )
        # The results replace the page (a route change without a page_view of its own).
        ids = {"city": sess.city, "n": 1, "q": ENCODED_KEYWORDS[k]}
        page_str, ref_next = self._page_string(sess, PAGES["search_result"], ids)
        cur.page_type, cur.page, cur.page_ref, cur.ref_next, cur.ids = (
            "search_result",
            page_str,
            cur.ref_next,
            ref_next,
            ids,
        )

    def _quote_view(self, cur: _Cursor, t: int) -> None:
        rng = self.rng
        oid = cur.ids.get("oid") if cur.ids else None
        if oid is None:
            oid = self._order_ids[rng.below(len(self._order_ids))]
        self._emit(
            cur.s,
            t,
            "quote_view",
            cur.page or "/",
            cur.page_ref,
            f'{{"order_id":{oid},"quote_count":{rng.between(0, 8)}}}',
            cur.uid,
        )
        self._intent(
            t + 25,
            cur.s,
            "GET",
            f"/api/v1/orders/{oid}/quotes",
            self._referer(self.sessions[cur.s], cur),
        )

    def _app_start(self, cur: _Cursor, t: int) -> None:
        sess = self.sessions[cur.s]
        rng = self.rng
        launch = "cold" if rng.random() < 0.6 else "warm"
        net = ("wifi", "5g", "4g", "4g", "wifi")[rng.below(5)]
        self._emit(
            cur.s,
            t,
            "app_start",
            "Launch",
            None,
            f'{{"launch_type":"{launch}","network":"{net}"}}',
            cur.uid,
        )
        self._intent(
            t + 80,
            cur.s,
            "GET",
            f"/api/v1/config/app?platform={sess.platform}&version={sess.app_version}",
            None,
        )
        if cur.uid is not None and rng.random() < 0.5:
            self._intent(t + 120, cur.s, "GET", "/api/v1/users/me", None)
        cur.page, cur.page_ref, cur.ref_next, cur.page_type = "Launch", None, "Launch", "launch"

    def _login(self, cur: _Cursor, t: int, uid: int) -> int:
        """The login screen at `t`, then a login a few seconds later; returns its time."""
        rng = self.rng
        sess = self.sessions[cur.s]
        method = (
            ("wechat", "sms", "password", "one_click")
            if sess.platform != "web"
            else ("password", "sms", "wechat", "password")
        )[rng.below(4)]
        self._view(cur, t, "login")
        t2 = min(t + rng.between(2000, 4500), LAST_EVENT_MS)
        self.login_user[len(self.intents)] = uid
        self._intent(
            t2 - 150, cur.s, "POST", "/api/v1/auth/login", self._referer(sess, cur), TAG_LOGIN
        )
        cur.uid = uid
        self._emit(cur.s, t2, "login", cur.page, cur.page_ref, f'{{"method":"{method}"}}', uid)
        return t2

    def _browse_step(self, cur: _Cursor, t: int, role: str) -> None:
        r = self.rng.random()
        search = SEARCH_SHARE[role]
        if r < search:
            self._search(cur, t)
        elif r < search + CLICK_SHARE and cur.page_type in CLICKS:
            self._click(cur, t)
        elif (
            role != "anonymous"
            and cur.page_type in QUOTE_VIEW_PAGES
            and r < search + CLICK_SHARE + 0.15
        ):
            self._quote_view(cur, t)
        else:
            pages, cum = self._browse[role]
            self._view(cur, t, pages[_pick_cum(cum, self.rng.random())])

    # ---- sessions around actions -----------------------------------------------------------

    def add_action_sessions(self) -> None:
        """Wrap every action in a session of its actor: context pages before, the action, and a
        little browsing after. Actions of one person at most 30 min apart share a session."""
        by_user: dict[int, list[int]] = {}
        for i, action in enumerate(self.actions):
            by_user.setdefault(action.user_id, []).append(i)
        for uid in sorted(by_user):
            idxs = by_user[uid]
            times = [day_ms(self.actions[i].ts, self.day) for i in idxs]
            clusters: list[list[int]] = [[0]]
            for j in range(1, len(idxs)):
                if times[j] - times[j - 1] > CLUSTER_GAP_MS:
                    clusters.append([j])
                else:
                    clusters[-1].append(j)
            for c, cluster in enumerate(clusters):
                # Leave half the gap to each neighbour, minus half the separation.
                lo = 0
                if c > 0:
                    lo = (
                        times[clusters[c - 1][-1]] + times[cluster[0]] + SESSION_SEPARATION_MS
                    ) // 2
                hi = LAST_EVENT_MS
                if c < len(clusters) - 1:
                    hi = (
                        times[cluster[-1]] + times[clusters[c + 1][0]] - SESSION_SEPARATION_MS
                    ) // 2
                self._action_session(
                    uid, [idxs[j] for j in cluster], [times[j] for j in cluster], lo, hi
                )

    def _action_session(
        self, uid: int, idxs: list[int], times: list[int], lo: int, hi: int
    ) -> None:
        rng = self.rng
        first = self.actions[idxs[0]]
        actor = self.actor_by_id.get(uid)
        role = actor.role if actor else first.role
        preferred = actor.platform if actor else ROLE_PLATFORMS.get(role, ("h5",))[0]
        platform = preferred
        if rng.random() < 0.1:
            others = [p for p in ROLE_PLATFORMS.get(role, ("h5",)) if p != preferred]
            if others:
                platform = others[rng.below(len(others))]
        device_id = derive_device_id(self.seed, uid, platform)
        s = self._new_session(platform, device_id, _device_key(device_id), role, first.city_code)
        registering = first.kind == "register"
        browse_role = role if role in BROWSE_PAGES else "customer"
        # Web visitors are sometimes logged out and sign in first; new users register.
        anonymous_start = registering or (platform in ("web", "h5") and rng.random() < 0.15)
        cur = _Cursor(s, self.sessions[s], None if anonymous_start else uid)
        # Lead-in: how the person got to the first action's screen, times going backwards.
        slots: list[int] = []
        t = times[0] - rng.between(5000, 60_000)  # the action's own screen
        for _ in range(rng.between(1, 5)):
            t -= self._gap()
            if t < lo:
                break
            slots.append(t)
        slots.reverse()
        k = 0
        if platform in APP_PLATFORMS and k < len(slots):
            self._app_start(cur, slots[k])
            k += 1
        if anonymous_start and not registering and k < len(slots):
            self._login(cur, slots[k], uid)
            k += 1
        for t in slots[k:]:
            self._browse_step(cur, t, "anonymous" if cur.uid is None else browse_role)
        last = self.events[-1][0] if slots else lo - 1
        for n, (i, ta) in enumerate(zip(idxs, times, strict=True)):
            action = self.actions[i]
            if n > 0 and ta - last > 4 * MINUTE_MS and rng.random() < 0.5:
                self._browse_step(cur, last + (ta - last) // 3, browse_role)
                last = self.events[-1][0]
            # The screen of the action, shortly before it.
            t_page = ta - rng.between(5000, 60_000)
            if last < t_page and lo <= t_page:
                self._view(
                    cur, t_page, ACTION_PAGES.get(action.kind, "order_detail"), action.order_id
                )
            _role, method, _path, service = ACTION_KINDS[action.kind]
            self._intent(
                ta, s, method, action.path(), self._referer(self.sessions[s], cur), i, service
            )
            t_event = min(ta + rng.between(60, 600), LAST_EVENT_MS)
            self._action_event(cur, t_event, i, action)
            cur.uid = uid
            last = t_event
        # Tail: a look around after the last action.
        t = last
        for _ in range(rng.between(0, 3)):
            t += self._gap()
            if t > hi or t > LAST_EVENT_MS:
                break
            self._browse_step(cur, t, browse_role)
        self._close_session(s)
        sess = self.sessions[s]
        self._occupy(device_id, self.events[sess.first][0], self.events[-1][0])

    def _action_event(self, cur: _Cursor, t: int, i: int, action: Action) -> None:
        kind = action.kind
        page = cur.page or "/"
        if kind not in ACTION_EVENTS:
            extra = (f',"order_id":{action.order_id}' if action.order_id is not None else "") + (
                f',"dispatch_id":{action.dispatch_id}' if action.dispatch_id is not None else ""
            )
            self._emit(
                cur.s,
                t,
                "click",
                page,
                cur.page_ref,
                f'{{"element_id":"btn_{kind}"{extra}}}',
                action.user_id,
            )
            return
        self._emit(
            cur.s, t, kind, page, cur.page_ref, self._action_props(cur, action), action.user_id
        )

    def _action_props(self, cur: _Cursor, a: Action) -> str:
        rng = self.rng
        props: dict[str, object] = {}
        kind = a.kind
        if kind == "register":
            sess = self.sessions[cur.s]
            methods = (
                ("sms", "wechat", "one_click")
                if sess.platform != "ios"
                else ("sms", "apple", "wechat")
            )
            props = {"method": methods[rng.below(3)], "role": a.role}
        elif kind == "order_submit":
            props = {
                "order_no": a.order_no,
                "order_id": a.order_id,
                "category": a.category_code,
                "city": a.city_code,
            }
            if a.amount_fen is not None:
                props["amount_yuan"] = a.amount_fen / 100
            if rng.random() < 0.6:  # older forms send what was typed, PII included
                city = CITY_BY_CODE.get(a.city_code) or CITIES[0]
                district = city.districts[rng.below(len(city.districts))]
                props["contact_phone"] = draw_phone(rng)
                props["address"] = draw_address(rng, city.name, district.name)
        elif kind in ("order_cancel", "order_confirm"):
            props = {"order_id": a.order_id, "order_no": a.order_no}
        elif kind in ("quote_submit", "quote_accept"):
            props = {"order_id": a.order_id, "quote_id": a.quote_id}
            if a.amount_fen is not None:
                props["price_yuan"] = a.amount_fen / 100
        elif kind == "service_checkin":
            city = CITY_BY_CODE.get(a.city_code) or CITIES[0]
            district = city.districts[(a.order_id or 0) % len(city.districts)]
            props = {
                "order_id": a.order_id,
                "lat": round(district.lat + rng.uniform(-0.03, 0.03), 6),
                "lng": round(district.lng + rng.uniform(-0.03, 0.03), 6),
            }
        elif kind == "payment_submit":
            props = {"pay_channel": pay_channel(a), "order_id": a.order_id}
            if a.amount_fen is not None:
                props["amount_yuan"] = a.amount_fen / 100
        elif kind == "review_submit":
            # The score is what the database stores; an action without one is a 5-star tap.
            props = {
                "order_id": a.order_id,
                "score": a.score if a.score is not None else 5,
                "has_text": rng.random() < 0.6,
            }
        elif kind == "complaint_submit":
            props = {"order_id": a.order_id, "has_images": rng.random() < 0.4}
            if rng.random() < 0.5:
                props["contact_phone"] = draw_phone(rng)
        props = {k: v for k, v in props.items() if v is not None}
        return json.dumps(props, ensure_ascii=False, separators=(",", ":"))

    # ---- browsing and anonymous visitors -----------------------------------------------------

    def add_browsing(self, target_events: int) -> None:
        """Browsing sessions of accounts and anonymous visitors until `target_events` events
        exist (the last browsing session is cut short to hit it exactly)."""
        rng = self.rng
        before = len(self.events)
        roles = ("master", "merchant", "customer")
        role_cum = _cumulative((45, 20, 35))
        while len(self.events) < target_events:
            if rng.random() < 0.62:
                pool = self._eligible[roles[_pick_cum(role_cum, rng.random())]]
                if pool:
                    self._browsing_session(pool[rng.below(len(pool))])
                    continue
            self._anonymous_session()
        keep = max(target_events, before)
        if len(self.events) > keep:
            del self.events[keep:]
            while self.sessions and self.sessions[-1].first >= keep:
                self.sessions.pop()
            last = self.sessions[-1]
            last.count = min(last.count, keep - last.first)

    def _plan_times(self, n: int) -> list[int] | None:
        start = self._start_ms()
        times = [start]
        for _ in range(n - 1):
            times.append(times[-1] + self._gap())
        return times if times[-1] + 5000 <= LAST_EVENT_MS else None

    def _browsing_session(self, actor: Actor) -> None:
        rng = self.rng
        platform = actor.platform
        if rng.random() < 0.15:
            others = [p for p in ROLE_PLATFORMS.get(actor.role, ()) if p != platform]
            if others:
                platform = others[rng.below(len(others))]
        times = self._plan_times(_session_length(rng, 5.0))
        if times is None:
            return
        device_id = derive_device_id(self.seed, actor.user_id, platform)
        if not self._is_free(device_id, times[0], times[-1]):
            return
        s = self._new_session(
            platform, device_id, _device_key(device_id), actor.role, actor.city_code
        )
        cur = _Cursor(s, self.sessions[s], actor.user_id)
        j = 0
        if platform in APP_PLATFORMS:
            self._app_start(cur, times[0])
            j = 1
        pages, cum = self._browse[actor.role]
        for t in times[j:]:
            if cur.page_type in ("", "launch"):
                self._view(cur, t, pages[_pick_cum(cum, rng.random())])
            else:
                self._browse_step(cur, t, actor.role)
        self._close_session(s)
        self._occupy(device_id, times[0], times[-1])

    def _anonymous_session(self) -> None:
        rng = self.rng
        platform = "web" if rng.random() < 0.45 else "h5"
        n = _session_length(rng, 4.0)
        times = self._plan_times(n)
        if times is None:
            return
        hex32 = f"{rng.getrandbits(128):032x}"
        device_id = format_device_id(hex32, platform)
        city = self._cities[rng.below(len(self._cities))]
        s = self._new_session(platform, device_id, int(hex32[:8], 16), None, city)
        cur = _Cursor(s, self.sessions[s], None)
        cur.ref_next = EXTERNAL_REFERRERS[rng.below(len(EXTERNAL_REFERRERS))]
        customers = self._eligible["customer"]
        login_at = -1
        if customers and n >= 3 and rng.random() < 0.12:  # a returning customer signs in
            login_at = rng.between(1, n - 1)
        pages, cum = self._browse["anonymous"]
        for j, t in enumerate(times):
            if j == login_at:
                self._login(cur, t, customers[rng.below(len(customers))].user_id)
            elif j == 0:
                self._view(cur, t, pages[_pick_cum(cum, rng.random())])
            else:
                self._browse_step(cur, t, "anonymous" if cur.uid is None else "customer")
        self._close_session(s)
        self._occupy(device_id, times[0], self.events[-1][0])
        # Some come back later the same day in the same browser and sign in then.
        if customers and login_at < 0 and rng.random() < 0.05:
            start = self.events[-1][0] + SESSION_SEPARATION_MS + rng.below(4 * 3_600_000)
            if start + 15 * MINUTE_MS < LAST_EVENT_MS:
                s2 = self._new_session(platform, device_id, int(hex32[:8], 16), None, city)
                cur2 = _Cursor(s2, self.sessions[s2], None)
                cur2.loaded = False
                t = self._login(cur2, start, customers[rng.below(len(customers))].user_id)
                for _ in range(rng.between(1, 4)):
                    t += self._gap()
                    self._browse_step(cur2, t, "customer")
                self._close_session(s2)
                self._occupy(device_id, start, self.events[-1][0])

    # ---- fault lines -------------------------------------------------------------------------

    def add_bots(self, n_events: int) -> None:
        """Crawler sessions that run the page's JavaScript, so the SDK reports them: exactly
        `n_events` events, recognisable by user agent only."""
        rng = self.rng
        produced = 0
        pages, cum = self._browse["anonymous"]
        while produced < n_events:
            ua = RENDERING_BOT_UAS[rng.below(len(RENDERING_BOT_UAS))]
            hex32 = f"{rng.getrandbits(128):032x}"
            city = self._cities[rng.below(len(self._cities))]
            s = self._new_session(
                "web", format_device_id(hex32, "web"), int(hex32[:8], 16), None, city, bot_ua=ua
            )
            cur = _Cursor(s, self.sessions[s], None)
            t = rng.below(LAST_EVENT_MS - 20 * MINUTE_MS)
            self._intent(t - 2000, s, "GET", "/robots.txt", None)
            n = min(n_events - produced, rng.between(3, 40))
            for _ in range(n):
                self._view(cur, t, pages[_pick_cum(cum, rng.random())])
                t = min(t + rng.between(800, 15_000), LAST_EVENT_MS)  # no time to read
            produced += n
            self._close_session(s)

    def add_unknown_events(self, n_events: int, real_events: int) -> list[int]:
        """Events the plan does not know, sent from real sessions; returns their indices."""
        rng = self.rng
        out = []
        for _ in range(n_events):
            t, _name, page, ref, _props, uid, s = self.events[rng.below(real_events)]
            name, props = UNKNOWN_EVENTS[rng.below(len(UNKNOWN_EVENTS))]
            out.append(
                self._emit(
                    s, min(t + rng.between(500, 20_000), LAST_EVENT_MS), name, page, ref, props, uid
                )
            )
        return out


class _Cursor:
    """Where a session is: its user (changes on login) and current page."""

    __slots__ = (
        "s",
        "sess",
        "uid",
        "page",
        "page_ref",
        "ref_next",
        "page_type",
        "ids",
        "loaded",
        "assets_done",
    )

    def __init__(self, s: int, sess: Session, uid: int | None) -> None:
        self.s = s
        self.sess = sess
        self.uid = uid
        self.page: str | None = None  # the current page, as events report it
        self.page_ref: str | None = None  # the referrer of the current page
        self.ref_next: str | None = None  # what the next page will report as its referrer
        self.page_type = ""
        self.ids: dict | None = None
        self.loaded = False  # web: the document of the single-page app is loaded
        self.assets_done = False


def _device_key(device_id: str) -> int:
    """A stable number of a device, to pick its user agent and app version."""
    return int(hashlib.blake2b(device_id.encode(), digest_size=4).hexdigest(), 16)


def _session_length(rng: FastRandom, mean: float) -> int:
    """Events in a browsing session: geometric, at least 1, capped at 40."""
    n = 1 + int(math.log(1.0 - rng.random()) / math.log(1.0 - 1.0 / mean))
    return min(n, 40)


def _cumulative(weights) -> list[float]:
    total = float(sum(weights))
    out, acc = [], 0.0
    for w in weights:
        acc += w / total
        out.append(acc)
    out[-1] = 1.0
    return out


def _pick_cum(cum: list[float], x: float) -> int:
    """The index a uniform x in [0, 1) falls on in cumulative weights."""
    return min(bisect_right(cum, x), len(cum) - 1)
