"""Tracking events into the lake: validation, quarantine, dedupe, event time, PII, DAU."""

from __future__ import annotations

import gzip
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import jsonschema
import pytest

from ingest import events, lake, logs, pii, tracking_plan

DAYS = [date(2026, 11, 1) + timedelta(days=k) for k in range(4)]
DT = DAYS[0]


@pytest.fixture(scope="module")
def ingested(traffic_sources, module_lake):
    for day in DAYS:
        events.ingest_events(traffic_sources, day)
    logs.ingest_logs(traffic_sources, DT)
    return module_lake


def truth(sources: Path, day: date) -> dict:
    return json.loads((sources / "truth" / f"dt={day}.json").read_text())


def manifests() -> list[dict]:
    return [
        lake.read_manifest(lake.partition_path("events", "tracking", "events", d)) for d in DAYS
    ]


def test_every_file_accounts_for_every_line(ingested, traffic_sources):
    for manifest in manifests():
        for entry in manifest["input_files"]:
            with gzip.open(traffic_sources / entry["name"]) as handle:
                assert entry["lines"] == sum(1 for _ in handle)
            assert entry["parsed"] + entry["quarantined"] + entry["duplicates"] == entry["lines"]


def test_every_fault_lands_where_it_should(ingested, traffic_sources):
    """Lines generated on day 1 are in files events-20261101.*, whatever day they arrived."""
    faults = truth(traffic_sources, DT)["event_faults"]
    stamp = f"events-{DT:%Y%m%d}"
    by_reason = dict(
        duckdb.sql(
            f"select reason, count(*) from read_parquet('{ingested}/quarantine/tracking_events/"
            f"*/part-*.parquet') where file like '%{stamp}%' group by 1"
        ).fetchall()
    )
    for reason in ("malformed", "unknown_event", "schema_violation", "bot"):
        assert by_reason[reason] == faults[reason], reason
    assert 0 < by_reason["too_late"] <= faults["late_beyond_window"]
    duplicates = sum(
        e["duplicates"] for m in manifests() for e in m["input_files"] if stamp in e["name"]
    )
    assert duplicates == faults["duplicate"]
    message = duckdb.sql(
        f"select message from read_parquet('{ingested}/quarantine/tracking_events/*/*.parquet')"
        " where reason = 'schema_violation' limit 1"
    ).fetchone()[0]
    assert message.startswith("$.")


def test_dau_by_platform_from_the_partitions_equals_truth(ingested, traffic_sources):
    """Valid events of day 1 from every arrival day, identity stitched per device and day."""
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    rows = duckdb.sql(
        f"""
        with day as (select * from read_parquet('{glob}') where event_dt = '{DT}'),
        device_user as (
            select device_id, min(cast(user_id as bigint)) as uid from day
            where user_id is not null group by 1
        )
        select platform, count(distinct coalesce(
            day.user_id, cast(device_user.uid as varchar), 'device:' || day.device_id))
        from day left join device_user using (device_id)
        group by 1
        """
    ).fetchall()
    assert dict(rows) == truth(traffic_sources, DT)["dau_by_platform"]


def test_event_time_corrects_the_device_clock(ingested):
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    skewed, late_day_1 = duckdb.sql(
        f"""select count(*) filter (abs(clock_skew_ms) > 300000 and
                abs(epoch_ms(event_at) - 8 * 3600000 - client_ts) > 300000),
               count(*) filter (event_dt < dt)
            from read_parquet('{glob}', hive_partitioning = true)"""
    ).fetchone()
    assert skewed > 0 and late_day_1 > 0
    bad = duckdb.sql(
        f"select count(*) from read_parquet('{glob}') "
        "where received_at < event_at or received_at - event_at > interval 72 hours"
    ).fetchone()[0]
    assert bad == 0


