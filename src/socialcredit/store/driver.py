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
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import Engine

from socialcredit.store.connect import WRITER_LOCK, Checkpointer

# One lock per engine: this process's writers queue on it, blocked, instead of all trying
# the store's write lock at once (on SQLite a failed try sleeps and tries again: with 32
# requests in flight on 16 threads a check's transaction cost 206 µs of CPU, 161 µs with
# the lock). The store's lock still serialises writers across processes and hosts. Checks
# go further (`Driver.together`): those waiting share one transaction and one commit.
_WRITERS: WeakKeyDictionary = WeakKeyDictionary()
_WRITERS_LOCK = threading.Lock()
MMAP_SIZE = 2**30  # bytes of a SQLite store the warm connection maps (`Driver._warm`)


class _Writers:
    """An engine's writers in this process: their lock, and the jobs waiting for the writer
    thread or for their event loop's next turn."""

    def __init__(self, engine: Engine) -> None:
        self.lock = threading.Lock()  # held by whoever runs a write transaction
        self.jobs = threading.Condition(threading.Lock())  # guards `pending`, `thread`
        self.pending: list[_Job] = []
        self.thread: threading.Thread | None = None  # the writer thread, while it runs
        self.on_loop: dict = {}  # event loop -> its jobs to run in its next turn (SQLite)
        self.conn = None  # the connection groups run on, on SQLite (`Driver._warm`)
        # The warm connection's commits leave the WAL to this, at most once a second. SQLite
        # would checkpoint in the commit that takes the WAL past 1,000 pages, on the event
        # loop: at 3,000 checks a second (about a page each, the log's subject index) that
        # was several times a second, each blocking the loop for 10-270 ms while the pages
        # were written and synced.
        self.checkpointer = Checkpointer(engine, every=1.0)

    def close(self) -> None:
        """The store is closed (its engine disposed): close the warm connection too."""
        with self.lock:
            if self.conn is not None:
                self.conn.close()  # its pool is gone: the connection itself closes
                self.conn = None


