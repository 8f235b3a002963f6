"""The policy lab's simulate: a hand-built population where every number is known."""

from __future__ import annotations

import re
from datetime import date

import numpy as np
import pyarrow as pa
import pytest

from socialcredit.engine.file import Consent, File, RecordVersion
from socialcredit.engine.tables import tables_from_files
from socialcredit.rulebook import load_rulebook
from socialcredit.simulate import _bootstrap, age_band, demographics_table, render_html, simulate

DAY = date(2025, 6, 1)

HEAD = """
rulebook: lab
country: CN
sources:
  - {id: court, context: judicial}
  - {id: rail, context: transport}
services:
  - {id: flight, context: transport}
  - {id: rail_hsr, context: transport}
  - {id: loan, context: finance}
"""
ACTIVE = load_rulebook(
    "version: 1\n"
    + HEAD
    + """
rules:
  - {id: debt, record_type: court.debt, points: -200, valid_for: 5y}
  - {id: fare, record_type: rail.fare, points: -20, valid_for: 1y}
grades: [{grade: A, min: 950}, {grade: B, min: 850}, {grade: C}]
lists:
  - {id: debtors, kind: restrict, when: {record_type: court.debt}, term: 2y, legal_basis: x}
  - {id: low, kind: restrict, when: {grade_in: [C]}, legal_basis: x}
measures:
  - {list: debtors, service: flight, effect: deny}
  - {list: low, service: loan, effect: review}
"""
)
# Fares cost more, debtors stay listed 5 years and lose high-speed rail too, two fares in a
# year bar high-speed rail for 90 days, and only the new grade D sends loans to review.
CANDIDATE = load_rulebook(
    "version: 2\n"
    + HEAD
    + """
rules:
  - {id: debt, record_type: court.debt, points: -200, valid_for: 5y}
  - {id: fare, record_type: rail.fare, points: -60, valid_for: 1y}
grades: [{grade: A, min: 950}, {grade: B, min: 850}, {grade: C, min: 700}, {grade: D}]
lists:
  - {id: debtors, kind: restrict, when: {record_type: court.debt}, term: 5y, legal_basis: x}
  - {id: fare-evaders, kind: restrict, when: {record_type: rail.fare, count: 2, within: 1y},
     term: 90d, legal_basis: x}
  - {id: low, kind: restrict, when: {grade_in: [D]}, legal_basis: x}
measures:
  - {list: debtors, service: flight, effect: deny}
  - {list: debtors, service: rail_hsr, effect: deny}
  - {list: fare-evaders, service: rail_hsr, effect: deny}
  - {list: low, service: loan, effect: review}
"""
)


def rec(n: int, kind: str, on: str) -> RecordVersion:
    source = kind.split(".")[0]
    return RecordVersion(source, f"{source}-{n}", kind, date.fromisoformat(on))


# subject: records                     active: score grade lists   candidate: score grade lists
PEOPLE = {
    "p1": (),  #                        1000 A -                   1000 A -
    "p2": (rec(1, "rail.fare", "2025-01-10"),),  # 980 A -          940 B -
    "p3": (rec(2, "rail.fare", "2025-04-01"), rec(3, "rail.fare", "2025-05-01")),
    #                                   960 A -                    880 B fare-evaders
    "p4": (rec(4, "court.debt", "2024-12-01"),),  # 800 C debtors low   800 C debtors
    "p5": (rec(5, "court.debt", "2022-01-01"),),  # 800 C low (term over)  800 C debtors
    "p6": (rec(6, "court.debt", "2025-01-01"), rec(7, "court.debt", "2025-02-01")),
    #                                   600 C debtors low          600 D debtors low
}
SEX = {"p1": "F", "p2": "F", "p3": "M", "p4": "M", "p5": "F", "p6": "M"}


def tables(people=PEOPLE, **consents):
    return tables_from_files(
        [File(s, records, consents.get(s, ())) for s, records in people.items()]
    )


def demographics():
    ids = list(PEOPLE)
    return pa.table(
        {
            "subject_id": ids,
            "district": ["north", "north", "north", "south", "south", "south"],
            "sex": [SEX[s] for s in ids],
            "age_band": ["25-34"] * 6,
        }
    )


