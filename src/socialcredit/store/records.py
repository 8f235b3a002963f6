"""The store's side of ingest: bulk look-ups and writes for one chunk, in one transaction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import Row, bindparam, delete, select, text, update
from sqlalchemy.engine import Connection

from socialcredit.store.bulk import Encoded, insert_encoded, insert_ignore, insert_rows
from socialcredit.store.schema import (
    consents,
    identity_subjects,
    notices,
    records,
    rejects,
    subjects,
)

if TYPE_CHECKING:
    from socialcredit.store.sql import Store

RECORD_COLUMNS = (
    "source", "record_id", "version", "digest", "subject_id", "national_id", "type",
    "occurred_at", "quantity", "points", "case_no", "status", "attrs", "ingested_on",
    "ingested_at", "superseded_on", "link_confidence", "warnings",
)  # fmt: skip
SUBJECT_COLUMNS = (
    "subject_id", "national_id", "kind", "name", "birth_date", "sex", "address", "phone",
    "created_on",
)  # fmt: skip
IDENTITY = ("name", "birth_date", "sex", "address", "phone")
REJECT_COLUMNS = (
    "file", "file_digest", "row", "source", "field", "reason", "raw", "rejected_on",
)  # fmt: skip
NOTICE_COLUMNS = (
    "key", "subject_id", "date", "kind", "list_id", "objection_id", "outcome", "text",
)  # fmt: skip
LOOKUP_CHUNK = 5_000
# A chunk's record versions wait in a temporary table, in file order (`file_row`), and go into
# `records` with one INSERT ... SELECT: SQLite inserts far faster so than row by row.
# (name, SQLite type, PostgreSQL type); version 1 and no subject unless given.
STAGE = (
    ("file_row", "INTEGER PRIMARY KEY", "bigint PRIMARY KEY"), ("source", "TEXT", "text"),
    ("record_id", "TEXT", "text"), ("version", "INTEGER DEFAULT 1", "integer DEFAULT 1"),
    ("digest", "TEXT", "text"), ("subject_id", "TEXT", "text"), ("national_id", "TEXT", "text"),
    ("type", "TEXT", "text"), ("occurred_at", "TEXT", "date"), ("quantity", "REAL", "float8"),
    ("points", "REAL", "float8"), ("case_no", "TEXT", "text"), ("status", "TEXT", "text"),
    ("attrs", "TEXT", "text"), ("superseded_on", "TEXT", "date"), ("warnings", "TEXT", "text"),
)  # fmt: skip
STAGE_COLUMNS = tuple(name for name, _, _ in STAGE)
# The identity a chunk's plain records give each person: the last value of each field. One
# row per person by construction (ingest.plain.people); only ever scanned, so no index.
PEOPLE = (
    ("national_id", "TEXT", "text"), ("subject_id", "TEXT", "text"),
    ("name", "TEXT", "text"),
    ("birth_date", "TEXT", "date"), ("sex", "TEXT", "text"), ("address", "TEXT", "text"),
    ("phone", "TEXT", "text"),
)  # fmt: skip


@dataclass(frozen=True)
class Version:
    """One stored version of a record, as ingest needs it."""

    seq: int
    version: int
    digest: str
    ingested_on: date


def row_dict(row: Row) -> dict:
    """Return a records row as a dict with `attrs` and `warnings` parsed."""
    d = dict(row._mapping)
    d["attrs"] = json.loads(d["attrs"] or "{}")
    d["warnings"] = json.loads(d["warnings"]) if d.get("warnings") else []
    return d


def _versions(rows: Iterable[tuple]) -> dict[tuple[str, str], list[Version]]:
    """Group (seq, source, record_id, version, digest, ingested_on) rows by record."""
    out: dict[tuple[str, str], list[Version]] = {}
    for seq, source, record_id, version, digest, ingested_on in rows:
        if isinstance(ingested_on, str):  # SQLite holds dates as ISO text
            ingested_on = date.fromisoformat(ingested_on)
        out.setdefault((source, record_id), []).append(Version(seq, version, digest, ingested_on))
    for versions in out.values():
        versions.sort(key=lambda v: v.version)
    return out


def _chunks(items: list, n: int = LOOKUP_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


class IngestBatch:
    """Look-ups and writes for one chunk of ingest, on the writer's connection."""

    def __init__(self, conn: Connection, store: Store) -> None:
        self.conn = conn
        self.store = store
        self.pg = conn.dialect.name == "postgresql"
        self.staged = False  # whether ingest_stage holds this chunk's records
        self.attached = False  # whether chunk.stage (an attached file) holds some too
        self.left_out = False  # whether ingest_left_out holds file rows not to take from it
        self.tuned = False  # whether PostgreSQL's settings for bulk SQL are made

    def histories(self, keys: Iterable[tuple[str, str]],
                  attached: bool = False) -> dict[tuple[str, str], list[Version]]:  # fmt: skip
        """Return the stored versions of each (source, record_id) that exists, oldest first;
        `attached`: and of each record in the attached file's `chunk.stage`."""
        keys = list(keys)
        if not (keys or attached):
            return {}
        cols = "r.seq, r.source, r.record_id, r.version, r.digest, r.ingested_on"
        if self.pg:
            sql = text(
                f"SELECT {cols} FROM records r"
                " JOIN unnest(CAST(:s AS text[]), CAST(:r AS text[])) AS k(source, record_id)"
                " ON r.source = k.source AND r.record_id = k.record_id"
            )
            rows = []
            for part in _chunks(keys, 50_000):
                params = {"s": [k[0] for k in part], "r": [k[1] for k in part]}
                rows += self.conn.execute(sql, params).all()
        else:
            self.conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS ingest_keys (source TEXT, record_id TEXT)"
            )
            self.conn.exec_driver_sql("DELETE FROM ingest_keys")
            if keys:
                self.conn.exec_driver_sql("INSERT INTO ingest_keys VALUES (?, ?)", keys)
            # Each record once, however many rows of the chunk it has; the attached rows
            # are read where they are (copying them into ingest_keys cost more).
            union = " UNION SELECT source, record_id FROM chunk.stage" if attached else ""
            rows = self.conn.exec_driver_sql(
                f"SELECT {cols} FROM (SELECT DISTINCT source, record_id FROM ingest_keys{union}) k"
                " JOIN records r"
                " ON r.source = k.source AND r.record_id = k.record_id"
            ).all()
        return _versions(rows)

    def any_within(self, spans: Iterable[tuple[str, str, str]]) -> bool:
        """Whether a stored record has a source of `spans` and a record id within that
        source's span: (source, lowest record id, highest). Record ids mostly grow from file
        to file, so this answers a chunk of new records for the price of a few look-ups.
        SQLite only: it compares text byte by byte, as Arrow's min and max do."""
        sql = ("SELECT 1 FROM records WHERE source = :s AND record_id BETWEEN :lo AND :hi"
               " LIMIT 1")  # fmt: skip
        return any(
            self.conn.execute(text(sql), {"s": s, "lo": lo, "hi": hi}).first()
            for s, lo, hi in spans
        )

    def subjects_for(self, national_ids: Iterable[str]) -> dict[str, dict]:
        """Return the stored subjects holding these national ids, by national id."""
        nids = list(national_ids)
        if not nids:
            return {}
        cols = ", ".join(f"s.{c}" for c in SUBJECT_COLUMNS)
        # One join against all the ids (not IN lists of 900): a chunk asks for tens of
        # thousands, and most are new.
        if self.pg:
            sql = (f"SELECT {cols} FROM subjects s JOIN unnest(CAST(%s AS text[]))"
                   " AS k(national_id) USING (national_id)")  # fmt: skip
            with self.conn.connection.cursor() as cur:
                rows = cur.execute(sql, (nids,)).fetchall()
        else:
            self.conn.exec_driver_sql("CREATE TEMP TABLE IF NOT EXISTS ingest_nids (nid TEXT)")
            self.conn.exec_driver_sql("DELETE FROM ingest_nids")
            self.conn.exec_driver_sql("INSERT INTO ingest_nids VALUES (?)", [(n,) for n in nids])
            rows = self.conn.exec_driver_sql(
                f"SELECT {cols} FROM ingest_nids k JOIN subjects s ON s.national_id = k.nid"
            ).all()
        out = {}
        for row in rows:
            d = dict(zip(SUBJECT_COLUMNS, row, strict=True))
            for f in ("birth_date", "created_on"):  # SQLite holds dates as ISO text
                if isinstance(d[f], str):
                    d[f] = date.fromisoformat(d[f])
            out[d["national_id"]] = d
        return out

    def add_subjects(self, rows: list[dict]) -> None:
        """Insert new subjects (dicts with SUBJECT_COLUMNS)."""
        insert_rows(self.conn, subjects, SUBJECT_COLUMNS,
                    [tuple(r.get(c) for c in SUBJECT_COLUMNS) for r in rows])  # fmt: skip

    def update_identities(self, rows: list[dict]) -> None:
        """Overwrite the identity attributes of existing subjects (dicts with subject_id)."""
        if not rows:
            return
        stmt = (
            update(subjects)
            .where(subjects.c.subject_id == bindparam("sid"))
            .values({c: bindparam(f"v_{c}") for c in IDENTITY})
        )
        params = [{"sid": r["subject_id"], **{f"v_{c}": r.get(c) for c in IDENTITY}} for r in rows]
        self.conn.execute(stmt, params)
        # Identity keeps each subject's features indexed; a changed identity is indexed
        # anew by the next linkage (identity.store.missing_subjects).
        for part in _chunks([r["subject_id"] for r in rows]):
            self.conn.execute(
                delete(identity_subjects).where(identity_subjects.c.subject_id.in_(part))
            )

    def supersede(self, seqs: list[int], on: date) -> None:
        """Mark the record versions with these seqs as superseded on `on`."""
        if not seqs:
            return
        stmt = update(records).where(records.c.seq == bindparam("s")).values(superseded_on=on)
        self.conn.execute(stmt, [{"s": s} for s in seqs])

    def _stage(self) -> None:
        if not self.staged:
            self._temp("ingest_stage", STAGE)
            self.staged = True

    def _temp(self, name: str, columns: tuple) -> None:
        """Create the temporary table `name` for this connection if need be, and empty it."""
        if self.pg and not self.tuned:
            # Compiling these plain bulk statements would take longer than running them.
            self.conn.exec_driver_sql("SET LOCAL jit = off")
            self.tuned = True
        cols = ", ".join(f"{c} {pg if self.pg else lite}" for c, lite, pg in columns)
        self.conn.exec_driver_sql(f"CREATE TEMP TABLE IF NOT EXISTS {name} ({cols})")
        self.conn.exec_driver_sql(f"DELETE FROM {name}")

    def stage(self, plain: Encoded | None, leave_out: list[int] | None = None) -> None:
        """Stage new first versions of plain records (columns named as in STAGE); None takes
        them from the attached file's `chunk.stage` (ingest.child), less the file rows
        `leave_out` and, in `add_people`, their people."""
        if plain is None:
            self.attached = True  # written from there
            if leave_out:
                self._temp("ingest_left_out", STAGE[:1])
                insert_rows(self.conn, "ingest_left_out", STAGE_COLUMNS[:1],
                            [(n,) for n in leave_out])  # fmt: skip
                self.left_out = True
            return
        self._stage()
        insert_encoded(self.conn, "ingest_stage", plain)

    def stage_rows(self, rows: list[tuple]) -> None:
        """Stage record versions given as tuples in STAGE_COLUMNS order."""
        if not rows:
            return
        self._stage()
        insert_rows(self.conn, "ingest_stage", STAGE_COLUMNS, rows)

    def add_people(self, people: Encoded | None, on: date) -> None:
        """Create or update the subjects of the plain records staged: `people` has the
        PEOPLE columns (None: the attached file's `chunk.people`); a field given overwrites
        the stored one, a null keeps it."""
        table = self._attached("people")  # read where it is
        if people is not None:
            table = "ingest_people"
            self._temp(table, PEOPLE)
            insert_encoded(self.conn, table, people)
        cols = ("subject_id", "national_id", *IDENTITY)
        sets = ", ".join(f"{f} = coalesce(excluded.{f}, subjects.{f})" for f in IDENTITY)

        def changed(new: str) -> str:  # a field given that differs from the stored one
            return " OR ".join(f"({new}.{f} IS NOT NULL AND {new}.{f} IS DISTINCT FROM"
                               f" subjects.{f})" for f in IDENTITY)  # fmt: skip

        # A changed identity is indexed anew by the next linkage (as in update_identities);
        # a new subject has nothing indexed yet. Found before the write, in the database:
        # handing every written subject id back to Python took longer than the write. Not
        # looked for while nothing is indexed (no linkage yet): SQLite would still compare
        # every person of the chunk first.
        if self.conn.exec_driver_sql("SELECT 1 FROM identity_subjects LIMIT 1").first():
            self.conn.exec_driver_sql(
                "DELETE FROM identity_subjects WHERE subject_id IN (SELECT p.subject_id FROM"
                f" {table} p JOIN subjects ON subjects.subject_id = p.subject_id"
                f" WHERE {changed('p')})"
            )
        # One pass: a new person is inserted, a known one updated where a field differs.
        # The conflict is on the subject id, so a national id stored under another subject
        # id (Store.subject_id_for changed) breaks the unique national id, loudly.
        self.conn.execute(
            text(f"INSERT INTO subjects ({', '.join(cols)}, kind, created_on)"
                 f" SELECT {', '.join(cols)}, 'person', :on FROM {table} WHERE true"
                 f" ON CONFLICT (subject_id) DO UPDATE SET {sets} WHERE {changed('excluded')}"),
            {"on": on},
        )  # fmt: skip

    def _attached(self, table: str) -> str:
        """The attached file's `table` (stage or people), less the rows left out (`stage`)."""
        if not self.left_out:
            return f"chunk.{table}"
        rows = "SELECT file_row FROM ingest_left_out"
        if table == "stage":
            return f"(SELECT * FROM chunk.stage WHERE file_row NOT IN ({rows}))"
        return ("(SELECT * FROM chunk.people WHERE national_id NOT IN"
                f" (SELECT national_id FROM chunk.stage WHERE file_row IN ({rows})))")  # fmt: skip

    def write_staged(self, on: date, at: datetime) -> None:
        """Insert the staged record versions into `records` in file order, ingested on `on`
        at `at`."""
        tables = [t for t, given in ((self._attached("stage"), self.attached),
                                     ("ingest_stage", self.staged)) if given]  # fmt: skip
        if not tables:
            return
        # Both in file_row order (their primary key): SQLite merges them without sorting,
        # which costs less than copying the attached rows into ingest_stage first.
        rows = " UNION ALL ".join(f"SELECT * FROM {t}" for t in tables)
        cols = [f"k.{c}" for c in STAGE_COLUMNS[1:]]
        names = ", ".join((*STAGE_COLUMNS[1:], "ingested_on", "ingested_at"))
        self.conn.execute(
            text(f"INSERT INTO records ({names}) SELECT {', '.join(cols)}, :on, :at"
                 f" FROM ({rows} ORDER BY file_row) k"),
            {"on": on, "at": at},
        )  # fmt: skip

    def consents_for(self, subject_ids: Iterable[str]) -> set[tuple[str, str | None, str, date]]:
        """Return the stored consents of these subjects as (subject_id, source, action, on)."""
        ids = list(subject_ids)
        c = consents
        q = select(c.c.subject_id, c.c.source, c.c.action, c.c.on).where(
            c.c.subject_id.in_(bindparam("ids", expanding=True))
        )
        out: set[tuple[str, str | None, str, date]] = set()
        for part in _chunks(ids, 900):
            out.update(tuple(r) for r in self.conn.execute(q, {"ids": part}))
        return out

    def add_consents(self, rows: list[tuple[str, str | None, str, date]]) -> None:
        """Insert consents given as (subject_id, source, action, on)."""
        now = datetime.now(UTC).replace(tzinfo=None)
        insert_rows(self.conn, consents, ("subject_id", "source", "action", "on", "recorded_at"),
                    [(*r, now) for r in rows])  # fmt: skip

    def add_rejects(self, rows: list[dict]) -> None:
        """Store rejected rows; one already stored for the same file and row is skipped."""
        insert_ignore(self.conn, rejects, REJECT_COLUMNS,
                      [tuple(r.get(c) for c in REJECT_COLUMNS) for r in rows])  # fmt: skip


def add_notices(conn: Connection, rows: list[dict]) -> None:
    """Insert notices, skipping those whose key is already stored."""
    insert_ignore(conn, notices, NOTICE_COLUMNS,
                  [tuple(r.get(c) for c in NOTICE_COLUMNS) for r in rows])  # fmt: skip
