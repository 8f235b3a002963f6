"""Scoring with a stored scorecard: everyone at once, or one subject's file.

Only subjects who hold scoring consent on the day (a `consent grant` without a source,
the latest grant or revoke on or before the day deciding) get a score; for everyone else
there is no row at all, so a withdrawn consent leaves nothing behind once the scores are
recomputed. Both paths run the same feature query (features.feature_sql).
"""

from __future__ import annotations

import json
from datetime import date

import pyarrow as pa

from socialcredit.engine.file import File
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook.model import Rulebook
from socialcredit.scorecard.features import feature_table
from socialcredit.scorecard.model import ScoreModel
from socialcredit.scorecard.reasons import TOP, reasons_table

SCHEMA = pa.schema([("subject_id", pa.string()), ("score", pa.float64()),
                    ("probability", pa.float64()), ("reasons", pa.string())])  # fmt: skip


def score_population(
    tables: dict[str, pa.Table], rb: Rulebook, day: date, model: ScoreModel, top: int = TOP
) -> pa.Table:
    """subject_id, score, probability, reasons (JSON text) for every consenting subject."""
    x = feature_table(tables, rb, day).to_pandas()
    x = x[x["consented"]].reset_index(drop=True)
    if x.empty:
        return SCHEMA.empty_table()
    scores, probs = model.score(x), model.probability(x)
    return pa.table({
        "subject_id": pa.array(x["subject_id"], pa.string()),
        "score": pa.array(scores, pa.float64()),
        "probability": pa.array(probs, pa.float64()),
        "reasons": pa.array([json.dumps(r, ensure_ascii=False)
                             for r in reasons_table(model, x, top)], pa.string()),
    })  # fmt: skip


def score_file(file: File, rb: Rulebook, day: date, model: ScoreModel) -> dict | None:
    """One subject's score with its reasons, or None without scoring consent on `day`."""
    t = score_population(tables_from_files([file]), rb, day, model)
    if t.num_rows == 0:
        return None
    r = t.to_pylist()[0]
    return {"subject_id": r["subject_id"], "as_of": day.isoformat(), "score": r["score"],
            "probability": r["probability"], "reasons": json.loads(r["reasons"]),
            "model_version": model.meta.get("version")}
