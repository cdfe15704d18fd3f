"""The warehouse's hand-written reference data mirrors the systems it describes.

- dbt_project/seeds/api_routes.csv is the API gateways' routing table, simulator.routing.ROUTES.
- Every event of the tracking plan (schemas/*.json) has its ODS model, ods_events__<event>,
  with a column for every property of its props.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from simulator.routing import ROUTES

ROOT = Path(__file__).resolve().parents[2]
EVENTS_DIR = ROOT / "models" / "ods" / "events"


def test_the_routes_seed_is_the_gateways_routing_table() -> None:
    with open(ROOT / "dbt_project" / "seeds" / "api_routes.csv", newline="") as seed:
        rows = list(csv.DictReader(seed))
    assert {row["route_prefix"]: row["service"] for row in rows} == ROUTES
    assert len(rows) == len(ROUTES)


def test_every_tracked_event_has_an_ods_model_with_its_props() -> None:
    schemas = sorted((ROOT / "schemas").glob("*.json"))
    assert len(schemas) >= 16
    for path in schemas:
        schema = json.loads(path.read_text())
        event = schema["properties"]["event"]["const"]
        model = EVENTS_DIR / f"ods_events__{event}.sql"
        assert model.exists(), event
        extracted = set(re.findall(r"json_extract_string\(props, '\$\.(\w+)'\)", model.read_text()))
        assert extracted == set(schema["properties"]["props"].get("properties", {})), event
