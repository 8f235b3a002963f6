"""Scoring runs: `score_population` (the batch plan) and `rescore_subjects` (some files),
with `touched_subjects` to find the files a batch of records changed."""

from __future__ import annotations

import time
from datetime import date

from sqlalchemy import select, tuple_

from socialcredit.checks import decide, services_of
from socialcredit.engine.evaluate import Evaluation, evaluate
from socialcredit.engine.file import File
from socialcredit.engine.lists import Entry
from socialcredit.notices import close_entries, entry_notices
from socialcredit.rulebook.model import Rulebook
from socialcredit.store.schema import records as records_t

ENGINES = ("duckdb", "spark")


def score_population(store, day: date, engine: str = "duckdb", progress=None) -> dict:
    """Rescore everyone on `day`, store the decision index and send the notices owed."""
    from socialcredit.engine import duckdb as runner

    if engine not in ENGINES:
        raise ValueError(
            f'engine "{engine}" is not available here — use one of {", ".join(ENGINES)}'
        )
    started = time.perf_counter()
    from socialcredit.scorecard.timeline import model_for

    rb = store.rulebook_in_force(day)
    model = model_for(store, rb)
    if engine == "spark":  # the same plan, run by Spark (engine/spark.py)
        from socialcredit.engine import spark

        result = spark.run(store.batch_tables(), rb, day, progress=progress, model=model)
    else:
        con = runner.connect(store.batch_tables())
        result = runner.run(con, rb, day, progress=progress, model=model)
    store.write_results(day, rb.id, rb.version, result.scores, result.entries, result.decisions)
    notices = []
    for row in result.entries.to_pylist():
        e = Entry(
            row["list_id"],
            rb.list_def(row["list_id"]).kind,
            row["start"],
            row["active_from"],
            row["end"],
            row["state"],
            tuple(tuple(c.split(":", 1)) for c in row["cause"]),
        )
        notices += entry_notices(row["subject_id"], e, rb, day)
    store.add_notices(notices)
    live = {(r["subject_id"], r["list_id"], r["start"].isoformat())
            for r in result.entries.to_pylist()}  # fmt: skip
    close_entries(store, day, live, rescore_subjects)
    result.seconds = time.perf_counter() - started
    return result.summary(engine)


def evaluate_stored(store, file: File, rb: Rulebook, day: date) -> Evaluation:
    """`evaluate` with what the store adds to a file: the commercial-score timeline, when
    the rulebook has `model_score_at_least` lists and a model is stored."""
    return evaluate_files(store, [file], rb, day)[0]


def evaluate_files(store, files: list[File], rb: Rulebook, day: date) -> list[Evaluation]:
    """`evaluate_stored` for each file, the model loaded once and every timeline computed
    in one query."""
    if not rb.model_lists:  # the common case: no scorecard, and no DuckDB, needed
        return [evaluate(f, rb, day) for f in files]
    from socialcredit.scorecard.timeline import files_timelines, model_for

    model = model_for(store, rb)  # None when no model is stored
    if model is None:
        return [evaluate(f, rb, day) for f in files]
    timelines = files_timelines(files, rb, day, model)
    return [evaluate(f, rb, day, timelines[f.subject_id]) for f in files]


def rescore_subject(store, subject_id: str, day: date) -> None:
    """Re-evaluate one file after a change and update its decisions and notices."""
    rescore_subjects(store, [subject_id], day)


def rescore_subjects(store, subject_ids: list[str], day: date) -> None:
    """Re-evaluate these files after a change and update their decisions and notices: the
    rulebook read once, the files in one read, all results and notices in one write."""
    ids = list(dict.fromkeys(subject_ids))
    if not ids:
        return
    rb = store.rulebook_in_force(day)
    files = store.files(ids)
    results, notices = [], []
    for sid, ev in zip(ids, evaluate_files(store, [files[s] for s in ids], rb, day), strict=True):
        live = ev.in_force()
        decisions = []
        for service in services_of(rb):
            answer = decide(live, rb, service, day)
            if answer["decision"] != "allow":
                decisions.append(
                    {"service": service, "decision": answer["decision"],
                     "reasons": answer["reasons"]}
                )  # fmt: skip
        entries = [
            {
                "list_id": e.list_id,
                "start": e.start,
                "active_from": e.active_from,
                "end": e.end,
                "state": e.state,
                "cause": [f"{s}:{r}" for s, r in e.cause],
            }
            for e in live
        ]
        results.append(dict(subject_id=sid, score=ev.score, grade=ev.grade, entries=entries,
                            decisions=decisions))  # fmt: skip
        for e in ev.entries:
            notices += entry_notices(sid, e, rb, day)
    store.write_subjects_results(day, rb.id, rb.version, results, notices)


def touched_subjects(store, keys: list[tuple[str, str]]) -> list[str]:
    """Return every subject any version of these records belongs to: a correction can move
    a record from one file to another, and both files change."""
    r, out = records_t, set()
    for i in range(0, len(keys), 500):
        q = (
            select(r.c.subject_id)
            .distinct()
            .where(
                tuple_(r.c.source, r.c.record_id).in_(keys[i : i + 500]),
                r.c.subject_id.is_not(None),
            )
        )
        with store._read() as conn:
            out.update(conn.scalars(q))
    return sorted(out)
