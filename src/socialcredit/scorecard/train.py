"""Training data and training: features on one day, the outcome in the year after it.

The city and the store hold no outcome column, so one is derived, and documented on the
card: a subject **defaults** when a record of a default type — a bank arrears report, a
court judgement (dishonest debtor, judgement in breach) or a private-loan breach — occurs
in the 12 months after the feature day, as the store knew it on the day the model is
trained. Features are read on `as_of − 12 months`, the latest day whose outcome window has
closed by `as_of`. It is a synthetic target: in the city, past arrears and future arrears
both follow the same drawn "trouble" propensity, so the model's accuracy on the city says
how well it recovers the generator, not how well it predicts real people (the German
credit benchmark, bench/german_credit.py, is the test on real outcomes).

Only subjects who held scoring consent on the feature day are used: a person who never
agreed to a commercial score is not material for one either.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa

from socialcredit import dates
from socialcredit.engine import duckdb as engine
from socialcredit.engine.plan import Plan, in_list, lit
from socialcredit.rulebook.model import Rulebook
from socialcredit.scorecard import features as feat
from socialcredit.scorecard.model import FeatureSpec, Scale, ScoreModel, fit

DEFAULT_TYPES = ("finance.bank_arrears", "court.dishonest_debtor", "court.judgment_breach",
                 "finance.private_lending_breach")  # fmt: skip
OUTCOME_MONTHS = 12
TEST_SHARE = 0.3
OUTCOME_TEXT = (
    "default = a bank arrears report, court judgement (dishonest debtor or breach) or "
    "private-loan breach occurring in the 12 months after the feature day"
)
SPECS = [FeatureSpec(f.name, f.trend, label=f.label) for f in feat.FEATURES]


def outcome_sql(plan: Plan, start: date) -> str:
    """SELECT subject_id, defaulted: whether a default-type record occurred in
    (start, plan day], as the plan's day sees the records (needs `Plan.setup()`)."""
    return f"""SELECT s.subject_id, COALESCE(o.n, 0) > 0 AS defaulted
        FROM subjects s LEFT JOIN (
            SELECT subject_id, count(*) AS n FROM ({plan.view(set(DEFAULT_TYPES))})
            WHERE type IN {in_list(DEFAULT_TYPES)} AND occ > {lit(start)} AND occ <= {plan.D}
            GROUP BY subject_id) o USING (subject_id)
        ORDER BY s.subject_id"""


def sample(
    tables: dict[str, pa.Table], rulebook_at: Callable[[date], Rulebook], feature_day: date,
    outcome_day: date,
) -> pd.DataFrame:
    """Features on `feature_day` and the outcome in (feature_day, outcome_day], one row
    per subject (`consented` says whether scoring consent was held on the feature day)."""
    con = engine.connect(tables)
    try:
        x = feat.run_features(con, rulebook_at(feature_day), feature_day).to_pandas()
        plan = feat.prepare(con, rulebook_at(outcome_day), outcome_day)
        y = feat.query(con, outcome_sql(plan, feature_day), outcome_day, "df")
    finally:
        con.close()
    out = x.merge(y, on="subject_id", how="left")
    out["defaulted"] = out["defaulted"].fillna(False).astype(int)
    # an explicit order: the split below draws by row position
    return out.sort_values("subject_id", kind="stable").reset_index(drop=True)


def split(n: int, y: np.ndarray, seed: int, test_share: float = TEST_SHARE) -> np.ndarray:
    """A stratified random split: True for the rows held out for testing."""
    rng = np.random.default_rng(seed)
    test = np.zeros(n, dtype=bool)
    for value in (0, 1):
        rows = np.flatnonzero(y == value)
        test[rng.choice(rows, size=round(len(rows) * test_share), replace=False)] = True
    return test


