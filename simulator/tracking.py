"""The tracking stream: the plan (JSON Schemas in schemas/), what happens to events between the
phone and the collector (batching, latency, retries, offline phones, wrong clocks, corruption),
the NDJSON lines the collectors write, and the daily active users the lines add up to.

Fault counts are exact: round(rate * lines of the day), so measured rates match configured ones
on small runs too. Each kind of fault lands on its own lines, so each can be measured alone:
duplicates repeat a clean line's event_id; late lines arrive >= 1.5 h after the event; skewed lines
have |sent_ts - server_ts| > 5 min; malformed lines are not JSON; unknown lines name an event the
plan lacks; schema violations fail their event's schema; bot lines carry a crawler user agent.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from simulator.config import LATE_WINDOW_HOURS, FaultRates
from simulator.randomness import FastRandom
from simulator.sessions import LAST_EVENT_MS, Session, SessionBuilder

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"

HOUR_MS = 3_600_000
# Lines of a day are filed by the collector's clock (server_ts), Asia/Shanghai.
UTC_OFFSET_MS = 8 * HOUR_MS
COLLECTORS = ("c1", "c2")
# Late lines arrive at least this long after the event (so "late" is visible as > 1 h) ...
LATE_MIN_MS = 90 * 60_000
# ... within the ingest window by a margin, or clearly beyond it, and never more than 7 days.
LATE_WITHIN_MAX_MS = (LATE_WINDOW_HOURS - 1) * HOUR_MS
LATE_BEYOND_MIN_MS = (LATE_WINDOW_HOURS + 1) * HOUR_MS
LATE_MAX_MS = 7 * 24 * HOUR_MS - 60_000
LATE_BEYOND_SHARE = 0.1  # of late lines, the share that misses the 72 h window
# A skewed device clock is off by 6 minutes to 3 years.
SKEW_MIN_MS = 6 * 60_000
SKEW_MAX_MS = 3 * 365 * 24 * HOUR_MS
# An SDK retry resends a batch 1 s to 20 min later.
RETRY_MAX_MS = 20 * 60_000
# The device flushes its queue: at once on the web (sendBeacon), every 30 s in apps.
FLUSH_MAX_MS = {"web": 1000, "h5": 1000, "ios": 30_000, "android": 30_000, "miniprogram": 5000}

# What happened to a line (one code per event line; duplicates are extra lines).
OK, LATE, LATE_BEYOND_WINDOW, SKEWED, MALFORMED, SCHEMA_VIOLATION, UNKNOWN, BOT = range(8)
FAULT_NAMES = (
    "ok",
    "late",
    "late_beyond_window",
    "clock_skew",
    "malformed",
    "schema_violation",
    "unknown_event",
    "bot",
)
VALID = frozenset({OK, LATE, SKEWED})  # the lines that count: see count_daily_active_users


@cache
def load_tracking_plan(schema_dir: Path = SCHEMA_DIR) -> dict[str, dict]:
    """The tracking plan: event name -> its JSON Schema (draft 2020-12)."""
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(schema_dir.glob("*.json"))
    }


@dataclass
class EventLines:
    """Every line of a day's tracking stream and what happened to it on the way.

    Index i < len(events) is the event's own line; `dups` are resent copies. Times are ms since
    the day's midnight on the true clock; a skewed device adds `skew[i]` to its own timestamps.
    """

    fault: bytearray
    send: list[int]  # when the device sent the batch holding the event
    server: list[int]  # when the collector received it
    collector: bytes  # low bit: c1 or c2
    ids: bytes  # 16 random bytes per event: its event_id
    skew: dict[int, int] = field(default_factory=dict)
    param: dict[int, float] = field(default_factory=dict)  # how a line is corrupted
    dups: list[tuple[int, int, int, int]] = field(default_factory=list)  # src, send, server, c

    @property
    def line_count(self) -> int:
        return len(self.fault) + len(self.dups)


def fault_line_counts(rates: FaultRates, real_events: int) -> dict[str, int]:
    """How many lines get each fault when `real_events` events are sent by people.

    Duplicates, unknown events and bot events are extra lines; the other faults happen to
    people's events. Counts are round(rate * all lines)."""
    extra = rates.duplicate + rates.unknown_event + rates.bot
    total = round(real_events / (1.0 - extra))
    counts = {
        "duplicate": round(rates.duplicate * total),
        "unknown_event": round(rates.unknown_event * total),
        "bot": round(rates.bot * total),
    }
    total = real_events + sum(counts.values())
    late = round(rates.late * total)
    counts.update(
        {
            "late_beyond_window": round(LATE_BEYOND_SHARE * late),
            "late": late - round(LATE_BEYOND_SHARE * late),
            "clock_skew": round(rates.clock_skew * total),
            "malformed": round(rates.malformed * total),
            "schema_violation": round(rates.schema_violation * total),
        }
    )
    return counts


