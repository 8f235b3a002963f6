"""The check path: look decisions up in the store's decision index, log who asked.

A check is one indexed query for all the people of a request. The index holds each
subject's decisions as of the day it was computed (`score` for everyone, `rescore_subject`
after every ingest, objection and decision); a subject whose row is from another day or
another rulebook version is rescored first, so a list entry that became active (or ended)
overnight is never answered from yesterday's state.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import and_, or_, select

from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import rescore_subject
from socialcredit.store import audit
from socialcredit.store.schema import (
    audit_log,
    decisions,
    rulebooks,
    scores,
    settings,
    subjects,
)


@dataclass
class Answer:
    subject_id: str | None  # None: nobody with that national id
    national_id: str | None
    decision: str
    reasons: list[dict]


class Index:
    """Decisions for a service on a day, read from the index of one store."""

    def __init__(self, store) -> None:
        self.store = store
        self._rb: tuple[tuple, Rulebook] | None = None
        self._lock = threading.Lock()

    def rulebook(self, day: date) -> Rulebook:
        """Return the rulebook in force on `day`, parsed once per loaded set of versions."""
        active = select(settings.c.value).where(settings.c.key == "active_rulebook")
        q = select(
            rulebooks.c.rulebook_id, rulebooks.c.version, rulebooks.c.digest, rulebooks.c.effective
        ).where(rulebooks.c.rulebook_id == active.scalar_subquery())
        with self.store._read() as conn:
            key = (day, tuple(tuple(r) for r in conn.execute(q.order_by(rulebooks.c.version))))
        with self._lock:
            if self._rb is not None and self._rb[0] == key:
                return self._rb[1]
        rb = self.store.rulebook_in_force(day)
        with self._lock:
            self._rb = (key, rb)
        return rb

    def _rows(self, service: str, national_ids: list[str], subject_ids: list[str]) -> list:
        s, sc, d = subjects, scores, decisions
        q = (
            select(
                s.c.subject_id,
                s.c.national_id,
                sc.c.as_of,
                sc.c.rulebook_id,
                sc.c.rulebook_version,
                d.c.decision,
                d.c.reasons,
            )
            .select_from(s)
            .outerjoin(sc, sc.c.subject_id == s.c.subject_id)
            .outerjoin(d, and_(d.c.subject_id == s.c.subject_id, d.c.service == service))
        )
        where = []
        if national_ids:
            where.append(s.c.national_id.in_(national_ids))
        if subject_ids:
            where.append(s.c.subject_id.in_(subject_ids))
        if not where:
            return []
        with self.store._read() as conn:
            return conn.execute(q.where(or_(*where))).all()

    def lookup(
        self, rb: Rulebook, service: str, day: date, national_ids: list[str], subject_ids: list[str]
    ) -> tuple[dict[str, Answer], dict[str, Answer]]:
        """Return the answers by national id and by subject id (only the people found)."""
        rows = {r.subject_id: r for r in self._rows(service, national_ids, subject_ids)}
        stale = [
            sid
            for sid, r in rows.items()
            if r.as_of != day or (r.rulebook_id, r.rulebook_version) != (rb.id, rb.version)
        ]
        if stale:
            for sid in stale:
                rescore_subject(self.store, sid, day)
            rows.update({r.subject_id: r for r in self._rows(service, [], stale)})
        by_nid, by_sid = {}, {}
        for sid, r in rows.items():
            a = Answer(
                sid,
                r.national_id,
                r.decision or "allow",
                json.loads(r.reasons) if r.reasons else [],
            )
            by_sid[sid] = a
            if r.national_id is not None:
                by_nid[r.national_id] = a
        return by_nid, by_sid


def log_checks(store, actor: str, role: str, service: str, day: date, answers: list[Answer]):
    """Write one audit entry per person checked (once per person), all in one transaction.

    The entries are chained exactly as `store.audit.append` chains one (its `canonical` and
    `entry_hash`), but the last link is read once and the rows are inserted together: a
    400-person manifest costs one round of writes, not 400.
    """
    detail = json.loads(audit.canonical({"purpose": "check", "as_of": str(day)}))
    people, seen = [], set()
    for a in answers:
        if a.subject_id is not None and a.subject_id not in seen:
            seen.add(a.subject_id)
            people.append(a)
    if not people:
        return
    log = audit_log
    with store._write() as conn:
        last = conn.execute(select(log.c.seq, log.c.hash).order_by(log.c.seq.desc()).limit(1))
        last = last.first()
        seq, prev = (last.seq, last.hash) if last else (0, audit.GENESIS)
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        rows = []
        for a in people:
            seq += 1
            entry = {"seq": seq, "at": at, "actor": actor, "role": role, "action": "check",
                     "subject_id": a.subject_id, "service": service,
                     "detail": {**detail, "decision": a.decision}}  # fmt: skip
            digest = audit.entry_hash(entry, prev)
            rows.append({**entry, "detail": audit.canonical(entry["detail"]), "prev_hash": prev,
                         "hash": digest})  # fmt: skip
            prev = digest
        conn.execute(log.insert(), rows)
