"""The tamper-evident audit log: each entry's hash covers its fields and the previous hash.

Changing, inserting or deleting an entry in the middle breaks the chain at that entry;
`verify` names the first broken link.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from socialcredit.store.schema import audit_log

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor", "role", "action", "subject_id", "service", "detail")


# What json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
# default=str) builds on every call, built once: every check hashes two canonical texts.
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
).encode


def canonical(value: object) -> str:
    """Return the canonical JSON text of `value` (sorted keys, no spaces, UTF-8)."""
    return _CANONICAL(value)


def entry_hash(entry: dict, prev_hash: str) -> str:
    """Return the sha256 of the entry's fields and the previous entry's hash."""
    body = {k: entry[k] for k in FIELDS}
    body["prev_hash"] = prev_hash
    return hashlib.sha256(canonical(body).encode()).hexdigest()


COLUMNS = (*FIELDS, "prev_hash", "hash")  # a stored row, in this order


def link(entry: dict, prev_hash: str) -> dict:
    """Return the row that stores `entry` after the entry hashed `prev_hash` (detail as its
    canonical text); the one place an entry is turned into a chained row."""
    digest = entry_hash(entry, prev_hash)
    return {**entry, "detail": canonical(entry["detail"]), "prev_hash": prev_hash, "hash": digest}


def append(
    conn: Connection,
    actor: str,
    role: str,
    action: str,
    subject_id: str | None,
    service: str | None,
    detail: dict | None,
) -> dict:
    """Append one entry; `conn` must hold the writer's transaction."""
    last = conn.execute(
        select(audit_log.c.seq, audit_log.c.hash).order_by(audit_log.c.seq.desc()).limit(1)
    ).first()
    entry = {
        "seq": (last.seq + 1) if last else 1,
        "at": datetime.now(UTC).isoformat(timespec="microseconds"),
        "actor": actor,
        "role": role,
        "action": action,
        "subject_id": subject_id,
        "service": service,
        "detail": json.loads(canonical(detail or {})),  # as it will read back
    }
    prev = last.hash if last else GENESIS
    row = link(entry, prev)
    conn.execute(audit_log.insert(), row)
    return {**entry, "prev_hash": prev, "hash": row["hash"]}


def _entry(row) -> dict:
    d = dict(row._mapping)
    d["detail"] = json.loads(d["detail"])
    return d


def entries(conn: Connection, subject_id: str) -> list[dict]:
    """Return the subject's entries, oldest first."""
    q = select(audit_log).where(audit_log.c.subject_id == subject_id).order_by(audit_log.c.seq)
    return [_entry(r) for r in conn.execute(q)]


def verify(conn: Connection, batch: int = 10_000) -> dict:
    """Recompute the chain; return {"ok": True, "entries": n} or the first broken link."""
    prev, expected_seq, n = GENESIS, 1, 0
    query = select(audit_log).order_by(audit_log.c.seq).execution_options(yield_per=batch)
    for row in conn.execute(query):
        if row.seq != expected_seq:
            reason = f"entry {expected_seq} is missing (the log jumps to {row.seq})"
            return {"ok": False, "broken_at": expected_seq, "reason": reason}
        try:
            entry = _entry(row)
        except ValueError:
            return {"ok": False, "broken_at": row.seq, "reason": "its detail is not valid JSON"}
        if row.prev_hash != prev:
            reason = f"entry {row.seq} does not link to the hash of entry {row.seq - 1}"
            return {"ok": False, "broken_at": row.seq, "reason": reason}
        if entry_hash(entry, prev) != row.hash:
            reason = f"entry {row.seq} was changed: its hash does not match its content"
            return {"ok": False, "broken_at": row.seq, "reason": reason}
        prev, expected_seq, n = row.hash, expected_seq + 1, n + 1
    return {"ok": True, "entries": n}