def _latency(rng: FastRandom) -> int:
    """Network latency to the collector: 20 ms to 1.5 s, mostly fast."""
    return 20 + int(1480 * rng.random() ** 3)


def _log_uniform(rng: FastRandom, lo: float, hi: float) -> int:
    return int(lo * math.exp(rng.random() * math.log(hi / lo)))


def assign_faults(
    rng: FastRandom, builder: SessionBuilder, real_events: int, counts: dict[str, int]
) -> EventLines:
    """Decide how every event travels: send and receive times, skew, corruption, retries.

    The events of `builder` are laid out as [people's events][bot events][unknown events];
    `counts` comes from `fault_line_counts`."""
    events, sessions = builder.events, builder.sessions
    n = len(events)
    n_bot = counts["bot"]
    fault = bytearray(n)
    fault[real_events : real_events + n_bot] = bytes([BOT]) * n_bot
    fault[real_events + n_bot :] = bytes([UNKNOWN]) * (n - real_events - n_bot)
    send = [0] * n
    server = [0] * n
    lines = EventLines(fault, send, server, rng.randbytes(n), _uuid4_bytes(rng.randbytes(16 * n)))

    # Whole sessions go late (a phone offline) or run on a wrong clock; the last is cut short.
    people = [
        s
        for s, sess in enumerate(sessions)
        if not sess.bot and sess.count and sess.first < real_events
    ]
    mobile = [s for s in people if sessions[s].platform in ("ios", "android", "miniprogram")]
    rng.shuffle(mobile)
    # Offline phones first; a tiny day may need a few web sessions as well.
    desktop = [s for s in people if sessions[s].platform not in ("ios", "android", "miniprogram")]
    rng.shuffle(desktop)
    mobile += desktop
    queue = iter(mobile)
    for code, need in ((LATE_BEYOND_WINDOW, counts["late_beyond_window"]), (LATE, counts["late"])):
        while need > 0 and (s := next(queue, None)) is not None:
            sess = sessions[s]
            take = min(need, sess.count)
            _send_late(rng, lines, events, range(sess.first, sess.first + take), code)
            need -= take
    taken = {s for s in mobile if fault[sessions[s].first] in (LATE, LATE_BEYOND_WINDOW)}
    others = [s for s in people if s not in taken]
    rng.shuffle(others)
    need = counts["clock_skew"]
    for s in others:
        if need <= 0:
            break
        sess = sessions[s]
        if fault[sess.first] != OK:
            continue
        take = min(need, sess.count)
        magnitude = _log_uniform(rng, SKEW_MIN_MS, SKEW_MAX_MS)
        delta = magnitude if rng.random() < 0.4 else -magnitude
        for i in range(sess.first, sess.first + take):
            fault[i] = SKEWED
            lines.skew[i] = delta
        need -= take

    # Everything not late is sent when the device flushes its queue.
    for i in range(n):
        if fault[i] in (LATE, LATE_BEYOND_WINDOW):
            continue
        t = events[i][0]
        s = sessions[events[i][6]]
        sent = t + int(FLUSH_MAX_MS[s.platform] * rng.random())
        send[i] = sent
        server[i] = sent + _latency(rng)

    # Single lines: corrupted or breaking the schema; then SDK retries of clean lines.
    clean = [i for i in range(real_events) if fault[i] == OK]
    n_mal, n_schema = counts["malformed"], counts["schema_violation"]
    picked = rng.sample(clean, n_mal + n_schema)
    for k, i in enumerate(picked):
        fault[i] = MALFORMED if k < n_mal else SCHEMA_VIOLATION
        lines.param[i] = rng.random()
    clean = [i for i in clean if fault[i] == OK]
    for i in sorted(rng.sample(clean, counts["duplicate"])):
        sent = send[i] + _log_uniform(rng, 1000, RETRY_MAX_MS)
        lines.dups.append((i, sent, sent + _latency(rng), rng.getrandbits(1)))
    return lines


