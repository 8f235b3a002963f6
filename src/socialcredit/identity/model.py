"""The identity model: a Splink linker (DuckDB backend) comparing records with subjects.

What to compare and how is declared here once (`settings`); `train` estimates the model on a
population and returns it as a plain JSON-able dict (the stored, versioned model); `predict`
scores the candidate pairs the blocking rules find and keeps each record's best few, with
the comparison levels and match weights that explain them. No store in sight: the tables come
in and go out as Arrow.

The prior (the probability that a record and a random subject are the same person) is not
trained: a record belongs to at most one subject, so it is one over the number of subjects,
set at each prediction from the population then.
"""

from __future__ import annotations

import logging
import math
from datetime import date
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute  # noqa: F401  (pa.compute)
import splink
import splink.comparison_level_library as cll
import splink.comparison_library as cl
from splink import DuckDBAPI, Linker, SettingsCreator, block_on

from socialcredit.identity.features import FEATURES, is_han

FORMAT = "socialcredit.identity/1"
SUBJECTS, RECORDS = "subjects", "records"  # the two input tables, as Splink names them
SCHEMA = pa.schema([("uid", pa.string())] + [(f, pa.string()) for f in FEATURES])
U_PAIRS = 2e6  # random pairs sampled for the u probabilities
MIN_RECORDS = 20  # fewer records without an id than this give EM nothing to learn from
# The least m probability of a level: EM finding no match at a level (no true match with a
# changed phone, say) is a small sample speaking, not proof that it cannot happen.
M_FLOOR = 0.005

_SWAP = (
    "substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
    " AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
    " AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)"
)
_NAME_EDIT = (
    "damerau_levenshtein(name_l, name_r) <= 1 AND least(length(name_l), length(name_r)) >= 3"
)


class ModelError(Exception):
    """The identity model cannot be trained or applied; the message says why."""


def _comparisons() -> list:
    """Return the comparisons, with starting m probabilities (EM refines them)."""
    name = cl.CustomComparison(
        output_column_name="name",
        comparison_levels=[
            cll.NullLevel("name"),
            cll.ExactMatchLevel("name").configure(tf_adjustment_column="name"),
            cll.ExactMatchLevel("name_latin").configure(
                tf_adjustment_column="name_latin",
                label_for_charts="Same name in Latin letters (pinyin, no diacritics)",
            ),
            cll.CustomLevel(_NAME_EDIT, label_for_charts="One character added, dropped or changed"),
            cll.JaroWinklerLevel("name_latin", 0.92),
            cll.JaroWinklerLevel("name_latin", 0.8),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.8, 0.08, 0.05, 0.03, 0.02, 0.02])
    birth = cl.CustomComparison(
        output_column_name="birth_date",
        comparison_levels=[
            cll.NullLevel("birth_date"),
            cll.ExactMatchLevel("birth_date"),
            cll.CustomLevel(_SWAP, label_for_charts="Day and month swapped"),
            cll.AbsoluteDateDifferenceLevel(
                "birth_date", input_is_string=True, threshold=1, metric="day"
            ).configure(label_for_charts="One day apart"),
            cll.DamerauLevenshteinLevel("birth_date", 1).configure(
                label_for_charts="One digit wrong or two swapped"
            ),
            cll.AbsoluteDateDifferenceLevel(
                "birth_date", input_is_string=True, threshold=1, metric="year"
            ).configure(label_for_charts="Within a year"),
            cll.ElseLevel(),
        ],
    ).configure(m_probabilities=[0.75, 0.05, 0.08, 0.05, 0.04, 0.03])
    return [
        name,
        birth,
        cl.ExactMatch("sex").configure(m_probabilities=[0.98, 0.02]),
        cl.DamerauLevenshteinAtThresholds("phone", [1]).configure(
            m_probabilities=[0.9, 0.04, 0.06]
        ),
        cl.JaroWinklerAtThresholds("address", [0.9]).configure(m_probabilities=[0.7, 0.15, 0.15]),
    ]


def _days(d: str) -> str:
    return d[:4] + min(d[5:7], d[8:10]) + max(d[5:7], d[8:10])


