"""Identity resolution (issue 3): records without a national id linked to subjects.

A 2,000-resident synthetic city is ingested once and linked; tests that change it work on a
copy. The truth table says who each record really belongs to.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from datetime import date
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import insert, select, text

import socialcredit.identity as L
from socialcredit.city import generate, write_city
from socialcredit.identity import features as f
from socialcredit.identity import store as S
from socialcredit.identity.decide import decide
from socialcredit.identity.tables import LINK_STATES
from socialcredit.ingest import ingest_file, ingest_rows
from socialcredit.rulebook import default_rulebook_text, load_rulebook
from socialcredit.store import Store
from socialcredit.store.schema import records

DAY = date(2026, 7, 1)
ROOT = Path(__file__).resolve().parents[1]


# -- the city -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def city(tmp_path_factory):
    """Ingest and link a 2,000-resident city; return its folder, truth and first report."""
    folder = tmp_path_factory.mktemp("city")
    paths = write_city(generate(2000, seed=1), folder)
    store = Store.open(f"sqlite:///{folder / 'store.sqlite'}")
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    for path in paths:
        ingest_file(store, path, as_of=DAY)
    report = L.link_batch(store, DAY)
    with store.engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    truth = {
        (t["source"], t["record_id"]): t["national_id"]
        for t in pq.read_table(folder / "truth" / "truth.parquet").to_pylist()
    }
    return folder, truth, report


@pytest.fixture
def linked(city, tmp_path):
    """Yield a copy of the linked city's store, to change freely."""
    shutil.copy(city[0] / "store.sqlite", tmp_path / "store.sqlite")
    store = Store.open(f"sqlite:///{tmp_path / 'store.sqlite'}")
    yield store
    store.close()


def unkeyed(store: Store) -> list[dict]:
    r = records.c
    q = select(r.seq, r.source, r.record_id, r.subject_id, r.link_confidence).where(
        r.national_id.is_(None)
    )
    with store._read() as conn:
        return [dict(x._mapping) for x in conn.execute(q)]


def true_subject(store: Store, truth: dict, source: str, record_id: str) -> str | None:
    subject = store.subject_by_national_id(truth[(source, record_id)])
    return subject["subject_id"] if subject else None


def test_batch_links_most_records_to_the_right_person_and_none_to_a_wrong_one(city, linked):
    _, truth, report = city
    rows = unkeyed(linked)
    assert report.considered == len(rows) > 50
    assert report.linked + report.review + report.unmatched == report.considered
    right = wrong = linkable = 0
    for row in rows:
        true = true_subject(linked, truth, row["source"], row["record_id"])
        linkable += true is not None
        if row["subject_id"] is not None:
            right += row["subject_id"] == true
            wrong += row["subject_id"] != true
    assert wrong == 0
    assert right >= 0.85 * linkable


def test_a_link_below_the_threshold_joins_no_file_and_waits_for_review(city, linked):
    threshold = linked.rulebook_in_force(DAY).due_process.min_link_confidence
    for row in unkeyed(linked):
        if row["subject_id"] is not None:
            assert row["link_confidence"] >= threshold
    queue = L.review_queue(linked)
    assert queue and {q["state"] for q in queue} <= {"review", "unmatched"}
    waiting = [q for q in queue if q["state"] == "review"]
    assert waiting
    for q in waiting:
        assert q["confidence"] < threshold and q["subject_id"] is not None
        candidate_file = linked.file(q["subject_id"])
        assert (q["source"], q["record_id"]) not in {
            (v.source, v.record_id) for v in candidate_file.records
        }


def test_every_link_keeps_its_probability_model_version_and_why(linked):
    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    link = L.explanation(linked, row["source"], row["record_id"])
    assert link["state"] == "linked" and link["subject_id"] == row["subject_id"]
    assert link["model_version"] == 1 and 0.99 <= link["match_probability"] <= 1
    why = link["explanation"]
    assert {c["comparison"] for c in why["comparisons"]} == {
        "name",
        "birth_date",
        "sex",
        "phone",
        "address",
    }
    assert all(c["level"] for c in why["comparisons"])
    total = why["prior_weight"] + sum(c["match_weight"] for c in why["comparisons"])
    assert total == pytest.approx(why["match_weight"], abs=0.01)
    assert S.model_versions(linked)[0]["version"] == 1
    stored = S.load_model(linked)
    assert stored["format"] == "socialcredit.identity/1" and stored["settings"]["comparisons"]