_VERSION_4 = bytes((b & 0x0F) | 0x40 for b in range(256))
_VARIANT_RFC4122 = bytes((b & 0x3F) | 0x80 for b in range(256))


def _uuid4_bytes(raw: bytes) -> bytes:
    """16 random bytes per id with the version (4) and variant bits of a random UUID set."""
    ids = bytearray(raw)
    ids[6::16] = ids[6::16].translate(_VERSION_4)
    ids[8::16] = ids[8::16].translate(_VARIANT_RFC4122)
    return bytes(ids)


def _send_late(rng: FastRandom, lines: EventLines, events: list, idx: range, code: int) -> None:
    """A batch that waited on an offline phone: one send for all its events."""
    times = [events[i][0] for i in idx]
    t_first, t_last = min(times), max(times)
    if code == LATE:
        lo, hi = t_last + LATE_MIN_MS, t_first + LATE_WITHIN_MAX_MS
    else:
        lo, hi = t_last + LATE_BEYOND_MIN_MS, t_first + LATE_MAX_MS
    sent = lo + _log_uniform(rng, 60_000, max(hi - lo, 60_001)) - 60_000
    received = sent + _latency(rng)
    for i in idx:
        lines.fault[i] = code
        lines.send[i] = sent
        lines.server[i] = received


# ---- the lines as the collectors write them ----------------------------------------------------


class EventFormatter:
    """Formats event lines as NDJSON, the way the collectors write them."""

    def __init__(self, builder: SessionBuilder, lines: EventLines, epoch_ms: int) -> None:
        self.events = builder.events
        self.sessions = builder.sessions
        self.lines = lines
        self.epoch_ms = epoch_ms  # the day's midnight, Asia/Shanghai, in epoch ms
        self._heads: dict[int, tuple[str, str]] = {}
        self._plan = load_tracking_plan()
        self._hex: str | None = None
        self._ua_json: dict[str, str] = {}

    def _head(self, s: int) -> tuple[str, str]:
        """The envelope fields a session's lines share, as JSON text."""
        head = self._heads.get(s)
        if head is None:
            sess: Session = self.sessions[s]
            ua = self._ua_json.get(sess.ua)
            if ua is None:
                ua = self._ua_json[sess.ua] = json.dumps(sess.ua, ensure_ascii=False)
            head = (
                f'"platform":"{sess.platform}","app_version":"{sess.app_version}",'
                f'"device_id":"{sess.device_id}",',
                f'"ip":"{sess.ip}","ua":{ua},',
            )
            self._heads[s] = head
        return head

    def render(self, refs: Iterable[int]) -> bytes:
        """NDJSON for line refs (see group_lines_by_file): i < events is event i's own line,
        events + k is duplicate k."""
        events, lines = self.events, self.lines
        n = len(events)
        send, server, fault, skew, dups = (
            lines.send,
            lines.server,
            lines.fault,
            lines.skew,
            lines.dups,
        )
        if self._hex is None:
            self._hex = lines.ids.hex()
        hexs, heads, epoch = self._hex, self._heads, self.epoch_ms
        out = []
        for ref in refs:
            if ref < n:
                i, sent, received = ref, send[ref], server[ref]
            else:
                i, sent, received, _ = dups[ref - n]
            t, name, page, referrer, props, uid, s = events[i]
            head_a, head_b = heads.get(s) or self._head(s)
            d = skew.get(i, 0)
            h = hexs[32 * i : 32 * i + 32]
            user = "null" if uid is None else f'"{uid}"'
            came_from = "null" if referrer is None else f'"{referrer}"'
            line = (
                f'{{"event_id":"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}",'
                f'"event":"{name}",{head_a}"user_id":'
                f"{user},"
                f'"client_ts":{epoch + t + d},"sent_ts":{epoch + sent + d},'
                f'"server_ts":{epoch + received},"page":"{page}","referrer":'
                f"{came_from},{head_b}"
                f'"props":{props}}}'
            )
            code = fault[i]
            if code == MALFORMED:
                line = corrupt_line(line, lines.param[i])
            elif code == SCHEMA_VIOLATION:
                line = violate_schema(line, self._plan[name], lines.param[i])
            out.append(line)
        out.append("")
        return "\n".join(out).encode("utf-8")


def corrupt_line(line: str, p: float) -> str:
    """A line as a crash or a bad disk leaves it: cut short (mostly) or with NUL bytes inside.
    Either way it is not JSON any more."""
    n = len(line)
    if p < 0.75:
        return line[: 1 + int(p / 0.75 * (n - 2))]
    pos = int((p - 0.75) / 0.25 * (n - 12))
    return line[:pos] + "\x00" * 8 + line[pos + 8 :]


