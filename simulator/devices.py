"""The phones, browsers and crawlers that reach the marketplace: user agents, IP addresses,
device ids, app versions, and the personal data people type into forms.

Everything here is a fixed pool or a pure function of its arguments, so the traffic of a day is
reproducible. A device of an account is derived from the run's seed, the account and the
platform, so the same phone shows up day after day with the same device id and user agent.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from itertools import accumulate

from simulator.randomness import FastRandom

PLATFORMS: tuple[str, ...] = ("web", "h5", "ios", "android", "miniprogram")
APP_PLATFORMS = frozenset({"ios", "android"})

# Platforms each role uses besides its preferred one (merchants run their shop on a PC).
ROLE_PLATFORMS: dict[str, tuple[str, ...]] = {
    "merchant": ("web", "android", "ios", "h5"),
    "master": ("android", "ios", "miniprogram"),
    "customer": ("miniprogram", "h5", "android", "ios", "web"),
}

# (version, weight): people update slowly, so several versions are live at once.
APP_VERSIONS: dict[str, tuple[tuple[str, float], ...]] = {
    "web": (("3.48.2", 0.8), ("3.48.1", 0.2)),
    "h5": (("3.48.2", 0.85), ("3.47.0", 0.15)),
    "ios": (
        ("5.12.0", 0.55),
        ("5.11.3", 0.25),
        ("5.10.1", 0.12),
        ("5.8.0", 0.06),
        ("5.13.0-beta.2", 0.02),
    ),
    "android": (
        ("5.12.0", 0.5),
        ("5.11.3", 0.25),
        ("5.10.1", 0.14),
        ("5.8.0", 0.09),
        ("5.13.0-beta.2", 0.02),
    ),
    "miniprogram": (("2.31.0", 0.9), ("2.30.4", 0.1)),
}

# The app's name in its user agent: each role has its own app (师傅端, 商家端, 用户端).
APP_NAMES = {"master": "ShifuMaster", "merchant": "ShifuMerchant", "customer": "Shifu"}

_IPHONES = ("iPhone14,2", "iPhone14,5", "iPhone15,2", "iPhone15,3", "iPhone16,1", "iPhone13,2")
_IOS = ("17.5.1", "17.6.1", "18.0.1", "18.1", "16.7.10")
_ANDROIDS = (
    ("13", "M2012K11AC", "TKQ1.220829.002"),
    ("14", "22081212C", "UKQ1.230804.001"),
    ("12", "ELS-AN00", "HUAWEIELS-AN00"),
    ("13", "V2227A", "TP1A.220624.014"),
    ("14", "PJA110", "UKQ1.230924.001"),
    ("11", "PCAM00", "RKQ1.201217.002"),
    ("13", "SM-S9180", "TP1A.220624.014"),
    ("12", "NOH-AN00", "HUAWEINOH-AN00"),
)

WEB_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/129.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36 Edg/130.0.0.0",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.6 Safari/605.1.15",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:131.0) Gecko/20100101 Firefox/131.0",
    "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/86.0.4240.198 Safari/537.36 QIHU 360SE",
    "Mozilla/5.0 (Windows NT 10.0; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/104.0.5112.102 Safari/537.36 SE 2.X MetaSr 1.0",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36 Core/1.116.438.400 QQBrowser/13.0.6070.400",
)

H5_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) NetType/WIFI "
    "Language/zh_CN",
    "Mozilla/5.0 (Linux; Android 13; M2012K11AC Build/TKQ1.220829.002; wv) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile Safari/537.36 XWEB/1160117 "
    "MMWEBSDK/20240301 MicroMessenger/8.0.48.2580(0x28003035) NetType/5G Language/zh_CN",
    "Mozilla/5.0 (Linux; Android 12; ELS-AN00 Build/HUAWEIELS-AN00) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/99.0.4844.88 HuaweiBrowser/14.0.5.302 "
    "Mobile Safari/537.36",
    "Mozilla/5.0 (Linux; U; Android 13; zh-cn; 22081212C Build/TKQ1.220829.002) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/109.0.5414.118 "
    "Mobile Safari/537.36 XiaoMi/MiuiBrowser/18.2.150419",
    "Mozilla/5.0 (Linux; U; Android 12; zh-CN; V2227A Build/SP1A.210812.003) "
    "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/100.0.4896.58 "
    "Quark/6.11.2.531 Mobile Safari/537.36",
    # Vendor ROMs put odd device names in the UA: a quote and a Chinese model name, which nginx
    # escapes as \x22 and \xE7..., and which a log parser must survive.
    'Mozilla/5.0 (Linux; Android 10; 10" Tablet Build/QP1A.190711.020) AppleWebKit/537.36 '
    "(KHTML, like Gecko) Chrome/83.0.4103.106 Safari/537.36",
    "Mozilla/5.0 (Linux; Android 11; 荣耀畅玩20 Build/HONORKOZ-AL00) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Version/4.0 Chrome/88.0.4324.93 Mobile Safari/537.36",
)
_H5_WEIGHTS = (20, 25, 25, 10, 8, 6, 1, 1)

# Crawlers that render JavaScript, so the tracking SDK fires for them too.
RENDERING_BOT_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Baiduspider-render/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/129.0.6668.89 Mobile Safari/537.36 "
    "(compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 "
    "(compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/120.0.6099.71 Safari/537.36",
    "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
    "python-requests/2.31.0",
)
# Crawlers and scripts that only fetch pages and APIs (nginx only, no tracking events).
FETCHING_BOT_UAS: tuple[str, ...] = (
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)",
    "Mozilla/5.0 (Linux; Android 8.0; Pixel 2 Build/OPD3.170816.012) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Mobile Safari/537.36 (compatible; YisouSpider/5.0)",
    "python-requests/2.31.0",
    "curl/8.4.0",
    "Go-http-client/1.1",
    "Scrapy/2.11.0 (+https://scrapy.org)",
)
# Vulnerability scanners: probe paths, and put shell and SQL fragments (with quotes) in the UA.
SCANNER_UAS: tuple[str, ...] = (
    "Mozilla/5.0 zgrab/0.x",
    '() { :; }; echo; /bin/bash -c "cat /etc/passwd"',
    'Mozilla/5.0\' or "1"="1',
    "Mozilla/5.0 (compatible; Nmap Scripting Engine; https://nmap.org/book/nse.html)",
)

# How the tracking plan and the warehouse recognise crawler traffic: by user agent.
BOT_UA_PATTERN = (
    r"(?i)(bot|spider|crawl|headlesschrome|python-requests|curl/|go-http-client|scrapy|"
    r"zgrab|nmap)"
)
BOT_UA_RE = re.compile(BOT_UA_PATTERN)

# First two octets of consumer IPv4 ranges of China Mobile, Unicom and Telecom.
_IPV4_PREFIXES = (
    "117.136",
    "223.104",
    "112.97",
    "39.144",
    "111.30",
    "120.229",
    "113.57",
    "221.216",
    "123.118",
    "60.10",
    "180.168",
    "114.84",
    "183.14",
    "101.229",
    "58.33",
    "125.119",
)
_IPV6_PREFIXES = ("2409:8a28", "2409:8954", "2408:8207", "2408:8456", "240e:3b1", "240e:47e")
_BOT_IPV4_PREFIXES = {
    "baidu": ("220.181.108", "116.179.32"),
    "google": ("66.249.66", "66.249.71"),
    "bytedance": ("110.249.201", "111.225.148"),
    "bing": ("40.77.167", "207.46.13"),
    "other": ("47.100.54", "139.224.12", "45.148.10", "185.191.171"),
}

_PHONE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "166",
    "176",
    "177",
    "178",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "198",
    "199",
)
_STREETS = (
    "人民路",
    "中山路",
    "解放路",
    "建设路",
    "和平路",
    "长江路",
    "新华路",
    "文化路",
    "科技路",
    "学府路",
    "光明街",
    "幸福大道",
    "滨江大道",
    "东风路",
    "朝阳路",
    "青年路",
    "迎宾路",
    "花园路",
)
_COMMUNITIES = (
    "阳光花园",
    "锦绣华庭",
    "万科城市花园",
    "保利香槟国际",
    "绿地新都会",
    "碧桂园",
    "翠湖天地",
    "金地格林小镇",
    "中海国际社区",
    "龙湖春江郦城",
    "世茂滨江花园",
    "恒大名都",
    "华润二十四城",
)


def derive_device_id(seed: int, user_id: int, platform: str) -> str:
    """The device an account uses on a platform, stable across days.

    Formats follow the platforms: a cookie id on the web, IDFV on iOS, ANDROID_ID on Android,
    a WeChat openid in the mini program.
    """
    digest = hashlib.blake2b(
        f"{seed}:device:{user_id}:{platform}".encode(), digest_size=16
    ).hexdigest()
    return format_device_id(digest, platform)


def format_device_id(hex32: str, platform: str) -> str:
    """A device id in the platform's own format, from 32 random hex digits."""
    if platform == "ios":
        h = hex32.upper()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    if platform == "android":
        return hex32[:16]
    if platform == "miniprogram":
        return "o" + _base64ish(hex32, 27)
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:]}"


