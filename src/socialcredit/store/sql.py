"""The store: one class over SQLite or PostgreSQL through SQLAlchemy Core.

Reads use short read transactions; every write goes through `_write`, the single-writer
transaction of `connect.writing`. Bulk paths live in `arrow` (batch reads and result writes)
and `records` (ingest).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path

import pyarrow as pa
from sqlalchemy import delete, func, insert, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from socialcredit.engine.file import Consent, File, Objection, RecordVersion, Repair
from socialcredit.rulebook.model import Rulebook, in_force
from socialcredit.store import arrow, audit, records
from socialcredit.store.connect import (
    Checkpointer,
    StoreError,
    describe,
    first_line,
    make_engine,
    migrate,
    parse_url,
    writing,
)
from socialcredit.store.disputes import Disputes, store_notices
from socialcredit.store.procedure import Procedure
from socialcredit.store.schema import (
    appeals,
    audit_log,
    consents,
    decisions,
    identity_links,
    objections,
    rejects,
    repairs,
    rulebooks,
    scores,
    settings,
    subjects,
)
from socialcredit.store.schema import entries as entries_t
from socialcredit.store.schema import records as records_t

RECORD_FIELDS = (
    "source", "record_id", "version", "type", "occurred_at", "quantity", "points",
    "case_no", "status", "ingested_on", "superseded_on", "link_confidence",
)  # fmt: skip
FILES_CHUNK = 500  # subjects per IN list: well under every driver's parameter limit


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _linked_by(known_at: date):
    """The record versions whose identity link into their current file was made by then."""
    li = identity_links.c
    return select(li.seq).where(li.linked_on <= known_at, li.state.in_(("linked", "confirmed")))


def _objection(row, known_at: date | None) -> Objection:
    """An objection (and its appeal) as it stood on `known_at`: what was decided later
    is still open then."""
    state, decided = row.state, row.decided_on
    if known_at is not None and decided is not None and decided > known_at:
        state, decided = "open", None
    appeal = {}
    if row.a_filed is not None and (known_at is None or row.a_filed <= known_at):
        a_state, a_decided = row.a_state, row.a_decided
        if known_at is not None and a_decided is not None and a_decided > known_at:
            a_state, a_decided = "open", None
        appeal = dict(appeal_deadline=row.a_deadline, appeal_state=a_state,
                      appeal_decided_on=a_decided)  # fmt: skip
    return Objection(
        row.objection_id, row.source, row.record_id, row.filed_on, row.deadline, state,
        decided, target=row.target, list_id=row.list_id, entry_start=row.entry_start, **appeal,
    )  # fmt: skip


def subject_id_for(secret: bytes, national_id: str) -> str:
    """The stable opaque subject id for a national id, keyed by the store's secret."""
    h = hashlib.blake2b(national_id.encode(), key=secret, digest_size=8)
    return "s" + h.hexdigest()