def test_different_people_stay_apart_after_retraining(linked):
    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    L.judge(
        linked,
        row["source"],
        row["record_id"],
        row["subject_id"],
        same=False,
        by="official-7",
        on=DAY,
    )
    report = L.link_batch(linked, DAY, retrain=True, relink=True)
    assert report.model_version == 2
    after = next(r for r in unkeyed(linked) if r["seq"] == row["seq"])
    assert after["subject_id"] != row["subject_id"]
    link = L.explanation(linked, row["source"], row["record_id"])
    assert row["subject_id"] in link["explanation"]["excluded_by_judgement"]
    assert row["subject_id"] not in {c["subject_id"] for c in link["explanation"]["candidates"]}
    assert linked.audit_entries(row["subject_id"])[-1]["action"] == "link.judge"


def test_an_official_confirms_a_link_for_good(linked):
    waiting = next(q for q in L.review_queue(linked) if q["state"] == "review")
    L.judge(
        linked,
        waiting["source"],
        waiting["record_id"],
        waiting["subject_id"],
        same=True,
        by="official-7",
        on=DAY,
    )
    L.link_batch(linked, DAY, retrain=True, relink=True)
    row = next(r for r in unkeyed(linked) if r["seq"] == waiting["seq"])
    assert row["subject_id"] == waiting["subject_id"] and row["link_confidence"] == 1.0
    assert L.explanation(linked, waiting["source"], waiting["record_id"])["state"] == "confirmed"
    assert waiting["seq"] not in {q["seq"] for q in L.review_queue(linked)}


def test_a_judgement_needs_a_real_record_without_id_and_a_real_subject(linked):
    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    with pytest.raises(L.IdentityError, match="no record"):
        L.judge(linked, "rail", "nope", row["subject_id"], same=True, by="o", on=DAY)
    with pytest.raises(L.IdentityError, match="no subject"):
        L.judge(linked, row["source"], row["record_id"], "s-nobody", same=True, by="o", on=DAY)
    with linked._read() as conn:
        keyed = conn.execute(
            select(records.c.source, records.c.record_id, records.c.subject_id)
            .where(records.c.national_id.is_not(None))
            .limit(1)
        ).first()
    with pytest.raises(L.IdentityError, match="carries a national id"):
        L.judge(linked, keyed.source, keyed.record_id, keyed.subject_id, same=False, by="o", on=DAY)


def test_a_new_record_links_incrementally_with_the_stored_model(linked):
    subject = linked.subject(next(r for r in unkeyed(linked) if r["subject_id"])["subject_id"])
    birth = subject["birth_date"]
    row = {
        "record_id": "late-1",
        "source": "rail",
        "type": "rail.fare_evasion",
        "occurred_at": "2026-07-02",
        "name": subject["name"],
        "birth_date": birth.replace(day=2 if birth.day == 1 else birth.day - 1).isoformat(),
    }
    ingest_rows(linked, [row], label="late", as_of=date(2026, 7, 2))
    report = L.link_incremental(linked, [("rail", "late-1")], date(2026, 7, 2))
    assert report.considered == 1 and report.model_version == 1
    link = L.explanation(linked, "rail", "late-1")
    assert link["subject_id"] == subject["subject_id"]
    assert link["state"] in ("linked", "review")  # a day off: evidence, not proof


NAMES = [
    "Zhāng Wěi",
    "ZHANG  wei",
    "José Müller-Lüdenscheidt",
    "Иван Петров",
    "Ωμέγα",
    "李",
    "欧阳 娜娜",
    "—",
    "🙂",
    "Nguyễn Thị Minh Khai",
    "x" * 300,
]


