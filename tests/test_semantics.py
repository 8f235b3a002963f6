"""SPEC §3 "Semantics in detail", case by case, on the per-subject evaluator.

Each test pins one rule at its boundary; the property test then holds the batch plan to
the same answers.
"""

from __future__ import annotations

from datetime import date

import pytest

from socialcredit.checks import CheckError, decide
from socialcredit.engine.evaluate import evaluate
from socialcredit.engine.file import Consent, File, Objection, RecordVersion
from socialcredit.rulebook import load_rulebook

RULEBOOK = """
rulebook: test
version: 1
country: CN
base_score: 1000
sources:
  - {id: court, kind: government, context: judicial}
  - {id: rail, kind: government, context: transport}
  - {id: traffic, kind: government, context: public-safety}
  - {id: volunteer, kind: government, context: civic}
  - {id: bank, kind: commercial, context: finance}
  - {id: shop, kind: commercial, context: commerce, requires_consent: true}
services:
  - {id: flight, context: transport}
  - {id: rail_hsr, context: transport}
  - {id: loan, context: finance}
  - {id: gov_services, context: public-administration}
rules:
  - {id: debtor, record_type: court.dishonest_debtor, points: -50, valid_for: 5y, legal_basis: "Fa Shi [2017] No. 7"}
  - {id: arrears, record_type: bank.arrears, points: -10, per_unit: true, valid_for: 5y}
  - {id: fare, record_type: rail.fare_evasion, points: -5, valid_for: 1y}
  - {id: drunk, record_type: traffic.drunk_driving, points: -20, valid_for: 3y}
  - {id: hours, record_type: volunteer.hours, points: 1, per_unit: true, cap: {points: 20, per: year}}
  - {id: donation, record_type: volunteer.blood, points: 40, half_life: 100d}
  - {id: shop, record_type: shop.misconduct, points_range: [-50, -5], valid_for: 2y}
grade_overrides:
  - {record_type: traffic.drunk_driving, at_most: C, valid_for: 2y}
grades:
  - {grade: AAA, min: 1050}
  - {grade: A, min: 960}
  - {grade: B, min: 850}
  - {grade: C, min: 600}
  - {grade: D}
lists:
  - {id: debtors, kind: restrict, when: {record_type: court.dishonest_debtor}, term: 2y,
     cleared_by: court.performed, notice: 0d, legal_basis: "Fa Shi [2017] No. 7 Art. 2"}
  - {id: fare-evaders, kind: restrict, when: {record_type: rail.fare_evasion, count: 3, within: 1y},
     term: 90d, notice: 7wd, legal_basis: "NDRC 2018"}
  - {id: low, kind: restrict, when: {grade_in: [C, D]}, notice: 10d, legal_basis: "municipal"}
  - {id: honour, kind: reward, when: {grade_in: [AAA]}, legal_basis: "GuoFa [2016] No. 33"}
measures:
  - {list: debtors, service: flight, effect: deny}
  - {list: debtors, service: rail_hsr, effect: deny}
  - {list: fare-evaders, service: rail_hsr, effect: deny}
  - {list: low, service: loan, effect: review}
  - {list: low, service: rail_hsr, effect: review}
  - {list: honour, service: gov_services, effect: priority}
  - {list: honour, service: rail_hsr, effect: priority}
due_process: {suspend_on_objection: true, review_deadline: 15d, min_link_confidence: 0.99}
"""

RB = load_rulebook(RULEBOOK)


def rec(source, rid, type_, occ, **kw) -> RecordVersion:
    return RecordVersion(source, rid, type_, date.fromisoformat(occ), **kw)


def ev(*records, on, consents=(), objections=(), rb=RB):
    return evaluate(
        File("s1", tuple(records), tuple(consents), tuple(objections)), rb, date.fromisoformat(on)
    )


def lists(e) -> dict:
    return {x.list_id: x.state for x in e.entries}


# -- validity windows --------------------------------------------------------------------


