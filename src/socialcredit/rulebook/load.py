"""Load a rulebook: YAML text in, a checked `Rulebook` out, or every problem by path."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import holidays
import yaml
from yaml.constructor import ConstructorError

from socialcredit.rulebook import sections
from socialcredit.rulebook.model import Rulebook
from socialcredit.rulebook.reader import Problem, Reader, at, describe

TOP_KEYS = (
    "rulebook", "version", "country", "base_score", "consent_required", "effective",
    "sources", "services", "rules", "grade_overrides", "grades", "lists", "measures",
    "due_process", "repair",
)  # fmt: skip
_TIMESTAMP = "tag:yaml.org,2002:timestamp"


class RulebookError(ValueError):
    """A refused rulebook; `problems` lists everything wrong with it, each with its path."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = f"{len(self.problems)} problem{'' if len(self.problems) == 1 else 's'}"
        super().__init__(f"the rulebook is refused ({count}):\n{lines}")


class RulebookLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys and keeps dates as text until parsed on purpose."""

    yaml_implicit_resolvers = {
        first: [(tag, rx) for tag, rx in resolvers if tag != _TIMESTAMP]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                if key_node.value in seen:
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        f'found duplicate key "{key_node.value}"',
                        key_node.start_mark,
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


class _RecursiveAlias(Exception):
    pass


def _drop_duplicates(
    node: yaml.Node, path: str, problems: list[Problem], walking: set[int], done: set[int]
) -> None:
    """Report each duplicate key by path and keep its first occurrence, so checking goes on."""
    if id(node) in walking:
        raise _RecursiveAlias(node.start_mark.line + 1)
    if id(node) in done:
        return
    walking.add(id(node))
    if isinstance(node, yaml.MappingNode):
        lines: dict[str, int] = {}
        kept = []
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            line = key_node.start_mark.line + 1
            if key is not None and key in lines:
                problems.append(
                    Problem(
                        at(path, key),
                        f"duplicate key (lines {lines[key]} and {line}) — a key may appear"
                        " only once; remove one",
                    )
                )
                continue
            if key is not None:
                lines[key] = line
            kept.append((key_node, value_node))
            _drop_duplicates(value_node, at(path, key), problems, walking, done)
        node.value = kept
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _drop_duplicates(item, f"{path}[{i}]", problems, walking, done)
    walking.discard(id(node))
    done.add(id(node))


def _parse(text: str, problems: list[Problem]) -> Any:
    try:
        loader = RulebookLoader(text)
    except yaml.YAMLError as e:  # the reader refuses control characters before any parsing
        problems.append(Problem("", f"not valid YAML: {e}"))
        return None
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _drop_duplicates(node, "", problems, set(), set())
        return loader.construct_document(node)
    except _RecursiveAlias as e:
        problems.append(
            Problem("", f"an alias contains itself (line {e.args[0]}) — write the value out")
        )
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problems.append(Problem("", f"not valid YAML: {e.problem}{where}"))
    except yaml.YAMLError as e:
        problems.append(Problem("", f"not valid YAML: {e}"))
    finally:
        loader.dispose()
    return None


@lru_cache(maxsize=1)
def _countries() -> frozenset[str]:
    return frozenset(holidays.list_supported_countries())


def _header(r: Reader, m: dict[Any, Any]) -> dict[str, Any]:
    country = r.text(m, "country", "", "CN")
    if country not in _countries():
        r.problem(
            "country",
            f'"{country}" is not a country the holidays library knows — write an ISO 3166-1'
            " alpha-2 code such as CN, DE or US",
        )
    base_score = r.number_value(m.get("base_score"), "base_score")
    return {
        "id": r.ident(m, "rulebook", "") or "",
        "version": r.integer(m, "version", "", minimum=1) or 0,
        "country": country,
        "base_score": 1000.0 if base_score is None else base_score,
        "consent_required": r.boolean(m, "consent_required", "", False),
        "effective": r.date(m, "effective", ""),
    }


def _read(text: str) -> tuple[Rulebook | None, list[Problem]]:
    r = Reader()
    data = _parse(text, r.problems)
    if r.problems and data is None:
        return None, r.problems
    if not isinstance(data, dict):
        r.problem(
            "",
            "a rulebook must be a YAML mapping starting with rulebook: ID, version: 1 and"
            f" grades: [...], not {'an empty file' if data is None else describe(data)}",
        )
        return None, r.problems
    r.mapping(data, "", TOP_KEYS, required=("rulebook", "version", "grades"))
    r.protected_keys(data, "")
    header = _header(r, data)

    grades = sections.read_grades(r, data)
    labels = [g.grade for g in grades] if grades is not None else None
    sources = [(p, sections.read_source(r, x, p)) for p, x in r.items(data, "sources", "")]
    has_services = data.get("services") is not None
    services = [(p, sections.read_service(r, x, p)) for p, x in r.items(data, "services", "")]
    rules = [(p, sections.read_rule(r, x, p)) for p, x in r.items(data, "rules", "")]
    overrides = [
        sections.read_override(r, x, p, labels) for p, x in r.items(data, "grade_overrides", "")
    ]
    lists = [(p, sections.read_list(r, x, p, labels)) for p, x in r.items(data, "lists", "")]
    list_ids = [x.id for _, x in lists if x]
    service_ids = [s.id for _, s in services if s] if has_services else None
    measures = [
        (p, sections.read_measure(r, x, p, list_ids, service_ids))
        for p, x in r.items(data, "measures", "")
    ]
    due_process = sections.read_due_process(r, data.get("due_process"))
    repair = [(p, sections.read_repair(r, x, p, list_ids)) for p, x in r.items(data, "repair", "")]
    sections.unique(r, ((at(p, "list"), x.list) for p, x in repair if x), "repair list",
                    "one repair rule per list; merge the two")  # fmt: skip

    sections.unique(r, ((at(p, "id"), s.id) for p, s in sources if s), "source id")
    sections.unique(r, ((at(p, "id"), s.id) for p, s in services if s), "service id")
    sections.unique(r, ((at(p, "id"), x.id) for p, x in rules if x), "rule id")
    sections.unique(r, ((at(p, "id"), x.id) for p, x in lists if x), "list id")
    sections.unique(
        r,
        ((at(p, "record_type"), x.record_type) for p, x in rules if x),
        "record type",
        "one rule per record type; merge the two rules",
    )
    sections.unique(
        r,
        (
            (f"{p}.record_types[{i}]", t)
            for p, s in sources
            if s
            for i, t in enumerate(s.record_types)
        ),
        "record type",
        "a record type comes from one source; list it under one only",
    )
    first_measure: dict[tuple[str, str], str] = {}
    for p, x in measures:
        if x and (x.list, x.service) in first_measure:
            r.problem(
                p,
                f'list "{x.list}" already has a measure at service "{x.service}"'
                f" ({first_measure[x.list, x.service]}) — keep one measure per list and service",
            )
        elif x:
            first_measure[x.list, x.service] = p
    if r.problems:
        return None, r.problems
    rulebook = Rulebook(
        **header,
        sources=tuple(s for _, s in sources if s),
        services=tuple(s for _, s in services if s) if has_services else None,
        rules=tuple(x for _, x in rules if x),
        grade_overrides=tuple(x for x in overrides if x),
        grades=tuple(grades or ()),
        lists=tuple(x for _, x in lists if x),
        measures=tuple(m for _, m in measures if m),
        due_process=due_process,
        repair=tuple(x for _, x in repair if x),
        text=text,
    )
    return rulebook, []


def validate(text: str) -> list[Problem]:
    """Return every problem with a rulebook's YAML text; an empty list means it loads."""
    return _read(text)[1]


def load_rulebook(text: str) -> Rulebook:
    """Parse and check a rulebook's YAML text, or raise `RulebookError` listing every problem."""
    rulebook, problems = _read(text)
    if rulebook is None:
        raise RulebookError(problems)
    return rulebook
