"""Open a store: read the URL, make the engine, bring the schema to the latest migration.

SQLite runs in WAL mode with one writer at a time: every write transaction starts with
`BEGIN IMMEDIATE`. PostgreSQL write transactions take one advisory lock, so both backends
serialise writers the same way (the audit chain and subject creation rely on it).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

DEFAULT_URL = "sqlite:///./socialcredit-data/store.sqlite"
MIGRATIONS = Path(__file__).with_name("migrations")
WRITER_LOCK = 0x5C0C4ED17  # pg_advisory_xact_lock key shared by every writer
# Connections kept open per engine. The API runs its routes in this many threads
# (service/app.py): with fewer, every request past the pool's size would open and close a
# connection of its own, which costs more than the check it serves.
POOL_SIZE = 16
AUTOCHECKPOINT = 1000  # SQLite's default: WAL pages after which a commit checkpoints


class StoreError(Exception):
    """A store problem, with a one-line reason a user can act on."""


def parse_url(url: str | None) -> URL:
    """Return the SQLAlchemy URL for `url`, the SOCIALCREDIT_DB variable or the default."""
    raw = url or os.environ.get("SOCIALCREDIT_DB") or DEFAULT_URL
    try:
        parsed = make_url(raw)
    except ArgumentError:
        raise StoreError(
            f'cannot read database URL "{raw}" — write sqlite:///PATH or postgresql://USER@HOST/DB'
        ) from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        if parsed.drivername not in ("sqlite", "sqlite+pysqlite"):
            raise StoreError(
                f'unsupported SQLite driver "{parsed.drivername}" — write sqlite:///PATH'
            )
        if not parsed.database or parsed.database == ":memory:":
            raise StoreError(f'database URL "{raw}" names no file — write sqlite:///PATH')
        return parsed.set(drivername="sqlite+pysqlite")
    if backend in ("postgresql", "postgres"):
        if parsed.drivername not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise StoreError(
                f'unsupported PostgreSQL driver "{parsed.drivername}" — write postgresql://...'
            )
        return parsed.set(drivername="postgresql+psycopg")
    raise StoreError(
        f'unsupported database URL "{parsed.render_as_string(hide_password=True)}" — '
        "write sqlite:///PATH or postgresql://USER@HOST/DB"
    )


def make_engine(url: URL) -> Engine:
    """Create the engine; for SQLite create the folder and set the pragmas."""
    if url.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=POOL_SIZE, max_overflow=8)
    path = Path(url.database).expanduser()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise StoreError(f"cannot create the folder for {path}: {e.strerror}") from None
    engine = create_engine(
        url,
        connect_args={"timeout": 30, "check_same_thread": False},
        pool_size=POOL_SIZE,
        max_overflow=8,
    )

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record) -> None:
        # The driver's own transaction handling is off; `_begin` below issues BEGIN itself.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        # Takes effect only on a new store (one in WAL mode keeps the size it was made with).
        # 16 KiB pages make a quarter of the write-ahead log frames and checkpoint copies of
        # 4 KiB ones: bulk ingest's writer spends about 2 CPU s less per 1M records; random
        # reads by subject cost within the noise (docs/benchmarks.md, ingest).
        cur.execute("PRAGMA page_size=16384")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=OFF")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA cache_size=-65536")  # 64 MiB: the record indexes outgrow the default
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@contextmanager
def writing(engine: Engine, attach: dict[str, str] | None = None,
            checkpoint: bool = True) -> Iterator[Connection]:  # fmt: skip
    """Yield a connection inside the single-writer transaction; commit on success.

    `attach` (SQLite) maps schema names to database files attached for the transaction;
    SQLite attaches and detaches only outside one. `checkpoint` False (SQLite): the commit
    leaves the WAL as it is, for a `Checkpointer` to copy.
    """
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        raw = conn.connection.driver_connection if sqlite else None
        for name, path in (attach or {}).items():
            raw.execute(f"ATTACH DATABASE ? AS {name}", (path,))
        if sqlite and not checkpoint:
            raw.execute("PRAGMA wal_autocheckpoint=0")
        try:
            if sqlite:
                conn.execution_options(sqlite_begin="IMMEDIATE")
            with conn.begin():
                if not sqlite:
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": WRITER_LOCK})
                yield conn
        finally:
            for name in attach or {}:
                raw.execute(f"DETACH DATABASE {name}")
            if sqlite and not checkpoint:
                raw.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT}")


class Checkpointer:
    """Copies a SQLite store's WAL into the store (a passive checkpoint) on a thread of its
    own when asked, at most once every `every` seconds, for writers that commit with
    `checkpoint=False`. SQLite would do it in the commit that takes the WAL past
    AUTOCHECKPOINT pages, while the writer waits for the copy and its two fsyncs."""

    def __init__(self, engine: Engine, every: float = 0.0) -> None:
        self.engine, self.every = engine, every
        self.thread: threading.Thread | None = None
        self.last = 0.0

    def poke(self) -> None:
        """Start a checkpoint unless one is running or the last began too recently."""
        now = time.monotonic()
        if (self.thread is not None and self.thread.is_alive()) or now - self.last < self.every:
            return
        self.last = now
        self.thread = threading.Thread(target=self._run, name="checkpoint", daemon=True)
        self.thread.start()

    def wait(self) -> None:
        if self.thread is not None:
            self.thread.join()

    def _run(self) -> None:
        raw = self.engine.raw_connection()
        try:
            raw.cursor().execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            raw.close()


def migrate(engine: Engine) -> None:
    """Run `alembic upgrade head` in one write transaction (idempotent)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with writing(engine) as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
    except SQLAlchemyError as e:
        raise StoreError(f"cannot open {describe(engine)}: {first_line(e)}") from e


def describe(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def first_line(e: BaseException) -> str:
    msg = str(getattr(e, "orig", None) or e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__
