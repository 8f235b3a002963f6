"""Read each section of a rulebook into model objects, checking it against the others."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from socialcredit.dates import Duration
from socialcredit.rulebook.model import (
    EFFECTS,
    SEVERITIES,
    Condition,
    DueProcess,
    Grade,
    GradeOverride,
    ListDef,
    Measure,
    RepairRule,
    Rule,
    Service,
    Source,
)
from socialcredit.rulebook.reader import Reader, at, describe

SOURCE_KEYS = ("id", "kind", "context", "requires_consent", "record_types")
SOURCE_KINDS = ("government", "commercial")
SERVICE_KEYS = ("id", "context")
RULE_KEYS = (
    "id", "record_type", "points", "points_range", "per_unit", "valid_for", "half_life",
    "cap", "legal_basis", "description",
)  # fmt: skip
CAP_KEYS = ("points", "per")
OVERRIDE_KEYS = ("record_type", "at_most", "valid_for", "legal_basis")
GRADE_KEYS = ("grade", "min")
LIST_KEYS = (
    "id", "kind", "when", "term", "cleared_by", "notice", "severity", "legal_basis",
    "description",
)  # fmt: skip
LIST_KINDS = ("restrict", "reward")
WHEN_KEYS = ("record_type", "count", "within", "grade_in", "model_score_at_least")
MEASURE_KEYS = ("list", "service", "effect", "justification")
DUE_PROCESS_KEYS = (
    "suspend_on_objection", "review_deadline", "min_link_confidence", "max_term",
    "appeal_window", "appeal_review_deadline",
)  # fmt: skip
REPAIR_KEYS = ("list", "min_period", "max_period", "legal_basis")


def unique(
    r: Reader, found: Iterable[tuple[str, str | None]], what: str, why: str = "make it unique"
) -> None:
    """Refuse a value (an id, a label) that appeared before, naming where."""
    first: dict[str, str] = {}
    for path, value in found:
        if value is None:
            continue
        if value in first:
            r.problem(path, f'{what} "{value}" is already used at {first[value]} — {why}')
        else:
            first[value] = path


def _declared(r: Reader, value: str | None, path: str, what: str, names: list[str]) -> None:
    if value is not None and value not in names:
        declared = f"declared: {', '.join(names)}" if names else f"no {what} is declared"
        r.problem(path, f'"{value}" is not a declared {what} — {declared}')


def read_source(r: Reader, raw: object, path: str) -> Source | None:
    m = r.mapping(raw, path, SOURCE_KEYS, required=("id",), like="{id: court, kind: government}")
    if m is None:
        return None
    types = [r.record_type(t, p) for p, t in r.items(m, "record_types", path)]
    source_id = r.ident(m, "id", path)
    source = Source(
        id=source_id or "",
        kind=r.choice(m, "kind", path, SOURCE_KINDS) or "government",
        context=r.text(m, "context", path),
        requires_consent=r.boolean(m, "requires_consent", path, False),
        record_types=tuple(t for t in types if t),
    )
    return source if source_id else None


def read_service(r: Reader, raw: object, path: str) -> Service | None:
    m = r.mapping(
        raw, path, SERVICE_KEYS, required=("id",), like="{id: flight, context: transport}"
    )
    if m is None:
        return None
    service_id = r.ident(m, "id", path)
    return Service(service_id, r.text(m, "context", path)) if service_id else None


def _points(r: Reader, m: dict[Any, Any], path: str) -> tuple[Any, Any]:
    points = r.number_value(m.get("points"), at(path, "points"))
    raw_range = m.get("points_range")
    if raw_range is not None and m.get("points") is not None:
        r.problem(at(path, "points_range"), "give either points or points_range, not both")
        return points, None
    if raw_range is None:
        if m.get("points") is None:
            r.problem(at(path, "points"), "missing — give points: N, or points_range: [LOW, HIGH]")
        return points, None
    rpath = at(path, "points_range")
    if not isinstance(raw_range, list) or len(raw_range) != 2:
        r.problem(rpath, f"must be [LOW, HIGH], two numbers, not {describe(raw_range)}")
        return None, None
    lo, hi = (r.number_value(v, f"{rpath}[{i}]") for i, v in enumerate(raw_range))
    if lo is None or hi is None:
        return None, None
    if lo > hi:
        r.problem(
            rpath, f"[{lo:g}, {hi:g}] is reversed — write the lower end first: [{hi:g}, {lo:g}]"
        )
        return None, None
    return None, (lo, hi)


def _cap(r: Reader, raw: object, path: str) -> float | None:
    if raw is None:
        return None
    m = r.mapping(raw, path, CAP_KEYS, required=CAP_KEYS, like="{points: 20, per: year}")
    if m is None:
        return None
    if m.get("per") not in (None, "year"):
        r.problem(at(path, "per"), f"{describe(m['per'])} is not supported — only per: year")
    return r.number(m, "points", path, above=0)


def read_rule(r: Reader, raw: object, path: str) -> Rule | None:
    m = r.mapping(raw, path, RULE_KEYS, required=("id", "record_type"))
    if m is None:
        return None
    rule_id = r.ident(m, "id", path)
    record_type = r.record_type(m.get("record_type"), at(path, "record_type"))
    points, points_range = _points(r, m, path)
    rule = Rule(
        id=rule_id or "",
        record_type=record_type or "",
        points=points,
        points_range=points_range,
        per_unit=r.boolean(m, "per_unit", path, False),
        valid_for=r.duration(m, "valid_for", path),
        half_life=r.duration(m, "half_life", path),
        cap=_cap(r, m.get("cap"), at(path, "cap")),
        legal_basis=r.text(m, "legal_basis", path, ""),
        description=r.text(m, "description", path, ""),
    )
    return rule if rule_id and record_type else None


def read_grades(r: Reader, m: dict[Any, Any]) -> list[Grade] | None:
    """Read the bands, highest first, ending in exactly one catch-all without `min`."""
    if not isinstance(m.get("grades"), list) or not m["grades"]:
        if m.get("grades") is not None:
            r.problem("grades", "must be a non-empty list of bands like {grade: A, min: 960}")
        return None
    grades, labels = [], []
    previous: float | None = None
    entries = r.items(m, "grades", "")
    for i, (path, raw) in enumerate(entries):
        band = r.mapping(raw, path, GRADE_KEYS, required=("grade",), like="{grade: A, min: 960}")
        if band is None:
            continue
        label = r.text(band, "grade", path)
        labels.append((at(path, "grade"), label))
        low = r.number(band, "min", path)
        if band.get("min") is None and i < len(entries) - 1:
            r.problem(
                path,
                "only the last band may leave out min (it is the catch-all) — give this band"
                " a min or move it last",
            )
        if low is not None and previous is not None and low >= previous:
            r.problem(
                at(path, "min"),
                f"{low:g} is not below the previous band's min {previous:g} — list bands"
                " highest first, with strictly decreasing mins",
            )
        previous = low if low is not None else previous
        if label:
            grades.append(Grade(label, low))
    last = entries[-1][1]
    if isinstance(last, dict) and last.get("min") is not None:
        r.problem(
            "grades",
            "no catch-all band — end the list with a band without min, like {grade: D},"
            " so that every score gets a grade",
        )
    unique(r, labels, "grade")
    return grades


def read_override(r: Reader, raw: object, path: str, grades: list[str] | None) -> Any:
    m = r.mapping(raw, path, OVERRIDE_KEYS, required=("record_type", "at_most"))
    if m is None:
        return None
    record_type = r.record_type(m.get("record_type"), at(path, "record_type"))
    at_most = r.text(m, "at_most", path)
    if grades is not None:
        _declared(r, at_most, at(path, "at_most"), "grade", grades)
    valid_for = r.duration(m, "valid_for", path)
    legal_basis = r.text(m, "legal_basis", path, "")
    if record_type and at_most:
        return GradeOverride(record_type, at_most, valid_for, legal_basis)
    return None


def _when(r: Reader, raw: object, path: str, grades: list[str] | None) -> Condition | None:
    m = r.mapping(raw, path, WHEN_KEYS, like="{record_type: court.dishonest_debtor}")
    if m is None:
        return None
    has_type, has_grade = m.get("record_type") is not None, m.get("grade_in") is not None
    has_model = m.get("model_score_at_least") is not None
    if has_type + has_grade + has_model != 1:
        which = "not more" if has_type + has_grade + has_model else (
            "like {record_type: X}, {grade_in: [D]} or {model_score_at_least: 700}")
        r.problem(path, f"give exactly one of record_type, grade_in or model_score_at_least,"
                        f" {which}")
    record_type = r.record_type(m.get("record_type"), at(path, "record_type"))
    count = r.integer(m, "count", path, minimum=1)
    if m.get("count") is not None and not has_type:
        r.problem(at(path, "count"), "count works only with record_type, not with grade_in")
    within = r.duration(m, "within", path)
    if m.get("within") is not None and m.get("count") is None:
        r.problem(
            at(path, "within"),
            "within needs count — write {record_type: X, count: 3, within: 1y}",
        )
    grade_in = None
    if has_grade:
        entries = r.items(m, "grade_in", path)
        if not entries and isinstance(m["grade_in"], list):
            r.problem(at(path, "grade_in"), "must name at least one grade, like [D]")
        grade_in = tuple(str(g) for _, g in entries)
        for gpath, grade in entries:
            if grades is not None:
                _declared(r, str(grade), gpath, "grade", grades)
    at_least = r.number(m, "model_score_at_least", path, low=350, high=950)
    return Condition(record_type, count, within, grade_in, at_least)


def read_list(r: Reader, raw: object, path: str, grades: list[str] | None) -> ListDef | None:
    m = r.mapping(raw, path, LIST_KEYS, required=("id", "kind", "when"))
    if m is None:
        return None
    list_id = r.ident(m, "id", path)
    kind = r.choice(m, "kind", path, LIST_KINDS)
    when = _when(r, m["when"], at(path, "when"), grades) if m.get("when") is not None else None
    cleared_by = r.record_type(m.get("cleared_by"), at(path, "cleared_by"))
    if m.get("cleared_by") is not None and when and (not when.record_type or when.count):
        r.problem(
            at(path, "cleared_by"),
            "cleared_by works only for a list whose when is a record_type without count"
            " (a clearing record ends the entry of the record with the same case_no)",
        )
    if when and when.model_score_at_least is not None and kind == "restrict":
        r.problem(
            at(at(path, "when"), "model_score_at_least"),
            "a commercial score may grant perks, never restrict: use it in a reward list",
        )
    entry = ListDef(
        id=list_id or "",
        kind=kind or "restrict",
        when=when or Condition(),
        term=r.duration(m, "term", path),
        cleared_by=cleared_by,
        notice=r.duration(m, "notice", path, positive=False) or Duration(0, "d"),
        severity=r.choice(m, "severity", path, SEVERITIES),
        legal_basis=r.text(m, "legal_basis", path, ""),
        description=r.text(m, "description", path, ""),
    )
    return entry if list_id and kind and when else None


def read_measure(
    r: Reader, raw: object, path: str, lists: list[str], services: list[str] | None
) -> Measure | None:
    m = r.mapping(raw, path, MEASURE_KEYS, required=("list", "service", "effect"))
    if m is None:
        return None
    list_id, service = r.text(m, "list", path), r.text(m, "service", path)
    _declared(r, list_id, at(path, "list"), "list", lists)
    if services is not None:
        _declared(r, service, at(path, "service"), "service", services)
    effect = r.choice(m, "effect", path, EFFECTS)
    justification = r.text(m, "justification", path, "")
    if list_id and service and effect:
        return Measure(list_id, service, effect, justification)
    return None


def read_due_process(r: Reader, raw: object) -> DueProcess:
    default = DueProcess()
    m = r.mapping({} if raw is None else raw, "due_process", DUE_PROCESS_KEYS)
    if m is None:
        return default
    max_term = dict(default.max_term)
    raw_terms = m.get("max_term")
    terms = r.mapping({} if raw_terms is None else raw_terms, "due_process.max_term", SEVERITIES)
    for severity in SEVERITIES:
        if terms and terms.get(severity) is not None:
            max_term[severity] = (
                r.duration(terms, severity, "due_process.max_term") or (max_term[severity])
            )
    confidence = r.number(m, "min_link_confidence", "due_process", low=0, high=1)
    return DueProcess(
        suspend_on_objection=r.boolean(m, "suspend_on_objection", "due_process", True),
        review_deadline=r.duration(m, "review_deadline", "due_process") or default.review_deadline,
        min_link_confidence=default.min_link_confidence if confidence is None else confidence,
        max_term=max_term,
        appeal_window=r.duration(m, "appeal_window", "due_process") or default.appeal_window,
        appeal_review_deadline=r.duration(m, "appeal_review_deadline", "due_process")
        or default.appeal_review_deadline,
    )


def read_repair(r: Reader, raw: object, path: str, lists: list[str]) -> RepairRule | None:
    """One list's credit repair: `min_period` before applying, `max_period` to the end."""
    m = r.mapping(raw, path, REPAIR_KEYS, required=("list",))
    if m is None:
        return None
    list_id = r.text(m, "list", path)
    _declared(r, list_id, at(path, "list"), "list", lists)
    lo, hi = r.duration(m, "min_period", path), r.duration(m, "max_period", path)
    if lo is not None and hi is not None and (lo.unit == hi.unit and lo.n > hi.n):
        r.problem(at(path, "min_period"), f"{lo} is longer than max_period {hi} — "
                  "a subject must be able to apply before the entry ends by itself")  # fmt: skip
    if list_id is None:
        return None
    return RepairRule(list_id, lo, hi, r.text(m, "legal_basis", path, ""))