@pytest.fixture(scope="module")
def report():
    return simulate(tables(), ACTIVE, CANDIDATE, DAY, demographics(), replicates=400, seed=7)


def test_grade_transition_matrix(report):
    g = report["grades"]
    assert g["active"] == ["A", "B", "C", None]
    assert g["candidate"] == ["A", "B", "C", "D", None]
    assert g["matrix"] == [
        [1, 2, 0, 0, 0],  # A → A (p1), A → B (p2, p3)
        [0, 0, 0, 0, 0],
        [0, 0, 2, 1, 0],  # C → C (p4, p5), C → D (p6)
        [0, 0, 0, 0, 0],
    ]
    assert g["changed"] == 3
    assert report["subjects"] == 6


def test_list_entries_that_start_or_end(report):
    assert report["lists"] == {
        "debtors": {"kind": "restrict", "in_active": 2, "in_candidate": 3,
                    "starting": 1, "ending": 0},  # p5 back on the list under a 5y term
        "low": {"kind": "restrict", "in_active": 3, "in_candidate": 1,
                "starting": 0, "ending": 2},  # p4 and p5 are C, no longer low
        "fare-evaders": {"kind": "restrict", "in_active": None, "in_candidate": 1,
                         "starting": 1, "ending": 0},  # a new list: p3
    }  # fmt: skip


def test_decisions_that_change_per_service(report):
    d = report["decisions"]
    assert list(d) == ["flight", "rail_hsr", "loan"]
    assert d["flight"]["changes"] == [{"from": "allow", "to": "deny", "count": 1}]  # p5
    assert d["flight"]["active"] == {"deny": 2, "review": 0, "priority": 0, "allow": 4}
    assert d["flight"]["candidate"] == {"deny": 3, "review": 0, "priority": 0, "allow": 3}
    assert d["rail_hsr"]["changes"] == [{"from": "allow", "to": "deny", "count": 4}]
    assert d["loan"]["changes"] == [{"from": "review", "to": "allow", "count": 2}]
    assert d["loan"]["candidate"]["review"] == 1
    assert [x["changed"] for x in d.values()] == [1, 4, 2]


def test_the_most_affected_are_counted_never_named(report):
    assert report["most_affected"] == {
        "by_services_changed": {"1": 2, "2": 1, "3": 1},  # p3, p6; p4; p5
        "changed_at_2_or_more_services": 2,
        "newly_denied_somewhere": 4,  # p3, p4, p5, p6
        "no_longer_denied_somewhere": 0,
        "newly_on_a_restrict_list": 2,  # p3 (fare-evaders), p5 (debtors)
        "grade_lower": 3,
        "grade_higher": 0,
    }
    assert not re.search(r"\bp[1-6]\b", repr(report))


def metric(report, rulebook, kind, name):
    return next(
        m for m in report["fairness"]["metrics"]
        if (m["rulebook"], m["kind"], m["name"]) == (rulebook, kind, name)
    )  # fmt: skip


def test_fairness_rates_and_disparity_ratios(report):
    f = report["fairness"]
    assert (f["population"], f["without_demographics"]) == (6, 0)
    assert f["attributes"] == ["district", "sex", "age_band"]
    flight = metric(report, "candidate", "denied", "flight")  # p4, p5, p6
    assert flight["overall"] == 0.5
    by_sex = {g["group"]: g for g in flight["by"]["sex"]}
    assert (by_sex["M"]["n"], by_sex["M"]["count"]) == (3, 2)  # p4, p6
    assert by_sex["M"]["rate"] == pytest.approx(2 / 3)
    assert by_sex["M"]["ratio"] == pytest.approx(4 / 3)
    assert by_sex["F"]["ratio"] == pytest.approx(2 / 3)
    before = {g["group"]: g for g in metric(report, "active", "denied", "flight")["by"]["sex"]}
    assert before["M"]["ratio"] == pytest.approx(2) and before["F"]["ratio"] == 0
    (everyone,) = flight["by"]["age_band"]
    assert everyone["ratio"] == 1 and everyone["ratio_ci"] == [1, 1]
    south = metric(report, "candidate", "listed", "debtors")["by"]["district"][1]
    assert (south["group"], south["rate"], south["ratio"]) == ("south", 1.0, 2.0)
    d = metric(report, "candidate", "grade", "D")
    assert d["by"]["district"][1]["count"] == 1
    for g in flight["by"]["sex"]:
        lo, hi = g["rate_ci"]
        assert 0 <= lo <= g["rate"] <= hi <= 1
        lo, hi = g["ratio_ci"]
        assert lo <= g["ratio"] <= hi