def test_names_in_any_script_and_missing_fields_neither_crash_nor_vanish(linked):
    rows = [
        {
            "record_id": f"odd-{i}",
            "source": "shop",
            "type": "shop.on_time_payment",
            "occurred_at": "2026-07-02",
            "name": name,
            "birth_date": "1980-02-29",
        }
        for i, name in enumerate(NAMES)
    ]
    rows[1]["sex"], rows[2]["phone"], rows[3]["address"] = "女", "not a phone", "  "
    ingested = ingest_rows(linked, rows, label="odd", as_of=date(2026, 7, 2))
    assert ingested.accepted == len(NAMES)
    report = L.link_incremental(linked, [r for r in rows], date(2026, 7, 2))
    assert report.considered == len(NAMES)
    for r in rows:
        assert L.explanation(linked, "shop", r["record_id"])["state"] in LINK_STATES
    assert any("no letters" in p["problem"] for p in report.problems)


def test_an_impossible_stored_birth_date_is_left_out_and_said(linked):
    # Ingest refuses impossible dates; a record stored otherwise (an older import) must
    # still be linked or left in review, never crash the batch.
    with linked._write() as conn:
        conn.execute(
            insert(records).values(
                source="rail",
                record_id="legacy-1",
                version=1,
                digest="x",
                type="rail.fare_evasion",
                occurred_at=DAY,
                quantity=1.0,
                status="active",
                ingested_on=DAY,
                ingested_at=text("CURRENT_TIMESTAMP"),
                attrs=json.dumps({"name": "王伟", "birth_date": "1990-02-30"}),
            )
        )
    report = L.link_batch(linked, DAY)  # re-scores the review queue too
    assert report.considered == len(L.review_queue(linked))
    assert any("not a possible date" in p["problem"] for p in report.problems)
    assert L.explanation(linked, "rail", "legacy-1")["state"] in ("review", "unmatched")


# -- the store, on both backends ------------------------------------------------------


def test_judgements_and_links_persist_on_each_backend(store):
    store.load_rulebook(load_rulebook(default_rulebook_text()))
    from socialcredit.city import national_id

    nid = national_id(date(1990, 5, 17), "522622", 123, "M")
    keyed = {
        "record_id": "k1",
        "source": "court",
        "type": "court.judgment_breach",
        "occurred_at": "2025-01-02",
        "national_id": nid,
        "name": "王伟",
    }
    loose = {
        "record_id": "u1",
        "source": "rail",
        "type": "rail.fare_evasion",
        "occurred_at": "2025-03-04",
        "name": "Wang Wei",
        "birth_date": "1990-05-17",
    }
    ingest_rows(store, [keyed, loose], label="t", as_of=DAY)
    sid = store.subject_by_national_id(nid)["subject_id"]
    report = L.link_batch(store, DAY)  # too little to train on: the record waits
    assert report.considered == 1 and report.waiting == 1 and report.model_version is None
    assert "at least" in report.problems[0]["problem"]
    L.judge(store, "rail", "u1", sid, same=True, by="official-1", on=DAY)
    link = L.explanation(store, "rail", "u1")
    assert link["state"] == "confirmed" and link["subject_id"] == sid
    assert any(v.record_id == "u1" for v in store.file(sid).records)
    L.judge(store, "rail", "u1", sid, same=False, by="official-1", on=DAY)
    assert not any(v.record_id == "u1" for v in store.file(sid).records)
    assert [j["same"] for j in S.all_judgements(store)] == [False]


# -- pure parts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, name, latin",
    [
        ("王 伟", "王伟", "wangwei"),
        ("Wáng Wěi", "wang wei", "wangwei"),
        ("曾小明", "曾小明", "zengxiaoming"),
        ("Ｗａｎｇ", "wang", "wang"),
        ("José Müller", "jose muller", "josemuller"),
        ("阿依古丽·买买提", "阿依古丽买买提", "ayigulimaimaiti"),
        ("123 —", None, None),
    ],
)
def test_names_normalise_across_scripts(raw, name, latin):
    assert f.normalise_name(raw) == name
    assert (f.romanise(name) if name else None) == latin


