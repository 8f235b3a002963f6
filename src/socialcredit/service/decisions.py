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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import String, and_, bindparam, or_, select, type_coerce
from sqlalchemy.engine import Connection

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


# The check path's statements, built once: constructing a SQLAlchemy expression costs more
# than running these indexed lookups, and they run on every check.
_ACTIVE = select(settings.c.value).where(settings.c.key == "active_rulebook").scalar_subquery()
_VERSIONS = (
    select(rulebooks.c.rulebook_id, rulebooks.c.version, rulebooks.c.digest, rulebooks.c.effective)
    .where(rulebooks.c.rulebook_id == _ACTIVE)
    .order_by(rulebooks.c.version)
)
_ROWS = (
    select(
        subjects.c.subject_id,
        subjects.c.national_id,
        type_coerce(scores.c.as_of, String).label("as_of"),  # compared as text: no parsing
        scores.c.rulebook_id,
        scores.c.rulebook_version,
        decisions.c.decision,
        decisions.c.reasons,
    )
    .select_from(subjects)
    .outerjoin(scores, scores.c.subject_id == subjects.c.subject_id)
    .outerjoin(
        decisions,
        and_(
            decisions.c.subject_id == subjects.c.subject_id,
            decisions.c.service == bindparam("service"),
        ),
    )
)
_BY_NID = subjects.c.national_id.in_(bindparam("nids", expanding=True))
_BY_SID = subjects.c.subject_id.in_(bindparam("sids", expanding=True))
_QUERIES = {  # by which keys: one statement each, so each uses its index alone
    (True, False): _ROWS.where(_BY_NID),
    (False, True): _ROWS.where(_BY_SID),
    (True, True): _ROWS.where(or_(_BY_NID, _BY_SID)),
}
_LAST = select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)


class Index:
    """Decisions for a service on a day, read from the index of one store."""

    def __init__(self, store) -> None:
        self.store = store
        self._rb: tuple[tuple, Rulebook] | None = None
        self._lock = threading.Lock()

    def rulebook(self, day: date) -> Rulebook:
        """Return the rulebook in force on `day`, parsed once per loaded set of versions."""
        with self.store._read() as conn:
            key = self._versions(conn, day)
        return self._parsed(key, day)

    @staticmethod
    def _versions(conn, day: date) -> tuple:
        return (day, tuple(tuple(r) for r in conn.execute(_VERSIONS)))

    def _parsed(self, key: tuple, day: date) -> Rulebook:
        # Called with no connection held: parsing reads the store on a connection of its own,
        # and a thread holding two could starve the pool. One thread parses; the others
        # wait for its result rather than all parse the same YAML at once.
        with self._lock:
            if self._rb is None or self._rb[0] != key:
                self._rb = (key, self.store.rulebook_in_force(day))
            return self._rb[1]

    @staticmethod
    def _rows(conn, service: str, national_ids: list[str], subject_ids: list[str]) -> list:
        if not national_ids and not subject_ids:
            return []
        q = _QUERIES[bool(national_ids), bool(subject_ids)]
        return conn.execute(q, {"service": service, "nids": national_ids, "sids": subject_ids})

    def lookup(
        self, service: str, day: date, national_ids: list[str], subject_ids: list[str]
    ) -> tuple[Rulebook, dict[str, Answer], dict[str, Answer]]:
        """Return the rulebook in force and the answers by national id and by subject id (only
        the people found), read in one transaction."""
        with self.store._read() as conn:
            key = self._versions(conn, day)
            rows = {r.subject_id: r for r in self._rows(conn, service, national_ids, subject_ids)}
        rb = self._parsed(key, day)
        today = day.isoformat()
        stale = [
            sid
            for sid, r in rows.items()
            if str(r.as_of) != today or (r.rulebook_id, r.rulebook_version) != (rb.id, rb.version)
        ]
        if stale:
            for sid in stale:
                rescore_subject(self.store, sid, day)
            with self.store._read() as conn:
                rows.update({r.subject_id: r for r in self._rows(conn, service, [], stale)})
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
        return rb, by_nid, by_sid


def log_checks(
    store,
    actor: str,
    role: str,
    service: str,
    day: date,
    answers: list[Answer],
    before: Callable[[Connection], None] | None = None,
):
    """Write one audit entry per person checked (once per person), all in one transaction.

    The entries are chained exactly as `store.audit.append` chains one (its `canonical` and
    `entry_hash`), but the last link is read once and the rows are inserted together: a
    400-person manifest costs one round of writes, not 400. `before` runs first in the same
    transaction (the budget's spend); if it raises, nothing is written.
    """
    detail = json.loads(audit.canonical({"purpose": "check", "as_of": str(day)}))
    people, seen = [], set()
    for a in answers:
        if a.subject_id is not None and a.subject_id not in seen:
            seen.add(a.subject_id)
            people.append(a)
    log = audit_log
    with store._write() as conn:
        if before is not None:
            before(conn)
        if not people:
            return
        last = conn.execute(_LAST).first()
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