class Store(Disputes, Procedure):
    """The persistent state of socialcredit: records, subjects, rulebooks, results, log."""

    def __init__(self, engine, secret: bytes) -> None:
        self.engine = engine
        self.dialect: str = engine.dialect.name
        self._secret = secret
        self._checkpointer: Checkpointer | None = None  # while `bulk_ingest`
        self._parsed: dict[str, Rulebook] = {}

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open (creating and migrating as needed) the store at `url`."""
        engine = make_engine(parse_url(url))
        try:
            migrate(engine)
            with writing(engine) as conn:
                value = conn.scalar(select(settings.c.value).where(settings.c.key == "secret"))
                if value is None:
                    value = secrets.token_hex(32)
                    conn.execute(insert(settings).values(key="secret", value=value))
        except SQLAlchemyError as e:
            engine.dispose()
            raise StoreError(f"cannot open {describe(engine)}: {first_line(e)}") from e
        except StoreError:
            engine.dispose()
            raise
        return cls(engine, bytes.fromhex(value))

    def close(self) -> None:
        """Release every connection."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with writing(self.engine) as conn:
            yield conn

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn, conn.begin():
            yield conn

    def _set(self, conn: Connection, key: str, value: str) -> None:
        conn.execute(delete(settings).where(settings.c.key == key))
        conn.execute(insert(settings).values(key=key, value=value))

    def setting(self, key: str) -> str | None:
        """Return one stored setting, or None."""
        with self._read() as conn:
            return conn.scalar(select(settings.c.value).where(settings.c.key == key))

    def set_setting(self, key: str, value: str) -> None:
        """Store one setting, replacing its value."""
        with self._write() as conn:
            self._set(conn, key, value)

    def data_dir(self) -> Path:
        """Return the folder for files that belong with this store (created if needed)."""
        if self.dialect == "sqlite":
            folder = Path(self.engine.url.database).resolve().parent
        else:
            folder = Path("socialcredit-data").resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- rulebooks -----------------------------------------------------------------------

    def load_rulebook(self, rb: Rulebook) -> bool:
        """Store `rb` and make its id the active rulebook; False when already loaded."""
        if not rb.text:
            raise StoreError(
                f"rulebook {rb.id} version {rb.version} has no YAML text to store — "
                "load it with socialcredit.rulebook.load.load_rulebook"
            )
        digest = hashlib.sha256(rb.text.encode()).hexdigest()
        with self._write() as conn:
            old = conn.scalar(
                select(rulebooks.c.digest).where(
                    rulebooks.c.rulebook_id == rb.id, rulebooks.c.version == rb.version
                )
            )
            if old is not None and old != digest:
                raise StoreError(
                    f"rulebook {rb.id} version {rb.version} is already loaded with different "
                    "content — load it as a new version"
                )
            if old is None:
                conn.execute(
                    insert(rulebooks).values(
                        rulebook_id=rb.id, version=rb.version, effective=rb.effective,
                        body=rb.text, digest=digest, loaded_at=_now(),
                    )
                )  # fmt: skip
            self._set(conn, "active_rulebook", rb.id)
        self._parsed[digest] = rb
        return old is None

    def rulebook_versions(self, rulebook_id: str | None = None) -> list[Rulebook]:
        """Return the loaded versions of a rulebook (the active one by default), oldest first."""
        with self._read() as conn:
            if rulebook_id is None:
                rulebook_id = conn.scalar(
                    select(settings.c.value).where(settings.c.key == "active_rulebook")
                )
            q = select(rulebooks.c.body, rulebooks.c.digest).where(
                rulebooks.c.rulebook_id == rulebook_id
            )
            rows = conn.execute(q.order_by(rulebooks.c.version)).all()
        out = []
        for body, digest in rows:
            if digest not in self._parsed:
                from socialcredit.rulebook.load import load_rulebook

                self._parsed[digest] = load_rulebook(body)
            out.append(self._parsed[digest])
        return out

    def rulebook_in_force(self, day: date) -> Rulebook:
        """Return the active rulebook's version in force on `day`."""
        versions = self.rulebook_versions()
        if not versions:
            raise StoreError("no rulebook loaded — run socialcredit rulebook load FILE")
        rb = in_force(versions, day)
        if rb is None:
            first = min(v.effective for v in versions if v.effective)
            raise StoreError(
                f"no version of rulebook {versions[0].id} is in force on {day} — "
                f"the earliest takes effect on {first}"
            )
        return rb

    # -- subjects ------------------------------------------------------------------------

    def subject_id_for(self, national_id: str) -> str:
        """Return the stable opaque subject id for a national id (keyed by the store secret)."""
        return subject_id_for(self._secret, national_id)

    def subject_ids(self) -> partial[str]:
        """`subject_id_for` as a function that pickles, for another process (ingest's reader)."""
        return partial(subject_id_for, self._secret)

    def subject(self, subject_id: str) -> dict | None:
        """Return the subject's row, or None."""
        with self._read() as conn:
            row = conn.execute(select(subjects).where(subjects.c.subject_id == subject_id)).first()
        return dict(row._mapping) if row else None

    def subject_by_national_id(self, national_id: str) -> dict | None:
        """Return the subject holding `national_id`, or None."""
        nid = national_id.replace(" ", "").upper()
        with self._read() as conn:
            row = conn.execute(select(subjects).where(subjects.c.national_id == nid)).first()
        return dict(row._mapping) if row else None

    def sample_national_ids(self, n: int) -> list[str]:
        """Return up to `n` national ids of stored subjects, in subject id order."""
        q = select(subjects.c.national_id).where(subjects.c.national_id.is_not(None))
        with self._read() as conn:
            return list(conn.scalars(q.order_by(subjects.c.subject_id).limit(n)))

    def subject_attributes(self) -> pa.Table:
        """subject_id, national_id, sex and birth_date of everyone (the fairness audit's input;
        never a scoring input)."""
        q = select(subjects.c.subject_id, subjects.c.national_id, subjects.c.sex,
                   subjects.c.birth_date)  # fmt: skip
        with self._read() as conn:
            rows = conn.execute(q).all()
        return pa.table({
            "subject_id": pa.array([r[0] for r in rows], pa.string()),
            "national_id": pa.array([r[1] for r in rows], pa.string()),
            "sex": pa.array([r[2] for r in rows], pa.string()),
            "birth_date": pa.array([r[3] for r in rows], pa.date32()),
        })  # fmt: skip

    def subjects_count(self) -> int:
        """Return how many subjects the store holds."""
        with self._read() as conn:
            return conn.scalar(select(func.count()).select_from(subjects))

    # -- a subject's file ----------------------------------------------------------------

    def file(self, subject_id: str, known_at: date | None = None) -> File:
        """Return the subject's file: every record version, consent and record objection.

        With `known_at`, only what had been ingested or filed by that day, as it stood then;
        a record without a national id only if its link was made by then (SPEC §3).
        """
        return self.files([subject_id], known_at)[subject_id]

    def files(self, subject_ids: list[str], known_at: date | None = None) -> dict[str, File]:
        """Return the files of these subjects by subject id, as `file` does, read in one
        transaction with one query per table (per `FILES_CHUNK` subjects); an unknown
        subject gets an empty file."""
        ids = list(dict.fromkeys(subject_ids))
        r, c, o, a, p = records_t, consents, objections, appeals, repairs
        nq = select(subjects.c.subject_id, subjects.c.national_id)
        rq = select(r.c.subject_id, *(r.c[f] for f in RECORD_FIELDS))
        cq = select(c.c.subject_id, c.c.source, c.c.action, c.c.on)
        oq = (
            select(objections, a.c.filed_on.label("a_filed"), a.c.deadline.label("a_deadline"),
                   a.c.state.label("a_state"), a.c.decided_on.label("a_decided"))
            .outerjoin(a, a.c.objection_id == o.c.objection_id)
        )  # fmt: skip
        pq = select(p).where(p.c.state == "approved")
        if known_at is not None:
            rq = rq.where(r.c.ingested_on <= known_at, or_(
                r.c.national_id.is_not(None), r.c.seq.in_(_linked_by(known_at))))  # fmt: skip
            cq = cq.where(c.c.on <= known_at)
            oq = oq.where(o.c.filed_on <= known_at)
            pq = pq.where(p.c.decided_on <= known_at)
        rq = rq.order_by(r.c.source, r.c.record_id, r.c.version)
        cq, oq = cq.order_by(c.c.on, c.c.id), oq.order_by(o.c.filed_on, o.c.objection_id)
        pq = pq.order_by(p.c.decided_on, p.c.repair_id)
        nids, rows, cons, objs, fixed = {}, [], [], [], []
        with self._read() as conn:
            for i in range(0, len(ids), FILES_CHUNK):
                chunk = ids[i : i + FILES_CHUNK]
                nids.update(conn.execute(nq.where(subjects.c.subject_id.in_(chunk))).all())
                rows += conn.execute(rq.where(r.c.subject_id.in_(chunk))).all()
                cons += conn.execute(cq.where(c.c.subject_id.in_(chunk))).all()
                objs += conn.execute(oq.where(o.c.subject_id.in_(chunk))).all()
                fixed += conn.execute(pq.where(p.c.subject_id.in_(chunk))).all()
        parts = {sid: ([], [], [], []) for sid in ids}  # records, consents, objections, repairs
        for row in rows:
            d = dict(row._mapping)
            sid = d.pop("subject_id")
            if known_at is not None and d["superseded_on"] and d["superseded_on"] > known_at:
                d["superseded_on"] = None
            parts[sid][0].append(RecordVersion(**d))
        for x in cons:
            parts[x.subject_id][1].append(Consent(x.source, x.action, x.on))
        for row in objs:
            parts[row.subject_id][2].append(_objection(row, known_at))
        for x in fixed:
            parts[x.subject_id][3].append(Repair(x.repair_id, x.list_id, x.entry_start,
                                                 x.decided_on))  # fmt: skip
        out = {}
        for sid, (rv, cs, ob, rs) in parts.items():
            out[sid] = File(sid, tuple(rv), tuple(cs), tuple(ob), national_id=nids.get(sid),
                            repairs=tuple(rs))  # fmt: skip
        return out

    def record_versions(self, source: str, record_id: str) -> list[dict]:
        """Return every stored version of one record, oldest first, attributes parsed."""
        q = select(records_t).where(
            records_t.c.source == source, records_t.c.record_id == record_id
        )
        with self._read() as conn:
            rows = conn.execute(q.order_by(records_t.c.version)).all()
        return [records.row_dict(r) for r in rows]

    # -- batch reads and results ---------------------------------------------------------

    def batch_tables(self, known_at: date | None = None) -> dict[str, pa.Table]:
        """Return records, consents, objections and subjects as Arrow tables (dates date32)."""
        return arrow.batch_tables(self.engine, known_at)

    def write_results(
        self,
        as_of: date,
        rulebook_id: str,
        rulebook_version: int,
        scores: pa.Table,
        entries: pa.Table,
        decisions: pa.Table,
    ) -> None:
        """Replace the whole scores, entries and decisions tables in one transaction."""
        prepared = arrow.prepare_results(as_of, rulebook_id, rulebook_version, scores, entries,
                                         decisions)  # fmt: skip
        with self._write() as conn:
            arrow.replace_results(conn, prepared)

    def write_subject_results(
        self,
        subject_id: str,
        as_of: date,
        rulebook_id: str,
        version: int,
        score: float | None,
        grade: str | None,
        entries: list[dict],
        decisions: list[dict],
    ) -> None:
        """Replace one subject's score, entries and decisions."""
        one = dict(subject_id=subject_id, score=score, grade=grade, entries=entries,
                   decisions=decisions)  # fmt: skip
        self.write_subjects_results(as_of, rulebook_id, version, [one], [])

    def write_subjects_results(
        self, as_of: date, rulebook_id: str, version: int, results: list[dict], notices: list[dict]
    ) -> None:
        """Replace these subjects' scores, entries and decisions and store the notices owed,
        all in one transaction. Each result has subject_id, score, grade, entries and
        decisions (as `write_subject_results` takes them)."""
        with self._write() as conn:
            arrow.replace_subjects_results(conn, as_of, rulebook_id, version, results)
            store_notices(conn, notices)

    def stored_entries(self) -> list[dict]:
        """Return the list entries of the decision index, cause parsed (the harm audit's
        check of what providers are told)."""
        with self._read() as conn:
            rows = conn.execute(select(entries_t)).all()
        return [dict(r._mapping) | {"cause": json.loads(r.cause)} for r in rows]

    def decision(self, subject_id: str, service: str) -> dict | None:
        """Return the stored decision for a subject at a service, reasons parsed, or None."""
        q = select(decisions).where(
            decisions.c.subject_id == subject_id, decisions.c.service == service
        )
        with self._read() as conn:
            row = conn.execute(q).first()
        if row is None:
            return None
        d = dict(row._mapping)
        d["reasons"] = json.loads(d["reasons"])
        return d

    def score_row(self, subject_id: str) -> dict | None:
        """Return the stored score row of a subject, or None."""
        with self._read() as conn:
            row = conn.execute(select(scores).where(scores.c.subject_id == subject_id)).first()
        return dict(row._mapping) if row else None

    # -- rejects and audit ---------------------------------------------------------------

    def rejects(self, source: str | None = None) -> list[dict]:
        """Return rejected rows (file, row, source, field, reason), in the order rejected."""
        r = rejects
        q = select(r.c.file, r.c.row, r.c.source, r.c.field, r.c.reason).order_by(r.c.id)
        if source is not None:
            q = q.where(r.c.source == source)
        with self._read() as conn:
            return [dict(x._mapping) for x in conn.execute(q)]

    def audit(
        self,
        actor: str,
        role: str,
        action: str,
        subject_id: str | None = None,
        service: str | None = None,
        detail: dict | None = None,
    ) -> dict:
        """Append one entry to the audit log and return it."""
        with self._write() as conn:
            return audit.append(conn, actor, role, action, subject_id, service, detail)

    def audit_entries(self, subject_id: str) -> list[dict]:
        """Return the audit entries about a subject, oldest first."""
        with self._read() as conn:
            return audit.entries(conn, subject_id)

    def verify_audit(self) -> dict:
        """Check the audit log's hash chain."""
        with self._read() as conn:
            return audit.verify(conn)

    def audit_count(self) -> int:
        """Return the number of audit entries."""
        with self._read() as conn:
            return conn.scalar(select(func.count()).select_from(audit_log))

    # -- ingest --------------------------------------------------------------------------

    @contextmanager
    def ingest_batch(self, attach: str | None = None) -> Iterator[records.IngestBatch]:
        """Yield the writer for one chunk of ingest; all of it commits together.

        `attach` names a SQLite file (the chunk's rows, staged by ingest's reading process)
        to attach as `chunk` for the transaction: SQLite attaches only outside one.
        """
        ck = self._checkpointer
        with writing(self.engine, {"chunk": attach} if attach else None, ck is None) as conn:
            yield records.IngestBatch(conn, self)
        if ck is not None:
            ck.poke()

    @contextmanager
    def bulk_ingest(self) -> Iterator[None]:
        """For an ingest of many chunks, on SQLite: each chunk's commit leaves the WAL to a
        checkpoint on a thread of its own (`Checkpointer`), and the writer goes on to the
        next chunk while the pages are copied and synced (its chunks took 1.2 s less per 1M
        records, docs/benchmarks.md)."""
        if self.dialect != "sqlite":
            yield
            return
        self._checkpointer = Checkpointer(self.engine)
        try:
            yield
        finally:
            self._checkpointer.wait()
            self._checkpointer = None
