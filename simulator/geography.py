"""Cities and districts the marketplace serves: real adcodes and approximate district centres."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class District:
    region_id: int  # the district's adcode, used as region.id in the OLTP database
    province: str
    city: str
    city_code: str  # short stable code: sh, bj, gz, sz, hz, cd, wh
    city_adcode: int
    name: str
    lat: float
    lng: float


@dataclass(frozen=True, slots=True)
class City:
    code: str
    name: str
    name_en: str
    adcode: int
    province: str
    weight: float  # share of the marketplace's orders
    districts: tuple[District, ...]


def _city(code, name, name_en, adcode, province, weight, districts):
    return City(
        code=code,
        name=name,
        name_en=name_en,
        adcode=adcode,
        province=province,
        weight=weight,
        districts=tuple(
            District(
                region_id=d_code,
                province=province,
                city=name,
                city_code=code,
                city_adcode=adcode,
                name=d_name,
                lat=lat,
                lng=lng,
            )
            for d_code, d_name, lat, lng in districts
        ),
    )


CITIES: tuple[City, ...] = (
    _city(
        "sh",
        "上海市",
        "Shanghai",
        310100,
        "上海市",
        0.22,
        [
            (310101, "黄浦区", 31.2317, 121.4846),
            (310104, "徐汇区", 31.1885, 121.4365),
            (310105, "长宁区", 31.2204, 121.4241),
            (310106, "静安区", 31.2296, 121.4480),
            (310107, "普陀区", 31.2495, 121.3970),
            (310109, "虹口区", 31.2646, 121.5050),
            (310110, "杨浦区", 31.2595, 121.5260),
            (310112, "闵行区", 31.1129, 121.3817),
            (310113, "宝山区", 31.4045, 121.4894),
            (310115, "浦东新区", 31.2213, 121.5447),
        ],
    ),
    _city(
        "bj",
        "北京市",
        "Beijing",
        110100,
        "北京市",
        0.20,
        [
            (110101, "东城区", 39.9288, 116.4160),
            (110102, "西城区", 39.9122, 116.3660),
            (110105, "朝阳区", 39.9215, 116.4434),
            (110106, "丰台区", 39.8585, 116.2870),
            (110108, "海淀区", 39.9593, 116.2981),
            (110112, "通州区", 39.9097, 116.6566),
            (110114, "昌平区", 40.2207, 116.2312),
        ],
    ),
    _city(
        "gz",
        "广州市",
        "Guangzhou",
        440100,
        "广东省",
        0.14,
        [
            (440104, "越秀区", 23.1289, 113.2668),
            (440105, "海珠区", 23.0836, 113.3172),
            (440106, "天河区", 23.1247, 113.3612),
            (440111, "白云区", 23.1575, 113.2730),
            (440113, "番禺区", 22.9378, 113.3841),
        ],
    ),
    _city(
        "sz",
        "深圳市",
        "Shenzhen",
        440300,
        "广东省",
        0.14,
        [
            (440303, "罗湖区", 22.5483, 114.1314),
            (440304, "福田区", 22.5410, 114.0504),
            (440305, "南山区", 22.5329, 113.9304),
            (440306, "宝安区", 22.5550, 113.8830),
            (440307, "龙岗区", 22.7200, 114.2470),
        ],
    ),
    _city(
        "hz",
        "杭州市",
        "Hangzhou",
        330100,
        "浙江省",
        0.12,
        [
            (330102, "上城区", 30.2425, 120.1693),
            (330105, "拱墅区", 30.3198, 120.1419),
            (330106, "西湖区", 30.2594, 120.1300),
            (330108, "滨江区", 30.2084, 120.2119),
            (330109, "萧山区", 30.1850, 120.2645),
            (330110, "余杭区", 30.4190, 120.2990),
        ],
    ),
    _city(
        "cd",
        "成都市",
        "Chengdu",
        510100,
        "四川省",
        0.10,
        [
            (510104, "锦江区", 30.6574, 104.0833),
            (510105, "青羊区", 30.6740, 104.0621),
            (510106, "金牛区", 30.6913, 104.0520),
            (510107, "武侯区", 30.6422, 104.0434),
            (510108, "成华区", 30.6598, 104.1015),
        ],
    ),
    _city(
        "wh",
        "武汉市",
        "Wuhan",
        420100,
        "湖北省",
        0.08,
        [
            (420102, "江岸区", 30.6000, 114.3093),
            (420103, "江汉区", 30.6015, 114.2706),
            (420106, "武昌区", 30.5538, 114.3160),
            (420111, "洪山区", 30.5000, 114.3439),
        ],
    ),
)

CITY_BY_CODE: dict[str, City] = {c.code: c for c in CITIES}
DISTRICTS: tuple[District, ...] = tuple(d for c in CITIES for d in c.districts)
DISTRICT_BY_ID: dict[int, District] = {d.region_id: d for d in DISTRICTS}

# Roughly 5 km around a district centre: where its addresses fall.
DISTRICT_SPREAD_DEG = 0.045


def distance_km(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine), the way the dispatch service measures it."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dphi = p2 - p1
    dlmb = math.radians(lng2 - lng1)
    a = math.sin(dphi / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dlmb / 2) ** 2
    return 6371.0088 * 2 * math.asin(math.sqrt(a))
