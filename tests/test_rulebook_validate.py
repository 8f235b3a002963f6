"""Each broken rulebook is refused with exactly the problems its `# expect:` header names."""

from __future__ import annotations

from pathlib import Path

import pytest

from socialcredit.rulebook import Problem, RulebookError, load_rulebook, validate

BROKEN = sorted((Path(__file__).parent / "rulebooks" / "broken").glob("*.yaml"))


def expectations(path: Path) -> list[tuple[str, str]]:
    """Read the `# expect: PATH | MESSAGE FRAGMENT` lines at the top of a broken file."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# expect:"):
            where, _, fragment = line.removeprefix("# expect:").partition(" | ")
            found.append((where.strip(), fragment.strip()))
    return found


def test_there_is_a_broken_file_per_failure_mode() -> None:
    assert len(BROKEN) >= 20
    assert all(expectations(path) for path in BROKEN)


@pytest.mark.parametrize("path", BROKEN, ids=[p.stem for p in BROKEN])
def test_broken_rulebook_is_refused_with_the_right_path_and_message(path: Path) -> None:
    problems = validate(path.read_text(encoding="utf-8"))
    expected = expectations(path)
    for where, fragment in expected:
        assert any(p.path == where and fragment in p.message for p in problems), (
            f"expected {where}: ...{fragment}..., got {[str(p) for p in problems]}"
        )
    assert len(problems) == len(expected), [str(p) for p in problems]


def test_load_raises_with_every_problem() -> None:
    path = next(p for p in BROKEN if p.stem == "bad-duration")
    with pytest.raises(RulebookError) as refused:
        load_rulebook(path.read_text(encoding="utf-8"))
    assert refused.value.problems == validate(path.read_text(encoding="utf-8"))
    assert 'rules[0].valid_for: cannot parse "5 years"' in str(refused.value)


THREE_PROBLEMS = """\
rulebook: t
version: 1
grades:
  - {grade: A, min: 900}
  - {grade: B, min: 500}
rules:
  - {id: r, record_type: court.x, points: -5, valid_for: 5 years}
lists:
  - {id: l, kind: restrict, when: {record_type: court.x}}
measures:
  - {list: nowhere, service: flight, effect: deny}
"""


def test_every_problem_is_reported_not_just_the_first() -> None:
    problems = validate(THREE_PROBLEMS)
    assert [p.path for p in problems] == ["grades", "rules[0].valid_for", "measures[0].list"]
    assert "no catch-all band" in problems[0].message
    assert 'cannot parse "5 years"' in problems[1].message
    assert '"nowhere" is not a declared list — declared: l' in problems[2].message


def test_a_duplicate_key_does_not_hide_the_other_problems() -> None:
    text = THREE_PROBLEMS.replace("version: 1\n", "version: 1\nversion: 2\n")
    paths = [p.path for p in validate(text)]
    assert paths == ["version", "grades", "rules[0].valid_for", "measures[0].list"]


def test_services_are_open_when_not_declared() -> None:
    text = THREE_PROBLEMS.replace("nowhere", "l").replace("5 years", "5y")
    text = text.replace("min: 500}", "min: 500}\n  - {grade: C}")
    assert validate(text) == []


def test_problem_reads_as_path_and_message() -> None:
    assert str(Problem("rules[3].valid_for", "cannot parse")) == "rules[3].valid_for: cannot parse"
    assert str(Problem("", "not valid YAML")) == "not valid YAML"
