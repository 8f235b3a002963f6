"""Transactions on the driver's own connection (sqlite3 or psycopg), for the check path.

A check runs a handful of indexed statements that take microseconds each; through
SQLAlchemy Core each one cost about a hundred (checkout, the `BEGIN` issued from an event,
parameter and result processing), most of a check's time. These run the same SQL on the
pooled DBAPI connection, under the same rules as `connect.writing`: SQLite writes begin
`IMMEDIATE`, PostgreSQL writes take the writers' advisory lock, so they serialise with every
other writer of the store. Statements are written with `?` placeholders.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

from socialcredit.store.connect import WRITER_LOCK

# One lock per engine: this process's writers queue on it, blocked, instead of all trying
# the store's write lock at once (on SQLite a failed try sleeps and tries again: with 32
# requests in flight on 16 threads a check's transaction cost 206 µs of CPU, 161 µs with
# the lock). The store's lock still serialises writers across processes and hosts.
_WRITERS: WeakKeyDictionary = WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


class Driver:
    """Read and write transactions on raw connections from an engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        with _WRITERS_LOCK:
            self._writer = _WRITERS.setdefault(engine, threading.Lock())

    def sql(self, text: str) -> str:
        """`text` with the driver's placeholder (psycopg takes %s)."""
        return text if self.sqlite else text.replace("?", "%s")

    def marks(self, n: int) -> str:
        """`n` placeholders for an IN list."""
        return ", ".join(["?" if self.sqlite else "%s"] * n)

    @contextmanager
    def reading(self) -> Iterator:
        """Yield a cursor inside one read transaction (one snapshot on SQLite)."""
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            if self.sqlite:  # the driver's own transactions are off (connect.make_engine)
                cur.execute("BEGIN")
            try:
                yield cur
            finally:
                raw.rollback()  # nothing was written
                cur.close()
        finally:
            raw.close()  # back to the pool

    @contextmanager
    def writing(self) -> Iterator:
        """Yield a cursor inside the single-writer transaction; commit on success."""
        with self._writer, self._writing() as cur:
            yield cur

    @contextmanager
    def _writing(self) -> Iterator:
        raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                if self.sqlite:
                    cur.execute("BEGIN IMMEDIATE")
                else:
                    cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                yield cur
            except BaseException:
                raw.rollback()
                raise
            else:
                raw.commit()
            finally:
                cur.close()
        finally:
            raw.close()
