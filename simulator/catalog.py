"""What the marketplace sells: service categories, with prices and durations."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Category:
    id: int
    parent_id: int | None
    code: str
    name_zh: str
    name_en: str
    base_price_yuan: int  # typical price; quotes scatter around it
    service_hours: float  # typical time on site
    weight: float  # share of orders among leaf categories (0 for parents)
    platform_fee_rate: str  # the platform's take, as a decimal string (exact money)


CATEGORIES: tuple[Category, ...] = (
    Category(1, None, "install", "安装", "Installation", 0, 0, 0, "0"),
    Category(2, None, "repair", "维修", "Repair", 0, 0, 0, "0"),
    Category(3, None, "delivery", "配送", "Delivery", 0, 0, 0, "0"),
    Category(
        11, 1, "furniture_install", "家具安装", "Furniture installation", 180, 2.0, 0.22, "0.10"
    ),
    Category(
        12, 1, "appliance_install", "家电安装", "Appliance installation", 150, 1.5, 0.16, "0.10"
    ),
    Category(
        13, 1, "lighting_install", "灯具安装", "Lighting installation", 120, 1.0, 0.08, "0.12"
    ),
    Category(14, 1, "lock_install", "门锁安装", "Door lock installation", 160, 1.0, 0.06, "0.12"),
    Category(21, 2, "appliance_repair", "家电维修", "Appliance repair", 200, 1.5, 0.12, "0.15"),
    Category(22, 2, "plumbing_repair", "水管维修", "Plumbing repair", 150, 1.0, 0.09, "0.15"),
    Category(23, 2, "electrical_repair", "电路维修", "Electrical repair", 160, 1.0, 0.07, "0.15"),
    Category(31, 3, "furniture_delivery", "家具配送", "Furniture delivery", 220, 2.5, 0.12, "0.08"),
    Category(32, 3, "bulky_delivery", "大件配送", "Bulky item delivery", 260, 3.0, 0.08, "0.08"),
)

LEAF_CATEGORIES: tuple[Category, ...] = tuple(c for c in CATEGORIES if c.parent_id is not None)
CATEGORY_BY_ID: dict[int, Category] = {c.id: c for c in CATEGORIES}
CATEGORY_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
