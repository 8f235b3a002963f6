"""The per-subject evaluator: one file, one day, the whole answer, every point explained.

It is the reference semantics (SPEC §3 "Semantics in detail", settled further in
docs/semantics.md); the batch plan must agree with it on every subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from socialcredit import dates
from socialcredit.engine.file import File
from socialcredit.engine.lists import Entry, ModelTimeline, list_entries
from socialcredit.engine.view import Present, consent_held, entry_acts, present_records
from socialcredit.rulebook.model import Rulebook


@dataclass(frozen=True)
class Contribution:
    source: str
    record_id: str
    rule: str
    points: float


@dataclass
class Evaluation:
    subject_id: str
    as_of: date
    rulebook: Rulebook
    score: float | None
    grade: str | None
    contributions: list[Contribution]
    entries: list[Entry]
    present: list[Present] = field(repr=False, default_factory=list)

    def in_force(self) -> list[Entry]:
        """Entries not ended on the day (pending, active or suspended)."""
        return [e for e in self.entries if e.state != "ended"]


def raw_points(p: Present, day: date, country: str) -> float:
    """Points of one counting record on `day` before any cap: fixed or proposed, per unit,
    decayed."""
    rule = p.rule
    assert rule is not None
    if rule.points is not None:
        pts = rule.points
    else:
        lo, hi = rule.points_range or (0.0, 0.0)
        pts = 0.0 if p.rec.points is None else min(max(p.rec.points, lo), hi)
    if rule.per_unit:
        pts *= p.rec.quantity
    if rule.half_life is not None:
        age = (day - p.rec.occurred_at).days
        pts *= 0.5 ** (age / rule.half_life.days_from(p.rec.occurred_at, country))
    return pts


def contributions_on(present: list[Present], rb: Rulebook, day: date) -> list[Contribution]:
    """Each counting record's points on `day`; capped rules fill their yearly cap in order."""
    out = []
    running: dict[tuple[str, int], float] = {}  # (rule, year) -> raw running total
    for p in present:  # already in occurred_at order
        if p.rule is None or not p.counts_on(day):
            continue
        pts = raw_points(p, day, rb.country)
        if p.rule.cap is not None:
            key = (p.rule.id, p.rec.occurred_at.year)
            before = running.get(key, 0.0)
            after = before + pts
            running[key] = after
            cap = p.rule.cap
            pts = min(max(after, -cap), cap) - min(max(before, -cap), cap)
        out.append(Contribution(p.rec.source, p.rec.record_id, p.rule.id, pts))
    return out


def score_on(present: list[Present], rb: Rulebook, day: date) -> float:
    return rb.base_score + sum(c.points for c in contributions_on(present, rb, day))


def grade_on(present: list[Present], rb: Rulebook, day: date, score: float) -> str:
    """The band the score falls in, lowered by any grade override in force on `day`."""
    grade = rb.grade_for(score)
    for ov in rb.grade_overrides:
        for p in present:
            if p.rec.type != ov.record_type or p.rec.occurred_at > day:
                continue
            end = override_end(p, ov.valid_for, rb)
            if end is None or day < end:
                if rb.grade_rank(ov.at_most) > rb.grade_rank(grade):
                    grade = ov.at_most
    return grade


def override_end(p: Present, valid_for, rb: Rulebook) -> date | None:
    """An override holds for its own valid_for, else while the record counts."""
    if valid_for is not None:
        return dates.add(p.rec.occurred_at, valid_for, rb.country)
    return p.end


def scored(file: File, rb: Rulebook, day: date) -> bool:
    """False when the rulebook needs scoring consent and the subject does not hold it."""
    return not rb.consent_required or consent_held(file.consents, None, day)


def evaluate(
    file: File, rb: Rulebook, day: date, model_timeline: ModelTimeline | None = None
) -> Evaluation:
    """Evaluate one subject's file on `day` under rulebook `rb`; `model_timeline` is the
    commercial score on the file's event days, for `model_score_at_least` lists
    (scorecard/timeline.py; None: no model, no such entries)."""
    present = present_records(file, rb, day)
    has_score = scored(file, rb, day)
    contributions = contributions_on(present, rb, day) if has_score else []
    score = rb.base_score + sum(c.points for c in contributions) if has_score else None
    grade = grade_on(present, rb, day, score) if score is not None else None

    def grade_at(d: date) -> str:
        return grade_on(present, rb, d, score_on(present, rb, d))

    acts = entry_acts(file, day)
    entries = list_entries(present, rb, day, has_score, grade_at, model_timeline, acts)
    return Evaluation(file.subject_id, day, rb, score, grade, contributions, entries, present)
