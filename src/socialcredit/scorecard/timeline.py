"""The commercial score over time: what a `model_score_at_least` list condition reads.

A score can only change on a feature's event day (`features.event_days_sql`), so the
timeline holds one row per subject and event day up to the evaluation day: the score
that day, or null without scoring consent. The per-subject evaluator and the batch plan
both read this one table, and differ only in how they find the islands where the score
reaches a list's threshold (engine/lists.py and engine/plan.py), as for grades.

The model used is the latest stored version; without one, nobody has a commercial
score and no `model_score_at_least` condition holds.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa

from socialcredit.engine import duckdb as engine
from socialcredit.engine.file import File
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook.model import Rulebook
from socialcredit.scorecard.features import event_days_sql, feature_sql, prepare, query
from socialcredit.scorecard.model import ModelError, ScoreModel

SCHEMA = pa.schema([("subject_id", pa.string()), ("d", pa.date32()), ("score", pa.float64())])


def model_for(store, rb: Rulebook) -> ScoreModel | None:
    """The stored model a rulebook's list conditions read, or None (none needed or none
    trained)."""
    if not rb.model_lists:
        return None
    from socialcredit.scorecard import store as models

    try:
        return models.load(store)
    except ModelError:
        return None


def timeline(
    con, rb: Rulebook, day: date, model: ScoreModel, subjects: str, setup: bool = True
) -> pa.Table:
    """subject_id, d, score for the subjects in table `subjects` on `con` (which holds the
    batch tables, and the plan's helper tables already when `setup` is False), ordered by
    subject and day."""
    plan = prepare(con, rb, day, setup)
    query(con, f"CREATE OR REPLACE TEMP TABLE mev AS {event_days_sql(plan, subjects)}", day)
    t = query(con, feature_sql(plan, "mev"), day, "arrow")
    if t.num_rows == 0:
        return SCHEMA.empty_table()
    score = model.score(t.to_pandas())
    consented = t.column("consented").to_pylist()
    return pa.table(
        {
            "subject_id": t.column("subject_id"),
            "d": t.column("d"),
            "score": pa.array(
                [float(s) if ok else None for s, ok in zip(score, consented, strict=True)],
                pa.float64(),
            ),
        },
        schema=SCHEMA,
    )


def file_timeline(
    file: File, rb: Rulebook, day: date, model: ScoreModel | None
) -> list[tuple[date, float | None]] | None:
    """One file's timeline as (day, score or None), or None when there is no model."""
    if model is None or not rb.model_lists:
        return None
    return files_timelines([file], rb, day, model)[file.subject_id]


def files_timelines(
    files: list[File], rb: Rulebook, day: date, model: ScoreModel
) -> dict[str, list[tuple[date, float | None]]]:
    """Each file's timeline by subject id, from one query over all of them."""
    con = engine.connect(tables_from_files(files))
    try:
        t = timeline(con, rb, day, model, "subjects")
    finally:
        con.close()
    out = {f.subject_id: [] for f in files}
    for r in t.to_pylist():
        out[r["subject_id"]].append((r["d"], r["score"]))
    return out
