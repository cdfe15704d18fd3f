"""Per-domain access and the catalogue, through a real publish of the nightly's tested build.

The access control is the operating system's (docs/adr/0001-per-domain-serving-access.md), so
the reader runs as an unprivileged user: `nobody`, started by setpriv with exactly one domain's
group as its supplementary group, as a reader account in that group would be. The groups are
created for the test under a unique prefix and removed afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from serving import catalogue
from serving.domains import GROUP_PREFIX_VARIABLE
from tests.conftest import unavailable
from tests.nightly import ROOT, Nightly
from warehouse.publish import AuditFailed, publish

pytestmark = pytest.mark.slow

DOMAINS = ("orders", "finance", "serving")
# What a reader tries, run as `nobody`: one JSON line per attempt, "ok:<rows>" or the error.
READER = """
import json, sys, duckdb, glob
serving = sys.argv[1]
def attempt(sql, database=None):
    try:
        con = duckdb.connect(database or ":memory:", read_only=database is not None)
        return "ok:%d" % con.execute(sql).fetchone()[0]
    except Exception as error:
        return type(error).__name__ + ": " + str(error).splitlines()[0]
def read_bytes(path):
    try:
        with open(path, "rb") as f:
            return "ok:%d" % len(f.read(4))
    except OSError as error:
        return type(error).__name__ + ": " + error.strerror
print(json.dumps({
    "finance parquet bytes": read_bytes(
        serving + "/rpt/finance/rpt_finance__gmv_daily.parquet"),
    "orders parquet bytes": read_bytes(
        serving + "/rpt/orders/rpt_orders__daily_by_city.parquet"),
    "orders.duckdb": attempt("select count(*) from rpt.rpt_orders__daily_by_city",
                             serving + "/domains/orders.duckdb"),
    "finance.duckdb": attempt("select count(*) from rpt.rpt_finance__gmv_daily",
                              serving + "/domains/finance.duckdb"),
    "warehouse.duckdb": attempt("select count(*) from rpt.rpt_finance__gmv_daily",
                                serving + "/warehouse.duckdb"),
    "orders parquet": attempt("select count(*) from read_parquet('%s')"
                              % (serving + "/rpt/orders/rpt_orders__daily_by_city.parquet")),
    "finance parquet": attempt("select count(*) from read_parquet('%s')"
                               % (serving + "/rpt/finance/rpt_finance__gmv_daily.parquet")),
    "finance listing": attempt("select count(*) from glob('%s/rpt/finance/*')" % serving),
}))
"""


@dataclass
class Published:
    serving: Path
    groups: dict[str, int]
    run_results: Path


def run_as_nobody(gid: int, serving: Path) -> dict[str, str]:
    """The READER script as user nobody with `gid` as its only supplementary group."""
    completed = subprocess.run(
        ["setpriv", "--reuid=nobody", "--regid=nogroup", f"--groups={gid}", "--"]
        + [sys.executable, "-c", READER, str(serving)],
        capture_output=True,
        text=True,
        env={"PATH": os.environ["PATH"], "HOME": "/nonexistent"},
        cwd="/",
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def published(nightly: Nightly) -> Iterator[Published]:
    """The nightly's published build, published again with real domain groups."""
    if os.geteuid() != 0 or not shutil.which("setpriv") or not shutil.which("groupadd"):
        unavailable("the access test needs root, setpriv and groupadd", "creates system groups")
    prefix = f"st{uuid.uuid4().hex[:6]}-"
    groups = {}
    # World-traversable (pytest's own temp root is 0700): `nobody` must reach the files.
    root = Path(tempfile.mkdtemp(prefix="shifu-serving-access-", dir="/tmp"))
    root.chmod(0o755)
    previous = os.environ.get(GROUP_PREFIX_VARIABLE)
    try:
        for domain in DOMAINS:
            subprocess.run(["groupadd", f"{prefix}{domain}"], check=True)
            groups[domain] = int(
                subprocess.run(
                    ["getent", "group", f"{prefix}{domain}"], capture_output=True, text=True
                ).stdout.split(":")[2]
            )
        os.environ[GROUP_PREFIX_VARIABLE] = prefix
        warehouse = root / "warehouse"
        warehouse.mkdir()
        # The published copy is the tested build; its run results were kept beside it.
        served = nightly.warehouse / "serving"
        shutil.copyfile(served / "warehouse.duckdb", warehouse / "build.duckdb")
        dbt = root / "dbt"
        shutil.copytree(served / "_dbt", dbt)
        publish(warehouse, dbt / "run_results.json", dt=nightly.last_dt.isoformat())
        yield Published(warehouse / "serving", groups, dbt / "run_results.json")
    finally:
        if previous is None:
            os.environ.pop(GROUP_PREFIX_VARIABLE, None)
        else:
            os.environ[GROUP_PREFIX_VARIABLE] = previous
        for domain in groups:
            subprocess.run(["groupdel", f"{prefix}{domain}"], check=False)
        shutil.rmtree(root, ignore_errors=True)