def test_personal_data_never_lands_in_clear_text(ingested, traffic_sources):
    """Phones and addresses of events, and client IP addresses from every source (nginx's
    first field, even cut off; events' `ip`; `ip=` in application logs) appear nowhere in the
    lake outside raw-files: not in parsed columns, not in the raw text or message of
    quarantined lines."""
    phones, addresses, ips = set(), set(), set()
    for path in (traffic_sources / "events").rglob("*.gz"):
        text = gzip.decompress(path.read_bytes()).decode()
        phones |= set(re.findall(r'"contact_phone":"([0-9]+)', text))
        addresses |= set(re.findall(r'"address":"([^"]+)"', text))
        ips |= set(re.findall(r'"ip":"([^"]+)"', text))
    for path in (traffic_sources / "logs").rglob("*.gz"):
        text = gzip.decompress(path.read_bytes()).decode("utf-8", "replace")
        if "/nginx/" in path.as_posix():
            ips |= {line.split(" ", 1)[0] for line in text.splitlines() if line}
        ips |= set(re.findall(r"ip=([0-9.]+)", text))
    ips = {a for a in ips if pii.mask_ips(a, leading_address=True) != a}  # not already a /24
    assert phones and addresses
    assert any(":" in a for a in ips) and any("." in a for a in ips)
    for path in ingested.rglob("*.parquet"):
        if "raw-files" in path.parts:
            continue
        table = duckdb.sql(f"select * from read_parquet('{path}')").to_arrow_table()
        text = "\n".join(
            str(v) for column in table.columns for v in column.to_pylist() if isinstance(v, str)
        )
        assert not phones & set(re.findall(r"1[3-9][0-9]{9}", text)), path
        assert not [a for a in addresses if a in text], path
        assert not ips & set(re.findall(r"[0-9A-Fa-f:.]+", text)), path
    props = duckdb.sql(
        f"select props from read_parquet('{ingested}/raw/events/tracking/events/*/*.parquet') "
        "where props like '%contact_phone%' limit 1"
    ).fetchone()[0]
    assert json.loads(props)["contact_phone"].startswith("hmac:")


def test_a_rerun_is_idempotent_and_does_not_count_duplicates_twice(ingested, traffic_sources):
    day = DAYS[1]
    path = lake.partition_path("events", "tracking", "events", day)
    state = events.state_dir() / f"dt={day}.parquet"
    before = ({p.name: p.read_bytes() for p in path.glob("part-*")}, state.read_bytes())
    first = lake.read_manifest(path)
    events.ingest_events(traffic_sources, day)
    after = ({p.name: p.read_bytes() for p in path.glob("part-*")}, state.read_bytes())
    assert after == before
    assert lake.read_manifest(path)["duplicates_dropped"] == first["duplicates_dropped"]


def test_the_sql_validator_agrees_with_jsonschema(ingested, traffic_sources):
    plan = tracking_plan.load()
    good = json.loads(
        gzip.decompress(next((traffic_sources / "events").rglob("*.gz")).read_bytes())
        .decode()
        .splitlines()[0]
    )
    schema = plan[good["event"]]
    required_prop = schema["properties"]["props"]["required"][0]
    variants = [good]

    def variant(**changes):
        line = json.loads(json.dumps(good))
        for key, value in changes.items():
            if key.startswith("props_"):
                line["props"][key[6:]] = value
            else:
                line[key] = value
        variants.append(line)

    variant(platform="WEB")  # enum
    variant(client_ts="1")  # type
    variant(client_ts=1.0)  # an integer in draft 2020-12
    variant(client_ts=-5)  # minimum
    variant(event_id="not-a-uuid")  # pattern
    variant(device_id="short")  # minLength
    variant(device_id="x" * 65)  # maxLength
    variant(user_id=12)  # type of a nullable string
    variant(page="")  # minLength
    variant(props="x")  # type object
    variant(props_extra_field=1)  # additionalProperties: true
    missing = json.loads(json.dumps(good))
    del missing["props"][required_prop]
    variants.append(missing)
    no_ua = json.loads(json.dumps(good))
    del no_ua["ua"]
    variants.append(no_ua)
    quarantined = duckdb.sql(
        f"select raw from read_parquet('{ingested}/quarantine/tracking_events/*/*.parquet') "
        "where reason = 'schema_violation'"
    ).fetchall()
    variants += [json.loads(raw) for (raw,) in quarantined]
    texts = [json.dumps(v, ensure_ascii=False) for v in variants]
    verdicts = events.check_lines(texts)
    for line, (reason, message) in zip(variants, verdicts, strict=True):
        validator = jsonschema.Draft202012Validator(plan[line["event"]])
        errors = list(validator.iter_errors(line))
        assert (reason == "schema_violation") == bool(errors), (line, message, errors)