# Blocking keys: (a DuckDB expression over a features row, the column it reads, the same
# in Python over a features dict) — Python finds one record's candidates in the store.
_MD = "substr(birth_date, 6, 2), substr(birth_date, 9, 2)"
KEYS: dict[str, tuple[str, str, Any]] = {
    "name_latin": ("name_latin", "name_latin", lambda v: v),
    "birth_date": ("birth_date", "birth_date", lambda v: v),
    "phone": ("phone", "phone", lambda v: v),
    "year_month": ("substr(birth_date, 1, 7)", "birth_date", lambda v: v[:7]),
    "year_day": (
        "substr(birth_date, 1, 4) || substr(birth_date, 9, 2)", "birth_date",
        lambda v: v[:4] + v[8:10],
    ),
    "month_day": ("substr(birth_date, 6, 5)", "birth_date", lambda v: v[5:10]),
    "year_days": (  # day and month either way round
        f"substr(birth_date, 1, 4) || least({_MD}) || greatest({_MD})", "birth_date", _days,
    ),
    "first": ("substr(name, 1, 1)", "name", lambda v: v[:1]),  # a Han name's surname
    "last": ("right(name, 1)", "name", lambda v: v[-1:]),
    "head": ("substr(name_latin, 1, 2)", "name_latin", lambda v: v[:2]),
    "tail": ("right(name_latin, 2)", "name_latin", lambda v: v[-2:]),
}  # fmt: skip
# Each rule pairs a record with the subjects equal on all its keys. They are narrow on
# purpose: a million records against a million subjects give under four pairs a record
# here, and over a hundred with a bare birth date or name (some 40 people share a birth
# date, a thousand a common name). The same name with a birth date one typo away (day,
# month or year digit, or day and month swapped); the same birth date with a name one
# character away (its first or last character intact); the same phone.
RULES: tuple[tuple[str, ...], ...] = (
    ("name_latin", "year_month"),
    ("name_latin", "year_day"),
    ("name_latin", "month_day"),
    ("name_latin", "year_days"),
    ("birth_date", "first"),
    ("birth_date", "last"),
    ("phone",),
)
# And the same name with birth dates a day apart (across a month's end, which the keys
# above miss); where one side has no birth date, the same name alone; and where one side's
# name is written in Latin letters ("lu hanhua" for 吕涵华, which pypinyin reads lvhanhua),
# the same birth date with the first or last two letters of the name in Latin letters
# intact. Those two were the rules for every name until 1M x 1M: the first two letters of a
# name in pinyin ("zh", "wa") are shared by far more people than its first character, and
# they gave 8.5 of the 9.8 million pairs; the characters find the same true pairs.
_NEXT_DAY = "strftime(CAST({side}.birth_date AS DATE) + 1, '%Y-%m-%d')"
_HAN = "[\\x{3400}-\\x{9fff}\\x{20000}-\\x{2ebef}]"  # features.is_han, as RE2


def _latin_side(side: str) -> str:
    return f"NOT regexp_matches({side}.name, '{_HAN}')"


BLOCKING = [
    *(block_on(*(KEYS[k][0] for k in rule)) for rule in RULES),
    *(f'l."name_latin" = r."name_latin" AND {a}."birth_date" = {_NEXT_DAY.format(side=b)}'
      for a, b in ("lr", "rl")),
    *(f'l."name_latin" = r."name_latin" AND {side}."birth_date" IS NULL' for side in "lr"),
    *(f'l."birth_date" = r."birth_date" AND '
      f'{KEYS[k][0].replace("name_latin", "l.name_latin")} = '
      f'{KEYS[k][0].replace("name_latin", "r.name_latin")} AND '
      f'{_latin_side(side)}'
      for k in ("head", "tail") for side in "lr"),
]  # fmt: skip


def _day_apart(a: str, b: str) -> bool:
    return abs((date.fromisoformat(a) - date.fromisoformat(b)).days) == 1


def _latin(features: dict) -> bool:
    name = features.get("name")
    return name is not None and not any(is_han(c) for c in name)


def key(name: str, features: dict) -> str | None:
    """Return a blocking key of a features dict (None where its column is null)."""
    _, column, fn = KEYS[name]
    value = features.get(column)
    return None if value is None else fn(value)


