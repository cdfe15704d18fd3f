"""Column lineage, data dictionary and docs pages on the built warehouses (warehouse/lineage.py).

Specifications:
- GMV (rpt_finance__gmv_daily.gmv_yuan) traces to the lake columns it is computed from: the
  monolith's payment amount and status, and after the split svc_pay's amount in fen and the
  status name from the status-code seed too; it picks up no column it does not read (refunds,
  orders).
- The docs directory gets lineage.json/.html and dictionary.json/.html, and the dictionary gives
  every metric and every RPT column a Chinese business term.
"""

from __future__ import annotations

import json

import pytest

from tests.warehouse.conftest import Warehouse
from warehouse import lineage

pytestmark = pytest.mark.slow

GMV = ("model.shifu_dw.rpt_finance__gmv_daily", "gmv_yuan")
MONOLITH_GMV = {
    ("source.shifu_dw.shifu.payment", "amount"),
    ("source.shifu_dw.shifu.payment", "status"),
}
# After the split the status is a name looked up in the seed (the code is only the join key).
SPLIT_GMV = {
    ("source.shifu_dw.svc_pay.pay_order", "amount_fen"),
    ("seed.shifu_dw.source_status_codes", "status_name"),
}


def gmv_sources(warehouse: Warehouse) -> set[tuple[str, str]]:
    manifest = lineage.load_manifest(warehouse.data_dir / "dbt" / "target")
    schema = lineage.warehouse_schema(warehouse.database, manifest)
    return lineage.column_lineage(manifest, schema, [GMV[0]]).sources_of(GMV)


def test_gmv_traces_to_the_payment_columns_before_and_after_the_split(
    warehouses: dict[str, Warehouse],
) -> None:
    split = gmv_sources(warehouses["split"])
    assert MONOLITH_GMV | SPLIT_GMV <= split
    # Only payment tables (and the status seed): no refund, order or dimension column.
    assert {table for table, _ in split} == {
        "source.shifu_dw.shifu.payment",
        "source.shifu_dw.svc_pay.pay_order",
        "seed.shifu_dw.source_status_codes",
    }
    # Without the split svc_pay has no partition: GMV comes from the monolith alone.
    assert MONOLITH_GMV <= gmv_sources(warehouses["monolith"])


def test_docs_pages_and_a_complete_dictionary(warehouse: Warehouse, tmp_path) -> None:
    document = lineage.write_docs(
        tmp_path,
        warehouse.data_dir / "dbt" / "target",
        warehouse.database,
        run_dbt_docs=False,
    )
    assert document["errors"] == {}
    assert "shifu.payment.amount" in document["rpt_columns"]["rpt_finance__gmv_daily.gmv_yuan"]
    traced = [column for column, sources in document["rpt_columns"].items() if sources]
    assert len(traced) > 0.8 * len(document["rpt_columns"])
    assert "rpt_finance__gmv_daily" in (tmp_path / "lineage.html").read_text()
    dictionary = json.loads((tmp_path / "dictionary.json").read_text())
    assert len(dictionary["metrics"]) >= 40 and len(dictionary["rpt_columns"]) >= 100
    assert [m["metric"] for m in dictionary["metrics"] if not m["term"]] == []
    assert [(c["model"], c["column"]) for c in dictionary["rpt_columns"] if not c["term"]] == []
    assert "成交额" in (tmp_path / "dictionary.html").read_text()
