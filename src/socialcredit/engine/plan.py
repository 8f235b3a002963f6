"""The batch plan: a rulebook compiled, in pure steps, to SQL over the whole population.

No connection in sight: `Plan(rb, day, ...)` returns SQL text (DuckDB dialect) and
engine/duckdb.py runs it. The semantics are those of the per-subject evaluator
(engine/evaluate.py, engine/lists.py); tests/test_engine_agree.py holds the two together.

Inputs the runner provides as tables: records, consents, objections, subjects, and `cal`
(working-day calendar, only when a duration uses working days).
"""

from __future__ import annotations

from datetime import date

from socialcredit.dates import Duration
from socialcredit.rulebook.model import ListDef, Rulebook

FAR = "DATE '9999-12-31'"  # stands for "no end" where SQL needs an orderable value


class PlanError(RuntimeError):
    """A step of the batch plan failed; the message carries the failing SQL."""


def lit(d: date) -> str:
    return f"DATE '{d.isoformat()}'"


def q(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def add_sql(expr: str, dur: Duration) -> str:
    """SQL for `expr + dur`, the first day on which something lasting `dur` no longer holds."""
    if dur.unit == "d":
        return f"({expr} + {dur.n})"
    if dur.unit == "w":
        return f"({expr} + {7 * dur.n})"
    if dur.unit in ("m", "y"):
        months = dur.n * (12 if dur.unit == "y" else 1)
        return f"CAST({expr} + INTERVAL {months} MONTH AS DATE)"
    return f"add_wd({expr}, {dur.n})"


def in_list(values) -> str:
    return "(" + ", ".join(q(v) for v in sorted(values)) + ")" if values else "(NULL)"


class Plan:
    """SQL for one rulebook on one day."""

    def __init__(self, rb: Rulebook, day: date, *, objections: bool = True):
        self.rb, self.day, self.D = rb, day, lit(day)
        self.objections = objections  # False when no objection exists: skip that join
        self.rules = list(rb.rules)
        self.consent_sources = [s.id for s in rb.sources if s.requires_consent]

    # -- building blocks -------------------------------------------------------------

    def uses_working_days(self) -> bool:
        durs = [r.valid_for for r in self.rules] + [r.half_life for r in self.rules]
        durs += [o.valid_for for o in self.rb.grade_overrides]
        for ld in self.rb.lists:
            durs += [ld.term, ld.notice, ld.when.within]
        durs += [x.max_period for x in self.rb.repair]
        return any(d is not None and d.unit == "wd" for d in durs)

    def rules_values(self) -> str:
        rows = []
        for i, r in enumerate(self.rules):
            lo, hi = r.points_range or (None, None)
            vals = [
                i,
                q(r.record_type),
                q(r.id),
                r.points,
                lo,
                hi,
                r.per_unit,
                r.cap,
                r.half_life is not None,
                r.negative,
            ]
            rows.append("(" + ", ".join("NULL" if v is None else str(v) for v in vals) + ")")
        if not rows:
            rows.append("(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)")
        return (
            "CREATE OR REPLACE TEMP TABLE rules AS SELECT * FROM (VALUES "
            + ", ".join(rows)
            + ") t(idx, record_type, rule_id, points, lo, hi, per_unit, cap, decays, negative)"
        )

    def by_rule(self, attr: str, expr: str) -> str:
        """CASE over rule index giving `expr + rule.<attr>` (NULL when the rule has none)."""
        arms = [
            f"WHEN {i} THEN {add_sql(expr, getattr(r, attr))}"
            for i, r in enumerate(self.rules)
            if getattr(r, attr) is not None
        ]
        return f"(CASE ru.idx {' '.join(arms)} END)" if arms else "CAST(NULL AS DATE)"

    def setup(self) -> list[str]:
        """Small helper tables: rules, objection states and consents held on the day."""
        D = self.D
        out = [self.rules_values()]
        if self.uses_working_days():
            out.append(
                "CREATE OR REPLACE TEMP MACRO add_wd(d, n) AS (SELECT w.day FROM cal c "
                "JOIN cal w ON w.widx = c.widx + n AND w.work WHERE c.day = d)"
            )
        # file.Objection.accepted_on and view.objection_state, row by row
        accepted_on = """CASE WHEN decided_on IS NULL THEN deadline
                              WHEN state = 'accepted' THEN decided_on
                              WHEN appeal_decided_on IS NULL THEN appeal_deadline
                              WHEN appeal_state = 'accepted' THEN appeal_decided_on END"""
        states = f"""SELECT *, CASE WHEN acc <= {D} THEN 'accepted'
                                    WHEN decided_on <= {D} THEN state
                                    WHEN filed_on <= {D} THEN 'open' END AS st
            FROM (SELECT *, {accepted_on} AS acc FROM objections)"""
        out.append(f"""CREATE OR REPLACE TEMP TABLE obj AS
            SELECT subject_id, source, record_id,
                   bool_or(st = 'accepted') AS accepted, bool_or(st = 'open') AS open
            FROM ({states}) WHERE st IS NOT NULL AND target <> 'entry' GROUP BY ALL""")
        # view.entry_acts: approved repairs arrive as entry objections accepted that day
        out.append(f"""CREATE OR REPLACE TEMP TABLE eobj AS
            SELECT subject_id, list_id, entry_start AS start, bool_or(st = 'open') AS open,
                   min(CASE WHEN st = 'accepted' THEN acc END) AS removed_on
            FROM ({states}) WHERE st IS NOT NULL AND target = 'entry' GROUP BY ALL""")
        out.append(f"""CREATE OR REPLACE TEMP TABLE held AS
            SELECT subject_id, source FROM (
                SELECT subject_id, source, arg_max(action, ("on", seq)) AS action
                FROM consents WHERE "on" <= {D} GROUP BY ALL)
            WHERE action = 'grant'""")
        return out

    def view(self, types: set[str] | None = None, columns: str = "") -> str:
        """FROM/WHERE text selecting the records present on the day (alias r, rule ru)."""
        D, dp = self.D, self.rb.due_process
        type_filter = f"AND r.type IN {in_list(types)}" if types is not None else ""
        obj_join = obj_cond = ""
        if self.objections:
            obj_join = "LEFT JOIN obj o ON o.subject_id = r.subject_id AND o.source = r.source "
            obj_join += "AND o.record_id = r.record_id"
            obj_cond = "AND o.accepted IS NOT TRUE"
        objected = "COALESCE(o.open, false)" if self.objections else "false"
        select = f"""SELECT r.subject_id, r.source, r.record_id, r.type, r.occurred_at AS occ,
               r.quantity, r.points AS proposed, r.case_no, ru.idx, ru.cap, ru.decays,
               ru.negative, {self.by_rule("valid_for", "r.occurred_at")} AS "end",
               {objected} AS objected {columns}
            FROM records r LEFT JOIN rules ru ON ru.record_type = r.type {obj_join}
            WHERE (r.version = 1 OR r.ingested_on <= {D})
              AND (r.superseded_on IS NULL OR r.superseded_on > {D})
              AND r.status = 'active'
              AND (r.link_confidence IS NULL OR r.link_confidence >= {dp.min_link_confidence})
              {obj_cond} {type_filter}"""
        gated = self.consent_sources
        if not gated:
            return select
        return f"""{select} AND r.source NOT IN {in_list(gated)}
            UNION ALL
            {select} AND r.source IN {in_list(gated)}
              AND (r.subject_id, r.source) IN (SELECT subject_id, source FROM held)"""

    def points_sql(self) -> str:
        """Per record, before any day is known: (fixed or proposed points, per unit) and the
        half-life in days (NULL when the rule does not decay)."""
        hl_arms = [
            f"WHEN {i} THEN date_diff('day', occ, {add_sql('occ', r.half_life)})"
            for i, r in enumerate(self.rules)
            if r.half_life is not None
        ]
        hl = f"(CASE idx {' '.join(hl_arms)} END)" if hl_arms else "CAST(NULL AS BIGINT)"
        pts = """(COALESCE(ru_points, CASE WHEN proposed IS NULL THEN 0.0
                                        ELSE least(greatest(proposed, lo), hi) END)
                  * (CASE WHEN per_unit THEN quantity ELSE 1.0 END))"""
        return f"{pts} AS pts0, {hl} AS hl"

    def scored_types(self) -> set[str]:
        return {r.record_type for r in self.rules}

    def override_types(self) -> set[str]:
        return {o.record_type for o in self.rb.grade_overrides}

    # -- score and grade ---------------------------------------------------------------

    def points_sum(self, pairs: str | None = None) -> str:
        """SELECT subject_id, d, pts: the sum of counting records' points on each day.


        Without `pairs` the day is the plan's day for everyone; with `pairs` (a table of
        subject_id, d) each pair gets the sum on its own day."""
        day = "p.d" if pairs else self.D
        join = f"JOIN {pairs} p ON p.subject_id = v.subject_id" if pairs else ""
        view = self.view(self.scored_types())
        key = "v.subject_id, " + (day if pairs else f"{self.D}") + " AS d"
        return f"""WITH v AS (
                SELECT v.subject_id, v.source, v.record_id, v.occ, v."end", v.idx, v.cap,
                       {self.points_sql()}
                FROM (SELECT v.*, ru.points AS ru_points, ru.lo, ru.hi, ru.per_unit
                      FROM ({view}) v JOIN rules ru ON ru.idx = v.idx) v),
            base AS (
                SELECT {key}, v.source, v.record_id, v.occ, v.idx, v.cap,
                       CASE WHEN v.hl IS NULL THEN v.pts0
                            ELSE v.pts0 * pow(0.5, date_diff('day', v.occ, {day}) / v.hl) END
                         AS pts
                FROM v {join}
                WHERE v.occ <= {day} AND (v."end" IS NULL OR {day} < v."end")),
            capped AS (
                -- a capped rule's records fill the cap in order; their contributions add
                -- up to the clamped yearly total, which is all the score needs
                SELECT subject_id, d, least(greatest(sum(pts), -any_value(cap)), any_value(cap))
                       AS pts
                FROM base WHERE cap IS NOT NULL
                GROUP BY subject_id, d, idx, year(occ))
            SELECT subject_id, d, sum(pts) AS pts FROM (
                SELECT subject_id, d, pts FROM base WHERE cap IS NULL
                UNION ALL SELECT subject_id, d, pts FROM capped)
            GROUP BY subject_id, d"""

    def band_sql(self, score: str) -> str:
        arms = [
            f"WHEN {score} >= {g.min} THEN {i}"
            for i, g in enumerate(self.rb.grades)
            if g.min is not None
        ]
        return f"(CASE {' '.join(arms)} ELSE {len(self.rb.grades) - 1} END)"

    def grade_label(self, rank: str) -> str:
        arms = " ".join(f"WHEN {i} THEN {q(g.grade)}" for i, g in enumerate(self.rb.grades))
        return f"(CASE {rank} {arms} END)"

    def override_rank(self, pairs: str | None = None) -> str:
        """SELECT subject_id, d, rank: the lowest grade an override in force imposes."""
        day = "p.d" if pairs else self.D
        join = f"JOIN {pairs} p ON p.subject_id = v.subject_id" if pairs else ""
        arms = []
        for ov in self.rb.grade_overrides:
            end = add_sql("v.occ", ov.valid_for) if ov.valid_for else 'v."end"'
            rank = self.rb.grade_rank(ov.at_most)
            arms.append(
                f"""SELECT v.subject_id, {day if pairs else self.D} AS d, {rank} AS rank
                FROM v {join} WHERE v.type = {q(ov.record_type)} AND v.occ <= {day}
                  AND ({end} IS NULL OR {day} < {end})"""
            )
        if not arms:
            return "SELECT NULL::VARCHAR AS subject_id, NULL::DATE AS d, NULL::INT AS rank LIMIT 0"
        return f"""WITH v AS ({self.view(self.override_types())})
            SELECT subject_id, d, max(rank) AS rank FROM ({" UNION ALL ".join(arms)})
            GROUP BY subject_id, d"""

    def grades(self, target: str, pairs: str | None = None) -> str:
        """CREATE `target`(subject_id, d, score, rank, grade) for everyone (or for `pairs`)."""
        subjects = (
            f"SELECT subject_id, d FROM {pairs}"
            if pairs
            else (f"SELECT subject_id, {self.D} AS d FROM subjects")
        )
        scored = f"{self.rb.base_score} + COALESCE(ps.pts, 0.0)"
        if self.rb.consent_required:
            scored = (
                f"CASE WHEN s.subject_id IN (SELECT subject_id FROM held WHERE source IS NULL)"
                f" THEN {scored} END"
            )
        band = self.band_sql("score")
        rank = f"CASE WHEN score IS NOT NULL THEN greatest({band}, COALESCE(ov.rank, 0)) END"
        return f"""CREATE OR REPLACE TEMP TABLE {target} AS
            SELECT subject_id, d, score, {rank} AS rank, {self.grade_label(rank)} AS grade
            FROM (SELECT s.subject_id, s.d, {scored} AS score
                  FROM ({subjects}) s
                  LEFT JOIN ({self.points_sum(pairs)}) ps
                    ON ps.subject_id = s.subject_id AND ps.d = s.d) x
            LEFT JOIN ({self.override_rank(pairs)}) ov USING (subject_id, d)"""

    # -- lists -------------------------------------------------------------------------

    def list_rows(self) -> str:
        """CREATE lv: present records of the types that lists look at (a small table)."""
        types = set()
        for ld in self.rb.lists:
            if ld.when.record_type:
                types.add(ld.when.record_type)
            if ld.cleared_by:
                types.add(ld.cleared_by)
        return f"CREATE OR REPLACE TEMP TABLE lv AS {self.view(types)}"

    def record_list(self, ld: ListDef) -> str:
        end = add_sql("m.occ", ld.term) if ld.term else 'm."end"'
        clear = "NULL"
        if ld.cleared_by:
            clear = f"""(SELECT min(c.occ) FROM lv c WHERE c.type = {q(ld.cleared_by)}
                         AND c.subject_id = m.subject_id AND c.case_no = m.case_no
                         AND m.case_no IS NOT NULL AND c.occ >= m.occ)"""
        # One entry per day (an entry is known by its list and start): the records of one
        # day make one, caused by each, until the last of them ends (lists.record_spans).
        return f"""SELECT subject_id, {q(ld.id)} AS list_id, start,
                CASE WHEN count("end") < count(*) THEN NULL ELSE max("end") END AS "end",
                list(source || ':' || record_id ORDER BY source, record_id) AS cause,
                bool_or(objected) AS objected
            FROM (SELECT m.subject_id, m.occ AS start, m.source, m.record_id, m.objected,
                    CASE WHEN {clear} IS NULL THEN {end}
                         WHEN {end} IS NULL THEN {clear}
                         ELSE least({end}, {clear}) END AS "end"
                FROM lv m WHERE m.type = {q(ld.when.record_type)} AND m.occ <= {self.D}) r
            GROUP BY subject_id, start"""

    def count_list(self, ld: ListDef) -> str:
        n, within = ld.when.count or 1, ld.when.within
        t = q(ld.when.record_type or "")
        win_end = add_sql("occ_j", within) if within else "NULL"
        # in WHERE, not the join's ON: a working-day window is a subquery (add_wd), which
        # Spark accepts in a filter but not in a join condition
        in_window = f"AND s.start < {add_sql('m.occ', within)}" if within else ""
        end = add_sql("s.start", ld.term) if ld.term else "s.island_end"
        return f"""WITH m AS (
                SELECT *, row_number() OVER (PARTITION BY subject_id
                                             ORDER BY occ, source, record_id) AS k
                FROM lv WHERE type = {t}),
            iv AS (
                SELECT subject_id, k, occ AS start, {win_end} AS iend FROM (
                    SELECT *, lag(occ, {n - 1}) OVER (PARTITION BY subject_id ORDER BY k)
                              AS occ_j FROM m)
                WHERE k >= {n} AND ({win_end} IS NULL OR {win_end} > occ)),
            flagged AS (
                SELECT *, CASE WHEN start <= max(COALESCE(iend, {FAR})) OVER (
                                   PARTITION BY subject_id ORDER BY start, k
                                   ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
                               THEN 0 ELSE 1 END AS new_island
                FROM iv),
            islands AS (
                SELECT subject_id, min(start) AS start,
                       nullif(max(COALESCE(iend, {FAR})), {FAR}) AS island_end
                FROM (SELECT *, sum(new_island) OVER (PARTITION BY subject_id ORDER BY start, k
                                                      ROWS UNBOUNDED PRECEDING) AS island
                      FROM flagged)
                GROUP BY subject_id, island)
            SELECT s.subject_id, {q(ld.id)} AS list_id, s.start, {end} AS "end",
                   list(m.source || ':' || m.record_id ORDER BY m.source, m.record_id) AS cause,
                   bool_or(m.objected) AS objected
            FROM islands s JOIN m ON m.subject_id = s.subject_id AND m.occ <= s.start
            WHERE s.start <= {self.D} {in_window}
            GROUP BY ALL"""

    def events(self, subjects: str) -> str:
        """SELECT subject_id, d: the days on or before the plan's day on which the grade's
        inputs changed, for the subjects in table `subjects` (see lists.event_days)."""
        D = self.D
        parts = ["SELECT subject_id, occ AS d FROM v", 'SELECT subject_id, "end" FROM v']
        for ov in self.rb.grade_overrides:
            end = add_sql("occ", ov.valid_for) if ov.valid_for else '"end"'
            parts.append(f"SELECT subject_id, {end} FROM v WHERE type = {q(ov.record_type)}")
        types = self.scored_types() | self.override_types()
        return f"""WITH v AS (SELECT * FROM ({self.view(types)})
                           WHERE subject_id IN (SELECT subject_id FROM {subjects}))
            SELECT DISTINCT subject_id, d FROM ({" UNION ALL ".join(parts)}) e
            WHERE d IS NOT NULL AND d <= {D}"""

    def decaying_subjects(self) -> str:
        decaying = {r.record_type for r in self.rules if r.half_life is not None}
        return f"""SELECT DISTINCT subject_id FROM ({self.view(decaying)})
            WHERE occ <= {self.D} AND ("end" IS NULL OR {self.D} < "end")"""

    def grade_list(self, ld: ListDef, timeline: str) -> str:
        """Islands of event days on which the grade condition held (table `timeline` has
        subject_id, d, grade for the candidates); the cause is the negative records."""
        negative = {r.record_type for r in self.rules if r.negative}
        causes = f"""SELECT subject_id,
                       list(source || ':' || record_id ORDER BY source, record_id) AS cause,
                       bool_or(objected) AS objected
                FROM ({self.view(negative)})
                WHERE occ <= {self.D} AND ("end" IS NULL OR {self.D} < "end")
                  AND subject_id IN (SELECT subject_id FROM s)
                GROUP BY subject_id"""
        return self.islands(ld, timeline, f"grade IN {in_list(ld.when.grade_in or ())}", causes)

    def model_list(self, ld: ListDef, timeline: str) -> str:
        """Islands where the commercial score reached the threshold (table `timeline` has
        subject_id, d, score: scorecard/timeline.py); the score, not a record, causes them."""
        floor = ld.when.model_score_at_least
        return self.islands(ld, timeline, f"COALESCE(score >= {floor!r}, false)")

    def islands(self, ld: ListDef, timeline: str, ok: str, causes: str | None = None) -> str:
        """Runs of consecutive event days of `timeline` on which `ok` holds, as spans: the
        run's first day, and its end (the term, or the first day it no longer held)."""
        end = add_sql("s.start", ld.term) if ld.term else "s.island_end"
        if causes is None:
            causes = "SELECT NULL::VARCHAR AS subject_id, []::VARCHAR[] AS cause, false AS objected"
        return f"""WITH t AS (
                SELECT subject_id, d, {ok} AS ok,
                       lead(d) OVER (PARTITION BY subject_id ORDER BY d) AS next_d,
                       sum(CASE WHEN {ok} THEN 0 ELSE 1 END) OVER (
                           PARTITION BY subject_id ORDER BY d ROWS UNBOUNDED PRECEDING) AS grp
                FROM {timeline}),
            s AS (
                SELECT subject_id, min(d) AS start,
                       CASE WHEN bool_or(next_d IS NULL) THEN NULL ELSE max(next_d) END
                         AS island_end
                FROM t WHERE ok GROUP BY subject_id, grp),
            neg AS ({causes})
            SELECT s.subject_id, {q(ld.id)} AS list_id, s.start, {end} AS "end",
                   COALESCE(neg.cause, []) AS cause, COALESCE(neg.objected, false) AS objected
            FROM s LEFT JOIN neg USING (subject_id)"""

    def entries(self, ld: ListDef, body: str) -> str:
        """Dates and state on the plan's day for one list's spans."""
        D = self.D
        suspend = self.rb.due_process.suspend_on_objection and ld.kind == "restrict"
        gate = ""
        if self.rb.consent_required and ld.kind == "reward":
            gate = "WHERE subject_id IN (SELECT subject_id FROM held WHERE source IS NULL)"
        spans = f"""SELECT *, {add_sql("start", ld.notice)} AS active_from FROM ({body}) b
                  {gate}"""
        rule = self.rb.repair_for(ld.id)
        if self.objections or (rule and rule.max_period):  # lists.due_end
            cap = add_sql("x.active_from", rule.max_period) if rule and rule.max_period else "NULL"
            removed, opened, join = "NULL", "false", ""
            if self.objections:
                removed, opened = "eo.removed_on", "COALESCE(eo.open, false)"
                join = """LEFT JOIN eobj eo ON eo.subject_id = x.subject_id
                          AND eo.list_id = x.list_id AND eo.start = x.start"""
            # the columns by name, not `x.* REPLACE (...)`: Spark has no star REPLACE
            spans = f"""SELECT x.subject_id, x.list_id, x.start, x.active_from, x.cause,
                    nullif(least(COALESCE(x."end", {FAR}), COALESCE({cap}, {FAR}),
                                 COALESCE({removed}, {FAR})), {FAR}) AS "end",
                    x.objected OR {opened} AS objected
                FROM ({spans}) x {join}"""
        return f"""SELECT subject_id, list_id, start, active_from, "end",
                CASE WHEN "end" IS NOT NULL AND "end" <= {D} THEN 'ended'
                     WHEN {str(suspend).lower()} AND objected THEN 'suspended'
                     WHEN {D} < active_from THEN 'pending' ELSE 'active' END AS state,
                list_sort(cause) AS cause
            FROM ({spans}) x
            WHERE start <= {D}"""

    def measures_values(self) -> str:
        from socialcredit.rulebook.model import EFFECTS

        rows = [
            f"({q(m.list)}, {q(m.service)}, {q(m.effect)}, {EFFECTS.index(m.effect)})"
            for m in self.rb.measures
        ] or ["(NULL, NULL, NULL, NULL)"]
        return (
            "CREATE OR REPLACE TEMP TABLE measures AS SELECT * FROM (VALUES "
            + ", ".join(rows)
            + ") t(list_id, service, effect, rank)"
        )

    def decisions(self, entries: str) -> str:
        """One row per (subject, service) whose strongest effect is not 'allow': the decision
        and its reasons as JSON (the shape of checks.reason), built here in SQL."""
        from socialcredit.checks import how_to_object

        bases = " ".join(f"WHEN {q(ld.id)} THEN {q(ld.legal_basis)}" for ld in self.rb.lists)
        basis = f"CASE list_id {bases} END" if bases else "''"
        return f"""WITH a AS (
                SELECT e.subject_id, m.service, m.effect, m.rank, e.list_id,
                       e.active_from AS since, e."end" AS until
                FROM {entries} e JOIN measures m USING (list_id)
                WHERE e.state = 'active' AND m.effect <> 'allow'),
            best AS (
                SELECT *, min(rank) OVER (PARTITION BY subject_id, service) AS top FROM a)
            SELECT subject_id, service, any_value(effect) AS decision,
                   CAST(to_json(list({{'list': list_id,
                                       'since': strftime(since, '%Y-%m-%d'),
                                       'until': strftime(until, '%Y-%m-%d'),
                                       'legal_basis': {basis},
                                       'how_to_object': {q(how_to_object(self.rb))}}}
                                      ORDER BY list_id, since)) AS VARCHAR) AS reasons
            FROM best WHERE rank = top
            GROUP BY subject_id, service
            ORDER BY subject_id, service"""
