"""The scorecard's inputs: what a subject's file says as of a day, for everyone in one query.

The records are those the rulebook score sees on the day (`Plan.view`: the version in
force, not revoked, no accepted objection, no weak link, consent-gated sources only with
consent), so the model and the rulebook never disagree about what is on file. A record
the rulebook no longer counts (past its `valid_for`) is not held against anyone here
either; tenure alone looks at every present record, since it only ever helps.

`feature_sql` is pure (it returns DuckDB SQL text); `feature_table` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import duckdb
import pyarrow as pa

from socialcredit.engine import duckdb as engine
from socialcredit.engine.plan import Plan, in_list, lit
from socialcredit.rulebook.model import Rulebook

BANK_ARREARS = "finance.bank_arrears"
JUDGEMENTS = ("court.dishonest_debtor", "court.judgment_breach", "finance.private_lending_breach")
UTILITY_ARREARS = "utility.fee_arrears"
VOLUNTEERING = "volunteer.hours"
BLOOD_DONATION = "civic.blood_donation"
ON_TIME = "shop.on_time_payment"
SHOP_MISCONDUCT = "shop.untrustworthy_other"
TRAFFIC = ("traffic.red_light", "traffic.speeding", "traffic.drunk_driving")


@dataclass(frozen=True)
class FeatureDef:
    """One input: its SQL aggregate over the day's counting records, the direction in
    which it moves the default rate (optbinning's `monotonic_trend`), and its words."""

    name: str
    sql: str  # an aggregate over `c` (counting records; `{day}` is the feature day)
    trend: str  # ascending: more of it, more defaults; descending: fewer
    label: str  # what it measures, for the model card


def _sum(types, qty: bool = True, months: int | None = None) -> str:
    """Sum of quantity (or count) of records of `types`, optionally within the last months:
    a record is in a window of N months on day d when d < occurred_at + Nm, the SPEC's
    reading of "X + duration" (the same clamping to the month's end as the plan's)."""
    types = (types,) if isinstance(types, str) else types
    window = f" AND {{day}} < CAST(c.occ + INTERVAL {months} MONTH AS DATE)" if months else ""
    what = "c.quantity" if qty else "1"
    return f"COALESCE(sum({what}) FILTER (WHERE c.type IN {in_list(types)}{window}), 0)"


FEATURES: tuple[FeatureDef, ...] = (
    FeatureDef("arrears_months_12m", _sum(BANK_ARREARS, months=12), "ascending",
               "months of bank arrears reported in the last 12 months"),
    FeatureDef("arrears_months_older",
               f"{_sum(BANK_ARREARS)} - {_sum(BANK_ARREARS, months=12)}", "ascending",
               "months of bank arrears reported earlier, still on file"),
    FeatureDef("judgements", _sum(JUDGEMENTS, qty=False), "ascending",
               "court judgements and private-loan breaches on file"),
    FeatureDef("utility_arrears", _sum(UTILITY_ARREARS, qty=False), "ascending",
               "utility bills reported unpaid, on file"),
    FeatureDef("tenure_days", "", "descending",  # from every present record: feature_sql
               "days since the first record on file (missing: no record yet)"),
    FeatureDef("volunteer_hours_12m", _sum(VOLUNTEERING, months=12), "descending",
               "hours of volunteering in the last 12 months"),
    FeatureDef("blood_donations_24m", _sum(BLOOD_DONATION, qty=False, months=24), "descending",
               "blood donations in the last 24 months"),
    FeatureDef("on_time_payments_12m", _sum(ON_TIME, qty=False, months=12), "descending",
               "on-time instalment payments to shops in the last 12 months"),
    FeatureDef("shop_misconduct", _sum(SHOP_MISCONDUCT, qty=False), "ascending",
               "shop platform misconduct findings on file"),
    FeatureDef("traffic_offences", _sum(TRAFFIC, qty=False), "ascending",
               "traffic offences on file"),
)  # fmt: skip
FEATURE_NAMES = tuple(f.name for f in FEATURES)


def feature_sql(plan: Plan, pairs: str | None = None) -> str:
    """SELECT subject_id, d, consented, <features>: one row per subject (or per row of the
    table `pairs`(subject_id, d), each read on its own day d).

    Needs the tables of `Plan.setup()` (rules, obj, held). The records are those present
    on the plan's day (`Plan.view`), each row reading them on its own day d; `consented`
    is whether the subject holds scoring consent (a `consent grant` without source) on d:
    the latest grant or revoke dated on or before d decides, as `view.consent_held`.
    """
    people = f"SELECT subject_id, d FROM {pairs}" if pairs else (
        f"SELECT subject_id, {plan.D} AS d FROM subjects")
    counted = [f for f in FEATURES if f.name != "tenure_days"]
    aggregates = ",\n               ".join(
        f"{f.sql.format(day='p.d')} AS {f.name}" for f in counted)
    columns = ", ".join(
        "CAST(date_diff('day', t.first_occ, agg.d) AS DOUBLE) AS tenure_days"
        if n == "tenure_days" else f"CAST(agg.{n} AS DOUBLE) AS {n}"
        for n in FEATURE_NAMES
    )
    return f"""WITH v AS ({plan.view()}),
        p AS ({people}),
        c AS (SELECT p.subject_id, p.d, v.type, v.occ, v.quantity
              FROM p JOIN v ON v.subject_id = p.subject_id
              WHERE v.occ <= p.d AND (v."end" IS NULL OR p.d < v."end")),
        t AS (SELECT p.subject_id, p.d, min(v.occ) AS first_occ
              FROM p JOIN v ON v.subject_id = p.subject_id AND v.occ <= p.d
              GROUP BY ALL),
        agg AS (SELECT p.subject_id, p.d,
               {aggregates}
              FROM p LEFT JOIN c ON c.subject_id = p.subject_id AND c.d = p.d
              GROUP BY ALL)
        SELECT agg.subject_id, agg.d, COALESCE(k.action = 'grant', false) AS consented,
               {columns}
        FROM agg LEFT JOIN t ON t.subject_id = agg.subject_id AND t.d = agg.d
        LEFT JOIN (SELECT p.subject_id, p.d, arg_max(k.action, (k."on", k.seq)) AS action
                   FROM p JOIN consents k ON k.subject_id = p.subject_id
                   WHERE k.source IS NULL AND k."on" <= p.d GROUP BY ALL) k
          ON k.subject_id = agg.subject_id AND k.d = agg.d
        ORDER BY agg.subject_id, agg.d"""


WINDOWS_MONTHS = (12, 24)  # the look-back windows the features use


def event_days_sql(plan: Plan, subjects: str) -> str:
    """SELECT subject_id, d: the days on or before the plan's day on which a feature of a
    subject in table `subjects` can change — a record's day, the day it leaves a
    look-back window, the day it stops counting, a scoring consent's day — plus the
    plan's day itself. Between two such days every feature, hence the score, stays the
    same: the timeline a list condition on the score needs, as `Plan.events` is for
    grades."""
    D = plan.D
    parts = ["SELECT subject_id, occ AS d FROM v", 'SELECT subject_id, "end" FROM v']
    parts += [f"SELECT subject_id, CAST(occ + INTERVAL {m} MONTH AS DATE) FROM v"
              for m in WINDOWS_MONTHS]
    parts.append(f"SELECT subject_id, {D} FROM {subjects}")
    parts.append(f"""SELECT subject_id, "on" FROM consents WHERE source IS NULL
                     AND subject_id IN (SELECT subject_id FROM {subjects})""")
    return f"""WITH v AS (SELECT * FROM ({plan.view()})
                           WHERE subject_id IN (SELECT subject_id FROM {subjects}))
        SELECT DISTINCT subject_id, d FROM ({' UNION ALL '.join(parts)}) e
        WHERE d IS NOT NULL AND d <= {D}
        ORDER BY subject_id, d"""


def feature_table(tables: dict[str, pa.Table], rb: Rulebook, day: date) -> pa.Table:
    """Features of every subject in `tables` (the store's batch-table shape) on `day`."""
    con = engine.connect(tables)
    try:
        return run_features(con, rb, day)
    finally:
        con.close()


def prepare(con, rb: Rulebook, day: date, setup: bool = True) -> Plan:
    """Create the plan's helper tables for `day` on `con` and return the plan; with
    `setup` False, `con` already holds them (a batch run of the same plan made them)."""
    has_obj = con.execute("SELECT count(*) FROM objections").fetchall()[0][0] > 0
    plan = Plan(rb, day, objections=has_obj)
    if not setup:
        return plan
    if plan.uses_working_days():
        engine._calendar(con, rb, day)
    for sql in plan.setup():
        query(con, sql, day)
    return plan


def run_features(con, rb: Rulebook, day: date, pairs: str | None = None) -> pa.Table:
    """Run the feature query on a connection holding the batch tables (engine.connect)."""
    plan = prepare(con, rb, day)
    return query(con, feature_sql(plan, pairs), day, "arrow")


def query(con, sql: str, day: date, fetch: str | None = None):
    """Run `sql` on `con`, fetching an Arrow table ("arrow") or a DataFrame ("df");
    DuckDB's errors come back as PlanError with the SQL attached."""
    try:
        if fetch is None:
            con.execute(sql)
            return None
        rel = con.sql(sql)
        return rel.to_arrow_table() if fetch == "arrow" else rel.df()
    except duckdb.Error as e:
        raise engine.PlanError(
            f"scorecard query failed for {lit(day)}: {e}\n-- SQL:\n{sql}") from e