def test_features_read_what_they_can_and_say_what_they_cannot():
    feats, problems = f.features(
        {
            "name": "李露平",
            "birth_date": "1990-02-30",
            "sex": "女",
            "phone": "+86 138-0013-8000",
            "address": " 临江区 人民路 ",
        }
    )
    assert feats == {
        "name": "李露平",
        "name_latin": "liluping",
        "birth_date": None,
        "sex": "F",
        "phone": "13800138000",
        "address": "临江区人民路",
    }
    assert problems == ['birth_date "1990-02-30" is not a possible date; left out']
    assert f.features({})[1] == [
        "no identity attribute to compare (name, birth_date, sex, phone, address)"
    ]
    assert f.birth_date("19900131") == "1990-01-31" and f.birth_date(date(1990, 1, 31))


def test_confidence_weighs_the_best_candidate_against_the_others():
    assert L.confidence([]) == 0.0
    assert L.confidence([0.999, 0.0118]) > 0.99
    assert L.confidence([0.999, 0.5]) > 0.99  # 999 to 1 between the two
    assert L.confidence([0.99, 0.9]) < 0.99
    assert L.confidence([1.0, 1.0]) == 0.5
    assert L.confidence([1.0, 0.3]) == 1.0


# -- accuracy on real data ------------------------------------------------------------


def test_febrl4_precision_is_perfect_and_recall_high_at_the_sanction_threshold():
    spec = importlib.util.spec_from_file_location("febrl", ROOT / "bench" / "febrl.py")
    febrl = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(febrl)
    result = febrl.evaluate(u_pairs=2e5, threshold=0.99)
    assert result["false_positives"] == []
    assert result["precision"] == 1.0
    assert result["recall"] >= 0.99


def test_the_file_shows_why_each_linked_record_joined_it(linked):
    from socialcredit.subjects import show

    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    f = show(linked, date(2026, 7, 1), subject_id=row["subject_id"])
    shown = next(
        r
        for r in f["records"]
        if (r["source"], r["record_id"]) == (row["source"], row["record_id"])
    )
    assert shown["link_confidence"] >= 0.99 and shown["link"]["state"] == "linked"
    assert {c["comparison"] for c in shown["link"]["comparisons"]} >= {"name", "birth_date"}
    assert all(isinstance(c["match_weight"], float) for c in shown["link"]["comparisons"])
    keyed = [r for r in f["records"] if r["link_confidence"] is None]
    assert all(r["link"] is None for r in keyed)


def test_an_accepted_objection_to_a_link_unlinks_the_record_for_good(linked):
    from socialcredit.objections import decide_objection, file_objection
    from socialcredit.subjects import show

    day = date(2026, 7, 1)
    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    owner, key = row["subject_id"], f"{row['source']}:{row['record_id']}"
    o = file_objection(linked, key, "this fare evasion is not mine", day, subject_id=owner,
                       kind="link")  # fmt: skip
    in_file = [r for r in show(linked, day, subject_id=owner)["records"]
               if f"{r['source']}:{r['record_id']}" == key]  # fmt: skip
    assert in_file and in_file[0]["objection"] == "open"
    decide_objection(linked, o["objection_id"], "accepted", "the clerk mistyped the name", day)
    after = [
        f"{r['source']}:{r['record_id']}" for r in show(linked, day, subject_id=owner)["records"]
    ]
    assert key not in after
    assert L.explanation(linked, row["source"], row["record_id"])["subject_id"] != owner
    L.link_batch(linked, day, retrain=True, relink=True)
    assert linked.record_versions(row["source"], row["record_id"])[-1]["subject_id"] != owner
    from socialcredit.store import StoreError

    with pytest.raises(StoreError, match="not linked"):
        keyed = next(r for r in show(linked, day, subject_id=owner)["records"]
                     if r["link_confidence"] is None)  # fmt: skip
        file_objection(linked, f"{keyed['source']}:{keyed['record_id']}", "x", day,
                       subject_id=owner, kind="link")  # fmt: skip


# -- --known-at: a link counts from the day it was made (SPEC §3) --------------------