_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _base64ish(hex32: str, length: int) -> str:
    n = int(hex32, 16)
    out = []
    for _ in range(length):
        out.append(_B64[n & 63])
        n >>= 6
        if n == 0:
            n = int(hex32[::-1], 16)
    return "".join(out)


def pick_user_agent(device_key: int, platform: str, role: str | None, version: str) -> str:
    """The user agent of a device: chosen by a stable number of the device."""
    if platform == "web":
        return WEB_UAS[device_key % len(WEB_UAS)]
    if platform == "h5":
        return _weighted_by_key(device_key, H5_UAS, _H5_WEIGHTS)
    app = APP_NAMES.get(role or "customer", "Shifu")
    if platform == "ios":
        model = _IPHONES[device_key % len(_IPHONES)]
        ios = _IOS[(device_key >> 8) % len(_IOS)]
        return f"{app}/{version} (com.shifu.{app.lower()}; {model}; iOS {ios}; Scale/3.00)"
    if platform == "android":
        android, model, build = _ANDROIDS[device_key % len(_ANDROIDS)]
        return (
            f"{app}/{version} (Linux; U; Android {android}; zh-CN; {model} Build/{build}) "
            f"okhttp/4.12.0"
        )
    # WeChat mini program: the WeChat in-app user agent with the miniProgram marker.
    if device_key % 3 == 0:
        return (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.49(0x18003137) "
            "NetType/WIFI Language/zh_CN miniProgram/wx8f3c2a1b4d5e6f70"
        )
    android, model, build = _ANDROIDS[device_key % len(_ANDROIDS)]
    return (
        f"Mozilla/5.0 (Linux; Android {android}; {model} Build/{build}; wv) "
        "AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/116.0.0.0 Mobile "
        "Safari/537.36 XWEB/1160117 MMWEBSDK/20240301 MicroMessenger/8.0.48.2580"
        "(0x28003035) NetType/4G Language/zh_CN miniProgram/wx8f3c2a1b4d5e6f70"
    )


