"""The apps' screens: what each page is called on each platform, the API calls that fill it,
what people tap and search there, and which screen each business action happens on.

A fixed catalog, shared by the session builder (tracking events) and the access logs (the
requests a page makes).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote

from simulator.activity import Action
from simulator.randomness import FastRandom
from simulator.routing import route

WEB_ORIGIN = {"web": "https://www.shifu.example", "h5": "https://m.shifu.example"}
# WeChat serves mini program requests with this referer (appid / version / page-frame).
MINIPROGRAM_REFERER = "https://servicewechat.com/wx8f3c2a1b4d5e6f70/127/page-frame.html"


@dataclass(frozen=True, slots=True)
class Page:
    """A screen: its title, its address on each platform and the API calls that fill it."""

    title: str
    web: str  # URL path on web and h5
    app: str  # screen name in the iOS and Android apps
    mini: str  # mini program page path
    apis: tuple[str, ...]  # GET paths, templates over {oid} {did} {mid} {city} {cat} {n} {q}


PAGES: dict[str, Page] = {
    "home": Page(
        "首页",
        "/",
        "Home",
        "pages/index/index",
        ("/api/v1/config/banners?city={city}", "/api/v1/search/hot-keywords?city={city}"),
    ),
    "category": Page(
        "服务分类",
        "/services/{cat}",
        "CategoryList",
        "pages/service/list?category={cat}",
        ("/api/v1/search/services?category={cat}&city={city}&page={n}",),
    ),
    "search_result": Page(
        "搜索结果", "/search?q={q}", "SearchResult", "pages/search/result?q={q}", ()
    ),
    "master_profile": Page(
        "师傅主页",
        "/masters/{mid}",
        "MasterProfile",
        "pages/master/profile?id={mid}",
        ("/api/v1/masters/{mid}", "/api/v1/masters/{mid}/reviews?page={n}"),
    ),
    "login": Page("登录", "/login", "Login", "pages/login/index", ()),
    "register": Page(
        "注册", "/register", "Register", "pages/register/index", ("/api/v1/config/agreements",)
    ),
    "order_hall": Page(
        "接单大厅",
        "/master/hall",
        "OrderHall",
        "pages/hall/index",
        ("/api/v1/orders/hall?city={city}&category={cat}&page={n}",),
    ),
    "order_list": Page(
        "订单列表",
        "/orders",
        "OrderList",
        "pages/order/list",
        ("/api/v1/orders?status={status}&page={n}",),
    ),
    "order_detail": Page(
        "订单详情",
        "/orders/{oid}",
        "OrderDetail",
        "pages/order/detail?id={oid}",
        ("/api/v1/orders/{oid}",),
    ),
    "order_create": Page(
        "发布订单",
        "/orders/new",
        "OrderCreate",
        "pages/order/create",
        ("/api/v1/orders/form-options?city={city}",),
    ),
    "quote_list": Page(
        "报价列表",
        "/orders/{oid}/quotes",
        "QuoteList",
        "pages/quote/list?orderId={oid}",
        ("/api/v1/orders/{oid}/quotes",),
    ),
    "my_orders": Page(
        "我的服务单", "/my/orders", "MyOrders", "pages/my/orders", ("/api/v1/orders/mine?page={n}",)
    ),
    "order_track": Page(
        "服务进度",
        "/track/{oid}",
        "OrderTrack",
        "pages/order/track?id={oid}",
        ("/api/v1/orders/{oid}/track",),
    ),
    "schedule": Page(
        "我的日程",
        "/master/schedule",
        "Schedule",
        "pages/schedule/index",
        ("/api/v1/dispatches?status=pending&page={n}",),
    ),
    "dispatch": Page(
        "派单详情",
        "/master/dispatches/{did}",
        "DispatchDetail",
        "pages/dispatch/detail?id={did}",
        ("/api/v1/dispatches/{did}",),
    ),
    "wallet": Page(
        "我的钱包",
        "/master/wallet",
        "Wallet",
        "pages/wallet/index",
        ("/api/v1/wallet/balance", "/api/v1/wallet/transactions?page={n}"),
    ),
    "messages": Page(
        "消息中心",
        "/messages",
        "Messages",
        "pages/message/index",
        ("/api/v1/notifications?page={n}",),
    ),
    "me": Page("我的", "/me", "Me", "pages/me/index", ("/api/v1/users/me",)),
    "payment": Page(
        "订单支付",
        "/pay/{oid}",
        "Payment",
        "pages/pay/index?orderId={oid}",
        ("/api/v1/payments/methods?order_id={oid}",),
    ),
    "review": Page(
        "评价师傅", "/orders/{oid}/review", "Review", "pages/review/index?orderId={oid}", ()
    ),
    "complaint": Page(
        "投诉反馈",
        "/orders/{oid}/complaint",
        "Complaint",
        "pages/complaint/index?orderId={oid}",
        ("/api/v1/orders/{oid}",),
    ),
}

# page_view props of pages without an order: the same text every time.
PAGE_PROPS = {name: f'{{"page_type":"{name}","title":"{p.title}"}}' for name, p in PAGES.items()}
API_SERVICES = {name: tuple(route(api) for api in p.apis) for name, p in PAGES.items()}
PAGE_NEEDS: dict[str, frozenset[str]] = {
    name: frozenset(
        k
        for k in ("oid", "did", "mid", "cat", "status", "q")
        if "{" + k + "}" in "".join((p.web, p.mini, *p.apis))
    )
    for name, p in PAGES.items()
}

# What each kind of visitor looks at when browsing, with weights.
BROWSE_PAGES: dict[str, tuple[tuple[str, int], ...]] = {
    "master": (
        ("order_hall", 34),
        ("order_detail", 22),
        ("quote_list", 8),
        ("schedule", 10),
        ("dispatch", 6),
        ("wallet", 6),
        ("messages", 8),
        ("me", 4),
    ),
    "merchant": (
        ("order_list", 34),
        ("order_detail", 24),
        ("quote_list", 16),
        ("order_create", 6),
        ("payment", 4),
        ("messages", 8),
        ("me", 6),
        ("master_profile", 4),
    ),
    "customer": (
        ("my_orders", 30),
        ("order_track", 30),
        ("order_detail", 8),
        ("master_profile", 12),
        ("messages", 10),
        ("me", 10),
    ),
    "anonymous": (("home", 25), ("category", 35), ("master_profile", 25), ("login", 5)),
}
# Chance that a browsing step is a search, a click on the current page, or a look at quotes.
SEARCH_SHARE = {"master": 0.05, "merchant": 0.04, "customer": 0.06, "anonymous": 0.2}
CLICK_SHARE = 0.3
QUOTE_VIEW_PAGES = frozenset({"order_detail", "quote_list", "order_hall"})

# The screen on which each action is taken.
ACTION_PAGES = {
    "register": "register",
    "order_submit": "order_create",
    "order_cancel": "order_detail",
    "quote_submit": "order_detail",
    "quote_withdraw": "quote_list",
    "quote_accept": "quote_list",
    "dispatch_accept": "dispatch",
    "dispatch_decline": "dispatch",
    "schedule_confirm": "order_detail",
    "service_checkin": "order_detail",
    "service_finish": "order_detail",
    "order_confirm": "order_track",
    "payment_submit": "payment",
    "review_submit": "review",
    "complaint_submit": "complaint",
}
# Actions the tracking plan has an event for; the others are tracked as clicks.
ACTION_EVENTS = frozenset(
    {
        "register",
        "order_submit",
        "order_cancel",
        "quote_submit",
        "quote_accept",
        "service_checkin",
        "order_confirm",
        "payment_submit",
        "review_submit",
        "complaint_submit",
    }
)
PAY_CHANNELS = ("wechat", "alipay", "balance", "bank_transfer")

CLICKS: dict[str, tuple[tuple[str, str], ...]] = {
    "home": (
        ("banner_1", "限时优惠"),
        ("nav_install", "安装"),
        ("nav_repair", "维修"),
        ("nav_delivery", "配送"),
    ),
    "category": (("filter_district", "区域"), ("sort_rating", "好评优先"), ("card_master", "查看")),
    "master_profile": (("tab_reviews", "评价"), ("btn_contact", "联系师傅")),
    "order_hall": (
        ("filter_category", "筛选"),
        ("filter_distance", "距离"),
        ("card_order", "抢单"),
        ("btn_refresh", "刷新"),
    ),
    "order_list": (
        ("tab_pending", "待接单"),
        ("tab_in_service", "服务中"),
        ("tab_completed", "已完成"),
        ("btn_export", "导出"),
    ),
    "order_detail": (
        ("btn_call", "拨打电话"),
        ("btn_navigate", "导航"),
        ("btn_copy_no", "复制单号"),
    ),
    "quote_list": (("sort_price", "价格排序"), ("card_quote", "查看报价")),
    "my_orders": (("tab_all", "全部"), ("card_order", "查看详情")),
    "order_track": (("btn_call_master", "联系师傅"), ("btn_map", "查看位置")),
    "schedule": (("day_next", "明天"), ("btn_reschedule", "改约")),
    "dispatch": (("btn_view_map", "查看地图"),),
    "wallet": (("btn_withdraw", "提现"), ("tab_income", "收入明细")),
    "messages": (("card_message", "查看消息"), ("btn_read_all", "全部已读")),
    "me": (("menu_settings", "设置"), ("menu_service", "客服")),
}
DEFAULT_CLICKS = (("btn_back", "返回"),)

SEARCH_KEYWORDS = (
    "空调安装",
    "空调维修",
    "洗衣机维修",
    "衣柜安装",
    "床安装",
    "灯具安装",
    "马桶疏通",
    "水管漏水",
    "换锁",
    "智能门锁安装",
    "沙发配送",
    "冰箱搬运",
    "电路维修",
    "热水器安装",
    "油烟机清洗",
    "窗帘安装",
    "书柜安装",
    "吊灯安装",
    "跳闸",
    "宜家家具安装",
    "海尔",
    "美的空调",
    "附近师傅",
)
ENCODED_KEYWORDS = tuple(quote(k) for k in SEARCH_KEYWORDS)
KEYWORD_JSON = tuple(json.dumps(k, ensure_ascii=False) for k in SEARCH_KEYWORDS)
EXTERNAL_REFERRERS = (
    None,
    None,
    None,
    "https://www.baidu.com/s?wd=" + quote("家具安装师傅"),
    "https://www.baidu.com/s?wd=" + quote("空调维修上门"),
    "https://m.baidu.com/s?word=" + quote("附近安装师傅"),
    "https://www.so.com/s?q=" + quote("灯具安装"),
    "https://cn.bing.com/search?q=" + quote("上门维修"),
    "https://www.sogou.com/web?query=" + quote("家电维修"),
    "https://www.xiaohongshu.com/",
)
ORDER_STATUSES = ("pending", "quoting", "assigned", "in_service", "completed")

# Tracking events the plan does not know: a newer app's events and SDK typos.
UNKNOWN_EVENTS: tuple[tuple[str, str], ...] = (
    ("live_chat_open", '{"channel":"master"}'),
    ("coupon_claim", '{"coupon_id":"CP20261101"}'),
    ("ar_measure_start", '{"category":"furniture_install"}'),
    ("page_veiw", '{"page_type":"order_hall","title":"接单大厅"}'),
    ("oder_submit", '{"order_no":"SO0000000000000000"}'),
    ("Search", '{"keyword":"空调","result_count":3}'),
    ("app_crash", '{"reason":"OutOfMemoryError"}'),
)


def pay_channel(action: Action) -> str:
    """The channel a payment used: a stable function of the order, shared by event and log."""
    return PAY_CHANNELS[(action.order_id or 0) * 7 % 11 % len(PAY_CHANNELS)]


_ASSETS = (
    "/static/js/app.3f9a1c7e.js",
    "/static/js/vendor.c4d1b2a0.js",
    "/static/css/app.8b2e4f19.css",
    "/static/img/logo.5d2c.png",
    "/static/fonts/iconfont.7a1e.woff2",
)


def draw_assets(rng: FastRandom) -> tuple[str, ...]:
    """Bundles a first page load asks for (cached ones are still revalidated: 304)."""
    return _ASSETS[: rng.between(0, 3)]