def test_record_counts_from_occurred_at_until_the_day_before_valid_for_ends():
    r = rec("court", "c1", "court.dishonest_debtor", "2025-03-01")
    assert ev(r, on="2025-02-28").score == 1000
    assert ev(r, on="2025-03-01").score == 950
    assert ev(r, on="2030-02-28").score == 950
    assert ev(r, on="2030-03-01").score == 1000


def test_years_are_calendar_years_clamped_to_month_end():
    r = rec("court", "c1", "court.dishonest_debtor", "2024-02-29")
    assert ev(r, on="2029-02-27").score == 950
    assert ev(r, on="2029-02-28").score == 1000  # 2024-02-29 + 5y = 2029-02-28


# -- points --------------------------------------------------------------------------------


def test_per_unit_multiplies_by_quantity():
    assert (
        ev(rec("bank", "b1", "bank.arrears", "2025-01-01", quantity=3), on="2025-06-01").score
        == 970
    )


def test_yearly_cap_fills_in_order_and_each_record_shows_its_share():
    rs = [
        rec("volunteer", f"v{i}", "volunteer.hours", f"2025-0{i}-01", quantity=8) for i in (1, 2, 3)
    ]
    rs.append(rec("volunteer", "v9", "volunteer.hours", "2026-01-05", quantity=5))
    e = ev(*rs, on="2026-02-01")
    assert e.score == 1025  # 20 for 2025 (8 + 8 + 4 + 0), 5 for 2026
    shares = {c.record_id: c.points for c in e.contributions}
    assert shares == {"v1": 8, "v2": 8, "v3": 4, "v9": 5}


def test_decay_halves_points_every_half_life_in_whole_days():
    r = rec("volunteer", "d1", "volunteer.blood", "2025-01-01")
    assert ev(r, on="2025-01-01").score == 1040
    assert ev(r, on="2025-04-11").score == pytest.approx(1020)  # 100 days later
    assert ev(r, on="2025-07-20").score == pytest.approx(1010)  # 200 days later


def test_proposed_points_are_used_for_a_points_range_rule():
    assert (
        ev(
            rec("shop", "p1", "shop.misconduct", "2025-01-01", points=-30),
            on="2025-02-01",
            consents=[Consent("shop", "grant", date(2024, 1, 1))],
        ).score
        == 970
    )


def test_score_is_not_rounded():
    r = rec("volunteer", "d1", "volunteer.blood", "2025-01-01")
    assert ev(r, on="2025-01-02").score == pytest.approx(1000 + 40 * 0.5 ** (1 / 100), abs=1e-12)


# -- grades --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "score,grade",
    [
        (1050, "AAA"),
        (1049.999, "A"),
        (960, "A"),
        (959.5, "B"),
        (850, "B"),
        (600, "C"),
        (599.99, "D"),
    ],
)
def test_band_minimums_are_inclusive(score, grade):
    assert RB.grade_for(score) == grade


def test_override_holds_the_grade_down_for_its_own_validity():
    r = rec("traffic", "t1", "traffic.drunk_driving", "2025-01-01")
    assert ev(r, on="2025-06-01").grade == "C"  # score 980 would be A
    assert ev(r, on="2026-12-31").grade == "C"
    assert ev(r, on="2027-01-01").grade == "A"  # override over; record still counts (3y)
    assert ev(r, on="2027-01-01").score == 980


# -- list states -----------------------------------------------------------------------------


def test_record_list_active_from_its_day_for_its_term_and_cleared_by_performance():
    debt = rec("court", "c1", "court.dishonest_debtor", "2025-01-10", case_no="K1")
    assert lists(ev(debt, on="2025-01-09")) == {}
    assert lists(ev(debt, on="2025-01-10"))["debtors"] == "active"
    assert lists(ev(debt, on="2027-01-09"))["debtors"] == "active"
    assert lists(ev(debt, on="2027-01-10"))["debtors"] == "ended"
    paid = rec("court", "c2", "court.performed", "2025-06-01", case_no="K1")
    assert lists(ev(debt, paid, on="2025-05-31"))["debtors"] == "active"
    assert lists(ev(debt, paid, on="2025-06-01"))["debtors"] == "ended"
    other = rec("court", "c3", "court.performed", "2025-06-01", case_no="K2")
    assert lists(ev(debt, other, on="2025-06-01"))["debtors"] == "active"


