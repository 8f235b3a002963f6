"""Reads and writes of identity's tables (identity/tables.py) and of the records it links.

Every write goes through `Store._write()`, the single writer, in one transaction.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.engine import Connection

from socialcredit.identity.features import FEATURES
from socialcredit.identity.tables import (
    judgements,
    links,
    models,
    subject_features,
)
from socialcredit.store import Store
from socialcredit.store.bulk import insert_rows
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


def missing_subjects(store: Store) -> tuple[list[dict], int]:
    """Return the subjects not yet in the indexed features (new or changed since they were
    last indexed), and how many subjects there are."""
    with store._read() as conn:
        have = conn.scalar(select(func.count()).select_from(subject_features))
        total = conn.scalar(select(func.count()).select_from(subjects))
        if have == total:
            return [], total
        s = subjects.c
        q = select(s.subject_id, s.name, s.birth_date, s.sex, s.address, s.phone).where(
            ~s.subject_id.in_(select(subject_features.c.subject_id))
        )
        return [dict(r._mapping) for r in conn.execute(q)], total


def add_subject_features(store: Store, rows: list[dict]) -> None:
    """Index the features of subjects not indexed yet (rows: subject_id and FEATURES)."""
    if rows:
        cols = ("subject_id", *FEATURES)
        with store._write() as conn:
            insert_rows(conn, subject_features, cols, [tuple(r[c] for c in cols) for r in rows])


def subject_table(store: Store) -> pa.Table:
    """Return every indexed subject's features as Arrow: uid and FEATURES, all text."""
    cols = ", ".join(("subject_id", *FEATURES))
    with store._read() as conn:
        rows = conn.exec_driver_sql(f"SELECT {cols} FROM identity_subjects").fetchall()
    columns = list(zip(*rows, strict=True)) if rows else [()] * (len(FEATURES) + 1)
    return pa.table([pa.array(c, pa.string()) for c in columns], names=["uid", *FEATURES])


def candidates(store: Store, record: dict) -> list[dict]:
    """Return the subjects that the blocking rules pair with one record's features. The
    index narrows to the subjects sharing its name, birth date or phone; `model.blocked`
    decides."""
    from socialcredit.identity.model import blocked

    f = subject_features.c
    near = [f[c] == record[c] for c in ("birth_date", "phone") if record.get(c)]
    if record.get("name_latin"):
        same_name = f.name_latin == record["name_latin"]
        if record.get("birth_date"):  # the name rules also need the year or month-day
            birth = record["birth_date"]
            day = date.fromisoformat(birth)
            next_days = [(day + timedelta(days=d)).isoformat() for d in (-1, 1)]
            same_name &= (
                f.birth_date.is_(None)
                | (func.substr(f.birth_date, 1, 4) == birth[:4])
                | (func.substr(f.birth_date, 6, 5) == birth[5:10])
                | f.birth_date.in_(next_days)
            )
        near.append(same_name)
    if not near:
        return []
    with store._read() as conn:
        rows = conn.execute(select(subject_features).where(or_(*near))).all()
    return [r for r in (dict(x._mapping) for x in rows) if blocked(r, record)]


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
    """Return record versions without a national id: seq, source, record_id, attrs, and
    their link so far (state, link_subject, linked_on; None when never linked).

    `pending_only`: those not linked to a subject (never through linkage, or waiting in
    review, or without a candidate). `keys`: only these (source, record_id).
    """
    r, li = records.c, links.c
    q = (
        select(r.seq, r.source, r.record_id, r.attrs, li.state, li.subject_id, li.linked_on)
        .select_from(records.outerjoin(links, li.seq == r.seq))
        .where(r.national_id.is_(None))
    )
    if pending_only:
        q = q.where(r.subject_id.is_(None))
    with store._read() as conn:
        if keys is None:
            rows = conn.execute(q.order_by(r.seq)).all()
        else:
            rows = []
            for source, ids in _by_source(keys).items():
                for part in _chunks(ids):
                    rows += conn.execute(q.where(r.source == source, r.record_id.in_(part))).all()
    out = []
    for seq, source, record_id, attrs, state, subject_id, linked_on in rows:
        try:
            attrs = json.loads(attrs or "{}")
        except ValueError:
            attrs = {}
        out.append(
            {
                "seq": seq,
                "source": source,
                "record_id": record_id,
                "attrs": attrs if isinstance(attrs, dict) else {},
                "state": state,
                "link_subject": subject_id,
                "linked_on": linked_on,
            }
        )
    return out


