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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine

from socialcredit.store.connect import WRITER_LOCK

# One lock per engine: this process's writers queue on it, blocked, instead of all trying
# the store's write lock at once (on SQLite a failed try sleeps and tries again: with 32
# requests in flight on 16 threads a check's transaction cost 206 µs of CPU, 161 µs with
# the lock). The store's lock still serialises writers across processes and hosts. Checks
# go further (`Driver.together`): those waiting share one transaction and one commit.
_WRITERS: WeakKeyDictionary = WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()


class _Writers:
    """An engine's writers in this process: their lock, and the jobs waiting for a leader."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by whoever runs a write transaction
        self.jobs = threading.Condition(threading.Lock())  # guards `pending`, `leading`
        self.pending: list[_Job] = []
        self.leading = False


class _Job:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn) -> None:
        self.fn, self.done, self.result, self.error = fn, False, None, None


class Driver:
    """Read and write transactions on raw connections from an engine's pool."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"
        with _WRITERS_LOCK:
            self._writers = _WRITERS.setdefault(engine, _Writers())
        self._writer = self._writers.lock

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

    def together(self, job: Callable):
        """Return `job(cur)` run inside the single-writer transaction, and committed, with
        whatever jobs other threads of this process hand in meanwhile (a group commit).

        The first thread in leads: it takes every job waiting, runs them one after another
        on one cursor, commits once and wakes the others. A job sees the writes of the jobs
        before it, as one transaction after another would. When a job raises, the group is
        rolled back and run again without it (so `job` must only read and write through
        `cur`), and its error is raised in its own thread. Nothing is answered before the
        commit: if it fails, every job of the group fails with its error.
        """
        w = self._writers
        mine = _Job(job)
        with w.jobs:
            w.pending.append(mine)
            while not mine.done and w.leading:
                w.jobs.wait()
            if not mine.done:
                w.leading = True
                group, w.pending = w.pending, []
        if not mine.done:
            try:
                self._group(group)
            finally:
                with w.jobs:
                    for j in group:
                        j.done = True
                    w.leading = False
                    w.jobs.notify_all()
        if mine.error is not None:
            raise mine.error
        return mine.result

    def _group(self, group: list[_Job]) -> None:
        todo = group
        while todo:
            try:
                with self.writing() as cur:
                    for j in todo:
                        try:
                            j.result = j.fn(cur)
                        except Exception as e:
                            j.error = e
                            raise _Refused from e
            except _Refused:  # roll the group back and run it again without that job
                todo = [j for j in todo if j.error is None]
                continue
            except Exception as e:  # the group's transaction failed: nothing of it was written
                for j in todo:
                    j.error, j.result = e, None
            return


class _Refused(Exception):
    """A job of a group raised: the group is rolled back and run again without it."""
