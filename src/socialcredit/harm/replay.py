"""What a subject actually lived through: each restrict entry's enforced days, view by view.

The evaluator answers from what is stored; what was *enforced* on a day D is what the
system answered then, from the facts ingested by D (the `--known-at` view). A file's view
only changes on its breakpoints — an ingest day, a consent's date, an objection filed,
decided or reaching its deadline — so one evaluation per breakpoint interval gives the
whole enforced history: a record revoked late was enforced until the revocation arrived,
a debt paid on C but reported on R kept its entry in force from C to R.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, timedelta

import pyarrow as pa

from socialcredit.engine.evaluate import evaluate
from socialcredit.engine.file import Consent, File, Objection, RecordVersion
from socialcredit.engine.lists import Entry
from socialcredit.rulebook.model import Rulebook

Key = tuple[str, date]  # (list_id, start): an entry's identity, as in the store's entries


@dataclass
class History:
    """One restrict entry of one subject: the half-open day ranges in which it was active
    (not pending, not suspended) in the view of those days."""

    list_id: str
    start: date
    cause: set[tuple[str, str]] = field(default_factory=set)
    segments: list[tuple[date, date]] = field(default_factory=list)

    @property
    def days(self) -> int:
        return sum((b - a).days for a, b in self.segments)

    def overlap(self, lo: date, hi: date | None) -> int:
        """Enforced days inside [lo, hi) (hi None: open-ended)."""
        hi = hi or date.max
        return sum(max(0, (min(b, hi) - max(a, lo)).days) for a, b in self.segments)


def known_at(file: File, day: date) -> File:
    """The file as the system knew it on `day` (the store's `file(subject, known_at)`)."""
    records = tuple(
        replace(v, superseded_on=None) if v.superseded_on and v.superseded_on > day else v
        for v in file.records
        if v.ingested_on <= day
    )
    objections = tuple(
        replace(o, state="open", decided_on=None) if o.decided_on and o.decided_on > day else o
        for o in file.objections
        if o.filed_on <= day
    )
    consents = tuple(c for c in file.consents if c.on <= day)
    return replace(file, records=records, consents=consents, objections=objections)


def breakpoints(file: File, day: date, rb: Rulebook | None = None) -> list[date]:
    """The days on or before `day` on which the file's view can change. Given the rulebook,
    a consent's date counts only where that consent can change what counts."""
    points = {v.ingested_on for v in file.records}
    sources = {v.source for v in file.records}
    for c in file.consents:
        if rb is None:
            points.add(c.on)
        elif c.source is None:
            if rb.consent_required:
                points.add(c.on)
        elif c.source in sources and (src := rb.source(c.source)) and src.requires_consent:
            points.add(c.on)
    for o in file.objections:  # filed, decided, deadlines (appeals too, where present)
        points |= {v for v in vars(o).values() if isinstance(v, date)}
    return sorted(d for d in points if d <= day)


def could_be_listed(file: File, rb: Rulebook) -> bool:
    """False only when no view of the file can ever put it on a restrict list: it holds no
    record a record list looks at, and even every negative record counting at once, at full
    weight, leaves the grade above every grade a grade list wants. Saves the replay for
    most people."""
    types = {v.type for v in file.records}
    lists = [ld for ld in rb.lists if ld.kind == "restrict"]
    if any(ld.when.record_type in types for ld in lists):
        return True
    if any(ld.when.record_type is None and not ld.when.grade_in for ld in lists):
        return True  # a condition this filter cannot bound (a model score): replay all
    wanted = {g for ld in lists for g in (ld.when.grade_in or ())}
    if not wanted:
        return False
    if any(ov.record_type in types and ov.at_most in wanted for ov in rb.grade_overrides):
        return True
    floor = rb.base_score
    for v in file.records:
        rule = rb.rule_for(v.type)
        if rule is None:
            continue
        low = rule.points if rule.points is not None else (rule.points_range or (0, 0))[0]
        floor += min(0.0, low * (v.quantity if rule.per_unit else 1.0))
    # The score never falls below the floor; a rank grows as grades get worse.
    return rb.grade_rank(rb.grade_for(floor)) >= min(rb.grade_rank(g) for g in wanted)


def enforced(file: File, rb: Rulebook, day: date) -> tuple[dict[Key, History], list[Entry]]:
    """Every restrict entry enforced up to `day` with its enforced days, and the entries of
    the final view (the file as known on `day`, evaluated on `day`)."""
    restrict = {ld.id for ld in rb.lists if ld.kind == "restrict"}
    points = breakpoints(file, day, rb)
    out: dict[Key, History] = {}
    final: list[Entry] = []
    for i, lo in enumerate(points):
        hi = points[i + 1] if i + 1 < len(points) else day + timedelta(days=1)
        entries = evaluate(known_at(file, lo), rb, hi - timedelta(days=1)).entries
        for e in entries:
            if e.list_id not in restrict:
                continue
            h = out.setdefault((e.list_id, e.start), History(e.list_id, e.start))
            h.cause |= set(e.cause)
            a, b = max(e.active_from, lo), min(e.end or hi, hi)
            if a < b and e.state != "suspended":
                if h.segments and h.segments[-1][1] == a:  # the same run across views
                    h.segments[-1] = (h.segments[-1][0], b)
                else:
                    h.segments.append((a, b))
        final = entries
    return out, [e for e in final if e.list_id in restrict]


def files_from_tables(tables: dict[str, pa.Table]) -> list[File]:
    """Rebuild every subject's file from the store's batch tables (`Store.batch_tables`)."""
    recs: dict[str, list[RecordVersion]] = {}
    for r in tables["records"].to_pylist():
        recs.setdefault(r["subject_id"], []).append(
            RecordVersion(
                r["source"],
                r["record_id"],
                r["type"],
                r["occurred_at"],
                r["version"],
                r["quantity"],
                r["points"],
                r["case_no"],
                r["status"],
                r["ingested_on"],
                r["superseded_on"],
                r["link_confidence"],
            )
        )
    cons: dict[str, list[Consent]] = {}
    for c in tables["consents"].to_pylist():
        cons.setdefault(c["subject_id"], []).append(Consent(c["source"], c["action"], c["on"]))
    objs: dict[str, list[Objection]] = {}
    names = [f.name for f in fields(Objection)]
    for o in tables["objections"].to_pylist():  # columns the engine's Objection knows
        objs.setdefault(o["subject_id"], []).append(Objection(**{n: o[n] for n in names if n in o}))
    subjects = tables["subjects"]
    national = (
        subjects["national_id"].to_pylist()
        if "national_id" in subjects.column_names
        else [None] * subjects.num_rows
    )
    return [
        File(
            sid,
            tuple(recs.get(sid, ())),
            tuple(cons.get(sid, ())),
            tuple(objs.get(sid, ())),
            national_id=nid,
        )
        for sid, nid in zip(subjects["subject_id"].to_pylist(), national, strict=True)
    ]