def unkeyed_table(store: Store, pending_only: bool = True) -> pa.Table:
    """`unkeyed_records` of a whole batch, as Arrow: seq, source, record_id, attrs (JSON
    text, unparsed), state, link_subject, linked_on (ISO text)."""
    where = "r.national_id IS NULL" + (" AND r.subject_id IS NULL" if pending_only else "")
    sql = (
        "SELECT r.seq, r.source, r.record_id, r.attrs, l.state, l.subject_id, l.linked_on"
        f" FROM records r LEFT JOIN identity_links l ON l.seq = r.seq WHERE {where}"
        " ORDER BY r.seq"
    )
    with store._read() as conn:
        rows = conn.exec_driver_sql(sql).fetchall()
    names = ("seq", "source", "record_id", "attrs", "state", "link_subject", "linked_on")
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    days = [None if d is None else str(d) for d in columns[-1]]
    types = (pa.int64(), *[pa.string()] * 5)
    arrays = [pa.array(c, t) for c, t in zip(columns[:-1], types, strict=True)]
    return pa.table([*arrays, pa.array(days, pa.string())], names=names)


def _by_source(keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for source, record_id in keys:
        out.setdefault(source, []).append(record_id)
    return out


# -- writing links --------------------------------------------------------------------


LINK_COLUMNS = ("seq", "source", "record_id", "state", "subject_id", "match_probability",
                "confidence", "model_version", "linked_on", "explanation")  # fmt: skip


def write_links(store: Store, rows: list[dict]) -> None:
    """Store link outcomes and set records.subject_id / link_confidence accordingly.

    Each row: seq, source, record_id, state, subject_id, match_probability, confidence,
    model_version, linked_on, explanation (a dict), and `replaces` (False when the record
    version has no link row yet; default True). A record joins a file only in state
    linked or confirmed; otherwise its subject_id is cleared. Bulk writes: a batch
    writes a million of these.
    """
    if not rows:
        return
    stored = [
        tuple(_explanation(r) if c == "explanation" else r[c] for c in LINK_COLUMNS) for r in rows
    ]
    old = [r["seq"] for r in rows if r.get("replaces", True)]
    _write_links(store, stored, old)


def write_link_table(store: Store, table: pa.Table) -> None:
    """`write_links` from Arrow: LINK_COLUMNS (the explanation as JSON text) and
    `replaces`, as identity/batch.py decides a batch."""
    if table.num_rows == 0:
        return
    columns = [table.column(c).to_pylist() for c in LINK_COLUMNS]
    stored = list(zip(*columns, strict=True))
    replaces = table.column("replaces").to_pylist()
    _write_links(store, stored, [seq for seq, r in zip(columns[0], replaces, strict=True) if r])


def _write_links(store: Store, stored: list[tuple], old: list[int]) -> None:
    """Replace the link rows of `old`, insert `stored` (LINK_COLUMNS tuples) and set each
    record's subject_id and link_confidence from its link, in one transaction."""
    at = {c: i for i, c in enumerate(LINK_COLUMNS)}
    joins = [
        (r[at["subject_id"]], r[at["confidence"]], r[at["seq"]])
        if r[at["state"]] in ("linked", "confirmed")
        else (None, None, r[at["seq"]])
        for r in stored
    ]
    mark = "%s" if store.dialect == "postgresql" else "?"
    set_subject = (
        f"UPDATE records SET subject_id = {mark}, link_confidence = {mark} WHERE seq = {mark}"
    )
    with store._write() as conn:
        for part in _chunks(old):
            conn.execute(delete(links).where(links.c.seq.in_(part)))
        insert_rows(conn, links, LINK_COLUMNS, stored)
        if store.dialect == "postgresql":
            with conn.connection.cursor() as cursor:
                cursor.executemany(set_subject, joins)
        else:
            conn.exec_driver_sql(set_subject, joins)


def _explanation(row: dict) -> str:
    """The stored explanation: the row's dict with its `detail` (JSON text) merged in."""
    text = json.dumps(row["explanation"], ensure_ascii=False, default=str)
    detail = row.get("detail")
    if not detail or detail == "{}":
        return text
    return f"{text[:-1]}, {detail[1:]}" if text != "{}" else detail


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
