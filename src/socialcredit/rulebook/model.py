"""Typed rulebook objects: what `rulebook.load` builds from YAML and the engine reads."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from socialcredit.dates import Duration

EFFECTS = ("deny", "review", "priority", "allow")  # strongest first
SEVERITIES = ("minor", "general", "serious")


@dataclass(frozen=True)
class Source:
    id: str
    kind: str = "government"
    context: str | None = None
    requires_consent: bool = False
    record_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Service:
    id: str
    context: str | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    record_type: str
    points: float | None = None  # fixed points; None when points_range is used
    points_range: tuple[float, float] | None = None
    per_unit: bool = False
    valid_for: Duration | None = None
    half_life: Duration | None = None
    cap: float | None = None  # absolute yearly cap (per: year)
    legal_basis: str = ""
    description: str = ""

    @property
    def negative(self) -> bool:
        if self.points is not None:
            return self.points < 0
        return self.points_range is not None and self.points_range[0] < 0


@dataclass(frozen=True)
class GradeOverride:
    record_type: str
    at_most: str
    valid_for: Duration | None = None
    legal_basis: str = ""


@dataclass(frozen=True)
class Grade:
    grade: str
    min: float | None = None  # None: the catch-all last band


@dataclass(frozen=True)
class Condition:
    record_type: str | None = None
    count: int | None = None
    within: Duration | None = None
    grade_in: tuple[str, ...] | None = None
    model_score_at_least: float | None = None  # the commercial score (350–950), reward lists


@dataclass(frozen=True)
class ListDef:
    id: str
    kind: str  # restrict | reward
    when: Condition
    term: Duration | None = None
    cleared_by: str | None = None
    notice: Duration = Duration(0, "d")
    severity: str | None = None
    legal_basis: str = ""
    description: str = ""


@dataclass(frozen=True)
class Measure:
    list: str
    service: str
    effect: str  # one of EFFECTS
    justification: str = ""


@dataclass(frozen=True)
class RepairRule:
    """Credit repair for one list: a subject may apply `min_period` after the entry took
    effect; the entry ends by itself `max_period` after it took effect."""

    list: str
    min_period: Duration | None = None  # None: may apply at once
    max_period: Duration | None = None  # None: no automatic end
    legal_basis: str = ""


@dataclass(frozen=True)
class DueProcess:
    suspend_on_objection: bool = True
    review_deadline: Duration = Duration(15, "d")
    min_link_confidence: float = 0.99
    # SPC Fa Shi [2017] No. 7 Art. 12: reconsideration may be sought within 10 days of a
    # rejection and is decided within 15 days (docs/semantics.md, "Appeals").
    appeal_window: Duration = Duration(10, "d")
    appeal_review_deadline: Duration = Duration(15, "d")
    max_term: dict[str, Duration] = field(
        default_factory=lambda: {
            "minor": Duration(3, "m"),
            "general": Duration(1, "y"),
            "serious": Duration(3, "y"),
        }
    )


@dataclass(frozen=True)
class Rulebook:
    id: str
    version: int
    country: str = "CN"
    base_score: float = 1000
    consent_required: bool = False
    effective: date | None = None
    sources: tuple[Source, ...] = ()
    services: tuple[Service, ...] | None = None  # None: not declared
    rules: tuple[Rule, ...] = ()
    grade_overrides: tuple[GradeOverride, ...] = ()
    grades: tuple[Grade, ...] = ()
    lists: tuple[ListDef, ...] = ()
    measures: tuple[Measure, ...] = ()
    due_process: DueProcess = field(default_factory=DueProcess)
    repair: tuple[RepairRule, ...] = ()
    text: str = ""  # the YAML it was loaded from, kept verbatim

    def source(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)

    def rule_for(self, record_type: str) -> Rule | None:
        return next((r for r in self.rules if r.record_type == record_type), None)

    @property
    def model_lists(self) -> tuple[ListDef, ...]:
        """The lists whose condition reads the commercial score (`model_score_at_least`)."""
        return tuple(x for x in self.lists if x.when.model_score_at_least is not None)

    def list_def(self, list_id: str) -> ListDef | None:
        return next((x for x in self.lists if x.id == list_id), None)

    def repair_for(self, list_id: str) -> RepairRule | None:
        return next((x for x in self.repair if x.list == list_id), None)

    def grade_for(self, score: float) -> str:
        """Return the first band whose inclusive minimum the score reaches."""
        for band in self.grades:
            if band.min is None or score >= band.min:
                return band.grade
        return self.grades[-1].grade

    def grade_rank(self, grade: str) -> int:
        """0 for the highest grade; a larger rank is a lower grade."""
        return [g.grade for g in self.grades].index(grade)


def in_force(versions: list[Rulebook], day: date) -> Rulebook | None:
    """Return the highest version whose `effective` is on or before `day`, or None."""
    eligible = [v for v in versions if v.effective is None or v.effective <= day]
    return max(eligible, key=lambda v: v.version, default=None)
