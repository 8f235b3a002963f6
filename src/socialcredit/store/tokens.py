"""API tokens in the store: only a hash of each secret is kept, never the secret itself.

Functions taking the store (they use its read and single-writer transactions); the policy —
roles, scopes, how a secret is made and hashed — lives in `socialcredit.service.auth`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from sqlalchemy import bindparam, insert, select, update

from socialcredit.store.schema import tokens


def add_token(
    store,
    token_id: str,
    secret_hash: str,
    role: str,
    *,
    subject_id: str | None = None,
    source: str | None = None,
    services: tuple[str, ...] = (),
    rate: int | None = None,
) -> None:
    """Store a new token row."""
    with store._write() as conn:
        conn.execute(
            insert(tokens).values(
                token_id=token_id,
                secret_hash=secret_hash,
                role=role,
                subject_id=subject_id,
                source=source,
                services=json.dumps(list(services)),
                rate=rate,
                created_at=datetime.now(UTC).replace(tzinfo=None),
                revoked=False,
            )
        )


_BY_ID = select(tokens).where(tokens.c.token_id == bindparam("token_id"))  # built once: hot


def get_token(store, token_id: str) -> dict | None:
    """Return one token row (services parsed), revoked or not, or None."""
    with store._read() as conn:
        row = conn.execute(_BY_ID, {"token_id": token_id}).first()
    return None if row is None else _parsed(dict(row._mapping))


def _parsed(d: dict) -> dict:
    d["services"] = tuple(json.loads(d["services"] or "[]"))
    d["revoked"] = d["revoked"] in (True, 1)
    return d


# The columns the check path reads, on the driver's connection inside its write transaction
# (service.checking), so a token revoked a moment ago fails at once, in every worker.
FIELDS = ("secret_hash", "role", "subject_id", "source", "services", "rate", "revoked")
_ROWS = f"SELECT token_id, {', '.join(FIELDS)} FROM tokens WHERE token_id IN "


def token_rows(db, cur, token_ids: list[str]) -> dict[str, dict]:
    """The token rows of `FIELDS` by token id (services parsed; none for an unknown id), read
    on `cur`, a driver cursor (`store.driver`)."""
    if not token_ids:
        return {}
    cur.execute(db.sql(_ROWS) + f"({db.marks(len(token_ids))})", token_ids)
    return {r[0]: _parsed(dict(zip(FIELDS, r[1:], strict=True))) for r in cur.fetchall()}


def revoke_token(store, token_id: str) -> bool:
    """Mark a token revoked; False when there is no such token."""
    with store._write() as conn:
        done = conn.execute(
            update(tokens).where(tokens.c.token_id == token_id).values(revoked=True)
        )
    return done.rowcount > 0


def list_tokens(store) -> list[dict]:
    """Return every token row without its hash, oldest first."""
    cols = [c for c in tokens.c if c.name != "secret_hash"]
    with store._read() as conn:
        rows = conn.execute(select(*cols).order_by(tokens.c.created_at, tokens.c.token_id))
        out = [dict(r._mapping) for r in rows]
    for d in out:
        d["services"] = json.loads(d["services"] or "[]")
    return out