def test_fairness_is_reproducible_with_a_seed(report):
    again = simulate(tables(), ACTIVE, CANDIDATE, DAY, demographics(), replicates=400, seed=7)
    assert again == report
    other = simulate(tables(), ACTIVE, CANDIDATE, DAY, demographics(), replicates=400, seed=8)
    assert other["fairness"] != report["fairness"]


def test_the_bootstrap_interval_has_the_textbook_width():
    rng = np.random.default_rng(0)
    cells = np.array([[200, 200], [600, 0]])  # 50% of group 0, none of group 1: 20% overall
    rates, ratios = _bootstrap(cells, 4000, rng)
    lo, hi = np.percentile(rates[:, 0], [2.5, 97.5])
    half = 1.96 * np.sqrt(0.25 / 400)  # normal approximation, about 0.049
    assert lo == pytest.approx(0.5 - half, abs=0.01) and hi == pytest.approx(0.5 + half, abs=0.01)
    assert np.median(ratios[:, 0]) == pytest.approx(2.5, abs=0.05)
    assert (rates[:, 1] == 0).all()


def test_subjects_without_demographics_are_left_out_of_fairness():
    demo = demographics().slice(0, 4)
    got = simulate(tables(), ACTIVE, CANDIDATE, DAY, demo, replicates=10)
    assert (got["fairness"]["population"], got["fairness"]["without_demographics"]) == (4, 2)


def test_unscored_people_are_the_none_row_and_column():
    consenting = ACTIVE.text.replace("country: CN", "country: CN\nconsent_required: true")
    candidate = load_rulebook(consenting.replace("version: 1", "version: 2"))
    got = simulate(tables(p1=(Consent(None, "grant", date(2020, 1, 1)),)), ACTIVE, candidate, DAY)
    g = got["grades"]
    assert g["candidate"][-1] is None
    assert g["matrix"] == [
        [1, 0, 0, 2],  # p1 keeps A; p2 and p3 are no longer scored
        [0, 0, 0, 0],
        [0, 0, 0, 3],  # p4, p5, p6
        [0, 0, 0, 0],
    ]
    assert "fairness" not in got


def test_simulating_the_active_rulebook_changes_nothing():
    got = simulate(tables(), ACTIVE, ACTIVE, DAY)
    assert got["grades"]["changed"] == 0
    assert all(x["starting"] == x["ending"] == 0 for x in got["lists"].values())
    assert all(x["changed"] == 0 for x in got["decisions"].values())
    assert got["most_affected"]["by_services_changed"] == {}


def test_age_bands_and_demographics_from_identity_attributes():
    assert age_band(date(2001, 6, 2), DAY) == "under 25"  # 23, turns 24 tomorrow
    assert age_band(date(2000, 6, 1), DAY) == "25-34"
    assert age_band(date(1960, 6, 1), DAY) == "65 and over"
    assert age_band(None, DAY) is None
    subjects = pa.table(
        {
            "subject_id": ["a", "b"],
            "national_id": ["11010519491231002X", None],
            "sex": ["F", "M"],
            "birth_date": pa.array([date(1949, 12, 31), None], pa.date32()),
        }
    )
    assert demographics_table(subjects, DAY).to_pylist() == [
        {"subject_id": "a", "district": "110105", "sex": "F", "age_band": "65 and over"},
        {"subject_id": "b", "district": None, "sex": "M", "age_band": None},
    ]


def test_render_html_is_self_contained(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert page.count("<svg") == 2  # the heat map and the bars
    assert "rail_hsr: allow → deny" in page
    assert "fare-evaders" in page and "Fairness" in page
    # No fetch of any kind: links inside an SVG only point at its own ids.
    assert not re.search(r"<script|<link|<img|<image|@import|src=|href=\"(?!#)|url\((?!#)", page)
    assert render_html(report) == page  # deterministic
