"""Bulk writes, one way per backend: executemany on SQLite, COPY on PostgreSQL.

Both run on the caller's connection, so they commit or roll back with its transaction.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import Table
from sqlalchemy.engine import Connection

# The formats SQLAlchemy's SQLite Date and DateTime types store and read back; registered
# explicitly because Python 3.12 deprecates the driver's implicit ones.
sqlite3.register_adapter(date, date.isoformat)
sqlite3.register_adapter(datetime, lambda d: d.isoformat(" ", timespec="microseconds"))


def _columns(conn: Connection, columns: Sequence[str]) -> str:
    quote = conn.dialect.identifier_preparer.quote
    return ", ".join(quote(c) for c in columns)


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table`."""
    if not rows:
        return
    cols = _columns(conn, columns)
    if conn.dialect.name == "postgresql":
        with conn.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({cols}) VALUES ({marks})", list(rows))


def insert_ignore(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Insert `rows`, skipping any that hit a unique constraint (idempotent writes)."""
    if not rows:
        return
    cols = _columns(conn, columns)
    if conn.dialect.name == "postgresql":
        marks = ", ".join("%s" for _ in columns)
        sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        with conn.connection.cursor() as cursor:
            cursor.executemany(sql, list(rows))
        return
    marks = ", ".join("?" for _ in columns)
    sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) ON CONFLICT DO NOTHING"
    conn.exec_driver_sql(sql, list(rows))


def insert_arrow(conn: Connection, table: Table, data: pa.Table) -> None:
    """Insert an Arrow table whose column names are columns of `table`."""
    if data.num_rows == 0:
        return
    cols = _columns(conn, data.column_names)
    if conn.dialect.name == "postgresql":
        buf = io.BytesIO()
        pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
        with conn.connection.cursor() as cursor:
            with cursor.copy(f"COPY {table.name} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(buf.getbuffer())
        return
    columns = []
    for col in data.columns:
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            col = pc.cast(col, pa.string())
        columns.append(col.to_pylist())
    marks = ", ".join("?" for _ in data.column_names)
    sql = f"INSERT INTO {table.name} ({cols}) VALUES ({marks})"
    conn.exec_driver_sql(sql, list(zip(*columns, strict=True)))
