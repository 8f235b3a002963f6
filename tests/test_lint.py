"""`rulebook lint`: one small rulebook per finding of SPEC §3 "Lint", and the default rulebook."""

from __future__ import annotations

import pytest
import yaml

from socialcredit.dates import Duration
from socialcredit.rulebook import default_rulebook, default_rulebook_text, load_rulebook
from socialcredit.rulebook.lint import (
    AUTOMATED,
    DISPROPORTIONATE,
    GUOBANFA,
    UNRELATED,
    lint,
    lint_report,
    longest_span,
)

SOURCES = [
    {"id": "library", "context": "culture"},
    {"id": "utility", "context": "public-services"},
    {"id": "court", "context": "judicial"},
]
SERVICES = [
    {"id": "flight", "context": "transport"},
    {"id": "library_loan", "context": "culture"},
    {"id": "utility_connection", "context": "public-services"},
]
FINE = {"id": "fine", "record_type": "library.unpaid_fine", "points": -5, "valid_for": "1y"}
ARREARS = {"id": "arrears", "record_type": "utility.fee_arrears", "points": -20, "valid_for": "3y"}


def rulebook(lists, measures, rules=(FINE, ARREARS), **extra) -> str:
    data = {
        "rulebook": "t",
        "version": 1,
        "sources": SOURCES,
        "services": SERVICES,
        "rules": list(rules),
        "grades": [{"grade": "A", "min": 900}, {"grade": "D"}],
        "lists": lists,
        "measures": measures,
    }
    data.update(extra)
    return yaml.safe_dump(data, sort_keys=False)


def restrict(record_type="library.unpaid_fine", **kw) -> dict:
    return {"id": "l", "kind": "restrict", "when": {"record_type": record_type},
            "term": "30d", "legal_basis": "Some Act, Art. 1", **kw}  # fmt: skip


def findings(text: str) -> list[tuple[str, str, str]]:
    return [(f.level, f.path, f.law) for f in lint(load_rulebook(text))]


def test_a_clean_rulebook_has_no_findings():
    text = rulebook([restrict()], [{"list": "l", "service": "library_loan", "effect": "deny"}])
    assert findings(text) == []
    assert lint_report(text) == {"ok": True, "errors": [], "warnings": []}


def test_library_fines_banning_flights_is_unrelated_context():
    text = rulebook([restrict()], [{"list": "l", "service": "flight", "effect": "deny"}])
    assert findings(text) == [("error", "measures[0]", "AI Act Art. 5(1)(c)(i)")]
    (f,) = lint(load_rulebook(text))
    assert "culture" in f.message and "transport" in f.message and "justification" in f.message


def test_a_written_justification_turns_unrelated_context_into_a_warning():
    measure = {"list": "l", "service": "flight", "effect": "review", "justification": "Act X"}
    assert findings(rulebook([restrict()], [measure])) == [("warning", "measures[0]", UNRELATED)]


def test_priority_and_allow_measures_are_not_restrictions():
    measures = [{"list": "l", "service": "flight", "effect": "allow"}]
    assert findings(rulebook([restrict()], measures)) == []


def test_a_grade_list_relates_to_every_negatively_scored_context():
    grade_list = {"id": "low", "kind": "restrict", "when": {"grade_in": ["D"]}, "term": "30d",
                  "legal_basis": "Some Act"}  # fmt: skip
    related = rulebook([grade_list], [{"list": "low", "service": "utility_connection",
                                       "effect": "review"}])  # fmt: skip
    assert findings(related) == [("warning", "lists[0].when", AUTOMATED)]
    unrelated = rulebook([grade_list], [{"list": "low", "service": "flight", "effect": "review"}])
    assert findings(unrelated) == [
        ("warning", "lists[0].when", AUTOMATED),
        ("error", "measures[0]", UNRELATED),
    ]


def test_one_late_utility_bill_leading_to_a_five_year_ban_is_disproportionate():
    text = rulebook(
        [restrict("utility.fee_arrears", term="5y")],
        [{"list": "l", "service": "utility_connection", "effect": "deny"}],
    )
    assert findings(text) == [("error", "lists[0].term", "AI Act Art. 5(1)(c)(ii)")]
    (f,) = lint(load_rulebook(text))
    assert "5y" in f.message and "3m" in f.message and "minor" in f.message


def test_a_disproportionate_term_without_a_deny_measure_is_a_warning():
    text = rulebook(
        [restrict("utility.fee_arrears", term="5y")],
        [{"list": "l", "service": "utility_connection", "effect": "review"}],
    )
    assert findings(text) == [("warning", "lists[0].term", DISPROPORTIONATE)]


