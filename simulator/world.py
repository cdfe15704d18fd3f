"""The marketplace as agents: merchants post orders, masters near the address quote or are
dispatched by distance and skill, orders move through their life cycle, money moves, customers
rate. Produces, per day, the database writes (in monolith terms), the people's actions for the
traffic generator, and the ground truth of what happened.

Each order's whole life cycle is decided when it is created (from one random stream, in creation
order), and its writes are filed under the days they happen on. Days are simulated in order, so
everything that happens on day D is known once D's orders are created.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import NamedTuple

import numpy as np

from simulator.activity import Action, Actor
from simulator.catalog import CATEGORIES, CATEGORY_BY_CODE, LEAF_CATEGORIES, Category
from simulator.config import ORDERS_PER_DAY_AT_SCALE_1, SimulationConfig, derive_seed
from simulator.geography import CITIES, CITY_BY_CODE, DISTRICT_SPREAD_DEG, DISTRICTS, District
from simulator.people import PersonFactory

CENT = Decimal("0.01")
WEEKDAY_FACTOR = (1.05, 1.0, 1.0, 1.0, 1.05, 0.85, 0.75)  # Mon..Sun: merchants work weekdays
DAILY_GROWTH = 1.004
# Orders posted per hour of day (merchants' working hours, lunch dip).
ORDER_HOUR_WEIGHTS = (
    0.2,
    0.1,
    0.05,
    0.05,
    0.05,
    0.1,
    0.3,
    1.0,
    3.0,
    6.0,
    8.0,
    8.0,
    5.0,
    6.5,
    7.5,
    7.5,
    7.0,
    6.0,
    4.5,
    3.5,
    3.0,
    2.2,
    1.2,
    0.5,
)
MERCHANT_TYPES = {
    # type -> (share of merchants, categories they post, with weights)
    "furniture_shop": (
        0.35,
        {"furniture_install": 5, "furniture_delivery": 3, "lighting_install": 1},
    ),
    "appliance_shop": (
        0.30,
        {"appliance_install": 5, "appliance_repair": 3, "lighting_install": 1},
    ),
    "logistics": (0.15, {"furniture_delivery": 3, "bulky_delivery": 4, "furniture_install": 1}),
    "offline_store": (0.20, {c.code: c.weight * 10 for c in LEAF_CATEGORIES}),
}
MERCHANT_LEVELS = ("normal", "silver", "gold", "platinum")
PLATFORM_BY_ROLE = {
    "merchant": (("web", 0.6), ("ios", 0.15), ("android", 0.25)),
    "master": (("android", 0.7), ("ios", 0.3)),
    "customer": (("miniprogram", 0.6), ("h5", 0.25), ("ios", 0.05), ("android", 0.1)),
}
REVIEW_TEXT = {
    5: (
        "师傅很专业，安装又快又好",
        "准时上门，服务态度好",
        "非常满意，下次还找这位师傅",
        "干活利索，收拾得很干净",
    ),
    4: ("整体不错，就是来得有点晚", "安装没问题，沟通可以更及时", "服务还行"),
    3: ("一般般，效率有点低", "师傅迟到了一个小时", "价格偏贵"),
    2: ("安装有瑕疵，返工了一次", "态度不太好"),
    1: ("师傅爽约，非常失望", "东西装坏了还不认账"),
}
FOLLOW_UP = (
    "【追评】用了几天没问题",
    "【追评】过几天发现有点松动，师傅又来修好了",
    "【追评】很稳固，推荐",
)
COMPLAINT_TYPES = ("late", "quality", "attitude", "damage", "price")


class Op(NamedTuple):
    """One row write, in monolith terms. `values` is the whole row for an insert, the changed
    columns for an update, empty for a delete; `old` carries what the split needs (skills)."""

    ts: datetime
    seq: int
    kind: str  # insert | update | delete
    table: str
    key: object
    values: dict
    old: dict | None = None


@dataclass(slots=True)
class Master:
    id: int
    user_id: int
    city: str
    region_id: int
    lat: float
    lng: float
    radius_km: int
    skills: list[str]
    quality: float  # hidden: drives ratings, punctuality, complaints
    capacity: int  # jobs a day
    active_from: datetime
    status: str = "pending"
    credit_level: int = 3
    rating_sum: int = 0
    rating_n: int = 0
    completed: int = 0
    booked: Counter = field(default_factory=Counter)
    complaints: list = field(default_factory=list)
    # (ts, kind, value) facts the nightly batch job folds in once their time has come
    pending_stats: list = field(default_factory=list)
    suspended_until: date | None = None


@dataclass(slots=True)
class Merchant:
    id: int
    user_id: int
    city: str
    mtype: str
    weight: float
    level: str
    since: datetime
    customers: list = field(default_factory=list)
    gmv_28d: list = field(default_factory=list)  # (paid_at, amount)


@dataclass(slots=True)
class Customer:
    id: int
    region_id: int
    lat: float
    lng: float
    address: str
    user_id: int | None = None
    registered_at: datetime | None = None


@dataclass
class DayOutput:
    day: date
    ops: list[Op]
    actions: list[Action]
    actors: list[Actor]
    truth: dict


def _yuan(value: Decimal) -> str:
    return str(value.quantize(CENT))


class World:
    """The marketplace, simulated one day at a time with `simulate_day`."""

    def __init__(self, config: SimulationConfig) -> None:
        self.config = config
        self.rng = random.Random(derive_seed(config.seed, "world"))
        self.people = PersonFactory(random.Random(derive_seed(config.seed, "people")))
        self.np_rng = np.random.default_rng(derive_seed(config.seed, "numpy"))
        self._ids: Counter = Counter()
        self._seq = 0
        self._ops: dict[date, list[Op]] = defaultdict(list)
        self._actions: dict[date, list[Action]] = defaultdict(list)
        self._truth: dict[date, dict] = defaultdict(self._empty_truth)
        self.masters: dict[int, Master] = {}
        self.merchants: dict[int, Merchant] = {}
        self.customers: dict[int, Customer] = {}
        self.actors: list[Actor] = []
        self._order_seq_by_day: Counter = Counter()
        self._index_day: date | None = None
        self._index: dict[tuple[str, str], tuple[list[Master], np.ndarray, np.ndarray]] = {}
        self._bootstrapped = False

    # ---- bookkeeping ---------------------------------------------------------------------

    @staticmethod
    def _empty_truth() -> dict:
        return {
            "created": Counter(),
            "completed": Counter(),
            "cancelled": Counter(),
            "gmv": Decimal(0),
            "gmv_by_city": defaultdict(Decimal),
            "paid_orders": 0,
            "refund_count": 0,
            "refund_amount": Decimal(0),
            "settle_count": 0,
            "settle_gross": Decimal(0),
            "settle_fee": Decimal(0),
            "settle_net": Decimal(0),
            "active_masters": set(),
            "new_merchants": 0,
            "new_masters": 0,
            "reviews": 0,
            "review_score_sum": 0,
            "complaints": 0,
        }

    def _next_id(self, table: str, start: int = 1) -> int:
        if table not in self._ids:
            self._ids[table] = start - 1
        self._ids[table] += 1
        return self._ids[table]

    def _op(self, ts: datetime, kind: str, table: str, key, values: dict, old=None) -> None:
        self._seq += 1
        self._ops[ts.date()].append(Op(ts, self._seq, kind, table, key, values, old))

    def _insert(self, ts, table, row: dict) -> None:
        self._op(ts, "insert", table, row["id"], row)

    def _update(self, ts, table, key, values: dict, *, touch: bool = True, old=None) -> None:
        if touch:
            values = {**values, "updated_at": ts}
        self._op(ts, "update", table, key, values, old)

    def _act(self, ts: datetime, kind: str, user_id: int, role: str, city: str, **kw) -> None:
        self._actions[ts.date()].append(Action(ts, kind, user_id, role, city, **kw))

    def _status(self, ts, order, to_status, role, operator_id, extra=None) -> None:
        values = {"status": to_status, **(extra or {})}
        self._update(ts, "service_order", order["id"], values)
        self._insert(
            ts,
            "order_status_log",
            {
                "id": self._next_id("order_status_log"),
                "order_id": order["id"],
                "from_status": order["status"],
                "to_status": to_status,
                "operator_role": role,
                "operator_id": operator_id,
                "created_at": ts,
            },
        )
        order["status"] = to_status

    # ---- people --------------------------------------------------------------------------

    def _point_near(self, district: District, spread: float = DISTRICT_SPREAD_DEG):
        lat = district.lat + self.rng.gauss(0, spread / 2)
        lng = district.lng + self.rng.gauss(0, spread / 2)
        return round(lat, 6), round(lng, 6)

    def _platform(self, role: str) -> str:
        names, weights = zip(*PLATFORM_BY_ROLE[role], strict=True)
        return self.rng.choices(names, weights)[0]

    def _new_account(
        self,
        ts: datetime,
        role: str,
        city: str,
        phone: str,
        nickname: str,
        *,
        write_ts: datetime | None = None,
    ) -> int:
        """An account created at `ts`; accounts from before the simulation are written at its
        start (`write_ts`) with their historical created_at."""
        historical = write_ts is not None and ts < write_ts
        user_id = self._next_id("user_account", 100001)
        platform = self._platform(role)
        self._insert(
            write_ts if historical else ts,
            "user_account",
            {
                "id": user_id,
                "role": role,
                "phone": phone,
                "nickname": nickname,
                "register_channel": platform,
                "status": "active",
                "created_at": ts,
                "updated_at": ts,
                "is_deleted": 0,
            },
        )
        self.actors.append(Actor(user_id, role, city, ts, platform))
        if not historical:
            self._act(ts, "register", user_id, role, city)
        return user_id

    def _new_merchant(self, ts: datetime, write_ts: datetime, city_code: str | None = None) -> None:
        r = self.rng
        city = (
            CITY_BY_CODE[city_code]
            if city_code
            else r.choices(CITIES, [c.weight for c in CITIES])[0]
        )
        district = r.choice(city.districts)
        types = list(MERCHANT_TYPES)
        mtype = r.choices(types, [MERCHANT_TYPES[t][0] for t in types])[0]
        suffix = {
            "furniture_shop": "家居旗舰店",
            "appliance_shop": "电器专营店",
            "logistics": "物流有限公司",
            "offline_store": "生活馆",
        }[mtype]
        name = f"{self.people.company_prefix()}{suffix}"
        contact, phone = self.people.name(), self.people.phone()
        historical = ts < write_ts
        user_id = self._new_account(ts, "merchant", city.code, phone, name, write_ts=write_ts)
        mid = self._next_id("merchant")
        level = r.choices(MERCHANT_LEVELS, (0.6, 0.25, 0.11, 0.04))[0] if historical else "normal"
        row = {
            "id": mid,
            "user_id": user_id,
            "merchant_name": name,
            "merchant_type": mtype,
            "region_id": district.region_id,
            "contact_name": contact,
            "contact_phone": phone,
            "level": level,
            "created_at": ts,
            "updated_at": ts,
            "is_deleted": 0,
        }
        self._insert(max(ts, write_ts), "merchant", row)
        weight = r.lognormvariate(0, 1.0) * (1 + MERCHANT_LEVELS.index(level))
        self.merchants[mid] = Merchant(mid, user_id, city.code, mtype, weight, level, ts)
        if not historical:
            self._truth[ts.date()]["new_merchants"] += 1

    def _new_master(self, ts: datetime, write_ts: datetime) -> None:
        r = self.rng
        city = r.choices(CITIES, [c.weight for c in CITIES])[0]
        district = r.choice(city.districts)
        lat, lng = self._point_near(district)
        name, phone = self.people.name(), self.people.phone()
        historical = ts < write_ts
        user_id = self._new_account(ts, "master", city.code, phone, name, write_ts=write_ts)
        mid = self._next_id("master")
        n_skills = r.choices((1, 2, 3, 4), (0.3, 0.4, 0.2, 0.1))[0]
        skills = sorted(r.sample([c.code for c in LEAF_CATEGORIES], n_skills))
        quality = min(1.0, max(0.05, r.betavariate(6, 2)))
        active_from = ts if historical else ts + timedelta(seconds=r.randint(20 * 3600, 72 * 3600))
        master = Master(
            mid,
            user_id,
            city.code,
            district.region_id,
            lat,
            lng,
            r.choice((5, 8, 10, 15, 20)),
            skills,
            quality,
            r.randint(3, 6),
            active_from,
        )
        master.status = "active" if historical else "pending"
        if historical:
            master.rating_n = r.randint(0, 200)
            master.rating_sum = round(master.rating_n * (3.6 + 1.4 * quality))
            master.completed = master.rating_n + r.randint(0, 100)
            master.credit_level = self._credit_level(master)
        self._insert(
            max(ts, write_ts),
            "master",
            {
                "id": mid,
                "user_id": user_id,
                "real_name": name,
                "phone": phone,
                "id_card_no": self.people.id_card(district),
                "region_id": district.region_id,
                "home_lat": Decimal(str(lat)),
                "home_lng": Decimal(str(lng)),
                "service_radius_km": master.radius_km,
                "skills": list(skills),
                "status": master.status,
                "credit_level": master.credit_level,
                "rating_avg": self._rating(master),
                "completed_orders": master.completed,
                "created_at": ts,
                "updated_at": ts,
                "is_deleted": 0,
            },
        )
        self.masters[mid] = master
        if not historical:
            self._truth[ts.date()]["new_masters"] += 1
            self._update(active_from, "master", mid, {"status": "active"})

    @staticmethod
    def _rating(master: Master) -> Decimal | None:
        if master.rating_n == 0:
            return None
        return (Decimal(master.rating_sum) / master.rating_n).quantize(CENT, ROUND_HALF_UP)

    @staticmethod
    def _credit_level(master: Master) -> int:
        """1 (best) .. 5: rating and complaint history, as the credit batch job computes it."""
        avg = master.rating_sum / master.rating_n if master.rating_n else 4.5
        score = avg - 0.3 * len(master.complaints)
        return (
            1
            if score >= 4.7
            else 2
            if score >= 4.4
            else 3
            if score >= 4.0
            else 4
            if score >= 3.5
            else 5
        )

    def _new_customer(self, ts: datetime, district: District) -> Customer:
        lat, lng = self._point_near(district)
        cid = self._next_id("customer")
        address = self.people.address(district)
        self._insert(
            ts,
            "customer",
            {
                "id": cid,
                "user_id": None,
                "name": self.people.name(),
                "phone": self.people.phone(),
                "region_id": district.region_id,
                "address": address,
                "lat": Decimal(str(lat)),
                "lng": Decimal(str(lng)),
                "created_at": ts,
                "updated_at": ts,
            },
        )
        customer = Customer(cid, district.region_id, lat, lng, address)
        self.customers[cid] = customer
        return customer

    def _customer_account(self, ts: datetime, customer: Customer, city: str) -> int | None:
        """The customer's account when they act at `ts` (registering on first use), or None."""
        if customer.user_id is not None:
            return customer.user_id if customer.registered_at <= ts else None
        phone = self.people.phone()
        customer.user_id = self._new_account(ts, "customer", city, phone, self.people.name())
        customer.registered_at = ts
        self._update(ts, "customer", customer.id, {"user_id": customer.user_id})
        return customer.user_id

    # ---- the start of the world ----------------------------------------------------------

    def _bootstrap(self, day: date) -> None:
        """Reference data and the people who were already on the platform before day 1."""
        t0 = datetime.combine(day, time())
        created = datetime(2023, 6, 1, 9, 0)
        for d in DISTRICTS:
            self._insert(
                t0,
                "region",
                {
                    "id": d.region_id,
                    "province": d.province,
                    "city": d.city,
                    "city_code": d.city_code,
                    "district": d.name,
                    "lat": Decimal(str(d.lat)),
                    "lng": Decimal(str(d.lng)),
                    "created_at": created,
                    "updated_at": created,
                },
            )
        for c in CATEGORIES:
            self._insert(
                t0,
                "service_category",
                {
                    "id": c.id,
                    "parent_id": c.parent_id,
                    "code": c.code,
                    "name_zh": c.name_zh,
                    "name_en": c.name_en,
                    "base_price": Decimal(c.base_price_yuan).quantize(CENT),
                    "platform_fee_rate": Decimal(c.platform_fee_rate),
                    "created_at": created,
                    "updated_at": created,
                },
            )
        scale = self.config.scale
        span = (t0 - created).total_seconds()
        n_merchants = max(20, round(1500 * scale))
        n_masters = max(80, round(9000 * scale))
        history = sorted(self.rng.uniform(0, span) for _ in range(n_merchants + n_masters))
        kinds = ["merchant"] * n_merchants + ["master"] * n_masters
        self.rng.shuffle(kinds)
        for offset, kind in zip(history, kinds, strict=True):
            ts = (created + timedelta(seconds=offset)).replace(microsecond=0)
            if kind == "merchant":
                self._new_merchant(ts, t0)
            else:
                self._new_master(ts, t0)
        self._bootstrapped = True

    # ---- matching ------------------------------------------------------------------------

    def _build_index(self, day: date) -> None:
        start = datetime.combine(day, time())
        by_key: dict[tuple[str, str], list[Master]] = defaultdict(list)
        for m in self.masters.values():
            if m.status == "active" and m.active_from <= start:
                for skill in m.skills:
                    by_key[(m.city, skill)].append(m)
        self._index = {
            key: (ms, np.array([m.lat for m in ms]), np.array([m.lng for m in ms]))
            for key, ms in by_key.items()
        }
        self._index_day = day

    def _nearby(
        self, city: str, category: str, lat: float, lng: float, on: date, limit: int
    ) -> list[tuple[Master, int]]:
        """Qualified masters whose service radius covers the address and who have a free slot
        on the appointment day, nearest first, with the distance in metres."""
        entry = self._index.get((city, category))
        if not entry:
            return []
        masters, lats, lngs = entry
        p1, p2 = math.radians(lat), np.radians(lats)
        a = (
            np.sin((p2 - p1) / 2) ** 2
            + math.cos(p1) * np.cos(p2) * np.sin(np.radians(lngs - lng) / 2) ** 2
        )
        dist_km = 6371.0088 * 2 * np.arcsin(np.sqrt(a))
        out = []
        for i in np.argsort(dist_km, kind="stable"):
            m = masters[i]
            d = float(dist_km[i])
            if d > m.radius_km or m.status != "active" or m.booked[on] >= m.capacity:
                continue
            out.append((m, int(round(d * 1000))))
            if len(out) == limit:
                break
        return out

    # ---- one order, its whole life ----------------------------------------------------------

    def _order_amount(self, category: Category, factor: float) -> Decimal:
        return (Decimal(category.base_price_yuan) * Decimal(str(round(factor, 2)))).quantize(CENT)

    def _create_order(self, t0: datetime) -> None:
        r = self.rng
        merchant = r.choices(self._merchant_pool, cum_weights=self._merchant_cum)[0]
        city = CITY_BY_CODE[merchant.city]
        district = r.choice(city.districts)
        prefs = MERCHANT_TYPES[merchant.mtype][1]
        category = CATEGORY_BY_CODE[r.choices(list(prefs), list(prefs.values()))[0]]
        if merchant.customers and r.random() < 0.15:
            customer = self.customers[r.choice(merchant.customers)]
            district = next(d for d in city.districts if d.region_id == customer.region_id)
        else:
            customer = self._new_customer(t0, district)
            merchant.customers.append(customer.id)
        is_repair = category.parent_id == 2
        mode = "quote" if is_repair or r.random() < 0.6 else "auto"
        day_offset = (
            (0 if t0.hour < 13 else 1) if is_repair else r.choices((1, 2, 3, 4), (4, 3, 2, 1))[0]
        )
        slot = r.choice((8, 10, 12, 14, 16, 18))
        appt = datetime.combine(t0.date() + timedelta(days=day_offset), time(slot))
        if appt < t0 + timedelta(hours=3):
            appt += timedelta(days=1)
        amount = self._order_amount(category, r.uniform(0.85, 1.3)) if mode == "auto" else None
        self._order_seq_by_day[t0.date()] += 1
        order = {
            "id": self._next_id("service_order"),
            "order_no": f"SO{t0:%Y%m%d}{self._order_seq_by_day[t0.date()]:08d}",
            "merchant_id": merchant.id,
            "customer_id": customer.id,
            "category_id": category.id,
            "region_id": district.region_id,
            "service_address": customer.address,
            "lat": Decimal(str(customer.lat)),
            "lng": Decimal(str(customer.lng)),
            "dispatch_mode": mode,
            "status": "created",
            "order_amount": amount,
            "master_id": None,
            "appointment_start": appt,
            "appointment_end": appt + timedelta(hours=2),
            "remark": r.choice(
                (None, None, None, "请提前电话联系", "小区需登记", "有电梯", "无电梯，六楼")
            ),
            "cancel_reason": None,
            "assigned_at": None,
            "scheduled_at": None,
            "service_started_at": None,
            "finished_at": None,
            "completed_at": None,
            "cancelled_at": None,
            "created_at": t0,
            "updated_at": t0,
            "is_deleted": 0,
        }
        self._insert(t0, "service_order", dict(order))
        self._insert(
            t0,
            "order_status_log",
            {
                "id": self._next_id("order_status_log"),
                "order_id": order["id"],
                "from_status": None,
                "to_status": "created",
                "operator_role": "merchant",
                "operator_id": merchant.user_id,
                "created_at": t0,
            },
        )
        ctx = _OrderContext(order, merchant, customer, category, city.code)
        self._truth[t0.date()]["created"][(city.code, category.code)] += 1
        self._act(
            t0,
            "order_submit",
            merchant.user_id,
            "merchant",
            city.code,
            order_id=order["id"],
            order_no=order["order_no"],
            category_code=category.code,
            amount_fen=int(amount * 100) if amount is not None else None,
        )
        # The merchant may call it off before the service starts.
        cancel_at = None
        if r.random() < 0.07:
            latest = appt - timedelta(hours=1)
            span = (latest - t0).total_seconds()
            if span > 1200:
                cancel_at = t0 + timedelta(seconds=int(r.uniform(600, span)))
        assigned = (
            self._run_quotes(ctx, cancel_at)
            if mode == "quote"
            else self._run_dispatch(ctx, cancel_at)
        )
        if assigned is None:
            return
        self._after_assignment(ctx, assigned, cancel_at)

    def _cancel(self, ctx: _OrderContext, ts: datetime, reason: str, role: str) -> None:
        operator = ctx.merchant.user_id if role == "merchant" else None
        self._status(
            ts,
            ctx.order,
            "cancelled",
            role,
            operator,
            {"cancelled_at": ts, "cancel_reason": reason},
        )
        self._truth[ts.date()]["cancelled"][(ctx.city, ctx.category.code)] += 1
        if role == "merchant":
            self._act(
                ts,
                "order_cancel",
                ctx.merchant.user_id,
                "merchant",
                ctx.city,
                order_id=ctx.order["id"],
                order_no=ctx.order["order_no"],
                category_code=ctx.category.code,
            )
        if self.rng.random() < 0.4:  # merchants tidy cancelled orders out of their list
            hide = ts + timedelta(minutes=self.rng.randint(30, 4000))
            self._update(hide, "service_order", ctx.order["id"], {"is_deleted": 1})

    def _run_quotes(self, ctx: _OrderContext, cancel_at: datetime | None):
        r, order = self.rng, ctx.order
        t_open = order["created_at"] + timedelta(seconds=r.randint(20, 120))
        if cancel_at is not None and cancel_at <= t_open:
            self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
            return None
        self._status(t_open, order, "quoting", "system", None)
        on = order["appointment_start"].date()
        quotes = []
        for master, dist_m in self._nearby(
            ctx.city, ctx.category.code, float(order["lat"]), float(order["lng"]), on, 12
        ):
            if r.random() > 0.25 + 0.35 * master.quality:
                continue
            tq = t_open + timedelta(seconds=int(min(r.expovariate(1 / 2400), 20 * 3600)) + 30)
            amount = self._order_amount(
                ctx.category, r.uniform(0.85, 1.35) * (1.06 - 0.03 * master.credit_level)
            )
            quotes.append([tq, master, dist_m, amount, None])
        quotes.sort(key=lambda q: (q[0], q[1].id))
        if not quotes:
            deadline = t_open + timedelta(hours=24)
            if cancel_at is not None and cancel_at < deadline:
                self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
            else:
                self._cancel(ctx, deadline, "no_quote", "system")
            return None
        t_accept = quotes[min(1, len(quotes) - 1)][0] + timedelta(seconds=r.randint(600, 7200))
        live = []
        for q in quotes:
            tq, master, dist_m, amount, _ = q
            if tq >= t_accept:
                continue
            qid = self._next_id("master_quote")
            q[4] = qid
            self._insert(
                tq,
                "master_quote",
                {
                    "id": qid,
                    "order_id": order["id"],
                    "master_id": master.id,
                    "amount": amount,
                    "distance_m": dist_m,
                    "status": "pending",
                    "created_at": tq,
                    "updated_at": tq,
                },
            )
            self._act(
                tq,
                "quote_submit",
                master.user_id,
                "master",
                ctx.city,
                order_id=order["id"],
                order_no=order["order_no"],
                category_code=ctx.category.code,
                amount_fen=int(amount * 100),
                quote_id=qid,
            )
            if r.random() < 0.06:
                tw = tq + timedelta(seconds=r.randint(300, 5400))
                if tw < t_accept:
                    self._op(tw, "delete", "master_quote", qid, {})
                    self._act(
                        tw,
                        "quote_withdraw",
                        master.user_id,
                        "master",
                        ctx.city,
                        order_id=order["id"],
                        quote_id=qid,
                    )
                    continue
            live.append(q)
        if cancel_at is not None and cancel_at < t_accept:
            self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
            for q in live:
                self._update(cancel_at, "master_quote", q[4], {"status": "rejected"})
            return None
        if not live:
            self._cancel(ctx, t_open + timedelta(hours=24), "no_quote", "system")
            return None
        best = min(
            live, key=lambda q: (q[3] * (Decimal("0.9") + Decimal(q[1].credit_level) / 20), q[1].id)
        )
        for q in live:
            self._update(
                t_accept, "master_quote", q[4], {"status": "accepted" if q is best else "rejected"}
            )
        _, master, dist_m, amount, qid = best
        self._dispatch_row(order, master, "quote", dist_m, "accepted", t_accept, t_accept)
        self._act(
            t_accept,
            "quote_accept",
            ctx.merchant.user_id,
            "merchant",
            ctx.city,
            order_id=order["id"],
            order_no=order["order_no"],
            category_code=ctx.category.code,
            amount_fen=int(amount * 100),
            quote_id=qid,
        )
        return t_accept, master, amount

    def _dispatch_row(self, order, master, dtype, dist_m, result, t_sent, t_resp) -> int:
        did = self._next_id("order_dispatch")
        self._insert(
            t_sent,
            "order_dispatch",
            {
                "id": did,
                "order_id": order["id"],
                "master_id": master.id,
                "dispatch_type": dtype,
                "distance_m": dist_m,
                "result": "pending" if t_resp != t_sent else result,
                "dispatched_at": t_sent,
                "responded_at": None if t_resp != t_sent else t_resp,
                "created_at": t_sent,
                "updated_at": t_sent,
            },
        )
        if t_resp != t_sent:
            self._update(t_resp, "order_dispatch", did, {"result": result, "responded_at": t_resp})
        return did

    def _run_dispatch(self, ctx: _OrderContext, cancel_at: datetime | None):
        r, order = self.rng, ctx.order
        t = order["created_at"] + timedelta(seconds=r.randint(30, 300))
        on = order["appointment_start"].date()
        for master, dist_m in self._nearby(
            ctx.city, ctx.category.code, float(order["lat"]), float(order["lng"]), on, 3
        ):
            t_resp = t + timedelta(seconds=r.randint(60, 900))
            if cancel_at is not None and cancel_at < t_resp:
                break
            accepted = r.random() < 0.6 + 0.35 * master.quality
            did = self._dispatch_row(
                order, master, "auto", dist_m, "accepted" if accepted else "declined", t, t_resp
            )
            kind = "dispatch_accept" if accepted else "dispatch_decline"
            self._act(
                t_resp,
                kind,
                master.user_id,
                "master",
                ctx.city,
                order_id=order["id"],
                order_no=order["order_no"],
                category_code=ctx.category.code,
                dispatch_id=did,
            )
            if accepted:
                return t_resp, master, order["order_amount"]
            t = t_resp + timedelta(seconds=r.randint(5, 60))
        if cancel_at is not None and cancel_at < t + timedelta(minutes=30):
            self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
        else:
            self._cancel(ctx, t + timedelta(minutes=30), "no_master", "system")
        return None

    def _after_assignment(self, ctx: _OrderContext, assigned, cancel_at) -> None:
        r, order = self.rng, ctx.order
        t_assign, master, amount = assigned
        self._status(
            t_assign,
            order,
            "assigned",
            "master",
            master.user_id,
            {"master_id": master.id, "assigned_at": t_assign, "order_amount": amount},
        )
        order["order_amount"] = amount
        appt = order["appointment_start"]
        t_sched = t_assign + timedelta(seconds=r.randint(600, 4 * 3600))
        extra = {"scheduled_at": t_sched}
        if t_sched > appt - timedelta(minutes=30):
            appt = datetime.combine(
                t_sched.date() + timedelta(days=1), time(r.choice((8, 10, 14, 16)))
            )
            extra |= {"appointment_start": appt, "appointment_end": appt + timedelta(hours=2)}
        master.booked[appt.date()] += 1
        if cancel_at is not None and cancel_at < t_sched:
            self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
            return
        self._status(t_sched, order, "scheduled", "master", master.user_id, extra)
        self._act(
            t_sched,
            "schedule_confirm",
            master.user_id,
            "master",
            ctx.city,
            order_id=order["id"],
            order_no=order["order_no"],
            category_code=ctx.category.code,
        )
        on_time = r.random() < 0.78 + 0.2 * master.quality
        if on_time:
            t_start = appt + timedelta(seconds=r.randint(-900, 5400))
        else:
            t_start = appt + timedelta(seconds=r.randint(2 * 3600 + 300, 5 * 3600))
        if cancel_at is not None and cancel_at < t_start:
            self._cancel(ctx, cancel_at, "merchant_cancel", "merchant")
            return
        self._status(
            t_start, order, "in_service", "master", master.user_id, {"service_started_at": t_start}
        )
        self._truth[t_start.date()]["active_masters"].add(master.id)
        self._act(
            t_start,
            "service_checkin",
            master.user_id,
            "master",
            ctx.city,
            order_id=order["id"],
            order_no=order["order_no"],
            category_code=ctx.category.code,
        )
        hours = ctx.category.service_hours * r.lognormvariate(0, 0.3)
        t_finish = t_start + timedelta(seconds=int(hours * 3600))
        self._update(t_finish, "service_order", order["id"], {"finished_at": t_finish})
        self._act(
            t_finish,
            "service_finish",
            master.user_id,
            "master",
            ctx.city,
            order_id=order["id"],
            order_no=order["order_no"],
            category_code=ctx.category.code,
        )
        # The customer confirms in the mini-program, or the system does after 24 hours.
        customer_user = None
        if r.random() < 0.6:
            t_done = t_finish + timedelta(seconds=r.randint(300, 20 * 3600))
            customer_user = self._customer_account(t_done, ctx.customer, ctx.city)
        if customer_user is None:
            t_done = t_finish + timedelta(hours=24)
            self._status(t_done, order, "completed", "system", None, {"completed_at": t_done})
        else:
            self._status(
                t_done, order, "completed", "customer", customer_user, {"completed_at": t_done}
            )
            self._act(
                t_done,
                "order_confirm",
                customer_user,
                "customer",
                ctx.city,
                order_id=order["id"],
                order_no=order["order_no"],
                category_code=ctx.category.code,
            )
        self._truth[t_done.date()]["completed"][(ctx.city, ctx.category.code)] += 1
        master.pending_stats.append((t_done, "completed", 1))
        payment_id, paid_at = self._pay(ctx, t_done, amount)
        self._settle(ctx, master, paid_at, amount)
        if customer_user is not None and r.random() < 0.7:
            self._review(ctx, master, customer_user, t_done, on_time)
        p_complaint = 0.015 + 0.08 * (1 - master.quality) + (0.05 if not on_time else 0)
        if r.random() < p_complaint:
            self._complain(ctx, master, customer_user, t_done, payment_id, paid_at, amount, on_time)

    def _open_payment(self, ctx: _OrderContext, t: datetime, amount: Decimal, channel: str) -> int:
        """A pending payment row: the merchant pressed "pay"."""
        pid = self._next_id("payment")
        self._insert(
            t,
            "payment",
            {
                "id": pid,
                "payment_no": f"PAY{t:%Y%m%d}{pid:010d}",
                "order_id": ctx.order["id"],
                "merchant_id": ctx.merchant.id,
                "amount": amount,
                "channel": channel,
                "status": "pending",
                "paid_at": None,
                "created_at": t,
                "updated_at": t,
            },
        )
        return pid

    def _pay(self, ctx: _OrderContext, t_done: datetime, amount: Decimal):
        r = self.rng
        t = t_done + timedelta(seconds=r.randint(600, 6 * 3600))
        channel = r.choices(
            ("wechat", "alipay", "balance", "bank_transfer"), (0.45, 0.3, 0.2, 0.05)
        )[0]
        if r.random() < 0.02:  # a failed attempt first (bank declined, insufficient balance)
            pid = self._open_payment(ctx, t, amount, channel)
            self._update(
                t + timedelta(seconds=r.randint(3, 40)), "payment", pid, {"status": "failed"}
            )
            t += timedelta(seconds=r.randint(300, 1800))
            channel = "wechat"
        pid = self._open_payment(ctx, t, amount, channel)
        paid_at = t + timedelta(seconds=r.randint(2, 60))
        self._update(paid_at, "payment", pid, {"status": "success", "paid_at": paid_at})
        self._act(
            paid_at,
            "payment_submit",
            ctx.merchant.user_id,
            "merchant",
            ctx.city,
            order_id=ctx.order["id"],
            order_no=ctx.order["order_no"],
            category_code=ctx.category.code,
            amount_fen=int(amount * 100),
        )
        truth = self._truth[paid_at.date()]
        truth["gmv"] += amount
        truth["gmv_by_city"][ctx.city] += amount
        truth["paid_orders"] += 1
        ctx.merchant.gmv_28d.append((paid_at, amount))
        return pid, paid_at

    def _settle(
        self, ctx: _OrderContext, master: Master, paid_at: datetime, amount: Decimal
    ) -> None:
        fee = (amount * Decimal(ctx.category.platform_fee_rate)).quantize(CENT, ROUND_HALF_UP)
        sid = self._next_id("settlement")
        self._insert(
            paid_at,
            "settlement",
            {
                "id": sid,
                "order_id": ctx.order["id"],
                "master_id": master.id,
                "gross_amount": amount,
                "platform_fee": fee,
                "net_amount": amount - fee,
                "status": "pending",
                "settled_at": None,
                "created_at": paid_at,
                "updated_at": paid_at,
            },
        )
        # T+1 settlement batch at 03:00, one master after another.
        settled = datetime.combine(paid_at.date() + timedelta(days=1), time(3)) + timedelta(
            seconds=master.id % 1800
        )
        self._update(settled, "settlement", sid, {"status": "settled", "settled_at": settled})
        truth = self._truth[settled.date()]
        truth["settle_count"] += 1
        truth["settle_gross"] += amount
        truth["settle_fee"] += fee
        truth["settle_net"] += amount - fee

    def _review(self, ctx, master, user_id, t_done, on_time) -> None:
        r = self.rng
        t = t_done + timedelta(seconds=r.randint(60, 48 * 3600))
        q = master.quality - (0.25 if not on_time else 0)
        score = 5 if r.random() < q else r.choices((4, 3, 2, 1), (5, 3, 1.5, 1))[0]
        rid = self._next_id("review")
        self._insert(
            t,
            "review",
            {
                "id": rid,
                "order_id": ctx.order["id"],
                "master_id": master.id,
                "customer_id": ctx.customer.id,
                "score": score,
                "content": r.choice(REVIEW_TEXT[score]),
                "created_at": t,
            },
        )
        self._act(
            t,
            "review_submit",
            user_id,
            "customer",
            ctx.city,
            order_id=ctx.order["id"],
            order_no=ctx.order["order_no"],
            category_code=ctx.category.code,
            score=score,
        )
        master.pending_stats.append((t, "review", score))
        self._truth[t.date()]["reviews"] += 1
        self._truth[t.date()]["review_score_sum"] += score
        if r.random() < 0.08:  # a follow-up comment rewrites content; the table has no updated_at
            t2 = t + timedelta(seconds=r.randint(86400, 5 * 86400))
            content = r.choice(REVIEW_TEXT[score]) + " " + r.choice(FOLLOW_UP)
            self._op(t2, "update", "review", rid, {"content": content})

    def _complain(self, ctx, master, customer_user, t_done, payment_id, paid_at, amount, on_time):
        r = self.rng
        t = t_done + timedelta(seconds=r.randint(3600, 72 * 3600))
        role = (
            "customer"
            if customer_user is not None and t >= ctx.customer.registered_at
            else "merchant"
        )
        user = customer_user if role == "customer" else ctx.merchant.user_id
        ctype = "late" if not on_time and r.random() < 0.6 else r.choice(COMPLAINT_TYPES)
        cid = self._next_id("complaint")
        self._insert(
            t,
            "complaint",
            {
                "id": cid,
                "order_id": ctx.order["id"],
                "master_id": master.id,
                "complainant_role": role,
                "complaint_type": ctype,
                "content": {
                    "late": "师傅迟到严重",
                    "quality": "安装质量有问题",
                    "attitude": "服务态度差",
                    "damage": "安装时损坏了家具",
                    "price": "现场加价",
                }[ctype],
                "status": "open",
                "resolution": None,
                "resolved_at": None,
                "created_at": t,
                "updated_at": t,
            },
        )
        self._act(
            t,
            "complaint_submit",
            user,
            role,
            ctx.city,
            order_id=ctx.order["id"],
            order_no=ctx.order["order_no"],
            category_code=ctx.category.code,
        )
        self._truth[t.date()]["complaints"] += 1
        master.complaints.append(t)
        master.pending_stats.append((t, "complaint", 1))
        t_res = t + timedelta(seconds=r.randint(2 * 3600, 48 * 3600))
        resolution = r.choices(("refund", "warning", "none"), (0.4, 0.4, 0.2))[0]
        self._update(
            t_res,
            "complaint",
            cid,
            {
                "status": "rejected" if resolution == "none" else "resolved",
                "resolution": resolution,
                "resolved_at": t_res,
            },
        )
        if resolution != "refund":
            return
        full = r.random() < 0.3
        refund = (
            amount if full else (amount * Decimal(str(r.choice((0.2, 0.3, 0.5))))).quantize(CENT)
        )
        t_ref = max(t_res, paid_at + timedelta(minutes=10))
        fid = self._next_id("refund")
        self._insert(
            t_ref,
            "refund",
            {
                "id": fid,
                "refund_no": f"RF{t_ref:%Y%m%d}{fid:010d}",
                "order_id": ctx.order["id"],
                "payment_id": payment_id,
                "amount": refund,
                "reason": f"complaint_{ctype}",
                "status": "pending",
                "refunded_at": None,
                "created_at": t_ref,
                "updated_at": t_ref,
            },
        )
        t_done_ref = t_ref + timedelta(seconds=r.randint(600, 6 * 3600))
        self._update(t_done_ref, "refund", fid, {"status": "success", "refunded_at": t_done_ref})
        self._truth[t_done_ref.date()]["refund_count"] += 1
        self._truth[t_done_ref.date()]["refund_amount"] += refund
        if full:
            self._status(t_done_ref, ctx.order, "refunded", "system", None)

    # ---- the nightly jobs and the slow-moving population ------------------------------------

    def _nightly_jobs(self, day: date) -> None:
        r = self.rng
        t_batch = datetime.combine(day, time(1, 0))
        # The credit batch job: a raw UPDATE that bypasses the ORM, so updated_at stays put.
        for m in self.masters.values():
            due = [s for s in m.pending_stats if s[0] < t_batch]
            if not due:
                continue
            m.pending_stats = [s for s in m.pending_stats if s[0] >= t_batch]
            for _, kind, value in due:
                if kind == "completed":
                    m.completed += 1
                elif kind == "review":
                    m.rating_n += 1
                    m.rating_sum += value
            recent = [c for c in m.complaints if t_batch - timedelta(days=30) <= c < t_batch]
            level = self._credit_level(m)
            self._update(
                t_batch + timedelta(seconds=m.id % 600),
                "master",
                m.id,
                {
                    "credit_level": level,
                    "rating_avg": self._rating(m),
                    "completed_orders": m.completed,
                },
                touch=False,
            )
            m.credit_level = level
            if m.status == "active" and len(recent) >= 3:
                m.status, m.suspended_until = "suspended", day + timedelta(days=7)
                self._update(
                    t_batch + timedelta(seconds=700), "master", m.id, {"status": "suspended"}
                )
        for m in self.masters.values():
            if m.status == "suspended" and m.suspended_until and m.suspended_until <= day:
                m.status, m.suspended_until, m.complaints = "active", None, []
                self._update(t_batch + timedelta(seconds=800), "master", m.id, {"status": "active"})
            elif m.status == "pending" and m.active_from.date() <= day:
                m.status = "active"
        # Merchant levels are reviewed every Monday from trailing 28-day GMV.
        if day.weekday() == 0:
            since = t_batch - timedelta(days=28)
            for mer in self.merchants.values():
                mer.gmv_28d = [g for g in mer.gmv_28d if g[0] >= since]
                gmv = sum((g[1] for g in mer.gmv_28d), Decimal(0))
                level = (
                    "platinum"
                    if gmv >= 200000
                    else "gold"
                    if gmv >= 50000
                    else "silver"
                    if gmv >= 10000
                    else "normal"
                )
                if MERCHANT_LEVELS.index(level) > MERCHANT_LEVELS.index(mer.level):
                    mer.level = level
                    self._update(
                        t_batch + timedelta(minutes=60, seconds=mer.id % 600),
                        "merchant",
                        mer.id,
                        {"level": level},
                    )
        # Masters change what they offer, and some leave the platform.
        for m in list(self.masters.values()):
            if m.status != "active":
                continue
            x = r.random()
            ts = datetime.combine(day, time(r.randint(8, 21), r.randint(0, 59), r.randint(0, 59)))
            if x < 0.004:
                old = list(m.skills)
                spare = [c.code for c in LEAF_CATEGORIES if c.code not in m.skills]
                if len(m.skills) > 1 and (not spare or r.random() < 0.4):
                    m.skills.remove(r.choice(m.skills))
                else:
                    m.skills.append(r.choice(spare))
                m.skills.sort()
                self._update(ts, "master", m.id, {"skills": list(m.skills)}, old={"skills": old})
            elif x < 0.0055:
                m.status = "left"
                self._update(ts, "master", m.id, {"status": "left", "is_deleted": 1})

    def _signups(self, day: date) -> None:
        r = self.rng
        n_mer = sum(1 for _ in range(len(self.merchants)) if r.random() < 0.003)
        n_mas = sum(1 for _ in range(len(self.masters)) if r.random() < 0.004)
        for kind, n in (("merchant", n_mer), ("master", n_mas)):
            for _ in range(n):
                ts = datetime.combine(
                    day, time(r.randint(8, 22), r.randint(0, 59), r.randint(0, 59))
                )
                if kind == "merchant":
                    self._new_merchant(ts, ts)
                else:
                    self._new_master(ts, ts)

    # ---- the day -----------------------------------------------------------------------------

    def _orders_today(self, day: date) -> int:
        index = (day - self.config.start).days
        mean = (
            ORDERS_PER_DAY_AT_SCALE_1
            * self.config.scale
            * WEEKDAY_FACTOR[day.weekday()]
            * DAILY_GROWTH**index
        )
        return max(1, round(mean * self.rng.uniform(0.95, 1.05)))

    def simulate_day(self, day: date) -> DayOutput:
        """Advance the world through `day` and return everything that happened on it."""
        if not self._bootstrapped:
            self._bootstrap(day)
        self._nightly_jobs(day)
        self._signups(day)
        self._build_index(day)
        start = datetime.combine(day, time())
        live = [m for m in self.merchants.values() if m.since < start]
        self._merchant_pool = live
        self._merchant_cum = list(itertools.accumulate(m.weight for m in live))
        n = self._orders_today(day)
        hours = self.rng.choices(range(24), ORDER_HOUR_WEIGHTS, k=n)
        stamps = sorted(start + timedelta(hours=h, seconds=self.rng.randrange(3600)) for h in hours)
        for t0 in stamps:
            self._create_order(t0)
        ops = sorted(self._ops.pop(day, []), key=lambda o: (o.ts, o.seq))
        actions = sorted(self._actions.pop(day, []), key=lambda a: (a.ts, a.user_id, a.kind))
        end = start + timedelta(days=1)
        actors = [a for a in self.actors if a.registered_at < end]
        return DayOutput(day, ops, actions, actors, self._finish_truth(day))

    def _finish_truth(self, day: date) -> dict:
        t = self._truth.pop(day, None) or self._empty_truth()

        def nested(counter: Counter) -> dict:
            out: dict = defaultdict(dict)
            for (city, cat), n in sorted(counter.items()):
                out[city][cat] = n
            return dict(out)

        return {
            "dt": day.isoformat(),
            "orders_created": nested(t["created"]),
            "orders_completed": nested(t["completed"]),
            "orders_cancelled": nested(t["cancelled"]),
            "orders_created_total": sum(t["created"].values()),
            "orders_completed_total": sum(t["completed"].values()),
            "orders_cancelled_total": sum(t["cancelled"].values()),
            "gmv_yuan": _yuan(t["gmv"]),
            "gmv_by_city_yuan": {k: _yuan(v) for k, v in sorted(t["gmv_by_city"].items())},
            "paid_orders": t["paid_orders"],
            "refunds": {"count": t["refund_count"], "amount_yuan": _yuan(t["refund_amount"])},
            "settlements": {
                "count": t["settle_count"],
                "gross_yuan": _yuan(t["settle_gross"]),
                "platform_fee_yuan": _yuan(t["settle_fee"]),
                "net_yuan": _yuan(t["settle_net"]),
            },
            "active_masters": len(t["active_masters"]),
            "new_merchants": t["new_merchants"],
            "new_masters": t["new_masters"],
            "reviews": t["reviews"],
            "review_score_sum": t["review_score_sum"],
            "complaints": t["complaints"],
        }


@dataclass(slots=True)
class _OrderContext:
    order: dict
    merchant: Merchant
    customer: Customer
    category: Category
    city: str