def test_under_known_at_a_link_counts_only_from_the_day_it_was_made(store):
    from socialcredit.city import national_id
    from socialcredit.subjects import show

    store.load_rulebook(load_rulebook(default_rulebook_text()))
    nid = national_id(date(1990, 5, 17), "522622", 123, "M")
    keyed = {"record_id": "k1", "source": "court", "type": "court.judgment_breach",
             "occurred_at": "2025-01-02", "national_id": nid, "name": "王伟"}  # fmt: skip
    loose = {"record_id": "u1", "source": "rail", "type": "rail.fare_evasion",
             "occurred_at": "2025-03-04", "name": "Wang Wei", "birth_date": "1990-05-17"}  # fmt: skip
    ingested, linked_on = date(2026, 1, 5), date(2026, 2, 10)
    ingest_rows(store, [keyed, loose], label="t", as_of=ingested)
    sid = store.subject_by_national_id(nid)["subject_id"]
    L.judge(store, "rail", "u1", sid, same=True, by="official-1", on=linked_on)

    def ids(known_at):
        return {v.record_id for v in store.file(sid, known_at).records}

    def batch_ids(known_at):
        return set(store.batch_tables(known_at)["records"].column("record_id").to_pylist())

    assert ids(None) == ids(linked_on) == batch_ids(linked_on) == {"k1", "u1"}
    # Ingested by then, but not yet linked: the record was in no file on that day.
    before = date(2026, 2, 9)
    assert ids(before) == batch_ids(before) == {"k1"}
    shown = show(store, before, subject_id=sid, known_at=before)
    assert [r["record_id"] for r in shown["records"]] == ["k1"]
    # Unlinking takes it out again on every date.
    L.judge(store, "rail", "u1", sid, same=False, by="official-1", on=date(2026, 3, 1))
    assert ids(date(2026, 3, 1)) == ids(None) == {"k1"}


# -- bad input: linked or left unlinked, never crashing, never silently dropped -------


ODD = [
    {"name": "王伟", "birth_date": "1985-03-12"},  # Chinese characters
    {"name": "Wáng Wěi", "birth_date": "1985-03-12", "sex": "女"},  # pinyin with tone marks
    {"name": "Zoë Ångström-Ñúñez", "birth_date": "1970-01-01", "phone": "+86 139 0000 1111"},
    {"name": "Мария", "birth_date": "2001-12-31", "address": "  "},  # another script
    {"name": "—", "birth_date": "1985-03-12"},  # no letters in the name
]
MISSING = [{"birth_date": "1985-03-12"}, {"name": "王伟"}, {"sex": "F"}]  # too little to ingest


def _legacy(store: Store, source: str, record_id: str, attrs: dict) -> None:
    """Store a record as an older import might have, past today's ingest checks."""
    with store._write() as conn:
        conn.execute(
            insert(records).values(
                source=source, record_id=record_id, version=1, digest=record_id,
                type="shop.on_time_payment", occurred_at=DAY, quantity=1.0, status="active",
                ingested_on=DAY, ingested_at=text("CURRENT_TIMESTAMP"), attrs=json.dumps(attrs),
            )
        )  # fmt: skip


