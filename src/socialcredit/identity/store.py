"""Reads and writes of identity's tables (identity/tables.py) and of the records it links.

Every write goes through `Store._write()`, the single writer, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from socialcredit.identity.tables import (
    judgements,
    links,
    models,
    subject_features,
)
from socialcredit.store import Store
from socialcredit.store.schema import records, subjects

CHUNK = 900  # bound parameters per IN list (SQLite allows 999 by default)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _chunks(items: list, n: int = CHUNK) -> Iterator[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


# -- models ---------------------------------------------------------------------------


def save_model(store: Store, model: dict, day: date, n_subjects: int, n_records: int) -> int:
    """Store a trained model as the next version; return its version number."""
    body = json.dumps(model, sort_keys=True, ensure_ascii=False)
    with store._write() as conn:
        version = (conn.scalar(select(func.max(models.c.version))) or 0) + 1
        model["version"] = version
        conn.execute(
            insert(models).values(
                version=version,
                trained_on=day,
                trained_at=_now(),
                subjects=n_subjects,
                records=n_records,
                digest=hashlib.sha256(body.encode()).hexdigest(),
                body=body,
            )
        )
    return version


def load_model(store: Store, version: int | None = None) -> dict | None:
    """Return a stored model (the latest by default) with its `version`, or None."""
    q = select(models.c.version, models.c.body)
    q = q.where(models.c.version == version) if version else q.order_by(models.c.version.desc())
    with store._read() as conn:
        row = conn.execute(q.limit(1)).first()
    if row is None:
        return None
    return {**json.loads(row.body), "version": row.version}


def model_versions(store: Store) -> list[dict]:
    """Return the stored model versions, oldest first (without their bodies)."""
    cols = [c for c in models.c if c.name != "body"]
    with store._read() as conn:
        return [dict(r._mapping) for r in conn.execute(select(*cols).order_by(models.c.version))]


# -- reading the population and the records ------------------------------------------


def all_subjects(store: Store) -> list[dict]:
    """Return every subject's identity attributes."""
    s = subjects.c
    q = select(s.subject_id, s.name, s.birth_date, s.sex, s.address, s.phone)
    with store._read() as conn:
        return [dict(r._mapping) for r in conn.execute(q.order_by(s.subject_id))]


def replace_subject_features(store: Store, rows: list[dict]) -> None:
    """Replace the indexed subject features with `rows`."""
    with store._write() as conn:
        conn.execute(delete(subject_features))
        for part in _chunks(rows, 10_000):
            conn.execute(insert(subject_features), part)


def missing_subjects(store: Store) -> list[dict]:
    """Return the subjects not yet in the indexed features (new since the last batch)."""
    with store._read() as conn:
        have = conn.scalar(select(func.count()).select_from(subject_features))
        total = conn.scalar(select(func.count()).select_from(subjects))
        if have == total:
            return []
        s = subjects.c
        q = select(s.subject_id, s.name, s.birth_date, s.sex, s.address, s.phone).where(
            ~s.subject_id.in_(select(subject_features.c.subject_id))
        )
        return [dict(r._mapping) for r in conn.execute(q)]


def add_subject_features(store: Store, rows: list[dict]) -> None:
    if rows:
        with store._write() as conn:
            conn.execute(insert(subject_features), rows)


def candidates(store: Store, keys: dict[str, set[str]]) -> tuple[list[dict], int]:
    """Return the subjects sharing any blocking key value, and the population size."""
    f = subject_features.c
    found: dict[str, dict] = {}
    with store._read() as conn:
        population = conn.scalar(select(func.count()).select_from(subject_features))
        for column, values in keys.items():
            for part in _chunks(sorted(v for v in values if v)):
                q = select(subject_features).where(f[column].in_(part))
                for row in conn.execute(q):
                    found[row.subject_id] = dict(row._mapping)
    return list(found.values()), population


def frequencies(store: Store, column: str, values: Iterable[str]) -> dict[str, float]:
    """Return the share of subjects holding each value of a feature column."""
    col = subject_features.c[column]
    out: dict[str, float] = {}
    with store._read() as conn:
        total = conn.scalar(select(func.count()).select_from(subject_features)) or 1
        for part in _chunks(sorted({v for v in values if v})):
            q = select(col, func.count()).where(col.in_(part)).group_by(col)
            out.update({v: n / total for v, n in conn.execute(q)})
    return out


