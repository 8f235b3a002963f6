"""Batch scoring benchmark: the full plan against the hand-written floor, same data, same run.

    python bench/batch_scoring.py [--residents 1000000] [--density D]

Generates a synthetic city (the package's generator), loads it into DuckDB, then times
(1) a hand-written query that sums the same points (validity windows, per-unit; no decay,
caps, consent, objections, versions or lists) — the physical floor on this machine — and
(2) the whole batch plan (score, grade, overrides, every list, decisions). Prints rows/s,
peak memory and the ratio plan/floor. The goal of issue 2 is a ratio of at most 1.5.
"""

from __future__ import annotations

import argparse
import resource
import time
from datetime import date

from socialcredit.city import generate
from socialcredit.engine import duckdb as engine
from socialcredit.engine.plan import Plan
from socialcredit.engine.tables import RECORD_SCHEMA
from socialcredit.rulebook import default_rulebook_text, load_rulebook

DAY = date(2026, 7, 1)


def floor_sql(plan: Plan) -> str:
    return f"""SELECT s.subject_id, {plan.rb.base_score} + COALESCE(p.pts, 0) AS score
        FROM subjects s LEFT JOIN (
            SELECT r.subject_id,
                   sum(COALESCE(ru.points, 0)
                       * CASE WHEN ru.per_unit THEN r.quantity ELSE 1 END) AS pts
            FROM records r JOIN rules ru ON ru.record_type = r.type
            WHERE r.occurred_at <= {plan.D}
              AND ({plan.by_rule("valid_for", "r.occurred_at")} IS NULL
                   OR {plan.D} < {plan.by_rule("valid_for", "r.occurred_at")})
            GROUP BY r.subject_id) p USING (subject_id)"""


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument(
        "--density",
        type=float,
        default=None,
        help="record-rate multiplier (default: the one that gives ~20 records each)",
    )
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rb = load_rulebook(default_rulebook_text())

    t = time.perf_counter()
    city = generate(args.residents, seed=1, density=args.density or DENSITY_20)
    print(
        f"generated {args.residents:,} residents, {city.records.num_rows:,} records "
        f"in {time.perf_counter() - t:.1f} s"
    )
    tables = batch_inputs(city)
    con = engine.connect(tables, materialize=True)
    del tables, city
    plan = Plan(rb, DAY, objections=False)
    con.execute(plan.rules_values())
    n = con.execute("SELECT count(*) FROM records").fetchall()[0][0]

    floor, full, stage = [], [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        con.execute(f"CREATE OR REPLACE TEMP TABLE floor_scores AS {floor_sql(plan)}")
        floor.append(time.perf_counter() - t)
        result = engine.run(con, rb, DAY)
        full.append(result.seconds)
        stage.append(result.steps["score"])
    f, p, sc = min(floor), min(full), min(stage)
    print(
        f"records={n:,} subjects={result.scores.num_rows:,} threads="
        f"{con.execute('SELECT current_setting(' + repr('threads') + ')').fetchall()[0][0]}"
    )
    print(f"floor_seconds={f:.3f} floor_rows_per_s={n / f:,.0f}")
    print(f"plan_seconds={p:.3f} plan_rows_per_s={n / p:,.0f}")
    print("plan_steps=" + ", ".join(f"{k}:{v:.2f}" for k, v in result.steps.items()))
    print(f"score_stage_seconds={sc:.3f} (points with decay, caps, consent, versions, grades)")
    print(f"ratio_score_stage_to_floor={sc / f:.2f} (goal <= 1.5)")
    print(f"ratio_full_plan_to_floor={p / f:.2f} (score + every list + decisions)")
    print(f"peak_rss_gib={peak_rss_gib():.2f}")
    s = result.summary()
    print("by_grade=" + ", ".join(f"{k}:{v}" for k, v in s["by_grade"].items()))
    print("lists=" + ", ".join(f"{k}:{v['active']}" for k, v in s["lists"].items()))


def batch_inputs(city) -> dict:
    """The city's records in the store's batch-table shape, as if each was ingested on the
    day it happened; the national id stands in for the subject id, unlinked records stay out."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from socialcredit.engine.tables import CONSENT_SCHEMA, OBJECTION_SCHEMA

    r = city.records.filter(pc.is_valid(city.records["national_id"]))
    n = r.num_rows
    occ = r["occurred_at"].cast(pa.date32())
    cols = {
        "subject_id": r["national_id"],
        "source": r["source"],
        "record_id": r["record_id"],
        "version": pa.array([1] * n, pa.int64()),
        "type": r["type"],
        "occurred_at": occ,
        "quantity": pc.fill_null(r["quantity"].cast(pa.float64()), 1.0),
        "points": r["points"].cast(pa.float64()),
        "case_no": r["case_no"].cast(pa.string()),
        "status": pa.array(["active"] * n, pa.string()),
        "ingested_on": occ,
        "superseded_on": pa.nulls(n, pa.date32()),
        "link_confidence": pa.nulls(n, pa.float64()),
    }
    records = pa.table(cols).cast(RECORD_SCHEMA)
    c = city.consents
    consents = pa.table(
        {
            "subject_id": c["national_id"],
            "source": c["source"].cast(pa.string()),
            "action": c["action"],
            "on": c["on"].cast(pa.date32()),
            "seq": pa.array(range(c.num_rows), pa.int64()),
        }
    ).cast(CONSENT_SCHEMA)
    return {
        "records": records,
        "consents": consents,
        "objections": OBJECTION_SCHEMA.empty_table(),
        "subjects": pa.table({"subject_id": city.residents["national_id"]}),
    }


DENSITY_20 = 3.3

if __name__ == "__main__":
    main()