@pytest.mark.parametrize("path", ["batch", "incremental"])
def test_odd_records_are_linked_or_queued_by_either_path_and_never_lost(linked, path):
    day = date(2026, 7, 2)
    rows = [
        {"record_id": f"odd-{path}-{i}", "source": "shop", "type": "shop.on_time_payment",
         "occurred_at": "2026-07-02", **attrs}
        for i, attrs in enumerate(ODD)
    ]  # fmt: skip
    assert ingest_rows(linked, rows, label=path, as_of=day).accepted == len(ODD)
    # Ingest turns away a record without a national id and without name and birth date,
    # with the reason; one stored before that check must still go through linkage.
    base = {k: rows[0][k] for k in ("source", "type", "occurred_at")}
    short = [{**base, "record_id": f"short-{path}-{i}", **m} for i, m in enumerate(MISSING)]
    turned = ingest_rows(linked, short, label=f"{path}-short", as_of=day)
    assert turned.accepted == 0
    assert all("name and birth_date" in r["reason"] for r in turned.rejected_rows)
    for r in short:
        _legacy(linked, "shop", r["record_id"], {k: v for k, v in r.items() if k in
                                                 ("name", "birth_date", "sex")})  # fmt: skip
    everything = rows + short
    if path == "batch":
        report = L.link_batch(linked, day)
    else:
        report = L.link_incremental(linked, everything, day)
        assert report.considered == len(everything)
    states = {r["record_id"]: L.explanation(linked, "shop", r["record_id"]) for r in everything}
    assert all(s is not None and s["state"] in LINK_STATES for s in states.values())
    said = {(p["record_id"], p["problem"].split(" ")[0]) for p in report.problems}
    assert (f"odd-{path}-4", "name") in said  # "—" has no letters to compare
    # Same name and birth date in two scripts: the same candidates, in the same order.
    han, pinyin = (states[f"odd-{path}-{i}"]["explanation"]["candidates"] for i in (0, 1))
    assert [c["subject_id"] for c in han][:1] == [c["subject_id"] for c in pinyin][:1]


def test_a_record_that_could_be_either_of_two_people_is_not_linked_to_either():
    # Found at 200k, with these probabilities: a surname typed as its homophone (汪小 for
    # 王小, same birth date, nothing else on the record). Both people were candidates; the
    # one whose name matches the typo exactly won at confidence 0.9964 >= 0.99 and the
    # record joined the wrong file.
    record = {"seq": 1, "source": "volunteer", "record_id": "volunteer-150038"}
    scored = [("s-wang-xiao-typed", 0.9997077, 11.74), ("s-wang-xiao", 0.9196976, 3.52),
              ("s-wang-chaogang", 0.0168617, -5.87)]  # fmt: skip
    candidates = [
        {"subject_uid": sid, "match_probability": p, "match_weight": w, "explanation": None}
        for sid, p, w in scored
    ]
    assert L.confidence([p for _, p, _ in scored]) > 0.99
    row = decide(record, candidates, {}, 0.99, 1, DAY)
    assert row["state"] == "review" and row["explanation"]["rival"] == "s-wang-xiao"
    # A runner-up the model thinks unlikely is no rival: the best candidate joins its file.
    row = decide(record, [candidates[0], candidates[2]], {}, 0.99, 1, DAY)
    assert row["state"] == "linked" and row["subject_id"] == "s-wang-xiao-typed"


@pytest.mark.parametrize("path", ["batch", "incremental"])
def test_either_path_sends_a_record_with_a_rival_candidate_to_review(linked, path):
    # The homophone case in the city: 汪小 and 王小 born the same day, a record typed 汪小
    # that shares 汪小's address (王小's is not known, so no evidence either way). Each
    # is a likely match on their own, so it waits.
    day = date(2026, 7, 2)
    people = [
        {"record_id": f"id-{path}-{i}", "source": "court", "type": "court.dishonest_debtor",
         "occurred_at": "2026-06-01", "national_id": nid, "name": name,
         "birth_date": "1990-07-07", "sex": "M", "address": address}
        for i, (nid, name, address) in enumerate(
            [("522632199007074378", "汪小", "柳岸区和平路215号20栋3单元704室"),
             ("522627199007073921", "王小", None)]
        )
    ]  # fmt: skip
    assert ingest_rows(linked, people, label=f"{path}-people", as_of=day).accepted == 2
    wang = [linked.subject_by_national_id(p["national_id"])["subject_id"] for p in people]
    typed = {"record_id": f"homophone-{path}", "source": "volunteer",
             "type": "volunteer.hours", "occurred_at": "2026-07-01", "name": "汪小",
             "birth_date": "1990-07-07", "address": people[0]["address"]}  # fmt: skip
    assert ingest_rows(linked, [typed], label=path, as_of=day).accepted == 1
    if path == "batch":
        L.link_batch(linked, day)
    else:
        L.link_incremental(linked, [typed], day)
    link = L.explanation(linked, "volunteer", typed["record_id"])
    first, second = link["explanation"]["candidates"][:2]
    assert [first["subject_id"], second["subject_id"]] == wang
    assert link["confidence"] >= 0.99 and second["match_probability"] > 0.5
    assert link["state"] == "review" and link["explanation"]["rival"] == wang[1]
    row = next(r for r in unkeyed(linked) if r["record_id"] == typed["record_id"])
    assert row["subject_id"] is None


