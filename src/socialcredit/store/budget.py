"""The per-token budget of people checked, kept in the store so all workers share it.

A sliding window of per-second counts: one row per (token, second) holding the people
checked in that second; the budget is spent when the rows of the last `window` seconds add
up to the limit. A token keeps at most `window` rows, so a spend reads a handful of rows
whatever the rate. Each spend runs in a single-writer transaction, so two workers (or two
threads) can never both take the last places.
"""

from __future__ import annotations

import math

from sqlalchemy import func, select

from socialcredit.store.driver import Driver
from socialcredit.store.schema import check_budget as b

# On the driver's connection: they run on every check. A busy token holds a row for each
# of the last `window` seconds, so a spend reads their sum in one row (`_USED`), not the
# rows themselves (each row fetched is a step of SQLite and a release of the GIL), and reads
# the rows (`_ROWS`) only to say how long a refused request must wait. Rows older than the
# window are deleted only when a read sees one, so a spend is usually one SELECT and one
# UPDATE.
_USED = (
    'SELECT min("second"), coalesce(sum(CASE WHEN "second" >= ? THEN people END), 0) '
    "FROM check_budget WHERE token_id = ?"
)
_ROWS = 'SELECT "second", people FROM check_budget WHERE token_id = ? ORDER BY "second"'
_EXPIRE = 'DELETE FROM check_budget WHERE token_id = ? AND "second" < ?'
_ADD = 'UPDATE check_budget SET people = people + ? WHERE token_id = ? AND "second" = ?'
_NEW = 'INSERT INTO check_budget (token_id, "second", people) VALUES (?, ?, ?)'


def spend(store, key: str, n: int, limit: int, window: int, now: float) -> tuple[int | None, int]:
    """Spend `n` people of `key`'s `limit` per `window` seconds at time `now` (epoch seconds).

    Return `(None, used)` when spent, or `(wait, used)` when refused: the whole seconds until
    enough of the window has passed, and the people already checked in it. A refused spend
    takes nothing.
    """
    db = Driver(store.engine)
    with db.writing() as cur:
        return spend_many(db, cur, key, [n], limit, window, now)[0]


def spend_many(db: Driver, cur, key: str, ns: list[int], limit: int, window: int, now: float):
    """`spend` of each of `ns` in turn, on `cur` inside the caller's write transaction (the
    checks of one group commit, which also logs them): one `(None, used)` or `(wait, used)`
    each, from one read of the window and one write of what was spent."""
    second = math.floor(now)
    oldest = second - window + 1  # the first second still in the window
    cur.execute(db.sql(_USED), (oldest, key))
    first, used = cur.fetchone()
    used = int(used)
    if first is not None and first < oldest:
        cur.execute(db.sql(_EXPIRE), (key, oldest))
    out, spent, rows = [], 0, None
    for n in ns:
        if used + n <= limit:
            used, spent = used + n, spent + n
            out.append((None, used))
            continue
        if rows is None:  # refused: how long until it would fit (rare; read the rows once)
            cur.execute(db.sql(_ROWS), (key,))
            rows = cur.fetchall()
        out.append((_wait(sorted([*rows, (second, spent)]), used, n, limit, window, now), used))
    if spent:
        # Not always the newest row: another worker's clock may have moved on already.
        cur.execute(db.sql(_ADD), (spent, key, second))
        if cur.rowcount == 0:
            cur.execute(db.sql(_NEW), (key, second, spent))
    return out


def _wait(rows: list, used: int, n: int, limit: int, window: int, now: float) -> int:
    """The whole seconds until `n` more fit, the oldest seconds of `rows` leaving first."""
    freed = 0
    for s, people in rows:
        freed += people
        if used - freed + n <= limit:
            return max(1, math.ceil(s + window - now))
    return window


def used(store, key: str, window: int, now: float) -> int:
    """Return the people `key` checked in the `window` seconds up to `now`."""
    oldest = math.floor(now) - window + 1
    with store._read() as conn:
        total = conn.scalar(
            select(func.sum(b.c.people)).where(b.c.token_id == key, b.c.second >= oldest)
        )
    return int(total or 0)