class _Job:
    """An item handed in with the function that runs it (with others of the same function),
    and how its caller learns the outcome: a lock released when done (a thread waits), or a
    future of the caller's event loop."""

    __slots__ = ("run", "item", "result", "error", "waiter", "loop", "future")

    def __init__(self, run, item, loop=None) -> None:
        self.run, self.item, self.result, self.error, self.loop = run, item, None, None, loop
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
            self._writers = _WRITERS.get(engine)
            if self._writers is None:
                w = self._writers = _WRITERS[engine] = _Writers(engine)
                event.listen(engine, "engine_disposed", lambda _: w.close())
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
    def _writing(self, raw=None) -> Iterator:
        """Yield a cursor inside a write transaction (the caller holds `self._writer`) on a
        pooled connection, or on `raw`, the warm one (`_warm`): then None, with nothing
        begun, when another connection holds SQLite's write lock."""
        pooled = raw is None
        if pooled:
            raw = self.engine.raw_connection()
        try:
            cur = raw.cursor()
            try:
                if not self._begin(cur, pooled):
                    yield None
                    return
                try:
                    yield cur
                except BaseException:
                    raw.rollback()
                    raise
                else:
                    raw.commit()
            finally:
                cur.close()
        finally:
            if pooled:
                raw.close()  # back to the pool

    def _begin(self, cur, wait: bool) -> bool:
        if not self.sqlite:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
            return True
        try:
            cur.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            if wait or e.sqlite_errorname != "SQLITE_BUSY":
                raise
            return False
        return True

    def _warm(self):
        """The connection groups run on (SQLite), always the same one (under the writers'
        lock), so its page cache stays warm: the pool hands its connections out in turn, and
        each reads most pages from the OS again. It maps the store into memory, so a page it
        has not cached is read without a system call. At 1M subjects a person's lookup took
        33 µs on one of 16 connections in turn, 19 µs on one, 8 µs on one that maps (SQLite
        writes through its WAL either way). Its busy timeout is 0: BEGIN IMMEDIATE fails at
        once when another process writes, rather than sleep, and an event loop with it, for
        as long as that writer takes (an ingest: seconds)."""
        w = self._writers
        if w.conn is None:
            w.conn = self.engine.raw_connection()
            cur = w.conn.cursor()
            cur.execute(f"PRAGMA mmap_size={MMAP_SIZE}")
            cur.execute("PRAGMA busy_timeout=0")
            cur.execute("PRAGMA wal_autocheckpoint=0")  # `_Writers.checkpointer` does it
            cur.close()
        return w.conn

    def together(self, run: Callable, item):
        """Return the outcome of `item` from `run(cur, items)`, run inside the single-writer
        transaction, and committed, with the items other callers hand in meanwhile with the
        same `run` (a group commit); `together_async` is the same for a coroutine.

        `run` gets the group's items in the order handed in, on one cursor, and returns one
        outcome per item: a result, or an exception to raise to that item's caller, for which
        `run` wrote nothing (so a group has nothing to roll back for one item). If `run` or
        the commit raises, every item of the group fails with that error. Nothing is answered
        before the commit. With nobody writing or waiting, the calling thread runs its item
        itself.
        """
        w = self._writers
        mine = _Job(run, item)
        if not w.pending and w.lock.acquire(blocking=False):
            try:
                self._group([mine])
            finally:
                w.lock.release()
        else:
            self._hand_in([mine])
            mine.waiter.acquire()  # released by the writer thread
        if mine.error is not None:
            raise mine.error
        out = mine.result
        if isinstance(out, BaseException):
            raise out
        return out

    async def together_async(self, run: Callable, item):
        """`together` for a coroutine: the event loop is not blocked while the item waits,
        and no thread of the loop's pool is taken.

        On SQLite the items handed in during one turn of the loop run in its next turn, on
        the loop itself, when the store's write lock is free at once: a group takes
        microseconds per item, less than handing it to the writer thread and back (every
        statement on that thread releases the GIL and waits to take it back from the loop).
        On PostgreSQL (a round trip per statement), or when another process holds the
        store's write lock, the writer thread runs them, and waits for the lock. The price:
        while a group reads pages of the store that are not in memory, from a slow disk,
        every request of the loop waits with it, not only the checks.
        """
        loop = asyncio.get_running_loop()
        mine = _Job(run, item, loop)
        if self.sqlite:
            turn = self._writers.on_loop.get(loop)
            if turn is None:
                turn = self._writers.on_loop[loop] = []
                loop.call_soon(self._loop_turn, loop)
            turn.append(mine)
        else:
            self._hand_in([mine])
        out = await mine.future
        if isinstance(out, BaseException):
            raise out
        return out

    def _loop_turn(self, loop) -> None:
        """On `loop`: run the items handed in during its last turn."""
        self._on_loop(loop, self._writers.on_loop.pop(loop))

    def _on_loop(self, loop, group: list[_Job], tries: int = 20) -> None:
        w = self._writers
        if not w.lock.acquire(blocking=False):
            # Another thread of this process writes (the writer thread, a manifest): try
            # again in a millisecond. Handing the group to the writer thread at once would
            # keep it there: each of its statements waits for the GIL while the loop runs,
            # so it stays busy, and every later turn would find it busy too. After 20 tries
            # it does (the lock is not fair: threads writing one group after another could
            # otherwise keep the loop out).
            if tries:
                loop.call_later(0.001, self._on_loop, loop, group, tries - 1)
            else:
                self._hand_in(group)
            return
        try:
            ran = self._group(group, wait=False)
        finally:
            w.lock.release()
        if ran:
            _settle(group)
        else:  # another process writes: the writer thread waits for it, not the loop
            self._hand_in(group)

    def _hand_in(self, jobs: list[_Job]) -> None:
        w = self._writers
        with w.jobs:
            w.pending += jobs
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
                    with w.lock:
                        self._group(group)
                except BaseException as e:  # not the store's error: tell them, then stop
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

    def _group(self, group: list[_Job], wait: bool = True) -> bool:
        """Run `group` in one write transaction, each `run` once with its items in order.
        On SQLite it runs on the warm connection (`_warm`) when no other connection holds
        the write lock; else, when it may `wait`, on a pooled one that waits for the lock,
        and when it may not, not at all (False)."""
        runs: dict = {}
        for j in group:
            runs.setdefault(j.run, []).append(j)
        try:
            if self.sqlite:
                with self._writing(self._warm()) as cur:
                    if cur is not None:
                        self._run(cur, runs)
                if cur is not None:
                    self._writers.checkpointer.poke()
                    return True
            if not wait:
                return False
            with self._writing() as cur:
                self._run(cur, runs)
        except Exception as e:  # the group's transaction failed: nothing of it was written
            for j in group:
                j.error, j.result = e, None
        return True

    @staticmethod
    def _run(cur, runs: dict) -> None:
        for run, jobs in runs.items():
            for j, out in zip(jobs, run(cur, [j.item for j in jobs]), strict=True):
                j.result = out


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
