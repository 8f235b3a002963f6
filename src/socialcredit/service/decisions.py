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

from socialcredit.rulebook.model import Rulebook
from socialcredit.scoring import rescore_subjects
from socialcredit.store import audit
from socialcredit.store.driver import Driver


@dataclass
class Answer:
    subject_id: str | None  # None: nobody with that national id
    national_id: str | None
    decision: str
    reasons: list[dict]


# The check path's statements, run on the driver's connection (store.driver): through
# SQLAlchemy Core each cost more than the indexed lookup it runs. `?` is the placeholder.
# The versions in force, without their digest: a stored version never changes (load_rulebook
# refuses other content under the same number), and the digest sits behind the YAML body
# in the row, so reading it walks the body's overflow pages on every check.
_VERSIONS = (
    "SELECT rulebook_id, version, effective FROM rulebooks WHERE rulebook_id = "
    "(SELECT value FROM settings WHERE key = 'active_rulebook') ORDER BY version"
)
_ROWS = (
    "SELECT s.subject_id, s.national_id, sc.as_of, sc.rulebook_id, sc.rulebook_version, "
    "d.decision, d.reasons FROM subjects s "
    "LEFT JOIN scores sc ON sc.subject_id = s.subject_id "
    "LEFT JOIN decisions d ON d.subject_id = s.subject_id AND d.service = ? WHERE "
)
_LAST = "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_LOG = (
    f"INSERT INTO audit_log ({', '.join(audit.COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(audit.COLUMNS))})"
)


class Index:
    """Decisions for a service on a day, read from the index of one store."""

    def __init__(self, store) -> None:
        self.store = store
        self.db = Driver(store.engine)
        self._rb: tuple[tuple, Rulebook] | None = None
        self._lock = threading.Lock()

    def rulebook(self, day: date) -> Rulebook:
        """Return the rulebook in force on `day`, parsed once per loaded set of versions."""
        with self.db.reading() as cur:
            key = (day, self.versions(cur))
        return self.parsed(key, day)

    @staticmethod
    def versions(cur) -> tuple:
        """The versions loaded of the active rulebook; with a day, `(day, versions)` is the key
        of the rulebook in force on that day (`parsed`, `cached`)."""
        cur.execute(_VERSIONS)
        return tuple(tuple(r) for r in cur.fetchall())

    def cached(self, key: tuple) -> Rulebook | None:
        """The rulebook of `key` if already parsed (needs no store), else None."""
        rb = self._rb
        return rb[1] if rb is not None and rb[0] == key else None

    def parsed(self, key: tuple, day: date) -> Rulebook:
        # Called with no connection held: parsing reads the store on a connection of its own,
        # and a thread holding two could starve the pool. One thread parses; the others
        # wait for its result rather than all parse the same YAML at once.
        with self._lock:
            if self._rb is None or self._rb[0] != key:
                self._rb = (key, self.store.rulebook_in_force(day))
            return self._rb[1]

    def rows(self, cur, service: str, national_ids: list[str], subject_ids: list[str]) -> dict:
        """The people found, by subject id: (subject_id, national_id, as_of, rulebook_id,
        version, decision, reasons) rows; one statement per kind of key, so each uses its own
        index."""
        if not national_ids and not subject_ids:
            return {}
        where = []
        if national_ids:
            where.append(f"s.national_id IN ({self.db.marks(len(national_ids))})")
        if subject_ids:
            where.append(f"s.subject_id IN ({self.db.marks(len(subject_ids))})")
        cur.execute(self.db.sql(_ROWS) + " OR ".join(where), (service, *national_ids, *subject_ids))
        return {r[0]: r for r in cur.fetchall()}

    @staticmethod
    def stale(rows: dict, rb: Rulebook, day: date) -> list[str]:
        """The subjects whose row is from another day or another rulebook version."""
        today = day.isoformat()
        return [
            sid
            for sid, (_, _, as_of, rb_id, version, _, _) in rows.items()
            if str(as_of) != today or (rb_id, version) != (rb.id, rb.version)  # PG: a date
        ]

    @staticmethod
    def answers(rows: dict) -> tuple[dict[str, Answer], dict[str, Answer]]:
        """The answers by national id and by subject id."""
        by_nid, by_sid = {}, {}
        for sid, (_, nid, _, _, _, decision, reasons) in rows.items():
            a = Answer(sid, nid, decision or "allow", json.loads(reasons) if reasons else [])
            by_sid[sid] = a
            if nid is not None:
                by_nid[nid] = a
        return by_nid, by_sid

    def lookup(
        self, service: str, day: date, national_ids: list[str], subject_ids: list[str]
    ) -> tuple[Rulebook, dict[str, Answer], dict[str, Answer]]:
        """Return the rulebook in force and the answers by national id and by subject id (only
        the people found), read in one transaction; stale rows are rescored first."""
        with self.db.reading() as cur:
            key = (day, self.versions(cur))
            rows = self.rows(cur, service, national_ids, subject_ids)
        rb = self.parsed(key, day)
        stale = self.stale(rows, rb, day)
        if stale:
            rescore_subjects(self.store, stale, day)
            with self.db.reading() as cur:
                rows.update(self.rows(cur, service, [], stale))
        return rb, *self.answers(rows)


# One encoding of the log's fixed detail, as it reads back.
_DETAIL = {"purpose": "check"}


def log_checks(db: Driver, cur, checks: list[tuple]) -> None:
    """Write one audit entry per person checked (once per person and check) on `cur`, a
    driver cursor inside the caller's write transaction; `checks` are (actor, role, service,
    day, answers), in the order they were answered.

    The entries are chained by `store.audit.link`, as `store.audit.append` chains one, but
    the last link is read once and the rows are inserted together: a group of checks or a
    400-person manifest costs one round of writes, not one each. The last link is read
    inside the write transaction, which serialises every writer, so the chain is never
    forked.
    """
    entries = []
    for actor, role, service, day, answers in checks:
        seen = set()
        detail = {**_DETAIL, "as_of": day.isoformat()}
        for a in answers:
            if a.subject_id is not None and a.subject_id not in seen:
                seen.add(a.subject_id)
                entries.append({"actor": actor, "role": role, "action": "check",
                                "subject_id": a.subject_id, "service": service,
                                "detail": {**detail, "decision": a.decision}})  # fmt: skip
    if not entries:
        return
    cur.execute(_LAST)
    last = cur.fetchone()
    seq, prev = (last[0], last[1]) if last else (0, audit.GENESIS)
    at = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = []
    for entry in entries:
        seq += 1
        row = audit.link({"seq": seq, "at": at, **entry}, prev)
        rows.append(tuple(row[c] for c in audit.COLUMNS))
        prev = row["hash"]
    cur.executemany(db.sql(_LOG), rows)
