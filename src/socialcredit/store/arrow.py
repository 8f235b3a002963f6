"""Columnar reads for the batch engine (ADBC) and bulk writes of its results.

SQLite has no column types to speak of: the ADBC driver infers each column's type from the
first rows it sees, and fails when a column starts with nulls and later holds a number. Each
SQLite query therefore starts with one typed probe row, dropped after the fetch. SQLite is
read in a child process (see `sqlite_reader`).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import delete
from sqlalchemy.engine import Connection, Engine

from socialcredit.store.bulk import insert_arrow
from socialcredit.store.connect import StoreError, first_line
from socialcredit.store.schema import decisions, entries, scores

S, D, F, I = pa.string(), pa.date32(), pa.float64(), pa.int64()  # noqa: E741
IN_PROCESS_MAX = 200_000  # SQLite stores up to this many records are read in-process

SCHEMAS = {
    "records": pa.schema([
        ("subject_id", S), ("source", S), ("record_id", S), ("version", I), ("type", S),
        ("occurred_at", D), ("quantity", F), ("points", F), ("case_no", S), ("status", S),
        ("ingested_on", D), ("superseded_on", D), ("link_confidence", F),
    ]),
    "consents": pa.schema([("subject_id", S), ("source", S), ("action", S), ("on", D)]),
    "objections": pa.schema([
        ("objection_id", S), ("subject_id", S), ("source", S), ("record_id", S),
        ("filed_on", D), ("deadline", D), ("state", S), ("decided_on", D), ("target", S),
        ("list_id", S), ("entry_start", D), ("appeal_deadline", D), ("appeal_state", S),
        ("appeal_decided_on", D),
    ]),
    "subjects": pa.schema([("subject_id", S), ("national_id", S)]),
}  # fmt: skip

RESULT_SCHEMAS = {
    "scores": pa.schema([
        ("subject_id", S), ("as_of", D), ("rulebook_id", S), ("rulebook_version", I),
        ("score", F), ("grade", S),
    ]),
    "entries": pa.schema([
        ("subject_id", S), ("list_id", S), ("start", D), ("active_from", D), ("end", D),
        ("state", S), ("cause", S), ("as_of", D),
    ]),
    "decisions": pa.schema([
        ("subject_id", S), ("service", S), ("decision", S), ("reasons", S), ("as_of", D),
    ]),
}  # fmt: skip


def _queries(known_at: date | None, dialect: str) -> dict[str, str]:
    k = None
    if known_at is not None:
        k = f"'{known_at.isoformat()}'" if dialect == "sqlite" else f"DATE '{known_at}'"
    sup = (
        f"CASE WHEN superseded_on > {k} THEN NULL ELSE superseded_on END" if k else "superseded_on"
    )
    return {
        "records": (
            "SELECT subject_id, source, record_id, version, type, occurred_at, quantity, points,"
            f" case_no, status, ingested_on, {sup} AS superseded_on, link_confidence"
            " FROM records WHERE subject_id IS NOT NULL"
            + (f" AND ingested_on <= {k} AND {_linked_by(k)}" if k else "")
        ),
        "consents": 'SELECT subject_id, source, action, "on" FROM consents'
        + (f' WHERE "on" <= {k}' if k else ""),
        "objections": _objections_sql(k),
        "subjects": "SELECT subject_id, national_id FROM subjects"
        + (f" WHERE created_on <= {k}" if k else ""),
    }


def _linked_by(k: str) -> str:
    """A record without a national id counts only from the day its link was made (SPEC §3)."""
    return (
        "(national_id IS NOT NULL OR seq IN (SELECT seq FROM identity_links"
        f" WHERE linked_on <= {k} AND state IN ('linked', 'confirmed')))"
    )


def _objections_sql(k: str | None) -> str:
    """Objections with their appeal, as known at `k`; approved repairs join them as entry
    objections accepted on their decision day (as engine/tables.py does for files)."""
    o_state, o_dec, a_state, a_dec = "o.state", "o.decided_on", "a.state", "a.decided_on"
    a_known = "a.filed_on IS NOT NULL"
    if k:  # a decision taken after k was not known then
        o_state = f"CASE WHEN o.decided_on > {k} THEN 'open' ELSE o.state END"
        o_dec = f"CASE WHEN o.decided_on > {k} THEN NULL ELSE o.decided_on END"
        a_state = f"CASE WHEN a.decided_on > {k} THEN 'open' ELSE a.state END"
        a_dec = f"CASE WHEN a.decided_on > {k} THEN NULL ELSE a.decided_on END"
        a_known = f"a.filed_on <= {k}"
    objs = (
        "SELECT o.objection_id, o.subject_id, o.source, o.record_id, o.filed_on, o.deadline,"
        f" {o_state} AS state, {o_dec} AS decided_on, o.target, o.list_id, o.entry_start,"
        f" CASE WHEN {a_known} THEN a.deadline END AS appeal_deadline,"
        f" CASE WHEN {a_known} THEN {a_state} END AS appeal_state,"
        f" CASE WHEN {a_known} THEN {a_dec} END AS appeal_decided_on"
        " FROM objections o LEFT JOIN appeals a ON a.objection_id = o.objection_id"
        + (f" WHERE o.filed_on <= {k}" if k else "")
    )
    fixed = (
        "SELECT repair_id, subject_id, NULL, NULL, decided_on, decided_on, 'accepted',"
        " decided_on, 'entry', list_id, entry_start, NULL, NULL, NULL"
        " FROM repairs WHERE state = 'approved'" + (f" AND decided_on <= {k}" if k else "")
    )
    return f"{objs} UNION ALL {fixed}"


def _probe(schema: pa.Schema) -> str:
    """A typed first row for SQLite: '' for text and dates, 0 for ints, 0.0 for floats."""
    values = []
    for f in schema:
        v = "0" if pa.types.is_integer(f.type) else "0.0" if pa.types.is_floating(f.type) else "''"
        values.append(f'{v} AS "{f.name}"')
    return "SELECT " + ", ".join(values)


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        col = table.column(f.name)
        cols.append(col if col.type == f.type else pc.cast(col, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def batch_tables(engine: Engine, known_at: date | None) -> dict[str, pa.Table]:
    """Read the four batch inputs with ADBC, as Arrow tables with fixed schemas."""
    queries = _queries(known_at, engine.dialect.name)
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn, conn.begin():
            size = conn.exec_driver_sql("SELECT MAX(seq) FROM records").scalar() or 0
            if size <= IN_PROCESS_MAX:  # a child process costs about a second to start
                return {n: _rows_to_arrow(conn, q, SCHEMAS[n]) for n, q in queries.items()}
        probed = {
            n: f"{_probe(SCHEMAS[n])} UNION ALL SELECT * FROM ({q})" for n, q in queries.items()
        }
        raw = _read_sqlite(engine.url.database, probed)
        return {n: _conform(t.slice(1), SCHEMAS[n]) for n, t in raw.items()}
    import adbc_driver_postgresql.dbapi as adbc

    uri = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    out = {}
    with adbc.connect(uri) as conn, conn.cursor() as cur:
        for name, sql in queries.items():  # one transaction: one snapshot for all four
            try:
                cur.execute(sql)
                out[name] = _conform(cur.fetch_arrow_table(), SCHEMAS[name])
            except Exception as e:  # the ADBC drivers raise their own error classes
                raise StoreError(f"cannot read {name} for the batch: {first_line(e)}") from e
        conn.commit()
    return out


def _rows_to_arrow(conn: Connection, sql: str, schema: pa.Schema) -> pa.Table:
    """Read a small result through the store's own connection (dates come as ISO text)."""
    rows = conn.exec_driver_sql(sql).all()
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(schema)
    arrays = []
    for f, values in zip(schema, columns, strict=True):
        text_type = pa.string() if pa.types.is_date(f.type) else f.type
        arrays.append(pc.cast(pa.array(values, type=text_type), f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _read_sqlite(path: str, queries: dict[str, str]) -> dict[str, pa.Table]:
    """Run the queries with ADBC in a child process (see sqlite_reader for why)."""
    script = Path(__file__).with_name("sqlite_reader.py")
    with tempfile.TemporaryDirectory(prefix="socialcredit-") as tmp:
        job = json.dumps({"path": str(Path(path).resolve()), "out": tmp, "queries": queries})
        done = subprocess.run(
            [sys.executable, str(script)], input=job, capture_output=True, text=True
        )
        if done.returncode != 0:
            reason = (done.stderr.strip().splitlines() or ["the reader failed"])[-1]
            raise StoreError(f"cannot read the store for the batch: {reason}")
        out = {}
        for name in queries:
            with pa.OSFile(str(Path(tmp) / f"{name}.arrow")) as source:
                out[name] = pa.ipc.open_file(source).read_all()
    return out


def _json_column(col: pa.ChunkedArray) -> pa.Array:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return pc.fill_null(col, "[]")
    return pa.array([json.dumps(v if v is not None else [], default=str) for v in col.to_pylist()])


def _prepare(name: str, table: pa.Table, fill: dict) -> pa.Table:
    schema = RESULT_SCHEMAS[name]
    cols = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            if f.name in ("cause", "reasons"):
                col = _json_column(col)
        elif f.name in fill:
            col = pa.array([fill[f.name]] * table.num_rows, type=f.type)
        else:
            raise StoreError(f"the {name} results have no column {f.name}")
        cols.append(col if col.type == f.type else pc.cast(col, f.type))
    return pa.Table.from_arrays(cols, schema=schema)


def prepare_results(
    as_of: date, rulebook_id: str, version: int, scores_t: pa.Table, entries_t: pa.Table,
    decisions_t: pa.Table,
) -> dict[str, pa.Table]:  # fmt: skip
    """Conform the engine's result tables to the store's columns, filling the run's fields."""
    fill = {"as_of": as_of, "rulebook_id": rulebook_id, "rulebook_version": version}
    return {
        "scores": _prepare("scores", scores_t, fill),
        "entries": _prepare("entries", entries_t, fill),
        "decisions": _prepare("decisions", decisions_t, fill),
    }


def replace_results(conn: Connection, prepared: dict[str, pa.Table]) -> None:
    """Delete the previous results and insert the prepared ones (inside the caller's tx)."""
    for table in (scores, entries, decisions):
        conn.execute(delete(table))
        insert_arrow(conn, table, prepared[table.name])


def _as_json(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def replace_subjects_results(
    conn: Connection, as_of: date, rulebook_id: str, version: int, results: list[dict]
) -> None:
    """Replace some subjects' scores, entries and decisions (inside the caller's tx). Each
    result has subject_id, score, grade, entries and decisions (lists of dicts)."""
    ids = [x["subject_id"] for x in results]
    for i in range(0, len(ids), 500):  # IN lists well under every driver's parameter limit
        for table in (scores, entries, decisions):
            conn.execute(delete(table).where(table.c.subject_id.in_(ids[i : i + 500])))
    score_rows, entry_rows, decision_rows = [], [], []
    for x in results:
        base = {"subject_id": x["subject_id"], "as_of": as_of}
        score_rows.append({**base, "rulebook_id": rulebook_id, "rulebook_version": version,
                           "score": x["score"], "grade": x["grade"]})  # fmt: skip
        for e in x["entries"]:
            entry_rows.append({
                **base, "list_id": e["list_id"], "start": e["start"],
                "active_from": e["active_from"], "end": e.get("end"), "state": e["state"],
                "cause": _as_json(e.get("cause", [])),
            })  # fmt: skip
        for d in x["decisions"]:
            decision_rows.append({
                **base, "service": d["service"], "decision": d["decision"],
                "reasons": _as_json(d.get("reasons", [])),
            })  # fmt: skip
    # The bulk path of batch results (COPY on PostgreSQL): SQLAlchemy's executemany costs
    # more than the evaluation of the files.
    for table, rows in ((scores, score_rows), (entries, entry_rows), (decisions, decision_rows)):
        insert_arrow(conn, table, pa.Table.from_pylist(rows, schema=RESULT_SCHEMAS[table.name]))