def test_an_orders_reader_reads_orders_and_not_finance(published: Published) -> None:
    seen = run_as_nobody(published.groups["orders"], published.serving)
    assert seen["orders.duckdb"].startswith("ok:") and seen["orders.duckdb"] != "ok:0", seen
    assert seen["orders parquet"].startswith("ok:") and seen["orders parquet"] != "ok:0", seen
    for denied in ("finance.duckdb", "warehouse.duckdb", "finance parquet bytes"):
        assert "Permission denied" in seen[denied], (denied, seen[denied])
    # DuckDB reports an unreadable Parquet path as "no files found"; the file is there.
    assert (published.serving / "rpt/finance/rpt_finance__gmv_daily.parquet").is_file()
    assert not seen["finance parquet"].startswith("ok:"), seen
    # Not even the names of the finance files: the directory cannot be listed.
    assert seen["finance listing"] == "ok:0", seen


def test_a_finance_reader_reads_finance_and_not_orders(published: Published) -> None:
    seen = run_as_nobody(published.groups["finance"], published.serving)
    assert seen["finance.duckdb"].startswith("ok:") and seen["finance.duckdb"] != "ok:0", seen
    for denied in ("orders.duckdb", "warehouse.duckdb", "orders parquet bytes"):
        assert "Permission denied" in seen[denied], (denied, seen[denied])
    assert seen["finance parquet bytes"] == "ok:4", seen


def test_a_domain_file_holds_only_its_domain(published: Published) -> None:
    for domain in ("orders", "finance"):
        database = published.serving / "domains" / f"{domain}.duckdb"
        with duckdb.connect(str(database), read_only=True) as con:
            tables = con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        assert tables and all(
            schema == "rpt" and name.startswith(f"rpt_{domain}__") for schema, name in tables
        ), tables


def test_without_its_group_a_domain_is_its_owners_alone(nightly: Nightly) -> None:
    """The nightly published with the default prefix, whose groups this machine lacks."""
    import grp

    try:
        grp.getgrnam("shifu-finance")
        pytest.skip("this machine has a shifu-finance group")
    except KeyError:
        pass
    serving = nightly.warehouse / "serving"
    assert (serving / "domains" / "finance.duckdb").stat().st_mode & 0o777 == 0o600
    assert (serving / "rpt" / "finance").stat().st_mode & 0o777 == 0o700
    assert (serving / "warehouse.duckdb").stat().st_mode & 0o777 == 0o600


def test_the_catalogue_keeps_every_night_and_refusal(published: Published, tmp_path) -> None:
    serving = published.serving
    warehouse = serving.parent
    first = catalogue.read(serving)
    assert [e["status"] for e in first] == ["published"]
    run = json.loads(published.run_results.read_text())
    tests = Counter(r["status"] for r in run["results"] if r["unique_id"].startswith("test."))
    assert first[0]["dbt"]["counts"]["test"] == dict(tests)
    assert first[0]["dbt"]["invocation_id"] == run["metadata"]["invocation_id"]

    # A night whose build failed a test: refused, serving/ untouched, the refusal remembered.
    failing = tmp_path / "run_results.json"
    run["results"][0]["status"] = "fail"
    failing.write_text(json.dumps(run))
    before = (serving / catalogue.CATALOGUE).read_bytes()
    with pytest.raises(AuditFailed):
        publish(warehouse, failing, dt="2030-01-02")
    assert (serving / catalogue.CATALOGUE).read_bytes() == before
    # ... and the next good night takes it into the catalogue.
    publish(warehouse, published.run_results, dt="2030-01-03")
    history = catalogue.read(serving)
    assert [(e["status"], e["dt"]) for e in history][1:] == [
        ("refused", "2030-01-02"),
        ("published", "2030-01-03"),
    ]
    assert history[1]["dbt"]["failed"] == [run["results"][0]["unique_id"]]
    printed = subprocess.run(
        [sys.executable, "-m", "serving", "catalogue", "--serving", str(serving)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "2030-01-02  refused" in printed and "2030-01-03  published" in printed
