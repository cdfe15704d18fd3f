"""The traffic of one business day: nginx access logs, Java application logs and tracking
events around the day's business actions, written as the production systems write them, plus
the day's traffic truth.

Layout under `out_dir`:
    logs/nginx/<gw-NN>/access.log-YYYYMMDDHH.gz                    hour of $time_local
    logs/app/<service>/<host>/<service>.log-YYYYMMDDHH.gz          hour of the entry
    events/<c1|c2>/YYYY-MM-DD/HH/events-<YYYYMMDD of the day>.ndjson.gz   hour of server_ts

`generate_traffic_day` is a pure function of its arguments: the same inputs give the same bytes,
whatever `write_from`/`write_to` select, so days can run in parallel processes and a later
`--append` can write the late arrivals of earlier days into the new day's folders.
"""

from __future__ import annotations

import os
import zlib
from datetime import date, timedelta
from pathlib import Path

from simulator import app_log, nginx_log, tracking
from simulator.activity import Action, Actor
from simulator.config import (
    EVENTS_PER_DAY_AT_SCALE_1,
    NGINX_LINES_PER_DAY_AT_SCALE_1,
    SimulationConfig,
    derive_seed,
)
from simulator.devices import PLATFORMS
from simulator.randomness import FastRandom
from simulator.sessions import SessionBuilder

# Events of a day arrive at most this many days later (offline phones), so an append of day D
# must also rerun days D-7 .. D-1 to write their late lines into D's folders.
MAX_ARRIVAL_DELAY_DAYS = 7
# Level 3 is the fastest of zlib's levels before lazy matching (4+), which halves the speed for
# ~12 % smaller files; at 1M events and 1M nginx lines a day the time matters more.
GZIP_LEVEL = 3
# Traffic by day of the week (Monday first): merchants work less on Sundays.
WEEKDAY_FACTOR = (1.0, 1.0, 1.0, 1.02, 1.05, 0.92, 0.85)
_EPOCH = date(1970, 1, 1)


def generate_traffic_day(
    config: SimulationConfig,
    day: date,
    actions: list[Action],
    actors: list[Actor],
    out_dir: Path,
    write_from: date,
    write_to: date,
) -> dict:
    """Generate the day's traffic, write the files whose arrival date is in
    [write_from, write_to], and return the day's traffic truth (independent of that range).

    Truth: `dau_by_platform` and `dau` (see tracking.count_daily_active_users);
    `requests_by_service`, `http_5xx_by_service` and `requests_by_status` over the well-formed
    nginx lines (service from simulator.routing.route); valid events by name; event lines per
    fault (`event_faults`); line and entry counts of the logs."""
    scale = config.scale
    factor = WEEKDAY_FACTOR[day.weekday()]
    rates = config.faults

    def rng(part: str) -> FastRandom:
        return FastRandom(derive_seed(config.seed, "traffic", day, part))

    # People: sessions around the actions, then browsing up to the day's volume.
    builder = SessionBuilder(rng("sessions"), config.seed, day, list(actions), actors)
    builder.add_action_sessions()
    extra = rates.duplicate + rates.unknown_event + rates.bot
    builder.add_browsing(round(EVENTS_PER_DAY_AT_SCALE_1 * scale * factor * (1.0 - extra)))
    real_events = len(builder.events)
    counts = tracking.fault_line_counts(rates, real_events)
    builder.add_bots(counts["bot"])
    builder.add_unknown_events(counts["unknown_event"], real_events)
    lines = tracking.assign_faults(rng("faults"), builder, real_events, counts)

    # The gateways and the services behind them.
    hosts = nginx_log.gateway_hosts(scale)
    access = nginx_log.AccessLogBuilder(rng("nginx"), builder, len(hosts))
    access.add_intents(builder.actions)
    target_lines = round(NGINX_LINES_PER_DAY_AT_SCALE_1 * scale * factor)
    access.add_crawlers(round(nginx_log.CRAWLER_SHARE * target_lines))
    access.add_polling(max(0, target_lines - len(access.log.requests)), real_events)
    log = access.finish(rates.log_malformed)
    apps = app_log.AppLogBuilder(rng("app"), day, app_log.service_hosts(scale))
    apps.add_requests(log, builder.actions)
    apps.add_background(scale)
    app_files = apps.files()

    truth: dict = tracking.count_daily_active_users(builder, lines)
    truth["dau_by_platform"] = {p: truth["dau_by_platform"].get(p, 0) for p in PLATFORMS}
    truth["event_lines"] = lines.line_count
    truth["event_faults"] = tracking.fault_summary(lines)
    truth.update(nginx_log.count_requests(log))
    truth["app_log_entries"] = sum(len(e) for e in apps.entries.values())
    errors: dict[str, int] = {}
    for (service, _host), entries in sorted(apps.entries.items()):
        errors[service] = errors.get(service, 0) + sum(
            1 for _t, _s, text in entries if text[24:29] == "ERROR"
        )
    truth["app_errors_by_service"] = errors

    out_dir = Path(out_dir)
    stamp = f"{day:%Y%m%d}"
    epoch_ms = (day - _EPOCH).days * 86_400_000 - tracking.UTC_OFFSET_MS
    formatter = tracking.EventFormatter(builder, lines, epoch_ms)
    for (collector, hour), refs in tracking.group_lines_by_file(lines).items():
        arrival = day + timedelta(days=hour // 24)
        if write_from <= arrival <= write_to:
            path = (
                out_dir
                / "events"
                / tracking.COLLECTORS[collector]
                / arrival.isoformat()
                / f"{hour % 24:02d}"
                / f"events-{stamp}.ndjson.gz"
            )
            write_gzip(path, formatter.render(refs))
    if write_from <= day <= write_to:
        time_local = nginx_log.time_local_table(day)
        for (host, hour), refs in nginx_log.group_lines_by_file(log).items():
            path = out_dir / "logs" / "nginx" / hosts[host] / f"access.log-{stamp}{hour:02d}.gz"
            write_gzip(path, nginx_log.format_lines(log, refs, time_local))
        for (service, host, hour), texts in app_files.items():
            path = (
                out_dir
                / "logs"
                / "app"
                / service
                / app_log.host_name(service, host)
                / f"{service}.log-{stamp}{hour:02d}.gz"
            )
            write_gzip(path, "".join(texts).encode("utf-8"))
    return truth


def write_gzip(path: Path, data: bytes) -> None:
    """Write a gzip file atomically, byte-reproducibly: zlib's own gzip wrapper (wbits 31)
    writes no file name and mtime 0, and computes the CRC while it compresses."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    packer = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    with open(tmp, "wb") as raw:
        raw.write(packer.compress(data))
        raw.write(packer.flush())
    os.replace(tmp, path)
