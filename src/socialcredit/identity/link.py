"""Link records without a valid national id to subjects — SPEC §3, "Identity".

A record's candidates are scored by the stored model (identity/model.py). Its confidence is
the best candidate's probability among all the candidates it competes with; at or above the
rulebook's `min_link_confidence` the record joins that subject's file, below it the record
joins no file and waits in the review queue. An official's judgement on a pair decides it
for good: "same" links the record whatever the model says, "different" keeps the pair apart
through every later batch and retraining.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import date

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from socialcredit.identity import batch
from socialcredit.identity import model as m
from socialcredit.identity import store as s
from socialcredit.identity.decide import decide
from socialcredit.identity.features import FEATURES, features
from socialcredit.identity.scorer import scorer
from socialcredit.store import Store


class IdentityError(ValueError):
    """A link request that cannot be carried out; the message says what to do instead."""


@dataclass
class LinkReport:
    """What a linkage run did; `to_json()` is the shape of `link --json`."""

    day: date
    threshold: float
    model_version: int | None = None
    considered: int = 0
    linked: int = 0
    review: int = 0
    unmatched: int = 0
    confirmed: int = 0
    waiting: int = 0  # left pending: no model to score them with yet
    problems: list[dict] = field(default_factory=list)

    def count(self, state: str) -> None:
        setattr(self, state, getattr(self, state) + 1)

    def to_json(self) -> dict:
        return {**asdict(self), "day": self.day.isoformat()}


def _threshold(store: Store, day: date) -> float:
    return store.rulebook_in_force(day).due_process.min_link_confidence


def _table(rows: list[dict], uid: str) -> pa.Table:
    return pa.Table.from_pylist(
        [{"uid": str(r[uid]), **{f: r.get(f) for f in FEATURES}} for r in rows], schema=m.SCHEMA
    )


def _subject_features(rows: list[dict]) -> list[dict]:
    return [{"subject_id": r["subject_id"], **features(r)[0]} for r in rows]


def _index_new_subjects(store: Store) -> int:
    """Index the features of subjects created or changed since linkage last looked;
    return the number of subjects."""
    missing, population = s.missing_subjects(store)
    s.add_subject_features(store, _subject_features(missing))
    return population


# -- training -------------------------------------------------------------------------


TRAIN_RECORDS = 50_000  # records without an id that EM learns from, at most


def train(store: Store, day: date, seed: int = 0) -> int:
    """Train a new model version on the subjects and the records without a national id.

    Beyond TRAIN_RECORDS of those, a random sample of that size (fixed by `seed`): the m
    and u probabilities are a handful of shares, and EM over a million records would
    cost minutes and teach nothing more.
    """
    _index_new_subjects(store)
    people = s.subject_table(store)
    unkeyed = s.unkeyed_records(store, pending_only=False)
    if len(unkeyed) > TRAIN_RECORDS:
        unkeyed = random.Random(seed).sample(unkeyed, TRAIN_RECORDS)
    recs = [{"seq": r["seq"], **features(r["attrs"])[0]} for r in unkeyed]
    try:
        model = m.train(people, _table(recs, "seq"), seed=seed)
    except m.ModelError as e:
        raise IdentityError(str(e)) from None
    return s.save_model(store, model, day, people.num_rows, len(recs))


def _prepare(pending: list[dict], report: LinkReport) -> tuple[pa.Table, dict[int, list[str]]]:
    """Return the pending records' features (uid = seq) and what could not be read."""
    prepared, problems = [], {}
    for r in pending:
        feats, issues = features(r["attrs"])
        prepared.append({"seq": r["seq"], **feats})
        problems[r["seq"]] = issues
        report.problems += [
            {"source": r["source"], "record_id": r["record_id"], "problem": p} for p in issues
        ]
    return _table(prepared, "seq"), problems


def _judged_pairs(pending: list[dict], judged: dict) -> pa.Table:
    """The judgements on the pending record versions, as the model's `judged` table."""
    rows = [
        {"record_uid": str(r["seq"]), "subject_uid": sid, "same": same}
        for r in pending
        for sid, same in judged.get((r["source"], r["record_id"]), {}).items()
    ]
    return pa.Table.from_pylist(rows, schema=m.JUDGED)


def _decide(
    store: Store,
    pending: list[dict],
    scored: list[dict],
    judged: dict,
    problems: dict[int, list[str]],
    model: dict | None,
    day: date,
    report: LinkReport,
) -> None:
    """Decide each pending record version from its scored candidates; write the outcome."""
    by_record: dict[str, list[dict]] = {}
    for c in scored:
        by_record.setdefault(c["record_uid"], []).append(c)
    rows = []
    for r in pending:
        key = (r["source"], r["record_id"])
        if model is None and not any(judged.get(key, {}).values()):
            report.waiting += 1
            continue
        row = decide(
            r,
            by_record.get(str(r["seq"]), []),
            judged.get(key, {}),
            report.threshold,
            report.model_version,
            day,
            problems[r["seq"]],
        )
        report.count(row["state"])
        rows.append(row)
    report.considered += len(pending)
    s.write_links(store, rows)


# -- batch and incremental ------------------------------------------------------------


