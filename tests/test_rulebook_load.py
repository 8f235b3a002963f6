"""The default rulebook loads into typed objects; versions and bands resolve as SPEC §3 says."""

from __future__ import annotations

from datetime import date

import pytest

from socialcredit.dates import Duration
from socialcredit.rulebook import (
    Condition,
    DueProcess,
    Rulebook,
    default_rulebook,
    default_rulebook_text,
    in_force,
    load_rulebook,
    protected_category,
    validate,
)

SOURCES = {
    "court": ("government", "judicial"),
    "tax": ("government", "tax"),
    "bank": ("commercial", "finance"),
    "rail": ("government", "transport"),
    "aviation": ("government", "transport"),
    "traffic": ("government", "public-safety"),
    "utility": ("government", "public-services"),
    "volunteer": ("government", "civic"),
    "civic": ("government", "civic"),
    "school": ("government", "education"),
    "shop": ("commercial", "commerce"),
}
# record type -> (points or points_range, valid_for)
SCORED = {
    "court.dishonest_debtor": (-50, "5y"),
    "court.judgment_breach": (-50, "5y"),
    "tax.evasion": (-50, "5y"),
    "finance.bank_arrears": (-10, "5y"),
    "finance.private_lending_breach": (-20, "5y"),
    "rail.fare_evasion": (-5, "1y"),
    "rail.disruption": (-20, "2y"),
    "aviation.unruly_passenger": (-20, "2y"),
    "traffic.red_light": (-5, "1y"),
    "traffic.speeding": (-5, "1y"),
    "traffic.drunk_driving": (-50, "3y"),
    "utility.fee_arrears": (-20, "3y"),
    "utility.theft": (-60, "5y"),
    "school.academic_misconduct": (-30, "3y"),
    "volunteer.hours": (0.5, "3y"),
    "civic.blood_donation": (10, "3y"),
    "civic.commendation": ((0.5, 30), "3y"),
    "shop.untrustworthy_other": ((-50, -5), "2y"),
    "shop.on_time_payment": (1, "1y"),
}


@pytest.fixture(scope="module")
def rulebook() -> Rulebook:
    return default_rulebook()


def tiny(version: int, effective: str | None = None) -> Rulebook:
    line = f"effective: {effective}\n" if effective else ""
    grades = "grades:\n  - {grade: A, min: 0}\n  - {grade: B}\n"
    return load_rulebook(f"rulebook: t\nversion: {version}\n{line}{grades}")


def test_default_rulebook_loads_and_keeps_its_text(rulebook: Rulebook) -> None:
    assert validate(default_rulebook_text()) == []
    assert (rulebook.id, rulebook.version, rulebook.country) == ("municipal", 1, "CN")
    assert rulebook.base_score == 1000
    assert rulebook.consent_required is False
    assert rulebook.effective is None
    assert rulebook.text == default_rulebook_text()


def test_default_sources_and_services(rulebook: Rulebook) -> None:
    assert {s.id: (s.kind, s.context) for s in rulebook.sources} == SOURCES
    assert rulebook.source("bank").record_types == (
        "finance.bank_arrears",
        "finance.private_lending_breach",
    )
    assert [s.id for s in rulebook.sources if s.requires_consent] == ["shop"]
    assert rulebook.services is not None
    assert [s.id for s in rulebook.services] == [
        "flight", "rail_hsr", "hotel_luxury", "private_school", "loan", "gov_services",
        "airport_security", "library",
    ]  # fmt: skip


def test_default_rules_round_trip_types(rulebook: Rulebook) -> None:
    assert {r.record_type for r in rulebook.rules} == set(SCORED)
    for rule in rulebook.rules:
        points, valid_for = SCORED[rule.record_type]
        if isinstance(points, tuple):
            assert (rule.points, rule.points_range) == (None, points)
        else:
            assert (rule.points, rule.points_range) == (points, None)
        assert rule.valid_for == Duration.parse(valid_for)
        assert rule.legal_basis and rule.description
    bank = rulebook.rule_for("finance.bank_arrears")
    assert bank is not None and bank.per_unit is True and bank.cap is None
    volunteering = rulebook.rule_for("volunteer.hours")
    assert volunteering is not None
    assert (volunteering.per_unit, volunteering.cap) == (True, 20.0)
    assert volunteering.half_life == Duration(1, "y")
    assert rulebook.rule_for("court.obligation_performed") is None
    override = rulebook.grade_overrides[0]
    assert (override.record_type, override.at_most, override.valid_for) == (
        "traffic.drunk_driving",
        "C",
        Duration(2, "y"),
    )