@pytest.mark.parametrize(
    ("rule", "severity", "term", "flagged"),
    [
        ({"points": -29}, None, "3m", False),  # minor: 3m
        ({"points": -29}, None, "90d", False),  # 90d never outlasts 3m (up to 92 days)
        ({"points": -29}, None, "92d", False),
        ({"points": -29}, None, "93d", True),
        ({"points": -29}, None, "4m", True),
        ({"points": -30}, None, "1y", False),  # general: 1y
        ({"points": -30}, None, "366d", False),  # 1y can last 366 days
        ({"points": -30}, None, "367d", True),
        ({"points": -99.5}, None, "12m", False),
        ({"points": -100}, None, "3y", False),  # serious: 3y
        ({"points": -100}, None, "37m", True),
        ({"points_range": [-150, -5]}, None, "3y", False),  # the larger bound: serious
        ({"points_range": [-50, -5]}, None, "3y", True),  # general
        ({"points": -5}, "serious", "3y", False),  # a declared severity wins
        ({"points": -500}, "minor", "4m", True),
        ({"points": 50}, None, "1y", False),  # |points| counts, whatever the sign
    ],
)
def test_severity_tiers_and_term_lengths(rule, severity, term, flagged):
    rules = [{"id": "r", "record_type": "court.judgment", "valid_for": "5y", **rule}]
    ld = restrict("court.judgment", term=term, **({"severity": severity} if severity else {}))
    text = rulebook([ld], [{"list": "l", "service": "flight", "effect": "deny",
                            "justification": "x"}], rules=rules)  # fmt: skip
    expected = [("error", "lists[0].term", DISPROPORTIONATE)] if flagged else []
    assert findings(text) == expected + [("warning", "measures[0]", UNRELATED)]


def test_an_unscored_cause_type_is_general_and_max_term_is_configurable():
    ld = restrict("court.judgment", term="1y")
    measures = [{"list": "l", "service": "flight", "effect": "review", "justification": "x"}]
    assert findings(rulebook([ld], measures, rules=[])) == [("warning", "measures[0]", UNRELATED)]
    tight = rulebook([ld], measures, rules=[], due_process={"max_term": {"general": "360d"}})
    assert findings(tight) == [
        ("warning", "lists[0].term", DISPROPORTIONATE),
        ("warning", "measures[0]", UNRELATED),
    ]


def test_a_list_without_any_exit():
    rules = [{"id": "r", "record_type": "court.judgment", "points": -100}]  # no valid_for
    ld = restrict("court.judgment", severity="serious")
    del ld["term"]
    measures = [{"list": "l", "service": "flight", "effect": "review", "justification": "x"}]
    text = rulebook([ld], measures, rules=rules)
    assert findings(text) == [
        ("warning", "lists[0]", DISPROPORTIONATE),  # no term: no fixed end
        ("error", "lists[0]", "GuoBanFa 2020 No. 49"),
        ("warning", "measures[0]", UNRELATED),
    ]
    # Any one exit is enough: a clearing record, or a validity limit on the cause.
    cleared = rulebook([{**ld, "cleared_by": "court.performed"}], measures, rules=rules)
    assert GUOBANFA not in [f[2] for f in findings(cleared)]
    valid = rulebook([ld], measures, rules=[{**rules[0], "valid_for": "5y"}])
    assert GUOBANFA not in [f[2] for f in findings(valid)]


def test_a_grade_list_has_no_exit_when_a_negative_rule_counts_forever():
    rules = [FINE, {**ARREARS, "valid_for": None}]
    grade_list = {"id": "low", "kind": "restrict", "when": {"grade_in": ["D"]},
                  "severity": "serious", "legal_basis": "Some Act"}  # fmt: skip
    measures = [{"list": "low", "service": "utility_connection", "effect": "review"}]
    got = lint(load_rulebook(rulebook([grade_list], measures, rules=rules)))
    assert [(f.level, f.path, f.law) for f in got] == [
        ("warning", "lists[0]", DISPROPORTIONATE),
        ("error", "lists[0]", GUOBANFA),
        ("warning", "lists[0].when", AUTOMATED),
    ]
    assert "utility.fee_arrears" in got[1].message and "library" not in got[1].message


def test_a_restrict_list_without_legal_basis():
    ld = restrict()
    del ld["legal_basis"]
    text = rulebook([ld], [{"list": "l", "service": "library_loan", "effect": "deny"}])
    assert findings(text) == [("error", "lists[0]", GUOBANFA)]
    assert "legal_basis" in lint(load_rulebook(text))[0].message


def test_reward_lists_are_not_linted():
    reward = {"id": "r", "kind": "reward", "when": {"grade_in": ["A"]}}
    assert findings(rulebook([reward], [{"list": "r", "service": "flight",
                                         "effect": "priority"}])) == []  # fmt: skip