def train(
    tables: dict[str, pa.Table],
    rulebook_at: Callable[[date], Rulebook],
    as_of: date,
    *,
    demographics: pa.Table | None = None,
    scale: Scale | None = None,
    seed: int = 0,
) -> tuple[ScoreModel, dict]:
    """Train on the city or store in `tables` as known on `as_of`; return the model (with
    its card under meta["card"]) and the card itself."""
    from socialcredit.scorecard import card as cards

    feature_day = dates.add_months(as_of, -OUTCOME_MONTHS)
    dev = sample(tables, rulebook_at, feature_day, as_of)
    dev = dev[dev["consented"]].reset_index(drop=True)
    y = dev["defaulted"].to_numpy()
    if len(dev) == 0 or y.sum() == 0 or y.sum() == len(y):
        raise ValueError(
            f"cannot train on {as_of}: {len(dev)} consenting subjects on {feature_day} and "
            f"{int(y.sum())} defaults in the year after — a model needs both goods and "
            "defaults (ingest more history, or train at a later --as-of)")
    held_out = split(len(dev), y, seed)
    model = fit(dev[~held_out], y[~held_out], SPECS, scale)
    current = feat.feature_table(tables, rulebook_at(as_of), as_of).to_pandas()
    current = current[current["consented"]]
    model.meta.update({
        "as_of": as_of.isoformat(), "feature_day": feature_day.isoformat(),
        "rulebook": {"id": rulebook_at(as_of).id, "version": rulebook_at(as_of).version},
        "outcome": OUTCOME_TEXT, "seed": seed,
    })  # fmt: skip
    card = cards.build(
        model,
        train=dev[~held_out], y_train=y[~held_out],
        test=dev[held_out], y_test=y[held_out],
        periods=((feature_day, dev), (as_of, current)),
        demographics=demographics,
    )
    model.meta["card"] = card
    return model, card


def tables_from_city(city) -> dict[str, pa.Table]:
    """The city's records in the store's batch-table shape, as if each had been ingested on
    the day it happened; the national id stands for the subject id and records without one
    stay out (as bench/batch_scoring.py does)."""
    import pyarrow.compute as pc

    from socialcredit.engine.tables import CONSENT_SCHEMA, OBJECTION_SCHEMA, RECORD_SCHEMA

    r = city.records.filter(pc.is_valid(city.records["national_id"]))
    n = r.num_rows
    occ = r["occurred_at"].cast(pa.date32())
    records = pa.table({
        "subject_id": r["national_id"], "source": r["source"].cast(pa.string()),
        "record_id": r["record_id"], "version": pa.array(np.ones(n, np.int64)),
        "type": r["type"].cast(pa.string()), "occurred_at": occ,
        "quantity": pc.fill_null(r["quantity"].cast(pa.float64()), 1.0),
        "points": r["points"].cast(pa.float64()), "case_no": r["case_no"].cast(pa.string()),
        "status": pa.array(["active"] * n, pa.string()), "ingested_on": occ,
        "superseded_on": pa.nulls(n, pa.date32()), "link_confidence": pa.nulls(n, pa.float64()),
    }).cast(RECORD_SCHEMA)  # fmt: skip
    c = city.consents
    consents = pa.table({
        "subject_id": c["national_id"], "source": c["source"].cast(pa.string()),
        "action": c["action"], "on": c["on"].cast(pa.date32()),
        "seq": pa.array(np.arange(c.num_rows, dtype=np.int64)),
    }).cast(CONSENT_SCHEMA)  # fmt: skip
    return {
        "records": records, "consents": consents,
        "objections": OBJECTION_SCHEMA.empty_table(),
        "subjects": pa.table({"subject_id": city.residents["national_id"]}),
    }


def train_stored(store, as_of: date, seed: int = 0) -> tuple[int, dict]:
    """Train on the store as known on `as_of`, store the model as the next version and log
    it; return (version, model card)."""
    from socialcredit.scorecard import store as models
    from socialcredit.simulate import demographics_table

    demographics = demographics_table(store.subject_attributes(), as_of)
    fitted, card = train(store.batch_tables(known_at=as_of), store.rulebook_in_force, as_of,
                         demographics=demographics, seed=seed)
    version = models.save(store, fitted)
    store.audit("cli", "official", "model_train",
                detail={"version": version, "as_of": str(as_of), "seed": seed})
    return version, card
