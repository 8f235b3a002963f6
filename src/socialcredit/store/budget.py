"""The per-token budget of people checked, kept in the store so all workers share it.

A sliding window of per-second counts: one row per (token, second) holding the people
checked in that second; the budget is spent when the rows of the last `window` seconds add
up to the limit. A token keeps at most `window` rows, so a spend reads a handful of rows
whatever the rate. Each spend is one single-writer transaction, so two workers (or two
threads) can never both take the last places.
"""

from __future__ import annotations

import math

from sqlalchemy import delete, func, insert, select, update

from socialcredit.store.schema import check_budget as b


def spend(store, key: str, n: int, limit: int, window: int, now: float) -> tuple[int | None, int]:
    """Spend `n` people of `key`'s `limit` per `window` seconds at time `now` (epoch seconds).

    Return `(None, used)` when spent, or `(wait, used)` when refused: the whole seconds until
    enough of the window has passed, and the people already checked in it. A refused spend
    takes nothing.
    """
    second = math.floor(now)
    oldest = second - window + 1  # the first second still in the window
    with store._write() as conn:
        conn.execute(delete(b).where(b.c.token_id == key, b.c.second < oldest))
        rows = conn.execute(
            select(b.c.second, b.c.people).where(b.c.token_id == key).order_by(b.c.second)
        ).all()
        used = sum(r.people for r in rows)
        if used + n <= limit:
            if rows and rows[-1].second == second:
                conn.execute(
                    update(b)
                    .where(b.c.token_id == key, b.c.second == second)
                    .values(people=b.c.people + n)
                )
            else:
                conn.execute(insert(b).values(token_id=key, second=second, people=n))
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