def _weighted_by_key(key: int, items: tuple[str, ...], weights: tuple[int, ...]) -> str:
    """An item chosen by a stable number, in proportion to the weights."""
    return items[bisect_right(_CUMULATIVE[weights], key % _CUMULATIVE[weights][-1])]


_CUMULATIVE = {_H5_WEIGHTS: list(accumulate(_H5_WEIGHTS))}


def pick_app_version(device_key: int, platform: str) -> str:
    """The app version a device runs (stable per device)."""
    versions = APP_VERSIONS[platform]
    point = (device_key % 10_000) / 10_000
    for version, weight in versions:
        if point < weight:
            return version
        point -= weight
    return versions[0][0]


def draw_ip(rng: FastRandom) -> str:
    """A client address: mostly IPv4 of Chinese carriers, some IPv6 (mobile networks)."""
    x = rng.getrandbits(48)
    if x & 0xFF < 31:  # about 12 % IPv6
        prefix = _IPV6_PREFIXES[(x >> 8) % len(_IPV6_PREFIXES)]
        g = rng.getrandbits(80)
        if g & 3 == 0:  # some addresses come compressed with ::
            return f"{prefix}:{(g >> 2) & 0xFFFF:x}:{(g >> 18) & 0xFFFF:x}::{(g >> 34) & 0xFFF:x}"
        return (
            f"{prefix}:{(g >> 2) & 0xFFFF:x}:{(g >> 18) & 0xFFFF:x}:{(g >> 34) & 0xFFFF:x}:"
            f"{(g >> 50) & 0xFFFF:x}:{(g >> 64) & 0xFFFF:x}:{rng.getrandbits(16):x}"
        )
    prefix = _IPV4_PREFIXES[(x >> 8) % len(_IPV4_PREFIXES)]
    return f"{prefix}.{(x >> 16) & 0xFF}.{((x >> 24) & 0xFF) % 254 + 1}"


def draw_bot_ip(rng: FastRandom, ua: str) -> str:
    """The address a crawler comes from: search engines crawl from their own ranges."""
    low = ua.lower()
    owner = (
        "baidu"
        if "baidu" in low
        else "google"
        if "google" in low
        else "bytedance"
        if "bytespider" in low
        else "bing"
        if "bing" in low
        else "other"
    )
    prefixes = _BOT_IPV4_PREFIXES[owner]
    return f"{prefixes[rng.below(len(prefixes))]}.{rng.between(1, 255)}"


def draw_phone(rng: FastRandom) -> str:
    """A mainland mobile number (what merchants type in for the end customer)."""
    return _PHONE_PREFIXES[rng.below(len(_PHONE_PREFIXES))] + f"{rng.below(10**8):08d}"


def draw_address(rng: FastRandom, city: str, district: str) -> str:
    """A street address in a district, the way customers write it."""
    return (
        f"{city}{district}{_STREETS[rng.below(len(_STREETS))]}{rng.between(1, 999)}号"
        f"{_COMMUNITIES[rng.below(len(_COMMUNITIES))]}{rng.between(1, 30)}栋"
        f"{rng.between(1, 6)}单元{rng.between(1, 33)}0{rng.between(1, 7)}室"
    )