def test_count_list_pending_for_working_days_then_active_for_its_term():
    fares = [
        rec("rail", f"f{i}", "rail.fare_evasion", d)
        for i, d in enumerate(["2025-01-06", "2025-03-03", "2025-09-29"])
    ]
    assert lists(ev(*fares[:2], on="2025-10-01")) == {}
    e = ev(*fares, on="2025-09-29")
    (entry,) = e.entries
    assert entry.state == "pending"
    # 7 working days after Monday 2025-09-29 skip the National Day holidays (Oct 1-8):
    # Sep 30, Oct 9, 10, 13, 14, 15, 16
    assert entry.active_from == date(2025, 10, 16)
    assert lists(ev(*fares, on="2025-10-15"))["fare-evaders"] == "pending"
    assert lists(ev(*fares, on="2025-10-16"))["fare-evaders"] == "active"
    assert lists(ev(*fares, on="2025-12-27"))["fare-evaders"] == "active"
    assert lists(ev(*fares, on="2025-12-28"))["fare-evaders"] == "ended"  # 90d from start
    assert entry.end == date(2025, 12, 28)


def test_count_window_excludes_records_older_than_within():
    fares = [
        rec("rail", f"f{i}", "rail.fare_evasion", d)
        for i, d in enumerate(["2024-01-01", "2024-06-01", "2025-01-01"])
    ]
    assert lists(ev(*fares, on="2025-01-02")) == {}  # 2024-01-01 + 1y is 2025-01-01


def test_grade_list_pending_for_notice_then_active_and_ends_when_grade_recovers():
    drunk = rec("traffic", "t1", "traffic.drunk_driving", "2025-01-01")
    assert lists(ev(drunk, on="2025-01-05"))["low"] == "pending"
    assert lists(ev(drunk, on="2025-01-11"))["low"] == "active"
    assert lists(ev(drunk, on="2027-01-01"))["low"] == "ended"


def test_reward_list_and_measure_precedence_deny_beats_review_beats_priority():
    good = [
        rec("volunteer", "d1", "volunteer.blood", "2025-01-01"),
        rec("volunteer", "v1", "volunteer.hours", "2025-01-01", quantity=20),
    ]
    e = ev(*good, on="2025-01-02")
    assert e.grade == "AAA" and lists(e)["honour"] == "active"
    assert decide(e.entries, RB, "rail_hsr", e.as_of)["decision"] == "priority"
    fares = [
        rec("rail", f"f{i}", "rail.fare_evasion", d)
        for i, d in enumerate(["2024-12-01", "2024-12-02", "2024-12-03"])
    ]
    e = ev(*fares, on="2025-01-02")
    assert decide(e.entries, RB, "rail_hsr", e.as_of)["decision"] == "deny"
    assert decide(e.entries, RB, "flight", e.as_of)["decision"] == "allow"


def test_check_reasons_give_since_until_and_legal_basis_and_reject_unknown_services():
    debt = rec("court", "c1", "court.dishonest_debtor", "2025-01-10")
    e = ev(debt, on="2025-02-01")
    answer = decide(e.entries, RB, "flight", e.as_of)
    assert answer["reasons"] == [
        {
            "list": "debtors",
            "since": "2025-01-10",
            "until": "2027-01-10",
            "legal_basis": "Fa Shi [2017] No. 7 Art. 2",
            "how_to_object": answer["reasons"][0]["how_to_object"],
        }
    ]
    with pytest.raises(CheckError, match="not declared"):
        decide(e.entries, RB, "casino", e.as_of)


