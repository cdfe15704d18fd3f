"""Writes the simulated OLTP database to SQLite files, MySQL/MariaDB or PostgreSQL.

Writes are applied in time order and committed in five-minute transactions, as the application
would have committed them; on MySQL each transaction runs under `SET timestamp` so that the
binlog's event times are the simulated commit times, not the wall clock of the machine.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import MetaData, create_engine
from sqlalchemy.engine import Engine
from sqlalchemy.pool import StaticPool

from simulator.schema import (
    MONOLITH,
    MONOLITH_KEEPS,
    SERVICES,
    SPLIT_ROUTES,
    build_monolith,
    build_services,
    skills_json,
    translate_row,
)
from simulator.world import Op

SHANGHAI = ZoneInfo("Asia/Shanghai")
WINDOW_MINUTES = 5
_PREFIX_RE = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


def is_url(target: str) -> bool:
    return "://" in target


class SourceDatabase:
    """The marketplace's production database(s) behind one connection.

    `target` is a SQLAlchemy URL (MySQL/MariaDB: server, databases are created; PostgreSQL: a
    database, schemas are created) or a directory (SQLite: one file per database under db/).
    `schema_prefix` lets several simulations share one server (tests).
    """

    def __init__(self, target: str, schema_prefix: str = "") -> None:
        if schema_prefix and not _PREFIX_RE.match(schema_prefix):
            raise ValueError(f"schema prefix {schema_prefix!r} must match {_PREFIX_RE.pattern}")
        self.target = target
        self.prefix = schema_prefix
        self.schemas = {name: f"{schema_prefix}{name}" for name in (MONOLITH, *SERVICES)}
        if is_url(target):
            self.engine: Engine = create_engine(target, pool_pre_ping=True)
            self.dialect = self.engine.dialect.name
            if self.dialect not in ("mysql", "mariadb", "postgresql"):
                raise ValueError(f"unsupported target database {self.dialect!r}")
            self.raw = self.engine.raw_connection()
        else:
            self.db_dir = Path(target) / "db"
            self.db_dir.mkdir(parents=True, exist_ok=True)
            self.raw = sqlite3.connect(self.db_dir / f"{MONOLITH}.sqlite", isolation_level=None)
            self.raw.execute("PRAGMA synchronous=OFF")
            self.raw.execute("PRAGMA journal_mode=WAL")
            self.engine = create_engine("sqlite://", creator=lambda: self.raw, poolclass=StaticPool)
            self.dialect = "sqlite"
        self.is_mysql = self.dialect in ("mysql", "mariadb")
        self.paramstyle = "?" if self.dialect == "sqlite" else "%s"
        self.quote = self.engine.dialect.identifier_preparer.quote_identifier
        self.split = False
        self._sql_cache: dict[tuple, str] = {}
        self._conv = self._converters()

    # ---- life cycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self.dialect == "sqlite":
            self.raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.raw.execute("PRAGMA journal_mode=DELETE")
        self.raw.close()
        self.engine.dispose()

    def checkpoint(self, destination: Path) -> None:
        """Copy the SQLite databases, as committed now, to `destination` (one file each, the
        same layout as db/): the source as it stood at the end of a day, for replaying nights.
        Uses SQLite's online backup, so the copy is consistent without closing the writer."""
        if self.dialect != "sqlite":
            raise ValueError("checkpoints are for SQLite targets (a server keeps its own history)")
        destination = Path(destination)
        if destination.exists():
            shutil.rmtree(destination)
        staging = destination.with_name(f".{destination.name}.partial")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        for row in self.raw.execute("PRAGMA database_list").fetchall():
            schema, path = row[1], row[2]
            if schema == "temp" or not path:
                continue
            with sqlite3.connect(staging / Path(path).name) as copy:
                self.raw.backup(copy, name=schema)
            copy.close()
        staging.rename(destination)

    def _attach(self, logical: str) -> None:
        if self.dialect == "sqlite" and logical != MONOLITH:
            attached = {row[1] for row in self.raw.execute("PRAGMA database_list")}
            if self.schemas[logical] not in attached:
                path = str(self.db_dir / f"{logical}.sqlite")
                self.raw.execute(
                    "ATTACH DATABASE ? AS " + self.quote(self.schemas[logical]), (path,)
                )

    def reset(self) -> None:
        """Drop everything a previous simulation wrote here (only the simulator's own names)."""
        cur = self.raw.cursor()
        if self.dialect == "sqlite":
            for logical in (MONOLITH, *SERVICES):
                path = self.db_dir / f"{logical}.sqlite"
                if logical == MONOLITH:
                    for (name,) in list(
                        cur.execute("SELECT name FROM sqlite_master WHERE type='table'")
                    ):
                        cur.execute("DROP TABLE " + self.quote(name))
                else:
                    path.unlink(missing_ok=True)
            return
        for name in self.schemas.values():
            if self.is_mysql:
                cur.execute("DROP DATABASE IF EXISTS " + self.quote(name))
            else:
                cur.execute("DROP SCHEMA IF EXISTS " + self.quote(name) + " CASCADE")
        self.raw.commit()

    def exists(self) -> bool:
        """Whether a simulation has already written this database (for --append)."""
        cur = self.raw.cursor()
        if self.dialect == "sqlite":
            cur.execute("SELECT count(*) FROM sqlite_master WHERE type='table'")
            return cur.fetchone()[0] > 0
        cur.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN (%s, %s)",
            (self.schemas[MONOLITH], self.schemas["svc_order"]),
        )
        return cur.fetchone()[0] > 0

    def _create_schemas(self, logicals: Iterable[str]) -> None:
        cur = self.raw.cursor()
        for logical in logicals:
            name = self.quote(self.schemas[logical])
            if self.dialect == "sqlite":
                self._attach(logical)
            elif self.is_mysql:
                cur.execute(
                    f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET utf8mb4 "
                    "COLLATE utf8mb4_unicode_ci"
                )
            else:
                cur.execute(f"CREATE SCHEMA IF NOT EXISTS {name}")
        if self.dialect != "sqlite":
            self.raw.commit()

    def create_monolith(self) -> None:
        self._create_schemas([MONOLITH])
        metadata = MetaData()
        schema = None if self.dialect == "sqlite" else self.schemas[MONOLITH]
        build_monolith(metadata, schema)
        metadata.create_all(self.engine)

    def detect_split(self) -> None:
        """On --append, learn whether the split has already happened on this database."""
        cur = self.raw.cursor()
        if self.dialect == "sqlite":
            self.split = (self.db_dir / "svc_order.sqlite").exists()
            if self.split:
                for logical in SERVICES:
                    self._attach(logical)
            return
        cur.execute(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = %s",
            (self.schemas["svc_order"],),
        )
        self.split = cur.fetchone()[0] > 0

    # ---- writing ------------------------------------------------------------------------------

    def _qualified(self, logical_schema: str, table: str) -> str:
        if self.dialect == "sqlite" and logical_schema == MONOLITH:
            return self.quote(table)
        return f"{self.quote(self.schemas[logical_schema])}.{self.quote(table)}"

    def _converters(self) -> dict[type, object]:
        """Python value -> driver value, by type (only the types a driver can't take as is)."""
        conv: dict[type, object] = {list: skills_json}
        if self.dialect == "sqlite":
            conv[datetime] = lambda v: v.isoformat(sep=" ")
            conv[Decimal] = float  # SQLite parses decimal text inexactly; Python rounds right
        return conv

    def _statement(
        self, kind: str, schema: str, table: str, cols: tuple[str, ...], keys: tuple[str, ...]
    ) -> str:
        cache_key = (kind, schema, table, cols, keys)
        sql = self._sql_cache.get(cache_key)
        if sql is None:
            q, p, name = self.quote, self.paramstyle, self._qualified(schema, table)
            where = " AND ".join(f"{q(k)} = {p}" for k in keys)
            if kind == "insert":
                sql = (
                    f"INSERT INTO {name} ({', '.join(q(c) for c in cols)}) "
                    f"VALUES ({', '.join(p for _ in cols)})"
                )
            elif kind == "update":
                sql = f"UPDATE {name} SET {', '.join(f'{q(c)} = {p}' for c in cols)} WHERE {where}"
            else:
                sql = f"DELETE FROM {name} WHERE {where}"
            self._sql_cache[cache_key] = sql
        return sql

    def _physical(self, op: Op) -> list[tuple[str, str, str, dict, dict]]:
        """(kind, schema, table, values, key) rows for one logical write, before or after the split."""
        if not self.split or op.table in MONOLITH_KEEPS:
            return [(op.kind, MONOLITH, op.table, op.values, {"id": op.key})]
        route, values = translate_row(op.table, op.values)
        out = [(op.kind, route.service, route.table, values, {"id": op.key})]
        if op.table == "master":
            gmt = {"gmt_create": op.ts}
            if op.kind == "insert":
                out += [
                    (
                        "insert",
                        "svc_master",
                        "master_skill",
                        {"master_id": op.key, "category_code": s, **gmt},
                        {},
                    )
                    for s in op.values["skills"]
                ]
            elif "skills" in op.values:
                before, after = set(op.old["skills"]), set(op.values["skills"])
                out += [
                    (
                        "delete",
                        "svc_master",
                        "master_skill",
                        {},
                        {"master_id": op.key, "category_code": s},
                    )
                    for s in sorted(before - after)
                ]
                out += [
                    (
                        "insert",
                        "svc_master",
                        "master_skill",
                        {"master_id": op.key, "category_code": s, **gmt},
                        {},
                    )
                    for s in sorted(after - before)
                ]
                if not values:
                    out = out[1:]
        return out

    def _execute_window(self, cur, ops: list[Op]) -> None:
        """One transaction: inserts, then updates, then deletes, each in time order.

        Every row is inserted before it is updated and deleted last, so this order keeps each
        row's history while letting same-shaped statements run as one batch."""
        stmts: dict[str, list[tuple[str, list]]] = {"insert": [], "update": [], "delete": []}
        conv = self._conv
        for op in ops:
            for kind, schema, table, values, key in self._physical(op):
                cols = tuple(values)
                keys = tuple(key) if kind != "insert" else ()
                sql = self._statement(kind, schema, table, cols, keys)
                params = [
                    v if (fn := conv.get(type(v))) is None else fn(v)
                    for v in map(values.__getitem__, cols)
                ] + [key[k] for k in keys]
                batch = stmts[kind]
                if batch and batch[-1][0] == sql:
                    batch[-1][1].append(params)
                else:
                    batch.append((sql, [params]))
        for kind in ("insert", "update", "delete"):
            if kind == "insert":
                # Inserts are independent rows: gather each statement's rows into one batch.
                merged: dict[str, list] = defaultdict(list)
                for sql, rows in stmts[kind]:
                    merged[sql].extend(rows)
                batches = list(merged.items())
            else:
                batches = stmts[kind]
            for sql, rows in batches:
                cur.executemany(sql, rows)

    def apply(self, ops: list[Op]) -> int:
        """Apply one day's writes in five-minute transactions; returns the number of writes."""
        cur = self.raw.cursor()
        window: list[Op] = []
        current = None
        for op in ops:
            key = (op.ts.date(), op.ts.hour, op.ts.minute // WINDOW_MINUTES)
            if key != current and window:
                self._commit_window(cur, window)
                window = []
            current = key
            window.append(op)
        if window:
            self._commit_window(cur, window)
        return len(ops)

    def _commit_window(self, cur, window: list[Op]) -> None:
        if self.is_mysql:
            commit_ts = window[-1].ts.replace(tzinfo=SHANGHAI).timestamp()
            cur.execute("SET timestamp = %s", (int(commit_ts),))
        if self.dialect == "sqlite":
            cur.execute("BEGIN")
        self._execute_window(cur, window)
        if self.dialect == "sqlite":
            cur.execute("COMMIT")
        else:
            self.raw.commit()

    # ---- the microservice split -----------------------------------------------------------------

    def migrate_split(self, day: date) -> None:
        """Move orders, payments and masters to their services (same ids), drop the legacy tables."""
        at = datetime.combine(day, time())
        self._create_schemas(SERVICES)
        metadata = MetaData()
        build_services(metadata, self.schemas)
        metadata.create_all(self.engine)
        cur = self.raw.cursor()
        if self.is_mysql:
            cur.execute("SET timestamp = %s", (int(at.replace(tzinfo=SHANGHAI).timestamp()),))
        if self.dialect == "sqlite":
            cur.execute("BEGIN")
        self.split = True
        for table in SPLIT_ROUTES:
            source = self._qualified(MONOLITH, table)
            cur.execute(f"SELECT * FROM {source} ORDER BY {self.quote('id')}")
            names = [d[0] for d in cur.description]
            rows = cur.fetchall()
            ops = []
            for row in rows:
                values = dict(zip(names, row, strict=True))
                if table == "master":
                    skills = values["skills"]
                    values["skills"] = json.loads(skills) if isinstance(skills, str) else skills
                ops.append(
                    Op(
                        _as_datetime(values.get("created_at")) or at,
                        0,
                        "insert",
                        table,
                        values["id"],
                        values,
                    )
                )
            self._execute_window(cur, ops)
        for table in SPLIT_ROUTES:
            cur.execute("DROP TABLE " + self._qualified(MONOLITH, table))
        if self.dialect == "sqlite":
            cur.execute("COMMIT")
        else:
            self.raw.commit()


def _as_datetime(value) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


# ---- a canonical dump, to compare databases across engines ---------------------------------------


def canonical_dump(db: SourceDatabase) -> dict[str, list[tuple]]:
    """Every table as sorted rows of canonical strings: the same rows give the same dump on
    SQLite, MySQL/MariaDB and PostgreSQL (numbers normalised, times as ISO, JSON re-serialised)."""
    cur = db.raw.cursor()
    tables: list[tuple[str, str]] = []
    if db.dialect == "sqlite":
        for logical in (MONOLITH, *SERVICES):
            schema = "main" if logical == MONOLITH else db.schemas[logical]
            if logical != MONOLITH and not db.split:
                continue
            cur.execute(f"SELECT name FROM {db.quote(schema)}.sqlite_master WHERE type='table'")
            tables += [(logical, r[0]) for r in cur.fetchall()]
    else:
        for logical, physical in db.schemas.items():
            cur.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (physical,),
            )
            tables += [(logical, r[0]) for r in cur.fetchall()]
    out = {}
    for logical, table in sorted(tables):
        cur.execute(f"SELECT * FROM {db._qualified(logical, table)}")
        names = [d[0] for d in cur.description]
        rows = [tuple(_canonical(v) for v in row) for row in cur.fetchall()]
        out[f"{logical}.{table}"] = [tuple(names)] + sorted(rows)
    return out


def _canonical(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, (int,)):
        return str(v)
    if isinstance(v, (float, Decimal)):
        d = Decimal(str(v)).normalize()
        return format(d, "f")
    if isinstance(v, datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, (list, dict)):
        return json.dumps(v, sort_keys=True, separators=(",", ":"))
    text = str(v)
    if text[:1] in "[{":
        try:
            return json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))
        except ValueError:
            return text
    if re.fullmatch(r"-?\d+(\.\d+)?", text):
        return format(Decimal(text).normalize(), "f")
    return text