def test_an_impossible_birth_date_on_ingest_is_rejected_with_its_reason(linked):
    row = {"record_id": "bad-date", "source": "rail", "type": "rail.fare_evasion",
           "occurred_at": "2026-07-02", "name": "王伟", "birth_date": "1990-02-30"}  # fmt: skip
    report = ingest_rows(linked, [row], label="bad", as_of=date(2026, 7, 2))
    assert report.accepted == 0
    reasons = [r["reason"] for r in linked.rejects("rail") if r["field"] == "birth_date"]
    assert reasons and "1990-02-30" in " ".join(reasons) + json.dumps(linked.rejects("rail"))


def test_one_records_candidates_are_the_pairs_the_batch_blocking_finds():
    """model.blocked (the incremental path's candidates) agrees with BLOCKING in DuckDB."""
    import itertools

    import duckdb

    from socialcredit.identity import model as M

    # (name, name in Latin letters): Han names pair on a character, Latin ones on letters
    names = [("wangwei", "wangwei"), ("wangwie", "wangwie"), ("zhangwei", "zhangwei"),
             ("wei", "wei"), ("王伟", "wangwei"), ("汪伟", "wangwei"), ("王小", "wangxiao"),
             ("周燕", "zhouyan"), ("邹燕", "zouyan"), ("吕斌", "lvbin"), ("lu bin", "lubin"),
             (None, None)]  # fmt: skip
    births = ["1985-03-12", "1985-12-03", "1985-03-13", "1986-03-12", "1985-04-12",
              "1985-03-31", "1985-04-01", "1984-12-31", "1985-01-01", None]  # fmt: skip
    rows = [
        {"uid": str(i), "name": n, "name_latin": latin, "birth_date": b, "sex": None,
         "phone": p, "address": None}
        for i, ((n, latin), b, p) in enumerate(itertools.product(names, births, ["138", None]))
    ]  # fmt: skip
    con = duckdb.connect()
    con.register("t", pa.Table.from_pylist(rows, schema=M.SCHEMA))
    sql = [r if isinstance(r, str) else r.get_blocking_rule("duckdb").blocking_rule_sql
           for r in M.BLOCKING]  # fmt: skip
    found = set(con.sql(f"SELECT l.uid, r.uid FROM t l JOIN t r ON ({') OR ('.join(sql)})")
                .fetchall())  # fmt: skip
    expected = {(a["uid"], b["uid"]) for a in rows for b in rows if M.blocked(a, b)}
    assert found == expected and len(expected) > len(rows)
    by = {(r["name"], r["birth_date"], r["phone"]): r for r in rows}
    pair = [by[(name, "1985-03-12", None)] for name in ("周燕", "邹燕", "吕斌", "lu bin", "王伟")]
    assert M.blocked(pair[0], pair[1])  # one character typed for another, same birth date
    assert M.blocked(pair[2], pair[3])  # the same name in Han and in Latin letters
    assert not M.blocked(pair[0], pair[4])  # nothing in common but the birth date


def test_relinking_or_confirming_a_link_keeps_the_day_it_was_made(linked):
    row = next(r for r in unkeyed(linked) if r["subject_id"] is not None)
    key, later = (row["source"], row["record_id"]), date(2026, 8, 1)

    def known_then(known_at):
        return key in {v.key for v in linked.file(row["subject_id"], known_at).records}

    L.link_batch(linked, later, relink=True)
    assert L.explanation(linked, *key)["linked_on"] == DAY
    L.judge(linked, *key, row["subject_id"], same=True, by="official-7", on=later)
    link = L.explanation(linked, *key)
    assert link["state"] == "confirmed" and link["linked_on"] == DAY
    assert link["explanation"]["judgement"] == "same"
    assert known_then(DAY) and known_then(later) and not known_then(date(2026, 6, 30))
