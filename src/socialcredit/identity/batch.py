"""A batch of records linked column-wise: a million records without a row of Python each.

The same outcome as `features.features` and `decide.decide` applied record by record (the
tests hold the two paths to it), computed in DuckDB over Arrow tables: attributes read from
the stored JSON there, each distinct raw value normalised once in Python (a city has far
fewer distinct names and birth dates than records), and the decision — confidence, rival,
state, the day a link counts from, the explanation — as one query over the ranked
candidates that `model.predict_table` returns. Records an official judged are decided by
`decide` itself, one at a time: they are few, and the judgement's rules live there.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from socialcredit.identity import features as f
from socialcredit.identity.decide import RIVAL
from socialcredit.identity.features import FEATURES

# raw attribute -> (the feature function of one raw value, the features it gives)
_NORMALISE = {
    "name": (lambda v: (n := f.normalise_name(v), f.romanise(n) if n else None), FEATURES[:2]),
    "birth_date": (lambda v: (f.birth_date(v),), ("birth_date",)),
    "sex": (lambda v: (f.sex(v),), ("sex",)),
    "phone": (lambda v: (f.phone(v),), ("phone",)),
    "address": (lambda v: (f.address(v),), ("address",)),
}


def features(con: duckdb.DuckDBPyConnection, pending: str) -> pa.Table:
    """Return the features of the records in table `pending` (seq, attrs as JSON text):
    uid (the seq as text), FEATURES, and `problems` (a list of text, as `features` says).

    Attributes that are not a JSON object count as none, as in the record-by-record path.
    """
    raw = ", ".join(
        f"CASE WHEN json_type(a) = 'OBJECT' THEN json_extract_string(a, '$.{k}') END AS raw_{k}"
        for k in _NORMALISE
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE __raw AS
            SELECT seq, {raw} FROM (
                SELECT seq, CASE WHEN json_valid(attrs) THEN attrs::JSON END AS a FROM {pending})"""
    )
    joins, cols = [], []
    for key, (fn, names) in _NORMALISE.items():
        distinct = f"SELECT DISTINCT raw_{key} FROM __raw WHERE raw_{key} IS NOT NULL"
        values = [v for (v,) in con.execute(distinct).fetchall()]
        out = [fn(v) for v in values]
        lookup = pa.table(
            [pa.array(values, pa.string())]
            + [pa.array([o[i] for o in out], pa.string()) for i in range(len(names))],
            names=["raw", *names],
        )
        con.register(f"__norm_{key}", lookup)
        joins.append(f"LEFT JOIN __norm_{key} n_{key} ON n_{key}.raw = r.raw_{key}")
        cols += [f"n_{key}.{name}" for name in names]
    none = " AND ".join(f"{name} IS NULL" for name in FEATURES)
    return con.sql(
        f"""WITH x AS (SELECT r.*, {", ".join(cols)} FROM __raw r {" ".join(joins)})
            SELECT seq::VARCHAR AS uid, {", ".join(FEATURES)},
                list_filter([
                    CASE WHEN coalesce(raw_name, '') <> '' AND name IS NULL THEN
                        'name "' || raw_name || '" has no letters to compare' END,
                    CASE WHEN coalesce(raw_birth_date, '') <> '' AND birth_date IS NULL THEN
                        'birth_date "' || raw_birth_date || '" is not a possible date; left out'
                        END,
                    CASE WHEN {none} THEN 'no identity attribute to compare (name, '
                        || 'birth_date, sex, phone, address)' END
                ], lambda p: p IS NOT NULL) AS problems
            FROM x ORDER BY seq"""
    ).to_arrow_table()


def decisions(
    con: duckdb.DuckDBPyConnection,
    pending: str,
    candidates: str,
    threshold: float,
    model_version: int | None,
    day: str,
) -> pa.Table:
    """Return the link row of each record in `pending` from its ranked candidates.

    `pending`: seq, source, record_id, state, link_subject, linked_on, problems — records
    no official judged. `candidates`: model.RANKED. Columns as store.LINK_COLUMNS, with
    the explanation as JSON text, and `replaces`. See `decide.decide` and `confidence`.
    """
    version = "NULL::INTEGER" if model_version is None else str(int(model_version))
    # a JSON object's text without its outer braces
    con.execute(
        "CREATE OR REPLACE TEMP MACRO json_inner(j) AS"
        " substr(j::VARCHAR, 2, length(j::VARCHAR) - 2)"
    )
    return con.sql(
        f"""WITH c AS (
                SELECT record_uid::BIGINT AS seq, subject_uid, rank, match_probability AS p,
                       match_weight, explanation FROM {candidates}),
            g AS (
                SELECT seq,
                    arg_min(subject_uid, rank) AS subject_id,
                    arg_min(p, rank) AS p1,
                    max(CASE WHEN rank = 2 THEN p END) AS p2,
                    max(CASE WHEN rank = 2 THEN subject_uid END) AS second,
                    arg_min(explanation, rank) AS detail,
                    count_if(p >= 1.0) AS certain,
                    sum(CASE WHEN p < 1.0 THEN p / (1.0 - p) END) AS odds,
                    to_json(list({{'subject_id': subject_uid, 'match_probability': p,
                                   'match_weight': match_weight}} ORDER BY rank)) AS listed
                FROM c GROUP BY seq),
            d AS (
                SELECT r.*, g.subject_id, g.p1, g.second, g.detail, g.listed,
                    CASE WHEN g.seq IS NULL THEN NULL
                         WHEN g.certain > 0 THEN CASE WHEN g.p1 >= 1.0 THEN 1.0 / g.certain
                                                      ELSE 0.0 END
                         ELSE (g.p1 / (1.0 - g.p1)) / (1.0 + g.odds) END AS conf,
                    coalesce(g.p2 >= {RIVAL}, false) AS rival
                FROM {pending} r LEFT JOIN g USING (seq)),
            s AS (
                SELECT *, CASE WHEN subject_id IS NULL THEN 'unmatched'
                               WHEN conf >= {threshold} AND NOT rival THEN 'linked'
                               ELSE 'review' END AS new_state FROM d)
            SELECT seq, source, record_id, new_state AS state, subject_id,
                p1 AS match_probability, conf AS confidence,
                {version} AS model_version,
                CASE WHEN new_state = 'linked' AND state IN ('linked', 'confirmed')
                          AND link_subject = subject_id AND linked_on IS NOT NULL
                     THEN linked_on ELSE DATE '{day}' END AS linked_on,
                -- one JSON object from those built here: the braces where two meet dropped
                '{{' || json_inner(json_object('threshold', {threshold},
                        'problems', to_json(problems), 'excluded_by_judgement', '[]'::JSON,
                        'candidates', coalesce(listed, '[]'::JSON)))
                || CASE WHEN subject_id IS NULL THEN '' ELSE
                       ',' || json_inner(json_object('confidence', conf)) END
                || CASE WHEN rival THEN ',' || json_inner(json_object('rival', second)) ELSE '' END
                || CASE WHEN detail IS NULL THEN '' ELSE ',' || json_inner(detail) END
                || '}}'
                    AS explanation,
                state IS NOT NULL AS replaces
            FROM s ORDER BY seq"""
    ).to_arrow_table()
