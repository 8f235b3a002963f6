"""Bulk writes, one way per backend: executemany on SQLite, COPY on PostgreSQL.

Both run on the caller's connection, so they commit or roll back with its transaction.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
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


def _name(table: Table | str) -> str:
    return table if isinstance(table, str) else table.name


def insert_rows(
    conn: Connection, table: Table | str, columns: Sequence[str], rows: Sequence[tuple]
) -> None:
    """Insert `rows` (tuples in `columns` order) into `table` (a table or a table's name)."""
    if not rows:
        return
    name = _name(table)
    cols = _columns(conn, columns)
    if conn.dialect.name == "postgresql":
        with conn.connection.cursor() as cursor:
            with cursor.copy(f"COPY {name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {name} ({cols}) VALUES ({marks})", list(rows))


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


@dataclass(frozen=True)
class Encoded:
    """An Arrow table made ready to insert: tuples for SQLite, CSV for PostgreSQL's COPY."""

    columns: tuple[str, ...]
    rows: list[tuple] | None = None
    csv: bytes | None = None


def encode(dialect: str, data: pa.Table) -> Encoded:
    """Encode `data` for inserting on `dialect` (sqlite or postgresql), without a connection:
    the work that needs none can run before the write transaction, in another thread."""
    if dialect == "postgresql":
        buf = io.BytesIO()
        pacsv.write_csv(data, buf, pacsv.WriteOptions(include_header=False))
        return Encoded(tuple(data.column_names), csv=buf.getvalue())
    columns = []
    for col in data.columns:
        if pa.types.is_date(col.type) or pa.types.is_timestamp(col.type):
            col = pc.cast(col, pa.string())
        columns.append(col.to_pylist())
    return Encoded(tuple(data.column_names), rows=list(zip(*columns, strict=True)))


def insert_encoded(conn: Connection, table: Table | str, data: Encoded) -> None:
    """Insert encoded rows into `table` (or the table of that name)."""
    if not (data.rows or data.csv):
        return
    name = _name(table)
    cols = _columns(conn, data.columns)
    if data.csv is not None:
        with conn.connection.cursor() as cursor:
            with cursor.copy(f"COPY {name} ({cols}) FROM STDIN (FORMAT csv)") as copy:
                copy.write(data.csv)
        return
    marks = ", ".join("?" for _ in data.columns)
    conn.exec_driver_sql(f"INSERT INTO {name} ({cols}) VALUES ({marks})", data.rows)


def insert_arrow(conn: Connection, table: Table | str, data: pa.Table) -> None:
    """Insert an Arrow table whose column names are columns of `table` (or its name)."""
    if data.num_rows:
        insert_encoded(conn, table, encode(conn.dialect.name, data))