# -- corrections, revocations, objections, consent, links ------------------------------------


def test_correction_applies_from_its_ingest_day_and_revocation_removes_the_record():
    v1 = rec(
        "court",
        "c1",
        "court.dishonest_debtor",
        "2025-01-10",
        ingested_on=date(2025, 1, 10),
        superseded_on=date(2025, 3, 1),
    )
    v2 = rec(
        "court",
        "c1",
        "court.dishonest_debtor",
        "2025-01-10",
        version=2,
        ingested_on=date(2025, 3, 1),
        status="revoked",
    )
    assert ev(v1, v2, on="2025-02-28").score == 950
    assert lists(ev(v1, v2, on="2025-02-28"))["debtors"] == "active"
    assert ev(v1, v2, on="2025-03-01").score == 1000
    assert lists(ev(v1, v2, on="2025-03-01")) == {}
    v2b = rec("bank", "c1", "bank.arrears", "2025-01-10", version=2, ingested_on=date(2025, 3, 1))
    fixed = rec(
        "bank",
        "c1",
        "bank.arrears",
        "2025-01-10",
        quantity=4,
        ingested_on=date(2025, 1, 10),
        superseded_on=date(2025, 3, 1),
    )
    assert ev(fixed, v2b, on="2025-02-01").score == 960
    assert ev(fixed, v2b, on="2025-03-01").score == 990


def test_open_objection_suspends_restrict_entries_and_deadline_accepts_it():
    debt = rec("court", "c1", "court.dishonest_debtor", "2025-01-10")
    o = Objection("o1", "court", "c1", date(2025, 2, 1), date(2025, 2, 16))
    assert lists(ev(debt, on="2025-02-01", objections=[o]))["debtors"] == "suspended"
    assert ev(debt, on="2025-02-01", objections=[o]).score == 950  # points still count
    assert ev(debt, on="2025-02-16", objections=[o]).score == 1000  # accepted at deadline
    assert lists(ev(debt, on="2025-02-16", objections=[o])) == {}
    rejected = Objection(
        "o1", "court", "c1", date(2025, 2, 1), date(2025, 2, 16), "rejected", date(2025, 2, 10)
    )
    assert lists(ev(debt, on="2025-02-10", objections=[rejected]))["debtors"] == "active"


def test_consent_gated_source_counts_only_while_consent_is_held_earlier_records_included():
    p = rec("shop", "p1", "shop.misconduct", "2025-01-01", points=-20)
    grant, revoke = (
        Consent("shop", "grant", date(2025, 6, 1)),
        Consent("shop", "revoke", date(2025, 9, 1)),
    )
    assert ev(p, on="2025-05-31", consents=[grant, revoke]).score == 1000
    assert ev(p, on="2025-06-01", consents=[grant, revoke]).score == 980
    assert ev(p, on="2025-09-01", consents=[grant, revoke]).score == 1000


def test_consent_required_means_no_score_grade_or_reward_but_record_restrict_lists_apply():
    rb = load_rulebook(
        RULEBOOK.replace("base_score: 1000", "base_score: 1000\nconsent_required: true")
    )
    debt = rec("court", "c1", "court.dishonest_debtor", "2025-01-10")
    e = ev(debt, on="2025-02-01", rb=rb)
    assert e.score is None and e.grade is None and lists(e) == {"debtors": "active"}
    e = ev(debt, on="2025-02-01", rb=rb, consents=[Consent(None, "grant", date(2025, 1, 1))])
    assert e.score == 950


def test_weak_link_joins_no_file():
    weak = rec("court", "c1", "court.dishonest_debtor", "2025-01-10", link_confidence=0.9)
    assert ev(weak, on="2025-02-01").score == 1000 and lists(ev(weak, on="2025-02-01")) == {}
    strong = rec("court", "c1", "court.dishonest_debtor", "2025-01-10", link_confidence=0.995)
    assert ev(strong, on="2025-02-01").score == 950
