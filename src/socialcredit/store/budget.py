"""The per-token budget of people checked, kept in the store so all workers share it.

A sliding window of per-second counts: one row per (token, second) holding the people
checked in that second; the budget is spent when the rows of the last `window` seconds add
up to the limit. A token keeps at most `window` rows, so a spend reads a handful of rows
whatever the rate. Each spend runs in a single-writer transaction, so two workers (or two
threads) can never both take the last places.
"""

from __future__ import annotations

import math

from sqlalchemy import bindparam, delete, func, insert, select, update

from socialcredit.store.schema import check_budget as b

# Built once: they run on every check. Rows older than the window are deleted only when a
# read sees one, so a spend is usually one SELECT and one UPDATE or INSERT.
_KEY, _SECOND = b.c.token_id == bindparam("key"), b.c.second == bindparam("sec")
_ROWS = select(b.c.second, b.c.people).where(_KEY).order_by(b.c.second)
_EXPIRE = delete(b).where(_KEY, b.c.second < bindparam("oldest"))
_ADD = update(b).where(_KEY, _SECOND).values(people=b.c.people + bindparam("n"))
_NEW = insert(b).values(token_id=bindparam("key"), second=bindparam("sec"), people=bindparam("n"))


def spend(store, key: str, n: int, limit: int, window: int, now: float) -> tuple[int | None, int]:
    """Spend `n` people of `key`'s `limit` per `window` seconds at time `now` (epoch seconds).

    Return `(None, used)` when spent, or `(wait, used)` when refused: the whole seconds until
    enough of the window has passed, and the people already checked in it. A refused spend
    takes nothing.
    """
    with store._write() as conn:
        return spend_in(conn, key, n, limit, window, now)


def spend_in(conn, key: str, n: int, limit: int, window: int, now: float):
    """`spend` inside the caller's write transaction (the check's, which also logs it)."""
    second = math.floor(now)
    oldest = second - window + 1  # the first second still in the window
    rows = conn.execute(_ROWS, {"key": key}).all()
    if rows and rows[0].second < oldest:
        conn.execute(_EXPIRE, {"key": key, "oldest": oldest})
        rows = [r for r in rows if r.second >= oldest]
    used = sum(r.people for r in rows)
    if used + n <= limit:
        # Not always the newest row: another worker's clock may have moved on already.
        have = any(r.second == second for r in rows)
        conn.execute(_ADD if have else _NEW, {"key": key, "sec": second, "n": n})
        return None, used + n
    freed = 0
    for r in rows:  # the oldest seconds leave the window first
        freed += r.people
        if used - freed + n <= limit:
            return max(1, math.ceil(r.second + window - now)), used
    return window, used


def used(store, key: str, window: int, now: float) -> int:
    """Return the people `key` checked in the `window` seconds up to `now`."""
    oldest = math.floor(now) - window + 1
    with store._read() as conn:
        total = conn.scalar(
            select(func.sum(b.c.people)).where(b.c.token_id == key, b.c.second >= oldest)
        )
    return int(total or 0)