def blocked(subject: dict, record: dict) -> bool:
    """Whether BLOCKING pairs these two features dicts (the same rules, in Python)."""
    for rule in RULES:
        if all((k := key(name, record)) is not None and k == key(name, subject)
               for name in rule):  # fmt: skip
            return True
    a, b = record.get("birth_date"), subject.get("birth_date")
    if a is not None and a == b and (_latin(record) or _latin(subject)):
        if any((k := key(name, record)) is not None and k == key(name, subject)
               for name in ("head", "tail")):  # fmt: skip
            return True
    name = record.get("name_latin")
    if name is None or name != subject.get("name_latin"):
        return False
    return a is None or b is None or _day_apart(a, b)


def settings(prior: float = 1e-4) -> SettingsCreator:
    """Return the untrained Splink settings for linking records (right) to subjects (left)."""
    return SettingsCreator(
        unique_id_column_name="uid",
        link_type="link_only",
        blocking_rules_to_generate_predictions=BLOCKING,
        comparisons=_comparisons(),
        probability_two_random_records_match=prior,
        retain_matching_columns=True,
        retain_intermediate_calculation_columns=True,
    )


def prior(n_subjects: int) -> float:
    """Return the probability that a record and a random subject are the same person.

    The population is taken to three significant figures: a few new subjects move the
    prior by nothing that matters, and the compiled model (`scorer.scorer`) then stays valid.
    """
    return min(0.5, 1.0 / max(float(f"{n_subjects:.3g}"), 1.0))


TF_COLUMNS = ("name", "name_latin")  # the columns with term-frequency adjustments


def term_frequencies(subjects: pa.Table) -> dict[str, pa.Table]:
    """Return each TF column's value frequencies among the subjects (the population)."""
    con = duckdb.connect()
    con.register("subjects", subjects)
    return {
        col: con.sql(
            f"SELECT {col}, count(*) / sum(count(*)) OVER () AS tf_{col} FROM subjects"
            f" WHERE {col} IS NOT NULL GROUP BY {col}"
        ).to_arrow_table()
        for col in TF_COLUMNS
    }


