"""Scoring runs: `score_population` (the batch plan) and `rescore_subject` (one file)."""

from __future__ import annotations

import time
from datetime import date

from socialcredit.checks import decide, services_of
from socialcredit.engine.evaluate import Evaluation, evaluate
from socialcredit.engine.file import File
from socialcredit.engine.lists import Entry
from socialcredit.notices import close_entries, entry_notices
from socialcredit.rulebook.model import Rulebook

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
    close_entries(store, day, live, rescore_subject)
    result.seconds = time.perf_counter() - started
    return result.summary(engine)


def evaluate_stored(store, file: File, rb: Rulebook, day: date) -> Evaluation:
    """`evaluate` with what the store adds to a file: the commercial-score timeline, when
    the rulebook has `model_score_at_least` lists and a model is stored."""
    if not any(ld.when.model_score_at_least is not None for ld in rb.lists):
        return evaluate(file, rb, day)
    from socialcredit.scorecard.timeline import file_timeline, model_for

    return evaluate(file, rb, day, file_timeline(file, rb, day, model_for(store, rb)))


def rescore_subject(store, subject_id: str, day: date) -> None:
    """Re-evaluate one file after a change and update its decisions and notices."""
    rb = store.rulebook_in_force(day)
    ev = evaluate_stored(store, store.file(subject_id), rb, day)
    live = ev.in_force()
    decisions = []
    for service in services_of(rb):
        answer = decide(live, rb, service, day)
        if answer["decision"] != "allow":
            decisions.append(
                {"service": service, "decision": answer["decision"], "reasons": answer["reasons"]}
            )
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
    store.write_subject_results(
        subject_id, day, rb.id, rb.version, ev.score, ev.grade, entries, decisions
    )
    notices = []
    for e in ev.entries:
        notices += entry_notices(subject_id, e, rb, day)
    store.add_notices(notices)
