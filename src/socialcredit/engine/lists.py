"""List entries as of a day: when each starts, when it takes effect, when it ends, its state.

An entry starts on S when its `when` becomes true, is pending for `notice`, then active
until its term ends, a clearing record arrives, its `when` stops holding (entries without
a term), or its cause is removed. Grade conditions are tested on the file's event days
(see docs/semantics.md): the fading of decayed points alone never starts or ends an entry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from socialcredit import dates
from socialcredit.engine.view import EntryAct, Present, end_of
from socialcredit.rulebook.model import ListDef, Rulebook


@dataclass(frozen=True)
class Entry:
    list_id: str
    kind: str
    start: date
    active_from: date
    end: date | None
    state: str  # pending | active | suspended | ended
    cause: tuple[tuple[str, str], ...]  # (source, record_id)
    removed: bool = False  # ended by an accepted objection or an approved repair


GradeAt = Callable[[date], str]
ModelTimeline = list[tuple[date, float | None]]  # (event day, commercial score or None)


def state_of(
    ld: ListDef,
    start: date,
    active_from: date,
    end: date | None,
    day: date,
    objected: bool,
    suspend: bool,
) -> str:
    if end is not None and end <= day:
        return "ended"
    if suspend and objected and ld.kind == "restrict":
        return "suspended"
    return "pending" if day < active_from else "active"


def record_spans(ld: ListDef, present: list[Present], rb: Rulebook):
    """One span per day on which matching records occurred: (start, end, cause). An entry
    is known by its list and start day, so the records of one day (two judgements) make one
    entry, caused by each, which lasts until the last of them ends."""
    matching = [p for p in present if p.rec.type == ld.when.record_type]
    clearers = [p for p in present if ld.cleared_by and p.rec.type == ld.cleared_by]
    days: dict[date, list] = {}
    for p in matching:
        start = p.rec.occurred_at
        end = end_of(start, ld.term, rb.country) if ld.term else p.end
        for c in clearers:
            if p.rec.case_no and c.rec.case_no == p.rec.case_no and c.rec.occurred_at >= start:
                end = c.rec.occurred_at if end is None else min(end, c.rec.occurred_at)
        days.setdefault(start, []).append((end, p))
    for start, ends in days.items():
        end = None if any(e is None for e, _ in ends) else max(e for e, _ in ends)
        yield start, end, tuple(p for _, p in ends)


def count_spans(ld: ListDef, present: list[Present], rb: Rulebook):
    """Islands of days on which at least `count` matching records are within the window."""
    matching = [p for p in present if p.rec.type == ld.when.record_type]
    n, within = ld.when.count or 1, ld.when.within
    intervals = []
    for k in range(n - 1, len(matching)):
        start = matching[k].rec.occurred_at
        end = end_of(matching[k - n + 1].rec.occurred_at, within, rb.country)
        if end is None or end > start:
            intervals.append((start, end))
    for start, island_end in merge(intervals):
        cause = tuple(
            p
            for p in matching
            if p.rec.occurred_at <= start
            and (within is None or start < dates.add(p.rec.occurred_at, within, rb.country))
        )
        end = end_of(start, ld.term, rb.country) if ld.term else island_end
        yield start, end, cause


def merge(intervals: list[tuple[date, date | None]]) -> list[tuple[date, date | None]]:
    """Union of half-open intervals (None = open end); touching intervals join."""
    out: list[tuple[date, date | None]] = []
    for start, end in sorted(intervals, key=lambda iv: iv[0]):
        if out and (out[-1][1] is None or start <= out[-1][1]):
            last_start, last_end = out[-1]
            joined = None if end is None or last_end is None else max(last_end, end)
            out[-1] = (last_start, joined)
        else:
            out.append((start, end))
    return out


def event_days(present: list[Present], rb: Rulebook, day: date) -> list[date]:
    """Days on or before `day` on which the grade's inputs changed: scored records start or
    stop counting, grade overrides begin or lapse."""
    days = set()
    override_spans = {ov.record_type: ov.valid_for for ov in rb.grade_overrides}
    for p in present:
        if p.rule is None and p.rec.type not in override_spans:
            continue  # neither scored nor overriding: it cannot move the grade
        days.add(p.rec.occurred_at)
        if p.end is not None:
            days.add(p.end)
        if p.rec.type in override_spans:
            span = override_spans[p.rec.type]
            end = dates.add(p.rec.occurred_at, span, rb.country) if span else p.end
            if end is not None:
                days.add(end)
    return sorted(d for d in days if d <= day)


def islands(days: list[date], holds: Callable[[date], bool]) -> list[tuple[date, date | None]]:
    """Runs of consecutive event days on which the condition holds: (first day, the first
    event day after it on which it no longer holds, or None)."""
    start, out = None, []
    for e in days:
        ok = holds(e)
        if ok and start is None:
            start = e
        elif not ok and start is not None:
            out.append((start, e))
            start = None
    if start is not None:
        out.append((start, None))
    return out


def island_spans(ld: ListDef, runs, rb: Rulebook, day: date, cause_on):
    for start, island_end in runs:
        end = end_of(start, ld.term, rb.country) if ld.term else island_end
        last = day if end is None or end > day else end - timedelta(days=1)
        yield start, end, cause_on(last)


def grade_spans(ld: ListDef, present: list[Present], rb: Rulebook, day: date, grade_at: GradeAt):
    wanted = set(ld.when.grade_in or ())
    runs = islands(event_days(present, rb, day), lambda e: grade_at(e) in wanted)

    def negative_on(last: date):
        return tuple(
            p for p in present if p.rule is not None and p.rule.negative and p.counts_on(last)
        )

    return island_spans(ld, runs, rb, day, negative_on)


def model_spans(ld: ListDef, timeline: ModelTimeline, rb: Rulebook, day: date):
    """Islands where the commercial score reaches the threshold (scorecard/timeline.py);
    no records cause them: the score does."""
    score = dict(timeline)
    floor = ld.when.model_score_at_least
    runs = islands(sorted(d for d in score if d <= day),
                   lambda d: score[d] is not None and score[d] >= floor)
    return island_spans(ld, runs, rb, day, lambda last: ())


def due_end(
    ld: ListDef, rb: Rulebook, active_from: date, end: date | None, act: EntryAct | None
) -> tuple[date | None, bool]:
    """The entry's end after due process: a repair rule's `max_period` from the day it took
    effect, and removal by an accepted objection or approved repair; (end, removed)."""
    rule = rb.repair_for(ld.id)
    ends = [end, end_of(active_from, rule.max_period if rule else None, rb.country)]
    removed_on = act.removed_on if act else None
    known = [d for d in [*ends, removed_on] if d is not None]
    out = min(known) if known else None
    return out, removed_on is not None and out == removed_on


def list_entries(
    present: list[Present],
    rb: Rulebook,
    day: date,
    has_score: bool,
    grade_at: GradeAt,
    model_timeline: ModelTimeline | None = None,
    acts: dict[tuple[str, date], EntryAct] | None = None,
) -> list[Entry]:
    """Every entry of every list that started on or before `day`, with its state on `day`."""
    out = []
    suspend = rb.due_process.suspend_on_objection
    for ld in rb.lists:
        if not has_score and (ld.kind == "reward" or ld.when.grade_in):
            continue  # no scoring consent: no grade-based and no reward lists
        if ld.when.model_score_at_least is not None:
            spans = model_spans(ld, model_timeline or [], rb, day)
        elif ld.when.grade_in:
            spans = grade_spans(ld, present, rb, day, grade_at)
        elif ld.when.count:
            spans = count_spans(ld, present, rb)
        else:
            spans = record_spans(ld, present, rb)
        for start, end, cause in spans:
            if start > day:
                continue
            active_from = dates.add(start, ld.notice, rb.country)
            act = (acts or {}).get((ld.id, start))
            end, removed = due_end(ld, rb, active_from, end, act)
            objected = any(p.objected for p in cause) or (act is not None and act.objected)
            state = state_of(ld, start, active_from, end, day, objected, suspend)
            keys = tuple(sorted(p.rec.key for p in cause))
            out.append(Entry(ld.id, ld.kind, start, active_from, end, state, keys, removed))
    out.sort(key=lambda e: (e.list_id, e.start, e.cause))
    return out
