"""Run the batch plan on any engine: the order of its steps, the same for all of them.

An engine (engine/duckdb.py, engine/spark.py) supplies a `Backend`: it executes one plan
statement, answers one query as Arrow, and takes an Arrow table in as a temp table. The
plan's SQL comes from engine/plan.py alone, so the engines cannot drift apart in what they
compute — only in how they run it.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Protocol

import pyarrow as pa

from socialcredit import dates
from socialcredit.engine.plan import Plan, PlanError, in_list
from socialcredit.rulebook.model import Rulebook


class Backend(Protocol):
    name: str
    errors: tuple[type[BaseException], ...]  # what a failing statement raises

    def execute(self, sql: str) -> None: ...  # a plan statement (DuckDB dialect)

    def arrow(self, sql: str) -> pa.Table: ...  # a query's rows

    def register(self, name: str, table: pa.Table) -> None: ...  # Arrow in as temp table

    def model_timeline(self, rb: Rulebook, day: date, model, subjects: str) -> pa.Table: ...


@dataclass
class BatchResult:
    as_of: date
    rulebook: Rulebook
    scores: pa.Table  # subject_id, score, grade
    entries: pa.Table  # subject_id, list_id, start, active_from, end, state, cause
    decisions: pa.Table  # subject_id, service, decision, reasons (JSON text)
    seconds: float = 0.0
    steps: dict[str, float] = field(default_factory=dict)

    def summary(self, engine: str = "duckdb") -> dict:
        """The `score --json` shape of SPEC §4."""
        by_grade: dict[str, int] = {g.grade: 0 for g in self.rulebook.grades}
        for g in self.scores.column("grade").to_pylist():
            if g is not None:
                by_grade[g] += 1
        lists = {ld.id: {"pending": 0, "active": 0, "suspended": 0} for ld in self.rulebook.lists}
        for lid, state in zip(
            self.entries.column("list_id").to_pylist(),
            self.entries.column("state").to_pylist(),
            strict=True,
        ):
            lists[lid][state] += 1
        return {
            "as_of": self.as_of.isoformat(),
            "engine": engine,
            "seconds": round(self.seconds, 3),
            "subjects": self.scores.num_rows,
            "rulebook": {"id": self.rulebook.id, "version": self.rulebook.version},
            "by_grade": by_grade,
            "lists": lists,
        }


def reach(rb: Rulebook) -> int:
    """Days past a record or the plan's day that the plan's date arithmetic can reach: the
    sum of every duration in the rulebook bounds any chain of them (a record's validity,
    then a list's notice, then a repair's max_period...)."""

    def durations(x):
        if isinstance(x, dates.Duration):
            yield x
        elif dataclasses.is_dataclass(x):
            for f in dataclasses.fields(x):
                yield from durations(getattr(x, f.name))
        elif isinstance(x, (tuple, list, dict)):
            for v in x.values() if isinstance(x, dict) else x:
                yield from durations(v)

    return sum(d.most_days() for d in durations(rb))


def calendar(be: Backend, rb: Rulebook, day: date) -> None:
    """Table `cal` (day, widx, work) covering every date a working-day duration can reach."""
    span = be.arrow("SELECT min(occurred_at) AS lo, max(occurred_at) AS hi FROM records")
    lo, hi = span.column("lo")[0].as_py(), span.column("hi")[0].as_py()
    first = min(lo or day, day) - timedelta(days=31)
    last = max(hi or day, day) + timedelta(days=max(5 * 366, reach(rb)))
    rows = dates.calendar_rows(rb.country, first, last)
    table = pa.table(
        {
            "day": pa.array([r[0] for r in rows], pa.date32()),
            "widx": pa.array([r[1] for r in rows], pa.int32()),
            "work": pa.array([r[2] for r in rows], pa.bool_()),
        }
    )
    be.register("cal", table)


def run(be: Backend, rb: Rulebook, day: date, progress=None, model=None) -> BatchResult:
    """Evaluate everyone on `day`: scores, grades, entries in force, and decisions.

    `model` is the stored scorecard that `model_score_at_least` lists read (None: no
    commercial score, so no such entries)."""
    t0 = time.perf_counter()
    steps: dict[str, float] = {}

    def step(name: str, sql: str):
        started = time.perf_counter()
        try:
            be.execute(sql)
        except be.errors as e:
            raise PlanError(
                f"batch plan step {name!r} failed on {be.name}: {e}\n-- SQL:\n{sql}"
            ) from e
        steps[name] = steps.get(name, 0.0) + time.perf_counter() - started
        if progress:
            progress(name)

    has_obj = be.arrow("SELECT count(*) AS n FROM objections").column(0)[0].as_py() > 0
    plan = Plan(rb, day, objections=has_obj)
    if plan.uses_working_days():
        calendar(be, rb, day)
    for i, sql in enumerate(plan.setup()):
        step(f"setup{i}", sql)
    step("score", plan.grades("g"))

    bodies = []
    grade_lists = [ld for ld in rb.lists if ld.when.grade_in]
    if grade_lists:
        if any(r.half_life for r in rb.rules):
            # Decay moves the score between event days; the grade lists read it on the
            # last event day, so re-score the subjects whose points decay on that day.
            step("decaying", f"CREATE OR REPLACE TEMP TABLE dsub AS {plan.decaying_subjects()}")
            step(
                "estar",
                "CREATE OR REPLACE TEMP TABLE estar AS SELECT subject_id, max(d) AS d "
                f"FROM ({plan.events('dsub')}) GROUP BY subject_id",
            )
            step("estar_score", plan.grades("gstar", pairs="estar"))
            cond = (
                "SELECT g.subject_id, COALESCE(gs.grade, g.grade) AS grade FROM g "
                "LEFT JOIN gstar gs USING (subject_id)"
            )
        else:
            cond = "SELECT subject_id, grade FROM g"
        wanted = []
        for ld in grade_lists:
            if ld.term:  # an older island's term may still run: every subject is a candidate
                wanted = None
                break
            wanted += list(ld.when.grade_in or ())
        where = "" if wanted is None else f"WHERE grade IN {in_list(set(wanted))}"
        step(
            "candidates",
            f"CREATE OR REPLACE TEMP TABLE cand AS SELECT subject_id FROM ({cond}) c {where}",
        )
        step("cand_events", f"CREATE OR REPLACE TEMP TABLE evc AS {plan.events('cand')}")
        step("timeline", plan.grades("gt", pairs="evc"))
        bodies += [(ld, plan.grade_list(ld, "gt")) for ld in grade_lists]

    model_lists = rb.model_lists
    if model_lists and model is not None:
        # Only a subject who ever granted scoring consent can have a commercial score.
        step(
            "model_candidates",
            "CREATE OR REPLACE TEMP TABLE mcand AS SELECT DISTINCT "
            "subject_id FROM consents WHERE source IS NULL AND action = 'grant'",
        )
        started = time.perf_counter()
        be.register("mt", be.model_timeline(rb, day, model, "mcand"))
        steps["model_timeline"] = time.perf_counter() - started
        bodies += [(ld, plan.model_list(ld, "mt")) for ld in model_lists]

    step("list_rows", plan.list_rows())
    for ld in rb.lists:
        if ld.when.grade_in or ld.when.model_score_at_least is not None:
            continue
        bodies.append((ld, plan.count_list(ld) if ld.when.count else plan.record_list(ld)))
    if bodies:
        union = " UNION ALL ".join(f"({plan.entries(ld, b)})" for ld, b in bodies)
        step(
            "entries",
            f"CREATE OR REPLACE TEMP TABLE ent AS SELECT * FROM ({union}) WHERE state <> 'ended'",
        )
    else:
        step(
            "entries",
            "CREATE OR REPLACE TEMP TABLE ent AS SELECT NULL::VARCHAR AS subject_id, "
            "NULL::VARCHAR AS list_id, NULL::DATE AS start, NULL::DATE AS active_from, "
            'NULL::DATE AS "end", NULL::VARCHAR AS state, []::VARCHAR[] AS cause LIMIT 0',
        )
    step("measures", plan.measures_values())
    decisions = be.arrow(plan.decisions("ent"))
    scores = be.arrow("SELECT subject_id, score, grade FROM g ORDER BY subject_id")
    entries = be.arrow(
        'SELECT subject_id, list_id, start, active_from, "end", state, cause FROM ent '
        "ORDER BY subject_id, list_id, start, cause"  # two judgements of a day: two entries
    )
    return BatchResult(day, rb, scores, entries, decisions, time.perf_counter() - t0, steps)