def test_a_schema_keyword_the_compiler_lacks_fails_loudly():
    with pytest.raises(tracking_plan.UnsupportedSchema, match="oneOf"):
        tracking_plan.compile_plan({"x": {"type": "object", "oneOf": []}})


# ---- fast path, exact dedupe across chunks, IP truncation ------------------------------------


def test_the_msgspec_fast_path_and_the_sql_validator_agree(traffic_sources):
    from ingest import lines

    files = events.find_files(traffic_sources, DAYS[1])
    table = lines.read_chunk(files)
    fast_rows, fast_rejects = events.check_chunk_lines(table, files, None, fast=True)
    sql_rows, sql_rejects = events.check_chunk_lines(table, files, None, fast=False)
    assert fast_rows.num_rows > 0.9 * table.num_rows
    assert fast_rows.equals(sql_rows)
    assert fast_rejects.equals(sql_rejects)


def test_the_first_received_copy_wins_whatever_the_file_order(
    traffic_sources, tmp_path, monkeypatch
):
    """Two collectors, one hour: the copy in the file that sorts LATER arrived first
    (smaller server_ts) and is the one kept, even with every file in a chunk of its own."""
    from ingest import lines

    monkeypatch.setenv("SHIFU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SHIFU_PII_SALT", "test-salt-not-a-secret-0123456789")
    monkeypatch.setattr(lines, "CHUNK_BYTES", 1)
    good = json.loads(
        gzip.decompress(next((traffic_sources / "events").rglob("*.gz")).read_bytes())
        .decode()
        .splitlines()[0]
    )
    day = date(2026, 11, 1)
    first = {**good, "server_ts": good["server_ts"] + 5_000}
    second = {**good, "server_ts": good["server_ts"]}
    other = {**good, "event_id": "00000000-0000-4000-8000-000000000001"}
    for collector, line in (("c1", first), ("c2", second)):
        path = tmp_path / "src" / "events" / collector / day.isoformat() / "00" / "batch.ndjson"
        path.parent.mkdir(parents=True)
        path.write_text(
            json.dumps(other if collector == "c1" else line)
            + "\n"
            + json.dumps(line if collector == "c1" else other)
            + "\n"
        )
    result = events.ingest_events(tmp_path / "src", day)
    path = lake.partition_path("events", "tracking", "events", day)
    kept = duckdb.sql(
        f"select file, line_no, server_ts from read_parquet('{path}/part-*.parquet') "
        f"where event_id = '{good['event_id']}'"
    ).fetchall()
    assert kept == [("events/c2/2026-11-01/00/batch.ndjson", 1, second["server_ts"])]
    manifest = lake.read_manifest(path)
    assert manifest["duplicates_dropped"] == 2  # the later copy and the repeated `other`
    assert result.rows == 2
    assert len(manifest["files"]) == 2  # one part per chunk


def test_ip_addresses_are_cut_to_their_network(ingested):
    glob = f"{ingested}/raw/events/tracking/events/dt=*/part-*.parquet"
    addresses = [
        a for (a,) in duckdb.sql(f"select distinct ip from read_parquet('{glob}')").fetchall()
    ]
    assert addresses
    assert all(a.endswith("::") if ":" in a else a.endswith(".0") for a in addresses)
