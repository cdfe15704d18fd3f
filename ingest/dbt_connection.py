"""What dbt's DuckDB connection needs from us: a dbt-duckdb plugin (`plugins: [{module:
ingest.dbt_connection}]` in dbt_project/profiles.yml).

1. The warehouse directory exists before DuckDB opens the file in it.
2. The PII functions of `ingest.pii`. DuckDB has no HMAC, and the warehouse must protect
   personal data with exactly the tokens the lake already uses, so ODS models call these Python
   functions, registered on dbt's connection:

- `pii_token(kind, value)`: `hmac:<32 hex>`. Kinds `phone` and `id_card` are `ingest.pii.token`
  itself (digits normalised), so a phone in an order equals the same phone in a log line.
  Kind `name` (people's names: customers, masters, merchants' contacts, nicknames) is the same
  construction over the trimmed text instead of its digits: HMAC-SHA256 keyed by the same salt,
  over `name:<text>`, cut to 128 bits. Names are tokenised, not dropped: the same person's name
  still joins and counts, and cannot be read or guessed from a list of common names without the
  salt.
- `pii_district(address)`: `ingest.pii.generalise_address` (street address -> district).
- `pii_scrub(text)`: `ingest.pii.scrub` for free text (remarks, review and complaint content).

The salt is `ingest.pii.salt()`: `$SHIFU_PII_SALT`, else the lake's generated salt.
"""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin

from ingest import pii

TEXT_KINDS = ("name",)


def token(kind: str, value: str) -> str:
    """The warehouse token of a personal value (see the module docstring)."""
    if kind not in TEXT_KINDS:
        return pii.token(kind, value)
    text = " ".join(value.split())
    mac = hmac.new(pii.salt(), f"{kind}:{text}".encode(), hashlib.sha256).hexdigest()
    return pii.TOKEN_PREFIX + mac[:32]


def _token_arrow(kinds: pa.Array, values: pa.Array) -> pa.Array:
    return pa.array(
        [
            None if v is None or v == "" or k is None else token(k, v)
            for k, v in zip(kinds.to_pylist(), values.to_pylist(), strict=True)
        ],
        type=pa.string(),
    )


def _district_arrow(values: pa.Array) -> pa.Array:
    return pa.array(
        [None if v is None else pii.generalise_address(v) for v in values.to_pylist()],
        type=pa.string(),
    )


def register(con) -> None:
    """Register pii_token, pii_district and pii_scrub on a DuckDB connection."""
    pii.register(con)  # pii_scrub; also fails early when the salt is unusable
    con.create_function(
        "pii_token",
        _token_arrow,
        ["VARCHAR", "VARCHAR"],
        "VARCHAR",
        type="arrow",
        null_handling="special",
        side_effects=False,
    )
    con.create_function(
        "pii_district",
        _district_arrow,
        ["VARCHAR"],
        "VARCHAR",
        type="arrow",
        null_handling="special",
        side_effects=False,
    )


class Plugin(BasePlugin):
    """dbt-duckdb plugin: the warehouse directory, and the PII functions on dbt's connection."""

    def update_connection_config(self, creds, config: dict) -> None:
        if creds.path and creds.path != ":memory:" and not creds.path.startswith("md:"):
            Path(creds.path).parent.mkdir(parents=True, exist_ok=True)

    def configure_connection(self, conn) -> None:
        register(conn)