def test_default_lists_and_measures(rulebook: Rulebook) -> None:
    debtors = rulebook.list_def("dishonest-debtors")
    assert debtors is not None
    assert debtors.when == Condition(record_type="court.dishonest_debtor")
    assert (debtors.term, debtors.cleared_by, debtors.notice, debtors.severity) == (
        Duration(2, "y"),
        "court.obligation_performed",
        Duration(0, "d"),
        "serious",
    )
    fares = rulebook.list_def("repeat-fare-evaders")
    assert fares is not None
    assert fares.when == Condition("rail.fare_evasion", 3, Duration(1, "y"))
    assert (fares.term, fares.notice) == (Duration(90, "d"), Duration(7, "wd"))
    low = rulebook.list_def("low-grade")
    assert low is not None and low.when.grade_in == ("D",) and low.term is None
    honour = rulebook.list_def("honour-roll")
    assert honour is not None and honour.kind == "reward" and honour.notice == Duration(0, "d")
    assert all(x.legal_basis and x.description for x in rulebook.lists)
    effects = {(m.list, m.service): m.effect for m in rulebook.measures}
    assert effects[("flight-ban", "airport_security")] == "review"
    assert effects[("honour-roll", "gov_services")] == "priority"
    assert effects[("deposit-waiver", "library")] == "priority"
    assert rulebook.list_def("deposit-waiver").when.model_score_at_least == 650
    assert len(effects) == 13
    for measure in rulebook.measures:
        if measure.list in ("dishonest-debtors", "serious-tax-violators", "low-grade"):
            assert measure.justification


def test_default_due_process(rulebook: Rulebook) -> None:
    assert rulebook.due_process == DueProcess(
        suspend_on_objection=True,
        review_deadline=Duration(15, "d"),
        min_link_confidence=0.99,
        max_term={
            "minor": Duration(3, "m"),
            "general": Duration(1, "y"),
            "serious": Duration(3, "y"),
        },
    )


@pytest.mark.parametrize(
    ("score", "grade"),
    [
        (2000, "AAA"), (1050, "AAA"), (1049.99, "AA"), (1030, "AA"), (1029.5, "A"),
        (960, "A"), (850, "B"), (849.99, "C"), (600, "C"), (599.5, "D"), (-400, "D"),
    ],
)  # fmt: skip
def test_band_lookup_edges(rulebook: Rulebook, score: float, grade: str) -> None:
    assert rulebook.grade_for(score) == grade


def test_effective_date_is_parsed_quoted_or_not() -> None:
    assert tiny(2, "2026-01-01").effective == date(2026, 1, 1)
    assert tiny(2, '"2026-01-01"').effective == date(2026, 1, 1)


def test_in_force_picks_the_highest_version_already_effective() -> None:
    v1, v2, v3 = tiny(1), tiny(2, "2026-01-01"), tiny(3, "2026-07-01")
    versions = [v3, v1, v2]
    assert in_force(versions, date(2025, 12, 31)) is v1
    assert in_force(versions, date(2026, 1, 1)) is v2
    assert in_force(versions, date(2026, 6, 30)) is v2
    assert in_force(versions, date(2026, 7, 1)) is v3
    assert in_force([v2], date(2025, 1, 1)) is None


def test_services_left_out_means_not_declared() -> None:
    assert tiny(1).services is None
    assert tiny(1).due_process == DueProcess()


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("health.diagnosis", "health or medical data"),
        ("survey.religion", "religion or belief"),
        ("biometric.face_match", "biometric data"),
        ("member.trade_union", "trade-union membership"),
        ("ethnic_group", "ethnicity or race"),
        ("census.Race", "ethnicity or race"),
        ("lab.dnaSample", "genetic data"),
        ("party-membership", "political opinion"),
        ("sex_life", "sex life or sexual orientation"),
        ("court.dishonest_debtor", None),
        ("civic.blood_donation", None),
        ("european_union.grant", None),
        ("trace", None),
        ("embrace.program", None),
        ("court.bad_faith_litigation", None),
    ],
)
def test_protected_category(name: str, category: str | None) -> None:
    assert protected_category(name) == category
