"""The ODS merge of a table followed through the binlog, on a lake written by hand.

`lake_table(..., newest_only=true)` (dbt_project/macros/lake.sql) applies the change records
under lake/raw/cdc/ to the newest snapshot from the binlog position that snapshot's manifest
saved. The end-to-end test (tests/orchestration/test_e2e_mariadb.py) shows it on a real binlog;
here each rule gets a row of its own, with real dbt on real Parquet:

- the newest change per key wins, ordered by (file, pos, row), across files and partitions;
- a delete removes the row, and a later insert of the same key brings it back;
- a change recorded before the snapshot's position is ignored (the snapshot already holds it);
- a newer snapshot (a re-snapshot after a purged binlog) starts clean;
- a table with change records whose model reads incremental extracts does not compile.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ingest import cdc
from tests.warehouse.conftest import dbt

pytestmark = pytest.mark.slow

SNAPSHOT_SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("order_id", pa.int64()),
        ("master_id", pa.int64()),
        ("amount", pa.float64()),
        ("distance_m", pa.int64()),
        ("status", pa.string()),
        ("created_at", pa.timestamp("us")),
        ("updated_at", pa.timestamp("us")),
    ]
)
# What ingest/cdc.py lands: its meta columns, then the table's own.
CHANGE_SCHEMA = pa.schema([*cdc.META, *SNAPSHOT_SCHEMA])
AT = datetime(2026, 11, 1, 9, 0)


def quote(quote_id: int, status: str) -> dict:
    return {
        "id": quote_id,
        "order_id": 100 + quote_id,
        "master_id": 7,
        "amount": 80.5,
        "distance_m": 1200,
        "status": status,
        "created_at": AT,
        "updated_at": AT,
    }


def change(op: str, file: str, pos: int, row: dict, index: int = 0) -> dict:
    meta = {"_binlog_file": file, "_binlog_pos": pos, "_row": index, "_before": None}
    return {"_op": op, **meta, "_commit_at": AT, **row}


def write(folder: Path, rows: list[dict], schema: pa.Schema, manifest: dict) -> None:
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-00000.parquet")
    (folder / "_manifest.json").write_text(json.dumps({**manifest, "row_count": len(rows)}))


def snapshot(lake: Path, dt: date, rows: list[dict], file: str, pos: int) -> None:
    folder = lake / "raw" / "mysql" / "shifu" / "master_quote" / f"dt={dt}"
    position = {"file": file, "pos": pos}
    manifest = {"dt": str(dt), "mode": "full", "primary_key": ["id"], "binlog_position": position}
    write(folder, rows, SNAPSHOT_SCHEMA, manifest)


def changes(lake: Path, table: str, dt: date, rows: list[dict]) -> None:
    folder = lake / "raw" / "cdc" / "shifu" / table / f"dt={dt}"
    write(folder, rows, CHANGE_SCHEMA, {"dt": str(dt), "mode": "cdc"})


def quotes(data_dir: Path, database: Path | None = None, **env: str) -> dict[int, tuple[str, date]]:
    """Build the quotes' ODS model (and its tests) on `data_dir`; quote_id -> (status, lake_dt)."""
    # A lake of MySQL extracts: the sources YAML reads SHIFU_SOURCE_KIND.
    dbt(
        ["build", "--select", "ods_shifu__master_quote"], data_dir, SHIFU_SOURCE_KIND="mysql", **env
    )
    database = database or data_dir / "warehouse" / "build.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        rows = con.execute(
            "select quote_id, quote_status, lake_dt from ods.ods_shifu__master_quote"
        )
        return {quote_id: (status, dt) for quote_id, status, dt in rows.fetchall()}


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_changes_since_the_snapshot_are_applied_newest_first_deletes_honoured(data_dir: Path):
    lake = data_dir / "lake"
    day1, day2 = date(2026, 11, 1), date(2026, 11, 2)
    rows = [quote(1, "pending"), quote(2, "pending"), quote(3, "pending"), quote(4, "accepted")]
    snapshot(lake, day1, rows, "binlog.000002", 1000)
    changes(
        lake,
        "master_quote",
        day1,
        [
            # Before the snapshot's position: already in the snapshot, not applied again.
            change("update", "binlog.000001", 500, quote(4, "withdrawn")),
            change("update", "binlog.000002", 2000, quote(1, "accepted")),
            change("delete", "binlog.000002", 2000, quote(2, "pending"), index=1),
            change("update", "binlog.000002", 9000, quote(3, "accepted")),
        ],
    )
    changes(
        lake,
        "master_quote",
        day2,
        [
            change("insert", "binlog.000003", 100, quote(5, "pending")),
            # A later file beats a larger position in an earlier one.
            change("update", "binlog.000003", 200, quote(1, "completed")),
            change("delete", "binlog.000003", 300, quote(3, "accepted")),
            change("insert", "binlog.000003", 400, quote(3, "re-quoted")),
        ],
    )
    assert quotes(data_dir) == {
        1: ("completed", day2),
        3: ("re-quoted", day2),
        4: ("accepted", day2),
        5: ("pending", day2),
    }

    # A re-snapshot after a purged binlog: the changes from before its position no longer count.
    day3 = date(2026, 11, 3)
    snapshot(lake, day3, [quote(1, "completed"), quote(6, "pending")], "binlog.000005", 4)
    assert quotes(data_dir) == {1: ("completed", day3), 6: ("pending", day3)}


def test_changes_to_an_incrementally_read_table_fail_to_compile(data_dir: Path):
    """Compiling only globs the lake: one file in each place is enough."""
    lake = data_dir / "lake"
    one_row = pa.schema([("id", pa.int64())])
    for kind in ("mysql", "cdc"):
        folder = lake / "raw" / kind / "shifu" / "payment" / "dt=2026-11-01"
        write(folder, [{"id": 1}], one_row, {"dt": "2026-11-01"})
    with pytest.raises(RuntimeError, match="shifu.payment has binlog changes in the lake"):
        dbt(["compile", "--select", "ods_shifu__payment"], data_dir, SHIFU_SOURCE_KIND="mysql")


def test_the_dev_target_builds_its_own_file_and_leaves_the_nightly_build_alone(data_dir: Path):
    """An analyst's `SHIFU_DBT_TARGET=dev` run (docs/operations.md) reads the same lake and
    writes SHIFU_DEV_DUCKDB; build.duckdb, the nightly build's, keeps every byte."""
    lake = data_dir / "lake"
    snapshot(lake, date(2026, 11, 1), [quote(1, "pending")], "binlog.000001", 4)
    assert quotes(data_dir) == {1: ("pending", date(2026, 11, 1))}
    build = data_dir / "warehouse" / "build.duckdb"
    before = hashlib.sha256(build.read_bytes()).hexdigest()

    changes(
        lake,
        "master_quote",
        date(2026, 11, 2),
        [change("insert", "binlog.000001", 9, quote(2, "pending"))],
    )
    dev = data_dir.parent / "analyst" / "dev.duckdb"
    dev.parent.mkdir()
    env = {"SHIFU_DBT_TARGET": "dev", "SHIFU_DEV_DUCKDB": str(dev)}
    assert quotes(data_dir, dev, **env) == {
        1: ("pending", date(2026, 11, 2)),
        2: ("pending", date(2026, 11, 2)),
    }
    assert hashlib.sha256(build.read_bytes()).hexdigest() == before
