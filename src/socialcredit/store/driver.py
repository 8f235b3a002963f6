"""Transactions on the driver's own connection (sqlite3 or psycopg), for the check path.

A check runs a handful of indexed statements that take microseconds each; through
SQLAlchemy Core each one cost about a hundred (checkout, the `BEGIN` issued from an event,
parameter and result processing), most of a check's time. These run the same SQL on the
pooled DBAPI connection, under the same rules as `connect.writing`: SQLite writes begin
`IMMEDIATE`, PostgreSQL writes take the writers' advisory lock, so they serialise with every
other writer of the store. Statements are written with `?` placeholders.
"""

from __future__ import annotations

import asyncio
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
    """An engine's writers in this process: their lock, and the checks waiting for the
    writer thread."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # held by whoever runs a write transaction
        self.jobs = threading.Condition(threading.Lock())  # guards `pending`, `thread`
        self.pending: list[_Job] = []
        self.thread: threading.Thread | None = None  # the writer thread, while it runs


class _Job:
    """A transaction handed to the writer thread, and how its caller learns the outcome: a
    lock released when done (a thread waits), or a future of the caller's event loop."""

    __slots__ = ("fn", "result", "error", "waiter", "loop", "future")

    def __init__(self, fn, loop=None) -> None:
        self.fn, self.result, self.error, self.loop = fn, None, None, loop
        self.future = None if loop is None else loop.create_future()
        self.waiter = None
        if loop is None:
            self.waiter = threading.Lock()
            self.waiter.acquire()


def _settle(jobs: list[_Job]) -> None:
    """On the caller's event loop: hand each job's outcome to its future."""
    for j in jobs:
        if not j.future.done():  # not cancelled meanwhile
            if j.error is not None:
                j.future.set_exception(j.error)
            else:
                j.future.set_result(j.result)


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
        whatever jobs other threads hand in meanwhile (a group commit); `together_async` is
        the same for a coroutine.

        One writer thread per engine in the process runs them: it takes every job waiting,
        runs them one after another on one cursor, commits once and hands each its outcome.
        A job sees the writes of the jobs before it, as one transaction after another would.
        When a job raises, the group is rolled back and run again without it (so `job` must
        only read and write through `cur`), and its error is raised to its own caller.
        Nothing is answered before the commit: if it fails, every job of the group fails.
        With nobody writing or waiting, the calling thread runs its job itself.
        """
        w = self._writers
        if not w.pending and w.lock.acquire(blocking=False):
            try:
                with self._writing() as cur:
                    return job(cur)
            finally:
                w.lock.release()
        mine = _Job(job)
        self._hand_in(mine)
        mine.waiter.acquire()  # released by the writer thread
        if mine.error is not None:
            raise mine.error
        return mine.result

    async def together_async(self, job: Callable):
        """`together` for a coroutine: the event loop is not blocked while the job waits
        and runs, and no thread of the loop's pool is taken."""
        mine = _Job(job, asyncio.get_running_loop())
        self._hand_in(mine)
        return await mine.future

    def _hand_in(self, job: _Job) -> None:
        w = self._writers
        with w.jobs:
            w.pending.append(job)
            if w.thread is None:
                w.thread = threading.Thread(target=self._write, name="writer", daemon=True)
                w.thread.start()
            else:
                w.jobs.notify()

    def _write(self) -> None:
        """The writer thread: run the waiting jobs in groups; end after a second idle."""
        w = self._writers
        try:
            while True:
                with w.jobs:
                    if not w.pending:
                        w.jobs.wait(1.0)
                    group, w.pending = w.pending, []
                    if not group:
                        w.thread = None
                        return
                try:
                    self._group(group)
                except BaseException as e:  # not a job's error nor the store's: tell them
                    for j in group:
                        if j.error is None:
                            j.error, j.result = e, None
                    raise
                finally:
                    _answer(group)
        except BaseException:
            with w.jobs:
                w.thread = None
            raise

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


def _answer(group: list[_Job]) -> None:
    """Wake the threads of a group and settle its futures, one call per event loop."""
    loops: dict = {}
    for j in group:
        if j.waiter is not None:
            j.waiter.release()
        else:
            loops.setdefault(j.loop, []).append(j)
    for loop, jobs in loops.items():
        try:
            loop.call_soon_threadsafe(_settle, jobs)
        except RuntimeError:  # the loop was closed: nobody waits for these any more
            pass


class _Refused(Exception):
    """A job of a group raised: the group is rolled back and run again without it."""
