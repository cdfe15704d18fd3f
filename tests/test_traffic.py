"""The traffic generator: nginx logs, application logs and tracking events of a business day.

Every test reads the real gzip files a small day writes and parses them the way the warehouse
will, without help from the generator's internals: the truth it returns must be recomputable
from the files alone.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import random
import re
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from simulator.activity import ACTION_KINDS, Action, Actor
from simulator.config import LATE_WINDOW_HOURS, FaultRates, SimulationConfig
from simulator.devices import BOT_UA_RE
from simulator.routing import route
from simulator.traffic import MAX_ARRIVAL_DELAY_DAYS, generate_traffic_day

DAY = date(2026, 11, 3)
SCALE = 0.02
SHANGHAI = timezone(timedelta(hours=8))
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"

NGINX_LINE = re.compile(
    r"^(?P<ip>[0-9a-fA-F.:]+) - (?P<user>\S+) "
    r"\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0800)\] "
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<ua>(?:[^"\\]|\\.)*)" '
    r"(?P<request_time>\d+\.\d{3}) (?P<upstream>-|\d+\.\d{3}(?:, \d+\.\d{3})*) "
    r"(?P<request_id>[0-9a-f]{32})$"
)
REQUEST = re.compile(r"^(?P<method>[A-Z]+) (?P<path>\S+) (?P<protocol>HTTP/\d\.\d)$")
APP_HEADER = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}) +(?P<level>INFO|WARN|ERROR) \d+ --- "
    r"\[(?P<thread>.{15})\] (?P<logger>.{40}) : (?P<message>.*)$"
)
TRACE = re.compile(r"^\[traceId=([0-9a-f]{32})\] ")


# ---- a small marketplace day ---------------------------------------------------------------


def make_day(seed: int = 7, orders: int = 400) -> tuple[list[Action], list[Actor]]:
    """Actors and a day of actions shaped like the world simulation's: orders, quotes,
    dispatches, service, payment, reviews, complaints, cancellations and registrations."""
    rng = random.Random(seed)
    midnight = datetime(DAY.year, DAY.month, DAY.day)
    before = midnight - timedelta(days=30)
    cities = ("sh", "bj", "gz", "sz", "hz", "cd", "wh")
    categories = (
        "furniture_install",
        "appliance_install",
        "appliance_repair",
        "plumbing_repair",
        "furniture_delivery",
    )
    actors: list[Actor] = []
    next_id = iter(range(100001, 200000))

    def people(role: str, n: int, platforms: tuple[str, ...]) -> list[Actor]:
        made = [
            Actor(next(next_id), role, rng.choice(cities), before, rng.choice(platforms))
            for _ in range(n)
        ]
        actors.extend(made)
        return made

    merchants = people("merchant", 40, ("web", "web", "android", "ios"))
    masters = people("master", 120, ("android", "android", "ios"))
    customers = people("customer", 150, ("miniprogram", "h5", "android", "ios"))
    actions: list[Action] = []
    quote_ids, dispatch_ids = iter(range(1, 10**6)), iter(range(1, 10**6))

    def at(seconds: float) -> datetime | None:
        return midnight + timedelta(seconds=int(seconds)) if seconds < 86_399 else None

    for n in range(orders):
        merchant = rng.choice(merchants)
        t0 = rng.uniform(7 * 3600, 23 * 3600)
        order = {
            "order_id": 5000 + n,
            "order_no": f"SO{DAY:%Y%m%d}{n + 1:08d}",
            "category_code": rng.choice(categories),
        }
        city = merchant.city_code
        amount = rng.randrange(8000, 40000)
        actions.append(
            Action(
                at(t0),
                "order_submit",
                merchant.user_id,
                "merchant",
                city,
                amount_fen=amount,
                **order,
            )
        )
        t = t0
        if rng.random() < 0.5:
            for master in rng.sample(masters, rng.randrange(1, 4)):
                t += rng.uniform(60, 900)
                if at(t):
                    actions.append(
                        Action(
                            at(t),
                            "quote_submit",
                            master.user_id,
                            "master",
                            city,
                            amount_fen=amount + rng.randrange(-2000, 2000),
                            quote_id=next(quote_ids),
                            **order,
                        )
                    )
            t += rng.uniform(60, 1800)
            kind, actor, extra = "quote_accept", merchant, {"quote_id": next(quote_ids)}
        else:
            t += rng.uniform(10, 300)
            kind, actor, extra = (
                "dispatch_accept",
                rng.choice(masters),
                {"dispatch_id": next(dispatch_ids)},
            )
        if at(t):
            actions.append(Action(at(t), kind, actor.user_id, actor.role, city, **extra, **order))
        if rng.random() < 0.05:
            t += rng.uniform(600, 3600)
            if at(t):
                actions.append(
                    Action(at(t), "order_cancel", merchant.user_id, "merchant", city, **order)
                )
    # Work on orders from earlier days: service, confirmation, payment, reviews, complaints.
    for n in range(orders // 2):
        master, customer, merchant = (
            rng.choice(masters),
            rng.choice(customers),
            rng.choice(merchants),
        )
        order = {
            "order_id": 1000 + n,
            "order_no": f"SO20261101{n + 1:08d}",
            "category_code": rng.choice(categories),
        }
        t = rng.uniform(8 * 3600, 20 * 3600)
        for kind, actor, extra in (
            ("service_checkin", master, {}),
            ("service_finish", master, {}),
            ("order_confirm", customer, {}),
            ("payment_submit", merchant, {"amount_fen": rng.randrange(8000, 40000)}),
            ("review_submit", customer, {"score": rng.choice((5, 5, 4, 3, 1))}),
            ("complaint_submit", customer, {}),
        ):
            t += rng.uniform(120, 5400)
            if kind == "complaint_submit" and rng.random() > 0.1 or not at(t):
                continue
            actions.append(
                Action(at(t), kind, actor.user_id, actor.role, master.city_code, **extra, **order)
            )
    for _ in range(15):
        t = at(rng.uniform(0, 86_000))
        role = rng.choice(("customer", "master", "merchant"))
        actor = Actor(
            next(next_id), role, rng.choice(cities), t, "h5" if role == "customer" else "android"
        )
        actors.append(actor)
        actions.append(Action(t, "register", actor.user_id, role, actor.city_code))
    actions.sort(key=lambda a: (a.ts, a.user_id, a.kind))
    return actions, actors


CONFIG = SimulationConfig(start=DAY - timedelta(days=2), days=5, scale=SCALE, seed=42)
ACTIONS, ACTORS = make_day()
LAST = DAY + timedelta(days=MAX_ARRIVAL_DELAY_DAYS)


def digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def read_lines(path: Path) -> list[str]:
    """Lines of a gzip text file; bytes that are not UTF-8 are replaced, not fatal."""
    return gzip.decompress(path.read_bytes()).decode("utf-8", errors="replace").splitlines()


@pytest.fixture(scope="module")
def day(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("traffic")
    truth = generate_traffic_day(CONFIG, DAY, ACTIONS, ACTORS, out, DAY, LAST)
    return out, truth


@pytest.fixture(scope="module")
def events(day: tuple[Path, dict]) -> list[str]:
    out, _ = day
    files = sorted(out.glob(f"events/*/*/*/events-{DAY:%Y%m%d}.ndjson.gz"))
    return [line for path in files for line in read_lines(path)]


@pytest.fixture(scope="module")
def nginx(day: tuple[Path, dict]) -> list[str]:
    out, _ = day
    return [line for path in sorted(out.glob("logs/nginx/*/*.gz")) for line in read_lines(path)]


@pytest.fixture(scope="module")
def app_entries(day: tuple[Path, dict]) -> dict[str, list[tuple[str, list[str]]]]:
    """Per service: (header line, continuation lines) of every entry."""
    out, _ = day
    entries: dict[str, list[tuple[str, list[str]]]] = {}
    for path in sorted(out.glob("logs/app/*/*/*.gz")):
        service = path.parent.parent.name
        for line in read_lines(path):
            if APP_HEADER.match(line):
                entries.setdefault(service, []).append((line, []))
            else:
                entries[service][-1][1].append(line)
    return entries


@pytest.fixture(scope="module")
def validators() -> dict[str, Draft202012Validator]:
    return {
        p.stem: Draft202012Validator(json.loads(p.read_text(encoding="utf-8")))
        for p in SCHEMAS.glob("*.json")
    }


@pytest.fixture(scope="module")
def checked(
    events: list[str], validators: dict[str, Draft202012Validator]
) -> list[tuple[dict | None, bool | None]]:
    """Each event line parsed (None: not JSON) and checked against its schema (None: an event
    the plan does not know)."""
    out: list[tuple[dict | None, bool | None]] = []
    for line in events:
        try:
            event = json.loads(line)
        except ValueError:
            out.append((None, None))
            continue
        validator = validators.get(event.get("event"))
        out.append((event, None if validator is None else validator.is_valid(event)))
    return out


# ---- determinism -----------------------------------------------------------------------------


def test_same_inputs_write_the_same_bytes(day: tuple[Path, dict], tmp_path: Path) -> None:
    out, truth = day
    again = generate_traffic_day(
        CONFIG, DAY, list(ACTIONS), list(reversed(ACTORS)), tmp_path, DAY, LAST
    )
    assert digests(tmp_path) == digests(out)
    assert again == truth
    assert json.loads(json.dumps(truth)) == truth


def test_writing_a_range_in_pieces_gives_the_same_files(
    day: tuple[Path, dict], tmp_path: Path
) -> None:
    """A run of days D..D+1 and a later append of D+2.. write exactly what one run writes."""
    out, truth = day
    first = generate_traffic_day(CONFIG, DAY, ACTIONS, ACTORS, tmp_path, DAY, DAY + timedelta(1))
    written = {p.parts[2] for p in (q.relative_to(tmp_path) for q in tmp_path.glob("events/*/*"))}
    assert written == {DAY.isoformat(), (DAY + timedelta(1)).isoformat()}
    for start, end in ((DAY + timedelta(2), DAY + timedelta(2)), (DAY + timedelta(3), LAST)):
        assert generate_traffic_day(CONFIG, DAY, ACTIONS, ACTORS, tmp_path, start, end) == truth
    assert first == truth
    assert digests(tmp_path) == digests(out)


def test_late_events_are_filed_under_the_day_they_arrive(day: tuple[Path, dict]) -> None:
    out, _ = day
    for path in out.glob("events/*/*/*/*.gz"):
        collector, arrival, hour = path.parts[-4:-1]
        for line in read_lines(path):
            try:
                server_ts = json.loads(line)["server_ts"]
            except (ValueError, KeyError, TypeError):
                continue
            received = datetime.fromtimestamp(server_ts / 1000, SHANGHAI)
            assert (received.date().isoformat(), f"{received.hour:02d}") == (arrival, hour)
            assert collector in ("c1", "c2")


# ---- formats ---------------------------------------------------------------------------------


def test_events_pass_their_schema_except_the_planned_violations(
    events: list[str], checked: list[tuple[dict | None, bool | None]]
) -> None:
    failures = sum(1 for _event, ok in checked if ok is False)
    assert failures == round(CONFIG.faults.schema_violation * len(events))


def test_action_events_carry_the_business_facts(
    checked: list[tuple[dict | None, bool | None]],
) -> None:
    submitted = {
        event["props"]["order_no"]: event
        for event, ok in checked
        if ok and event["event"] == "order_submit"
    }
    orders = [a for a in ACTIONS if a.kind == "order_submit"]
    # A few order_submit events are lost to faults (corrupted lines, schema violations).
    assert len(submitted) >= 0.95 * len(orders)
    for action in orders:
        event = submitted.get(action.order_no)
        if event is not None:
            assert event["user_id"] == str(action.user_id)
            assert (event["props"]["city"], event["props"]["category"]) == (
                action.city_code,
                action.category_code,
            )
    phones = [
        e["props"]["contact_phone"] for e in submitted.values() if "contact_phone" in e["props"]
    ]
    assert phones and all(re.fullmatch(r"1[3-9]\d{9}", p) for p in phones)


def test_nginx_lines_follow_the_log_format(nginx: list[str]) -> None:
    broken = [line for line in nginx if not NGINX_LINE.match(line)]
    assert len(broken) == round(CONFIG.faults.log_malformed * len(nginx))
    parsed = [NGINX_LINE.match(line) for line in nginx]
    parsed = [m for m in parsed if m]
    assert any(":" in m["ip"] for m in parsed), "some clients use IPv6"
    assert any("\\x22" in m["ua"] for m in parsed), "nginx escapes quotes in user agents"
    assert any(m["upstream"] == "-" for m in parsed)
    assert any("," in m["upstream"] for m in parsed), "nginx retried another upstream"
    statuses = Counter(m["status"] for m in parsed)
    for status in ("200", "201", "304", "401", "404", "499", "500", "502", "504"):
        assert statuses[status] > 0, status


def test_app_log_entries_follow_the_logback_pattern(
    app_entries: dict[str, list[tuple[str, list[str]]]],
) -> None:
    assert set(app_entries) == {
        "order-service",
        "pay-service",
        "master-service",
        "user-service",
        "search-service",
    }
    for entries in app_entries.values():
        for header, continuation in entries:
            level = APP_HEADER.match(header)["level"]
            if continuation:
                assert level == "ERROR"
                assert continuation[-1].startswith("\t")
                assert any(line.startswith("\tat ") for line in continuation)


def test_every_500_has_a_stack_trace_with_its_trace_id(
    nginx: list[str], app_entries: dict[str, list[tuple[str, list[str]]]]
) -> None:
    errors: dict[str, set[str]] = {}
    for service, entries in app_entries.items():
        for header, continuation in entries:
            m = APP_HEADER.match(header)
            trace = TRACE.match(m["message"])
            if m["level"] == "ERROR" and trace and continuation:
                errors.setdefault(service, set()).add(trace[1])
    failed = 0
    for line in nginx:
        m = NGINX_LINE.match(line)
        if m and m["status"] == "500":
            request = REQUEST.match(m["request"])
            assert m["request_id"] in errors[route(request["path"])]
            failed += 1
    assert failed > 0


def test_every_order_submit_has_its_request_and_its_service_log(
    nginx: list[str], app_entries: dict[str, list[tuple[str, list[str]]]]
) -> None:
    created = {}
    for header, _ in app_entries["order-service"]:
        m = APP_HEADER.match(header)
        found = re.match(
            r"\[traceId=(\w+)\] Order created orderNo=(\w+) merchantId=(\d+) "
            r"category=(\w+) city=(\w+)",
            m["message"],
        )
        if found:
            created[found[2]] = found
    requests = {}
    for line in nginx:
        m = NGINX_LINE.match(line)
        if m:
            requests[m["request_id"]] = m
    for action in (a for a in ACTIONS if a.kind == "order_submit"):
        log = created[action.order_no]
        assert (int(log[3]), log[4], log[5]) == (
            action.user_id,
            action.category_code,
            action.city_code,
        )
        request = requests[log[1]]
        assert request["request"].startswith("POST /api/v1/orders HTTP/")
        assert request["status"] == "201"
        logged = datetime.strptime(request["time"], "%d/%b/%Y:%H:%M:%S %z")
        assert timedelta(0) <= logged.replace(tzinfo=None) - action.ts < timedelta(seconds=2)


def test_routing_sends_every_action_to_its_service() -> None:
    for kind, (_role, _method, template, service) in ACTION_KINDS.items():
        path = template.format(order_id=1, quote_id=2, dispatch_id=3)
        assert route(path) == service, kind
    assert route("/static/js/app.js") == "static"
    assert route("/api/v2/debug/vars") == "gateway"


# ---- faults, measured from the files alone -----------------------------------------------------


def test_fault_rates_measured_from_the_files_match_the_configuration(
    events: list[str], nginx: list[str], checked: list[tuple[dict | None, bool | None]]
) -> None:
    seen: dict[str, int] = Counter()
    measured = Counter()
    for event, ok in checked:
        if event is None:
            measured["malformed"] += 1
            continue
        seen[event["event_id"]] += 1
        if ok is None:
            measured["unknown_event"] += 1
        elif not ok:
            measured["schema_violation"] += 1
            continue
        if BOT_UA_RE.search(event["ua"]):
            measured["bot"] += 1
        sent, server = int(event["sent_ts"]), int(event["server_ts"])
        corrected = int(event["client_ts"]) + server - sent
        measured["late"] += server - corrected > 3_600_000
        measured["clock_skew"] += abs(sent - server) > 300_000
    measured["duplicate"] = sum(n - 1 for n in seen.values())
    measured["log_malformed"] = sum(1 for line in nginx if not NGINX_LINE.match(line))
    rates = CONFIG.faults
    for name in (
        "malformed",
        "unknown_event",
        "schema_violation",
        "bot",
        "duplicate",
        "late",
        "clock_skew",
    ):
        expected = getattr(rates, name)
        assert measured[name] / len(events) == pytest.approx(expected, rel=0.1), name
    assert measured["log_malformed"] / len(nginx) == pytest.approx(rates.log_malformed, rel=0.1)


def test_fault_rates_follow_a_different_configuration(tmp_path: Path) -> None:
    rates = FaultRates(
        duplicate=0.05,
        late=0.04,
        clock_skew=0.0,
        malformed=0.01,
        unknown_event=0.0,
        schema_violation=0.02,
        bot=0.05,
        log_malformed=0.01,
    )
    config = SimulationConfig(start=DAY, days=1, scale=0.01, seed=3, faults=rates)
    actions, actors = make_day(seed=11, orders=150)
    truth = generate_traffic_day(config, DAY, actions, actors, tmp_path, DAY, LAST)
    faults = truth["event_faults"]
    lines = faults["lines"]
    assert faults["clock_skew"] == faults["unknown_event"] == 0
    for name in ("duplicate", "malformed", "schema_violation", "bot"):
        assert faults[name] == round(getattr(rates, name) * lines), name
    assert faults["late"] + faults["late_beyond_window"] == round(rates.late * lines)


# ---- truth ---------------------------------------------------------------------------------------


def recompute_dau(checked: list[tuple[dict | None, bool | None]]) -> dict[str, int]:
    """DAU by platform from event lines, by the definition the warehouse implements."""
    valid = []
    seen = set()
    for event, ok in checked:
        if not ok or BOT_UA_RE.search(event["ua"]) or event["event_id"] in seen:
            continue
        seen.add(event["event_id"])
        corrected = event["client_ts"] + event["server_ts"] - event["sent_ts"]
        if event["server_ts"] - corrected > LATE_WINDOW_HOURS * 3_600_000:
            continue
        if datetime.fromtimestamp(corrected / 1000, SHANGHAI).date() != DAY:
            continue
        valid.append(event)
    device_user: dict[str, int] = {}
    for event in valid:
        if event["user_id"] is not None:
            uid = int(event["user_id"])
            device_user[event["device_id"]] = min(uid, device_user.get(event["device_id"], uid))
    users: dict[str, set[str]] = {}
    for event in valid:
        uid = event["user_id"] or device_user.get(event["device_id"])
        identity = str(uid) if uid is not None else "device:" + event["device_id"]
        users.setdefault(event["platform"], set()).add(identity)
    return {p: len(users.get(p, ())) for p in ("web", "h5", "ios", "android", "miniprogram")}


def test_daily_active_users_recomputed_from_the_files_match_the_truth(
    day: tuple[Path, dict], checked: list[tuple[dict | None, bool | None]]
) -> None:
    _, truth = day
    assert recompute_dau(checked) == truth["dau_by_platform"]
    assert all(n > 0 for n in truth["dau_by_platform"].values())


def test_requests_per_service_recomputed_from_the_files_match_the_truth(
    day: tuple[Path, dict], nginx: list[str]
) -> None:
    _, truth = day
    requests, errors = Counter(), Counter()
    for line in nginx:
        m = NGINX_LINE.match(line)
        if not m:
            continue
        request = REQUEST.match(m["request"])
        service = route(request["path"]) if request else "gateway"
        requests[service] += 1
        errors[service] += m["status"].startswith("5")
    assert dict(requests) == truth["requests_by_service"]
    assert {s: errors[s] for s in requests} == truth["http_5xx_by_service"]


def test_volume_follows_the_scale(day: tuple[Path, dict]) -> None:
    _, truth = day
    expected = 1_000_000 * SCALE  # Tuesday: weekday factor 1
    assert truth["event_lines"] == pytest.approx(expected, rel=0.02)
    assert truth["nginx_lines"] == pytest.approx(expected, rel=0.1)


def test_a_real_day_of_the_world_simulation(
    tmp_path: Path, validators: dict[str, Draft202012Validator]
) -> None:
    world_module = pytest.importorskip("simulator.world")
    config = SimulationConfig(
        start=DAY, days=2, scale=0.01, seed=5, faults=FaultRates(malformed=0, schema_violation=0)
    )
    world = world_module.World(config)
    world.simulate_day(DAY)
    out = world.simulate_day(DAY + timedelta(days=1))
    generate_traffic_day(config, out.day, out.actions, out.actors, tmp_path, out.day, out.day)
    lines = [
        line for path in sorted(tmp_path.glob("events/*/*/*/*.gz")) for line in read_lines(path)
    ]
    assert lines
    for line in lines:
        event = json.loads(line)
        if event["event"] in validators:
            assert validators[event["event"]].is_valid(event), line