def test_solely_automated_is_an_error_without_suspension_on_objection():
    grade_list = {"id": "low", "kind": "restrict", "when": {"grade_in": ["D"]}, "term": "30d",
                  "legal_basis": "Some Act"}  # fmt: skip
    measures = [{"list": "low", "service": "utility_connection", "effect": "review"}]
    strict = rulebook([grade_list], measures, due_process={"suspend_on_objection": False})
    assert findings(strict) == [("error", "lists[0].when", "GDPR Art. 22(3)")]


def test_unknown_contexts_are_warnings():
    rules = [FINE, {"id": "x", "record_type": "mystery.thing", "points": -1, "valid_for": "1y"}]
    sources = [*SOURCES, {"id": "anon"}]
    services = [*SERVICES, {"id": "sauna"}]
    lists = [restrict(), {**restrict("anon.thing"), "id": "m"}]
    measures = [
        {"list": "l", "service": "sauna", "effect": "deny"},
        {"list": "m", "service": "flight", "effect": "deny"},
    ]
    text = rulebook(lists, measures, rules=rules, sources=sources, services=services)
    assert findings(text) == [
        ("warning", "rules[1].record_type", UNRELATED),  # no source "mystery"
        ("warning", "lists[1].when.record_type", UNRELATED),  # source "anon" has no context
        ("warning", "services[3]", UNRELATED),  # service "sauna" has no context
    ]
    undeclared = yaml.safe_load(rulebook([restrict()], measures[:1]))
    del undeclared["services"]
    assert findings(yaml.safe_dump(undeclared)) == [("warning", "measures[0].service", UNRELATED)]


def test_a_type_listed_by_a_source_takes_that_sources_context():
    sources = [*SOURCES, {"id": "aviation", "context": "transport",
                          "record_types": ["library.unpaid_fine"]}]  # fmt: skip
    text = rulebook([restrict()], [{"list": "l", "service": "flight", "effect": "deny"}],
                    sources=sources)  # fmt: skip
    assert findings(text) == []


def test_a_rule_scoring_religion_is_refused_before_linting():
    text = rulebook([], [], rules=[{"id": "r", "record_type": "church.religious_attendance",
                                    "points": 5}])  # fmt: skip
    report = lint_report(text)
    assert report["ok"] is False and report["warnings"] == []
    assert report["errors"] == [
        {
            "path": "rules[0].record_type",
            "message": '"church.religious_attendance" is religion or belief, a special'
            " category under GDPR Art. 9(1) — it can never be scored or used",
            "law": None,
        }
    ]


def test_the_report_splits_errors_and_warnings():
    measures = [
        {"list": "l", "service": "flight", "effect": "deny"},
        {"list": "l", "service": "utility_connection", "effect": "deny", "justification": "y"},
    ]
    report = lint_report(rulebook([restrict()], measures))
    assert report["ok"] is False
    assert [e["path"] for e in report["errors"]] == ["measures[0]"]
    assert [w["path"] for w in report["warnings"]] == ["measures[1]"]
    assert set(report["errors"][0]) == {"path", "message", "law"}


def test_longest_calendar_spans():
    def span(text):
        return longest_span(Duration.parse(text), "CN")

    assert (span("90d"), span("2w"), span("3m"), span("1y"), span("12m")) == (90, 14, 92, 366, 366)
    assert span("1m") == 31 and span("2m") == 62 and span("3y") == 1096
    assert span("7wd") > 9  # a holiday week stretches working days


def test_the_default_rulebook_lints_with_justified_warnings_only():
    report = lint_report(default_rulebook_text())
    assert report["ok"] is True and report["errors"] == []
    got = [(f.level, f.path, f.law) for f in lint(default_rulebook())]
    assert got == [
        # low-grade has no term: it ends when the grade rises, and only sends loans to review.
        ("warning", "lists[5]", DISPROPORTIONATE),
        # low-grade is caused by a grade; objections give the human review and suspend it.
        ("warning", "lists[5].when", AUTOMATED),
        # High-consumption restrictions, each justified by the SPC and NDRC texts it cites.
        ("warning", "measures[0]", UNRELATED),  # dishonest-debtors → flight
        ("warning", "measures[1]", UNRELATED),  # dishonest-debtors → rail_hsr
        ("warning", "measures[2]", UNRELATED),  # dishonest-debtors → hotel_luxury
        ("warning", "measures[3]", UNRELATED),  # dishonest-debtors → private_school
        ("warning", "measures[4]", UNRELATED),  # serious-tax-violators → flight
        ("warning", "measures[5]", UNRELATED),  # serious-tax-violators → rail_hsr
    ]