def link_batch(
    store: Store,
    day: date,
    *,
    retrain: bool = False,
    relink: bool = False,
    predict=m.predict_table,
) -> LinkReport:
    """Link every record without a national id that no subject holds yet, as of `day`.

    Trains a model first when none is stored or `retrain` is set. `relink` re-decides the
    links the model made earlier too (never those an official confirmed). `predict` scores
    the pairs: model.predict_table on DuckDB, or identity/spark.py's on Spark. The records are
    read, featured, decided and written column-wise (identity/batch.py); those an official
    judged go through `decide` one by one.
    """
    report = LinkReport(day, _threshold(store, day))
    _index_new_subjects(store)
    pending = s.unkeyed_table(store, pending_only=not relink)
    if relink:
        pending = pending.filter(pc.fill_null(pc.not_equal(pending["state"], "confirmed"), True))
    model = None if retrain else s.load_model(store)
    people = s.subject_table(store)
    if model is None and people.num_rows and (pending.num_rows or retrain):
        try:
            train(store, day)
        except IdentityError as e:
            report.problems.append({"source": None, "record_id": None, "problem": str(e)})
        model = s.load_model(store)
    report.model_version = model["version"] if model else None
    if pending.num_rows:
        _link_table(store, pending, people, model, day, report, predict)
    counts = {k: v for k, v in report.to_json().items() if k != "problems"}
    store.audit("socialcredit", "system", "link.batch", detail=counts)
    return report


def _link_table(
    store: Store,
    pending: pa.Table,
    people: pa.Table,
    model: dict | None,
    day: date,
    report: LinkReport,
    predict,
) -> None:
    """Score, decide and write a batch of pending records (store.unkeyed_table)."""
    con = duckdb.connect()
    con.register("__pending", pending)
    feats = batch.features(con, "__pending")
    con.register("__features", feats)
    said = con.sql(
        "SELECT p.seq, p.source, p.record_id, f.problems FROM __pending p"
        " JOIN __features f ON f.uid = p.seq::VARCHAR WHERE len(f.problems) > 0"
    ).to_arrow_table()
    problems = dict(zip(said["seq"].to_pylist(), said["problems"].to_pylist(), strict=True))
    report.problems += [
        {"source": r["source"], "record_id": r["record_id"], "problem": p}
        for r in said.to_pylist()
        for p in r["problems"]
    ]
    every = s.judgements_for(store)  # officials' work: few, read whole
    keys = zip(pending["source"].to_pylist(), pending["record_id"].to_pylist(), strict=True)
    judged = {k: every[k] for k in set(keys) & every.keys()}
    sources, ids = zip(*judged, strict=True) if judged else ((), ())
    con.register("__judged_keys", pa.table({"source": pa.array(sources, pa.string()),
                                            "record_id": pa.array(ids, pa.string())}))  # fmt: skip
    hand = (
        con.sql(
            "SELECT seq, source, record_id, state, link_subject,"
            " TRY_CAST(linked_on AS DATE) AS linked_on"
            " FROM __pending JOIN __judged_keys USING (source, record_id) ORDER BY seq"
        )
        .to_arrow_table()
        .to_pylist()
    )
    problems = defaultdict(list, problems)
    report.considered += pending.num_rows - len(hand)  # `_decide` counts the others
    if model is None:
        report.waiting += pending.num_rows - len(hand)
        _decide(store, hand, [], judged, problems, model, day, report)
        return
    records = feats.select(["uid", *FEATURES])
    scored = predict(people, records, model, judged=_judged_pairs(hand, judged))
    con.register("__scored", scored)
    seqs = pa.table({"seq": pa.array([r["seq"] for r in hand], pa.int64())})
    con.register("__judged_seqs", seqs)
    con.execute(
        """CREATE TEMP TABLE __todo AS
           SELECT p.seq, p.source, p.record_id, p.state, p.link_subject,
                  TRY_CAST(p.linked_on AS DATE) AS linked_on, f.problems
           FROM __pending p JOIN __features f ON f.uid = p.seq::VARCHAR
           WHERE p.seq NOT IN (SELECT seq FROM __judged_seqs)"""
    )
    table = batch.decisions(con, "__todo", "__scored", report.threshold, report.model_version,
                            day.isoformat())  # fmt: skip
    for count in pc.value_counts(table["state"]).to_pylist():
        setattr(report, count["values"], getattr(report, count["values"]) + count["counts"])
    s.write_link_table(store, table)
    mine = pa.array([str(r["seq"]) for r in hand], pa.string())
    picked = scored.filter(pc.is_in(scored["record_uid"], mine))
    _decide(store, hand, m.rows(picked), judged, problems, model, day, report)


def _keys(items: Iterable) -> set[tuple[str, str]]:
    keys = set()
    for item in items:
        if isinstance(item, dict):
            keys.add((str(item["source"]), str(item["record_id"])))
        else:
            source, record_id = item
            keys.add((str(source), str(record_id)))
    return keys


def link_incremental(store: Store, records: Iterable, day: date | None = None) -> LinkReport:
    """Link newly arrived records, given as (source, record_id) or dicts holding those keys.

    Uses the stored model, compiled once per model version (model.scorer), and the indexed
    subject features: only the subjects sharing a blocking key with a record are read and
    scored, a record at a time. Subjects created since are indexed first. Without a stored
    model the records wait for `link_batch`.
    """
    day = day or date.today()
    report = LinkReport(day, _threshold(store, day))
    pending = s.unkeyed_records(store, pending_only=True, keys=_keys(records))
    if not pending:
        return report
    population = _index_new_subjects(store)
    model = s.load_model(store)
    report.model_version = model["version"] if model else None
    judged = s.judgements_for(store, {(r["source"], r["record_id"]) for r in pending})
    table, problems = _prepare(pending, report)
    scored = []
    if model is not None:
        for i, record in enumerate(table.to_pylist()):
            people = s.candidates(store, record)
            tf = {
                col: s.frequencies(store, col, [p[col] for p in people] + [record[col]])
                for col in m.TF_COLUMNS
            }
            scored += scorer(model, population).score(
                _table(people, "subject_id"),
                table.slice(i, 1),
                tf,
                judged=_judged_pairs(pending[i : i + 1], judged),
            )
    _decide(store, pending, scored, judged, problems, model, day, report)
    return report