def violate_schema(line: str, schema: dict, p: float) -> str:
    """The line with one thing its schema forbids: a required prop missing or of the wrong type,
    an unknown platform spelling, a timestamp as a string, or a numeric user_id."""
    obj = json.loads(line)
    props = obj["props"]
    options: list[tuple[str, str]] = []
    for key in schema["properties"]["props"].get("required", ()):
        if key in props:
            options += [("drop", key), ("retype", key)]
    options += [("platform", ""), ("client_ts", "")]
    if obj.get("user_id") is not None:
        options.append(("user_id", ""))
    what, key = options[min(int(p * len(options)), len(options) - 1)]
    if what == "drop":
        del props[key]
    elif what == "retype":
        value = props[key]
        props[key] = len(value) if isinstance(value, str) else str(value)
    elif what == "platform":
        obj["platform"] = obj["platform"].upper()
    elif what == "client_ts":
        obj["client_ts"] = str(obj["client_ts"])
    else:
        obj["user_id"] = int(obj["user_id"])
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def group_lines_by_file(lines: EventLines) -> dict[tuple[int, int], list[int]]:
    """Line refs per (collector, hour since the day's midnight by server_ts), in arrival order.
    A ref below the number of events is that event's line; events + k is duplicate k.

    The hour may be 24 or more: late lines are filed under the day they arrive."""
    collector = lines.collector
    arrival = lines.server + [d[2] for d in lines.dups]
    n = len(lines.fault)
    keyed: dict[int, list[int]] = {}
    for ref, received in enumerate(arrival):
        c = collector[ref] & 1 if ref < n else lines.dups[ref - n][3]
        key = received // HOUR_MS * 2 + c
        group = keyed.get(key)
        if group is None:
            keyed[key] = [ref]
        else:
            group.append(ref)
    out = {}
    for key in sorted(keyed):
        refs = keyed[key]
        refs.sort(key=arrival.__getitem__)  # stable: ties keep generation order
        out[(key % 2, key // 2)] = refs
    return out


# ---- what the lines add up to ----------------------------------------------------------------


def count_daily_active_users(builder: SessionBuilder, lines: EventLines) -> dict[str, object]:
    """DAU by platform over the valid lines of the day.

    Valid: well-formed, a known event that passes its schema, not a crawler, not a duplicate,
    arrived within LATE_WINDOW_HOURS of its (skew-corrected) event time. Every event of the day
    happens on the day, and corrected time = event time + network latency stays on it. A line
    counts for its user_id, else for the user_id another valid line of the same device carries
    that day (the device logged in, the smallest id if several), else for "device:<device_id>".
    """
    sessions = builder.sessions
    valid = [ev for ev, code in zip(builder.events, lines.fault, strict=True) if code in VALID]
    device_of = [sess.device_id for sess in sessions]
    device_user: dict[str, int] = {}
    for ev in valid:
        uid = ev[5]
        if uid is not None:
            device = device_of[ev[6]]
            known = device_user.get(device)
            if known is None or uid < known:
                device_user[device] = uid
    by_platform: dict[str, set] = {}
    for sess in sessions:
        by_platform.setdefault(sess.platform, set())
    platform_of = [by_platform[sess.platform] for sess in sessions]
    for ev in valid:
        uid = ev[5]
        if uid is None:
            device = device_of[ev[6]]
            uid = device_user.get(device, "device:" + device)
        platform_of[ev[6]].add(uid)
    everyone = set().union(*by_platform.values())
    return {
        "dau": len(everyone),
        "dau_by_platform": {p: len(ids) for p, ids in sorted(by_platform.items()) if ids},
        "events_by_name": dict(sorted(Counter([ev[1] for ev in valid]).items())),
    }


def fault_summary(lines: EventLines) -> dict[str, int]:
    """Lines per fault kind, and all lines of the day."""
    counts = [0] * len(FAULT_NAMES)
    for code in lines.fault:
        counts[code] += 1
    out = {name: counts[code] for code, name in enumerate(FAULT_NAMES) if code != OK}
    out["duplicate"] = len(lines.dups)
    out["lines"] = lines.line_count
    return dict(sorted(out.items()))


assert LAST_EVENT_MS + 1500 < 24 * HOUR_MS  # corrected time stays on the event's day