def unkeyed_records(
    store: Store, pending_only: bool = True, keys: Iterable[tuple[str, str]] | None = None
) -> list[dict]:
    """Return record versions without a national id: seq, source, record_id, attrs.

    `pending_only`: those not linked to a subject (never through linkage, or waiting in
    review, or without a candidate). `keys`: only these (source, record_id).
    """
    r = records.c
    q = (
        select(r.seq, r.source, r.record_id, r.attrs, links.c.state)
        .select_from(records.outerjoin(links, links.c.seq == r.seq))
        .where(r.national_id.is_(None))
    )
    if pending_only:
        q = q.where(r.subject_id.is_(None))
    out = []
    with store._read() as conn:
        if keys is None:
            rows = conn.execute(q.order_by(r.seq)).all()
        else:
            rows = []
            for source, ids in _by_source(keys).items():
                for part in _chunks(ids):
                    rows += conn.execute(q.where(r.source == source, r.record_id.in_(part))).all()
    for row in rows:
        try:
            attrs = json.loads(row.attrs or "{}")
        except ValueError:
            attrs = {}
        out.append(
            {
                "seq": row.seq,
                "source": row.source,
                "record_id": row.record_id,
                "attrs": attrs if isinstance(attrs, dict) else {},
                "state": row.state,
            }
        )
    return out


def _by_source(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for source, record_id in keys:
        out.setdefault(source, []).append(record_id)
    return out


# -- writing links --------------------------------------------------------------------


def write_links(store: Store, rows: list[dict]) -> None:
    """Store link outcomes and set records.subject_id / link_confidence accordingly.

    Each row: seq, source, record_id, state, subject_id, match_probability, confidence,
    model_version, linked_on, explanation (a dict). A record joins a file only in state
    linked or confirmed; otherwise its subject_id is cleared.
    """
    if not rows:
        return
    stored = [
        {**r, "explanation": json.dumps(r["explanation"], ensure_ascii=False, default=str)}
        for r in rows
    ]
    joins = [
        {
            "s": r["seq"],
            "sid": r["subject_id"] if r["state"] in ("linked", "confirmed") else None,
            "conf": r["confidence"] if r["state"] in ("linked", "confirmed") else None,
        }
        for r in rows
    ]
    set_subject = (
        update(records)
        .where(records.c.seq == bindparam("s"))
        .values(subject_id=bindparam("sid"), link_confidence=bindparam("conf"))
    )
    with store._write() as conn:
        for part in _chunks([r["seq"] for r in rows]):
            conn.execute(delete(links).where(links.c.seq.in_(part)))
        conn.execute(insert(links), stored)
        conn.execute(set_subject, joins)


def link_rows(store: Store, source: str, record_id: str) -> list[dict]:
    """Return the link rows of every version of one record, latest version first."""
    q = select(links).where(links.c.source == source, links.c.record_id == record_id)
    with store._read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q.order_by(links.c.seq.desc()))]
    for row in rows:
        row["explanation"] = json.loads(row["explanation"])
    return rows


def links_in_state(store: Store, states: Iterable[str]) -> list[dict]:
    """Return the link rows in these states, oldest record first."""
    q = select(links).where(links.c.state.in_(list(states))).order_by(links.c.seq)
    with store._read() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    for row in rows:
        row["explanation"] = json.loads(row["explanation"])
    return rows


def count_states(store: Store) -> dict[str, int]:
    """Return how many record versions are in each link state."""
    q = select(links.c.state, func.count()).group_by(links.c.state)
    with store._read() as conn:
        return {state: n for state, n in conn.execute(q)}


# -- judgements -----------------------------------------------------------------------


def save_judgement(
    conn: Connection,
    source: str,
    record_id: str,
    subject_id: str,
    same: bool,
    on: date,
    by: str,
    note: str | None,
) -> None:
    """Store an official's judgement on a pair, replacing an earlier one on the same pair."""
    j = judgements.c
    conn.execute(
        delete(judgements).where(
            j.source == source, j.record_id == record_id, j.subject_id == subject_id
        )
    )
    conn.execute(
        insert(judgements).values(
            source=source,
            record_id=record_id,
            subject_id=subject_id,
            same=same,
            judged_on=on,
            judged_by=by,
            note=note,
            recorded_at=_now(),
        )
    )


def judgements_for(store: Store, keys: Iterable[tuple[str, str]] | None = None) -> dict:
    """Return judgements by (source, record_id): {subject_id: same}; all when keys is None."""
    j = judgements.c
    q = select(j.source, j.record_id, j.subject_id, j.same)
    out: dict[tuple[str, str], dict[str, bool]] = {}
    with store._read() as conn:
        if keys is None:
            rows = conn.execute(q).all()
        else:
            rows = []
            for source, ids in _by_source(keys).items():
                for part in _chunks(ids):
                    rows += conn.execute(q.where(j.source == source, j.record_id.in_(part))).all()
    for source, record_id, subject_id, same in rows:
        out.setdefault((source, record_id), {})[subject_id] = bool(same)
    return out


def all_judgements(store: Store) -> list[dict]:
    """Return every judgement, in the order recorded."""
    with store._read() as conn:
        q = select(judgements).order_by(judgements.c.recorded_at)
        return [dict(r._mapping) for r in conn.execute(q)]


def subject_exists(store: Store, subject_id: str) -> bool:
    with store._read() as conn:
        q = select(subjects.c.subject_id).where(subjects.c.subject_id == subject_id)
        return conn.scalar(q) is not None
