"""What counts as of a date: the one place that decides which stored facts a day sees.

The evaluator calls these functions directly; the batch plan (engine/plan.py) writes the
same tests as SQL, and the property test in tests/test_engine_agree.py holds them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from socialcredit import dates
from socialcredit.engine.file import Consent, File, Objection, RecordVersion
from socialcredit.rulebook.model import Duration, Rule, Rulebook


def version_in_force(v: RecordVersion, day: date) -> bool:
    """The first version applies from the record's beginning (back-filling); a later one
    from its ingest day; each until the next version's ingest day."""
    started = v.version == 1 or v.ingested_on <= day
    return started and (v.superseded_on is None or v.superseded_on > day)


def objection_state(o: Objection, day: date) -> str | None:
    """open | accepted | rejected on `day`, or None when not yet filed.

    Undecided at the review deadline, it is accepted for the subject; a rejection stands
    until an appeal is accepted (or reaches its own deadline undecided)."""
    accepted = o.accepted_on
    if accepted is not None and accepted <= day:
        return "accepted"
    if o.decided_on is not None and o.decided_on <= day:
        return o.state
    if o.filed_on <= day:
        return "open"
    return None


def consent_held(consents: tuple[Consent, ...], source: str | None, day: date) -> bool:
    """The latest grant or revoke dated on or before `day` decides; stored order breaks ties."""
    held = False
    for c in sorted(
        (c for c in consents if c.source == source and c.on <= day), key=lambda c: c.on
    ):
        held = c.action == "grant"
    return held


@dataclass(frozen=True)
class Present:
    """A record version in the view of a day, with its rule and validity end."""

    rec: RecordVersion
    rule: Rule | None
    end: date | None  # first day it no longer counts; None: forever
    objected: bool  # an objection against it is open on the day

    def counts_on(self, day: date) -> bool:
        return self.rec.occurred_at <= day and (self.end is None or day < self.end)


def end_of(start: date, dur: Duration | None, country: str) -> date | None:
    return None if dur is None else dates.add(start, dur, country)


def present_records(file: File, rb: Rulebook, day: date) -> list[Present]:
    """Return the records that exist for the subject as of `day`, in a stable order.

    Excluded: versions not in force, revoked records, links below min_link_confidence,
    records removed by an accepted objection, and records of consent-gated sources while
    consent is not held.
    """
    states: dict[tuple[str, str], set[str]] = {}
    for o in file.objections:
        if o.target == "entry":
            continue  # an entry objection acts on the entry (lists.entry_effects)
        state = objection_state(o, day)
        if state:
            states.setdefault((o.source, o.record_id), set()).add(state)
    min_link = rb.due_process.min_link_confidence
    out = []
    for v in file.records:
        if not version_in_force(v, day) or v.status != "active":
            continue
        if v.link_confidence is not None and v.link_confidence < min_link:
            continue
        seen = states.get(v.key, set())
        if "accepted" in seen:
            continue
        src = rb.source(v.source)
        if (
            src is not None
            and src.requires_consent
            and not consent_held(file.consents, v.source, day)
        ):
            continue
        rule = rb.rule_for(v.type)
        end = end_of(v.occurred_at, rule.valid_for if rule else None, rb.country)
        out.append(Present(v, rule, end, "open" in seen))
    out.sort(key=lambda p: (p.rec.occurred_at, p.rec.source, p.rec.record_id))
    return out


@dataclass(frozen=True)
class EntryAct:
    """What due process did to one list entry by a day."""

    objected: bool  # an objection against the entry is open on the day
    removed_on: date | None  # an objection was accepted or a repair approved on this day


def entry_acts(file: File, day: date) -> dict[tuple[str, date], EntryAct]:
    """Entry objections and approved repairs as of `day`, by entry (list_id, start).

    An accepted entry objection ends the entry on the day it was accepted; an approved
    repair on the day it was decided; the earliest such day wins."""
    opened: set[tuple[str, date]] = set()
    removed: dict[tuple[str, date], date] = {}
    ends = [
        ((o.list_id, o.entry_start), o.accepted_on, objection_state(o, day))
        for o in file.objections
        if o.target == "entry" and o.list_id is not None and o.entry_start is not None
    ]
    ends += [((r.list_id, r.entry_start), r.decided_on, "accepted") for r in file.repairs]
    for key, on, state in ends:
        if state == "open":
            opened.add(key)
        elif state == "accepted" and on is not None and on <= day:
            removed[key] = min(on, removed.get(key, on))
    return {k: EntryAct(k in opened, removed.get(k)) for k in opened | set(removed)}
