"""The database fixtures in conftest.py give tests real, isolated servers."""

from __future__ import annotations

import pymysql
import sqlalchemy as sa
from pymysqlreplication import BinLogStreamReader
from pymysqlreplication.row_event import WriteRowsEvent

from ingest.cdc import NoReconnect, replica_id
from tests.conftest import BinlogServer

CREATE_ORDERS = "create table orders (id bigint primary key, city varchar(32) not null)"


def write_and_read_back(url: str) -> list[tuple]:
    engine = sa.create_engine(url)
    try:
        with engine.begin() as connection:
            assert sa.inspect(connection).get_table_names() == []
            connection.execute(sa.text(CREATE_ORDERS))
            connection.execute(sa.text("insert into orders values (1, '上海市')"))
        with engine.connect() as connection:
            return connection.execute(sa.text("select id, city from orders")).all()
    finally:
        engine.dispose()


def test_mariadb_url_is_an_empty_database_of_its_own(mariadb_url: str) -> None:
    assert write_and_read_back(mariadb_url) == [(1, "上海市")]


def test_postgres_url_is_an_empty_database_of_its_own(postgres_url: str) -> None:
    assert write_and_read_back(postgres_url) == [(1, "上海市")]


def test_binlog_mariadb_logs_row_changes(binlog_mariadb: BinlogServer) -> None:
    connection = pymysql.connect(**binlog_mariadb.connection_settings, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("create database if not exists binlog_growth")
        cursor.execute(f"{CREATE_ORDERS.replace('orders', 'binlog_growth.orders')}")
        cursor.execute("select @@log_bin, @@binlog_format")
        assert cursor.fetchone() == (1, "ROW")
        size_before = sum(path.stat().st_size for path in binlog_mariadb.binlog_files())
        cursor.execute("insert into binlog_growth.orders values (1, '上海市')")
    connection.close()

    size_after = sum(path.stat().st_size for path in binlog_mariadb.binlog_files())
    assert binlog_mariadb.binlog_files(), "no binlog file in the datadir"
    assert size_after > size_before


def test_binlog_row_events_name_their_columns(binlog_mariadb: BinlogServer) -> None:
    connection = pymysql.connect(**binlog_mariadb.connection_settings, autocommit=True)
    with connection.cursor() as cursor:
        cursor.execute("create database if not exists binlog_columns")
        cursor.execute(f"{CREATE_ORDERS.replace('orders', 'binlog_columns.orders')}")
        cursor.execute("show master status")
        log_file, log_pos = cursor.fetchone()[:2]
        cursor.execute("insert into binlog_columns.orders values (7, '北京市')")
    connection.close()

    stream = BinLogStreamReader(
        connection_settings=binlog_mariadb.connection_settings,
        # Not is_mariadb=True: with it (and no GTID) the library asks MariaDB for `pos(, 4)`,
        # the whole binlog from its first file, whatever log_file says.
        server_id=replica_id(),
        pymysql_wrapper=NoReconnect((log_file, log_pos)),
        log_file=log_file,
        log_pos=log_pos,
        resume_stream=True,
        blocking=False,
        only_events=[WriteRowsEvent],
        only_schemas=["binlog_columns"],
    )
    try:
        rows = [row["values"] for event in stream for row in event.rows]
    finally:
        stream.close()
    assert rows == [{"id": 7, "city": "北京市"}]