def _linker(
    subjects: pa.Table,
    records: pa.Table,
    model: SettingsCreator | dict,
    tf: dict[str, pa.Table] | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> Linker:
    """Return a linker over the two tables, with term frequencies taken from the subjects.

    Frequencies come from the population of subjects, not from the pairs at hand, so that
    a batch and a single incremental record see the same weights.
    """
    db = DuckDBAPI(con or duckdb.connect())
    inputs = [
        db.register(subjects.cast(SCHEMA), dataset_display_name=SUBJECTS),
        db.register(records.cast(SCHEMA), dataset_display_name=RECORDS),
    ]
    # A stored model was validated when it was trained.
    linker = Linker(inputs, model, log_level=None, validate_settings=not isinstance(model, dict))
    for col, table in (tf if tf is not None else term_frequencies(subjects)).items():
        lookup = db.register(table, dataset_display_name=f"tf_lookup_{col}")
        linker.table_management.register_term_frequency_lookup(lookup, col)
    return linker


def train(subjects: pa.Table, records: pa.Table, seed: int = 0, u_pairs: float = U_PAIRS) -> dict:
    """Estimate u by random sampling and m by EM on the population; return the model dict.

    `subjects` and `records` hold `uid` and the FEATURES columns. A level never seen among
    the random pairs gets u = 3/n (the 95% upper bound for n pairs), so a rare agreement
    is never taken for more evidence than the sample can show.
    """
    if subjects.num_rows == 0 or records.num_rows < MIN_RECORDS:
        raise ModelError(
            f"cannot train on {subjects.num_rows} subjects and {records.num_rows} records "
            f"without a national id — at least 1 and {MIN_RECORDS} are needed; until then "
            "records without an id wait, and an official can link them by judgement"
        )
    linker = _linker(subjects, records, settings(prior(subjects.num_rows)))
    n = min(u_pairs, subjects.num_rows * records.num_rows)
    linker.training.estimate_u_using_random_sampling(max_pairs=u_pairs, seed=seed)
    sessions = []
    for rule in (block_on("name_latin"), block_on("birth_date")):
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(
                rule, fix_probability_two_random_records_match=True
            )
            sessions.append(rule.get_blocking_rule("duckdb").blocking_rule_sql)
        except Exception as e:  # too few pairs for EM: keep the starting m probabilities
            logging.getLogger(__name__).warning("EM blocked on %s skipped: %s", rule, e)
    body = linker.misc.save_model_to_json()
    for comparison in body["comparisons"]:
        for level in comparison["comparison_levels"]:
            if level.get("is_null_level"):
                continue
            level["u_probability"] = max(level.get("u_probability") or 0.0, 3.0 / n)
            level["m_probability"] = max(level.get("m_probability") or 0.0, M_FLOOR)
    body["linker_uid"] = None
    return {
        "format": FORMAT,
        "splink": splink.__version__,
        "em_blocking": sessions,
        "u_pairs": int(n),
        "settings": body,
    }


def check(model: dict) -> None:
    """Raise ModelError unless `model` is a stored identity model this code can apply."""
    if not isinstance(model, dict) or model.get("format") != FORMAT:
        found = model.get("format") if isinstance(model, dict) else type(model).__name__
        raise ModelError(f"not an identity model of format {FORMAT} (found {found!r})")


def predict(*args, **kwargs) -> list[dict]:
    """`predict_table` as dicts, one a candidate, best first."""
    return rows(predict_table(*args, **kwargs))


def predict_table(
    subjects: pa.Table,
    records: pa.Table,
    model: dict,
    keep: int = 5,
    population: int | None = None,
    tf: dict[str, pa.Table] | None = None,
    judged: pa.Table | None = None,
) -> pa.Table:
    """Score the blocked pairs; return each record's `keep` best candidates as RANKED, best
    first.

    `subjects` may be the whole population or only the candidates for a few records; then
    `population` (the number of subjects) sets the prior and `tf` the term frequencies.
    `judged` (record_uid, subject_uid, same) are officials' judgements: a pair judged
    different is no candidate, one judged the same is kept whatever its rank. Each row:
    record uid, subject uid, rank, match_probability, match_weight, and, for the best
    candidate and a judged-same one, the explanation as JSON text (`explanation_sql`;
    None for the others).
    """
    check(model)
    if subjects.num_rows == 0 or records.num_rows == 0:
        return RANKED.empty_table()
    body = applied(model, population or subjects.num_rows)
    con = duckdb.connect()
    linker = _linker(subjects, records, body, tf, con)
    scored = linker.inference.predict(warning_mode="never").physical_name
    return ranked(con, scored, body, keep, judged)


def applied(model: dict, population: int) -> dict:
    """Return a stored model's Splink settings as applied to a population of that size."""
    return dict(
        model["settings"],
        probability_two_random_records_match=prior(population),
        # Blocking finds the pairs to score; it is no part of what was trained, so the
        # rules in force apply to every model version (and match `blocked`).
        blocking_rules_to_generate_predictions=[
            {"blocking_rule": r, "sql_dialect": "duckdb"} if isinstance(r, str)
            else r.get_blocking_rule("duckdb").as_dict()
            for r in BLOCKING
        ],
    )  # fmt: skip


def best_candidates(
    con: duckdb.DuckDBPyConnection, scored: str, body: dict, keep: int, judged: pa.Table | None
) -> list[dict]:
    """`ranked`, as a list of dicts (what `predict` returns)."""
    return rows(ranked(con, scored, body, keep, judged))


def rows(table: pa.Table) -> list[dict]:
    """Return a RANKED table as dicts, one a candidate."""
    return table.select(list(_RANK_COLUMNS)).to_pylist()


def ranked(
    con: duckdb.DuckDBPyConnection, scored: str, body: dict, keep: int, judged: pa.Table | None
) -> pa.Table:
    """Rank the scored pairs (a table, or a query in parentheses) per record and explain
    the ones that count; return them as RANKED.

    Ranking, the judgements and the explanations (JSON text, see `explanation_sql`) are
    done in DuckDB; only the kept candidates come back, and only the best of each record
    and a judged-same one are explained.
    """
    judged = judged if judged is not None else JUDGED.empty_table()
    con.register("__judged", judged)
    subject_left = f"source_dataset_l = '{SUBJECTS}'"
    table = con.sql(
        f"""WITH s AS (
                SELECT *, CASE WHEN {subject_left} THEN uid_r ELSE uid_l END AS record_uid,
                          CASE WHEN {subject_left} THEN uid_l ELSE uid_r END AS subject_uid
                FROM {scored}),
            k AS (
                SELECT s.*, coalesce(j.same, false) AS judged_same FROM s
                LEFT JOIN __judged j USING (record_uid, subject_uid)
                WHERE j.same IS DISTINCT FROM false),
            r AS (
                SELECT *, row_number() OVER (PARTITION BY record_uid
                    ORDER BY match_weight DESC, subject_uid) AS rank FROM k)
            SELECT record_uid, subject_uid, rank, match_probability, match_weight,
                   CASE WHEN rank = 1 OR judged_same THEN {explanation_sql(body)}
                   END AS explanation
            FROM r WHERE rank <= {keep} OR judged_same
            ORDER BY record_uid, rank"""
    ).to_arrow_table()
    return table.cast(RANKED)


JUDGED = pa.schema([("record_uid", pa.string()), ("subject_uid", pa.string()),
                    ("same", pa.bool_())])  # fmt: skip
_RANK_COLUMNS = ("record_uid", "subject_uid", "rank", "match_probability", "match_weight",
                 "explanation")  # fmt: skip
RANKED = pa.schema([("record_uid", pa.string()), ("subject_uid", pa.string()),
                    ("rank", pa.int64()), ("match_probability", pa.float64()),
                    ("match_weight", pa.float64()), ("explanation", pa.string())])  # fmt: skip


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def explanation_sql(body: dict) -> str:
    """Return the DuckDB expression of why a scored pair scored as it did, as JSON text:
    each comparison's level and match weight, built in DuckDB (a million of them in
    Python cost more than scoring them).

    A comparison's match weight is log2 of its Bayes factor, the term-frequency adjustment
    (shown apart) included; the prior weight plus the comparisons' weights is the pair's.
    """
    flipped = f"source_dataset_l <> '{SUBJECTS}'"
    parts = []
    for comparison in body["comparisons"]:
        name = comparison["output_column_name"]
        levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
        labels = " ".join(
            f"WHEN {g} THEN {_text(label)}"
            for g in range(-1, len(levels))
            if (label := _level_label(comparison, g)) is not None
        )
        has_tf = any(lv.get("tf_adjustment_column") for lv in levels)
        tf = f"mw_tf_adj_{name}" if has_tf else "NULL::DOUBLE"
        parts.append(
            f"""json_object('comparison', {_text(name)},
                'level', CASE gamma_{name} {labels} END, 'gamma', gamma_{name},
                'match_weight', round(coalesce(mw_{name}, 0) + coalesce({tf}, 0), 3),
                'tf_adjustment', round({tf}, 3),
                'record', CASE WHEN {flipped} THEN {name}_l ELSE {name}_r END,
                'subject', CASE WHEN {flipped} THEN {name}_r ELSE {name}_l END)"""
        )
    lam = body["probability_two_random_records_match"]
    return f"""json_object('prior_weight', {round(math.log2(lam / (1 - lam)), 3)},
        'match_weight', round(match_weight, 3), 'match_probability', match_probability,
        'comparisons', json_array({", ".join(parts)}))::VARCHAR"""


def _level_label(comparison: dict, gamma: int | None) -> str | None:
    """Return the label of the level with comparison vector value `gamma`.

    Splink numbers a comparison's levels: the null level -1, the others from the top down
    to 0 for the last (else) level.
    """
    levels = [lv for lv in comparison["comparison_levels"] if not lv.get("is_null_level")]
    if gamma is None:
        return None
    if gamma == -1:
        return f"{comparison['output_column_name']} missing on one side (no evidence)"
    index = len(levels) - 1 - gamma
    if not 0 <= index < len(levels):
        return None
    return levels[index].get("label_for_charts") or levels[index].get("sql_condition")
