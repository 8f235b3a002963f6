"""Reward lists on the commercial score (issue 9): `when: {model_score_at_least: N}`.

The toy scorecard of test_scorecard scores a consenting subject 200 (no arrears) or -200
(3+ months in the last 12) + 200 (no judgement) + 180 (no volunteering) + 190 (tenure; 210
with no record at all): 790 with no records, 770 with an old record, 370 in arrears.
"""

from __future__ import annotations

from datetime import date

import pytest
import yaml

from socialcredit.engine import duckdb as engine
from socialcredit.engine.evaluate import evaluate
from socialcredit.engine.file import Consent, File, RecordVersion
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook import RulebookError, default_rulebook_text, load_rulebook
from socialcredit.scorecard.timeline import file_timeline
from test_scorecard import toy_model

PERK = {
    "id": "bike-deposit",
    "kind": "reward",
    "when": {"model_score_at_least": 770},
    "description": "no deposit for a rented bike or flat",
}


def rulebook(**perk):
    data = yaml.safe_load(default_rulebook_text())
    data["lists"].append({**PERK, **perk})
    data["measures"].append(
        {"list": "bike-deposit", "service": "gov_services", "effect": "priority"}
    )
    return load_rulebook(yaml.safe_dump(data, allow_unicode=True))


GRANT, REVOKE = date(2025, 1, 1), date(2026, 9, 1)
ARREARS = date(2025, 6, 1)


def subject(sid="s1", consents=((None, "grant", GRANT), (None, "revoke", REVOKE))) -> File:
    return File(
        sid,
        records=(RecordVersion("bank", f"{sid}-a", "finance.bank_arrears", ARREARS, quantity=3),),
        consents=tuple(Consent(*c) for c in consents),
    )


def spans(entries):
    return [(e.list_id, e.start, e.end, e.state) for e in entries if e.list_id == PERK["id"]]


def test_the_perk_follows_the_score_and_the_consent():
    rb, f, day = rulebook(), subject(), date(2026, 10, 1)
    timeline = file_timeline(f, rb, day, toy_model())
    score = dict(timeline)
    assert score[GRANT] == 790 and score[ARREARS] == 370
    assert score[date(2026, 6, 1)] == 770  # the arrears leave the 12-month window
    assert score[REVOKE] is None  # no consent, no score
    ev = evaluate(f, rb, day, timeline)
    assert spans(ev.entries) == [
        ("bike-deposit", GRANT, ARREARS, "ended"),
        ("bike-deposit", date(2026, 6, 1), REVOKE, "ended"),
    ]
    live = evaluate(f, rb, date(2026, 8, 31), file_timeline(f, rb, date(2026, 8, 31), toy_model()))
    assert spans(live.entries) == [
        ("bike-deposit", GRANT, ARREARS, "ended"),
        ("bike-deposit", date(2026, 6, 1), None, "active"),
    ]


def test_a_higher_threshold_a_term_and_no_model():
    f, day = subject(consents=((None, "grant", GRANT),)), date(2026, 10, 1)
    high = rulebook(when={"model_score_at_least": 780}, term="3m")
    ev = evaluate(f, high, day, file_timeline(f, high, day, toy_model()))
    # 790 only before the first record; afterwards tenure counts and it is 770 at best
    assert spans(ev.entries) == [("bike-deposit", GRANT, date(2025, 4, 1), "ended")]
    assert file_timeline(f, high, day, None) is None
    assert spans(evaluate(f, high, day).entries) == []  # no model: nobody has the perk


@pytest.mark.parametrize(
    "perk", [{}, {"term": "2m", "notice": "5d"}, {"when": {"model_score_at_least": 790}}]
)
def test_the_batch_plan_agrees_with_the_evaluator(perk):
    rb, day, model = rulebook(**perk), date(2026, 7, 1), toy_model()
    files = [
        subject("a"),
        subject("b", consents=((None, "grant", date(2025, 7, 1)),)),
        subject("c", consents=()),
        subject("d", consents=(("shop", "grant", GRANT),)),  # a source, not scoring
        File("e", consents=(Consent(None, "grant", date(2026, 2, 1)),)),
    ]
    con = engine.connect(tables_from_files(files))
    batch = engine.run(con, rb, day, model=model)
    con.close()
    got = sorted(
        (r["subject_id"], r["start"], r["end"], r["state"])
        for r in batch.entries.to_pylist()
        if r["list_id"] == PERK["id"]
    )
    want = sorted(
        (f.subject_id, e.start, e.end, e.state)
        for f in files
        for e in evaluate(f, rb, day, file_timeline(f, rb, day, model)).in_force()
        if e.list_id == PERK["id"]
    )
    assert got == want and want  # someone holds the perk in every case
    priority = {
        r["subject_id"]
        for r in batch.decisions.to_pylist()
        if r["service"] == "gov_services" and r["decision"] == "priority"
    }
    assert {s for s, _, _, st in want if st == "active"} <= priority


@pytest.mark.parametrize(
    "when, message",
    [
        ({"model_score_at_least": 1200}, "must be between 350 and 950, not 1200"),
        ({"model_score_at_least": 700, "grade_in": ["D"]}, "give exactly one of"),
        ({"model_score_at_least": "high"}, "must be a number"),
    ],
)
def test_a_bad_condition_is_refused_with_its_path(when, message):
    with pytest.raises(RulebookError) as e:
        rulebook(when=when)
    assert any(p.path.startswith("lists[") and message in p.message for p in e.value.problems)


def test_a_commercial_score_never_restricts():
    with pytest.raises(RulebookError) as e:
        rulebook(kind="restrict", legal_basis="none")
    assert any(
        "never restrict" in p.message and p.path.endswith("when.model_score_at_least")
        for p in e.value.problems
    )
