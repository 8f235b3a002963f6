"""The city's figures: grade distribution, list sizes over time, objections and their time to
decision, checks by service and decision. Read-only aggregates over the stored results and
the audit log; each is one grouped query, so the work stays in the database.
"""

from __future__ import annotations

import json
import statistics
from datetime import date, timedelta

from sqlalchemy import func, select

from socialcredit.rulebook.model import EFFECTS
from socialcredit.store import Store
from socialcredit.store.schema import audit_log, entries, objections, scores


def month_ends(day: date, months: int) -> list[date]:
    """The last day of each of the `months` months up to `day`'s, and `day` for its own."""
    out, d = [day], day.replace(day=1) - timedelta(days=1)
    while len(out) < months:
        out.append(d)
        d = d.replace(day=1) - timedelta(days=1)
    return out[::-1]


def grades(store: Store, day: date) -> list[dict]:
    """Subjects per grade in the last score run, best grade first ("none": not scored)."""
    q = select(scores.c.grade, func.count()).group_by(scores.c.grade)
    with store._read() as conn:
        counts = {g: n for g, n in conn.execute(q)}
    order = [g.grade for g in store.rulebook_in_force(day).grades]
    known = [g for g in order if g in counts] + sorted(g for g in counts if g not in order and g)
    out = [{"grade": g, "subjects": counts[g]} for g in known]
    if counts.get(None):
        out.append({"grade": "none", "subjects": counts[None]})
    return out


def list_sizes(store: Store, day: date, months: int = 24) -> dict:
    """Entries in force on each month end, per list (suspensions aside: an entry counts from
    the day it took effect to the day it ended, as the last score run computed them)."""
    e = entries
    q = select(e.c.list_id, e.c.active_from, e.c.end, func.count()).group_by(
        e.c.list_id, e.c.active_from, e.c.end
    )
    with store._read() as conn:
        spans = conn.execute(q).all()
    days = month_ends(day, months)
    sizes: dict[str, list[int]] = {}
    for list_id, since, until, n in spans:
        row = sizes.setdefault(list_id, [0] * len(days))
        for i, d in enumerate(days):
            if since <= d and (until is None or d < until):
                row[i] += n
    return {
        "days": [d.isoformat() for d in days],
        "lists": [{"list": k, "sizes": v} for k, v in sorted(sizes.items())],
    }


def objection_figures(store: Store, day: date) -> dict:
    """Objections by state (an open one past its deadline counts as accepted, as it was
    resolved for the subject) and the days each decided one took."""
    o = objections
    q = select(o.c.state, o.c.filed_on, o.c.deadline, o.c.decided_on)
    by_state = {"open": 0, "accepted": 0, "rejected": 0, "lapsed": 0}
    waits: dict[int, int] = {}
    with store._read() as conn:
        for state, filed, deadline, decided in conn.execute(q):
            if state == "open" and day >= deadline:
                state = "lapsed"  # resolved in the subject's favour at its deadline
            by_state[state] = by_state.get(state, 0) + 1
            if decided is not None:
                waits[(decided - filed).days] = waits.get((decided - filed).days, 0) + 1
    every = [d for d, n in waits.items() for _ in range(n)]
    return {
        "by_state": by_state,
        "days_to_decision": [{"days": d, "objections": n} for d, n in sorted(waits.items())],
        "median_days_to_decision": statistics.median(every) if every else None,
    }


def checks(store: Store) -> list[dict]:
    """Checks logged per service and decision, most frequent service first."""
    a = audit_log
    # detail holds {"purpose", "as_of", "decision"}: grouping by it keeps one row per day
    q = (
        select(a.c.service, a.c.detail, func.count())
        .where(a.c.action == "check")
        .group_by(a.c.service, a.c.detail)
    )
    counts: dict[tuple[str, str], int] = {}
    with store._read() as conn:
        for service, detail, n in conn.execute(q):
            decision = json.loads(detail).get("decision", "allow")
            key = (service or "", decision)
            counts[key] = counts.get(key, 0) + n
    total = {}
    for (service, _), n in counts.items():
        total[service] = total.get(service, 0) + n
    rank = {e: i for i, e in enumerate(EFFECTS)}
    return [
        {"service": s, "decision": d, "checks": n}
        for (s, d), n in sorted(
            counts.items(), key=lambda kv: (-total[kv[0][0]], kv[0][0], rank.get(kv[0][1], 9))
        )
    ]


def city(store: Store, day: date, months: int = 24) -> dict:
    """All the dashboard's figures as of `day`."""
    return {
        "as_of": day.isoformat(),
        "grades": grades(store, day),
        "list_sizes": list_sizes(store, day, months),
        "objections": objection_figures(store, day),
        "checks": checks(store),
    }


def list_entries(
    store: Store, list_id: str | None = None, state: str | None = None, limit: int = 50,
    offset: int = 0,
) -> dict:  # fmt: skip
    """The list browser: how many entries each list holds in each state, and one page of
    the entries of `list_id` (in `state` when given), most recent first."""
    e = entries
    with store._read() as conn:
        counts: dict[str, dict[str, int]] = {}
        q = select(e.c.list_id, e.c.state, func.count()).group_by(e.c.list_id, e.c.state)
        for lid, st, n in conn.execute(q):
            counts.setdefault(lid, {})[st] = n
        rows = []
        if list_id is not None:
            q = select(e.c.subject_id, e.c.start, e.c.active_from, e.c.end, e.c.state, e.c.cause)
            q = q.where(e.c.list_id == list_id)
            if state:
                q = q.where(e.c.state == state)
            q = q.order_by(e.c.start.desc(), e.c.subject_id).limit(limit).offset(offset)
            rows = [
                {"subject_id": r.subject_id, "start": r.start, "since": r.active_from,
                 "until": r.end, "state": r.state, "cause": json.loads(r.cause)}
                for r in conn.execute(q)
            ]  # fmt: skip
    return {
        "lists": [
            {"list": k, "states": v, "total": sum(v.values())} for k, v in sorted(counts.items())
        ],
        "list": list_id,
        "state": state,
        "offset": offset,
        "limit": limit,
        "entries": rows,
    }
