"""Per-domain access to the serving copy: one DuckDB file per domain, guarded by POSIX groups.

DuckDB has no users or grants, so the operating system is the access control
(docs/adr/0001-per-domain-serving-access.md):

    serving/domains/<domain>.duckdb   only that domain's rpt tables   0640  group <prefix><domain>
    serving/rpt/<domain>/             that domain's Parquet files     0750  group <prefix><domain>
    serving/warehouse.duckdb          every layer (BI service, admins) 0640  group <prefix>serving
    serving/dashboard/                all domains' headline figures   0750  group <prefix>serving

A reader is put in the groups of the domains they may read. When a group does not exist the
file stays its owner's alone (mode 0600 / 0700): access fails closed, never open. Every file is
finished, permissioned and only then renamed into place, so no reader sees it unguarded.
"""

from __future__ import annotations

import grp
import os
import re
import sys
import tempfile
from pathlib import Path

GROUP_PREFIX_VARIABLE = "SHIFU_SERVING_GROUP_PREFIX"
DEFAULT_GROUP_PREFIX = "shifu-"
ALL_DOMAINS = "serving"  # the group of the whole serving copy and the dashboard
DOMAIN = re.compile(r"^[a-z][a-z0-9_]*$")
GROUP = re.compile(r"^[a-z_][a-z0-9_-]{0,31}$")
RPT_TABLE = re.compile(r"^rpt_([a-z][a-z0-9_]*?)__([a-z0-9_]+)$")


def group_prefix() -> str:
    return os.environ.get(GROUP_PREFIX_VARIABLE, DEFAULT_GROUP_PREFIX)


def group_name(domain: str) -> str:
    name = f"{group_prefix()}{domain}"
    if not GROUP.match(name):
        raise ValueError(f"{name!r} is not a valid group name (check ${GROUP_PREFIX_VARIABLE})")
    return name


def group_id(domain: str) -> int | None:
    """The gid of the domain's group, None when the group does not exist on this machine."""
    try:
        return grp.getgrnam(group_name(domain)).gr_gid
    except KeyError:
        return None


def restrict(path: Path, domain: str) -> None:
    """Readable by the domain's group (and the owner), or by the owner alone if there is none."""
    gid = group_id(domain)
    directory = path.is_dir()
    if gid is not None:
        try:
            os.chown(path, -1, gid)
        except PermissionError:  # the publisher is not a member of the group: fail closed
            print(
                f"serving: not a member of {group_name(domain)}: {path} owner-only", file=sys.stderr
            )
            gid = None
    if gid is None:
        os.chmod(path, 0o700 if directory else 0o600)
        return
    os.chmod(path, 0o750 if directory else 0o640)


def rpt_tables_by_domain(con) -> dict[str, list[str]]:
    """The rpt tables of an open DuckDB connection, grouped by domain (validated names only)."""
    names = con.execute(
        "select table_name from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'rpt' order by table_name"
    ).fetchall()
    domains: dict[str, list[str]] = {}
    for (name,) in names:
        match = RPT_TABLE.match(name)
        if match:
            domains.setdefault(match.group(1), []).append(name)
    return domains


def publish_domains(database: Path, out_dir: Path) -> dict[str, Path]:
    """Write one DuckDB file per domain from `database`'s rpt schema; return {domain: file}."""
    import duckdb

    out_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(out_dir, 0o755)  # the listing is public; each file is not
    with duckdb.connect(str(database), read_only=True) as con:
        domains = rpt_tables_by_domain(con)
    written = {}
    for domain, tables in sorted(domains.items()):
        if not DOMAIN.match(domain):
            continue
        handle, name = tempfile.mkstemp(prefix=f".{domain}-", suffix=".duckdb", dir=out_dir)
        os.close(handle)
        staged = Path(name)
        staged.unlink()  # DuckDB creates the file itself; an empty file is not a database
        try:
            with duckdb.connect(str(staged)) as con:
                quoted = str(database).replace("'", "''")  # ATTACH takes no parameters
                con.execute(f"attach '{quoted}' as source (read_only)")
                con.execute("create schema rpt")
                for table in tables:  # matched RPT_TABLE above: safe to quote into SQL
                    con.execute(f'create table rpt."{table}" as select * from source.rpt."{table}"')
                con.execute("detach source")
                con.execute("checkpoint")
            restrict(staged, domain)
            final = out_dir / f"{domain}.duckdb"
            os.replace(staged, final)
            written[domain] = final
        finally:
            staged.unlink(missing_ok=True)
            Path(f"{staged}.wal").unlink(missing_ok=True)
    return written
