"""The harm audit: sanctions that hit the wrong person, that outlived their cause or term,
and how long each list holds people from cause to exit.

A *sanction* is an entry of a restrict list that was active on at least one day (a pending
entry only warns); its *deny decisions* are the services where its list's measure denies.
- **Wrong person**: a cause record belongs, by the ground truth, to someone other than the
  subject (a wrong identity link, or a source that sent someone else's national id).
- **Outlived**: days the entry was enforced on which the final view (everything known on
  the audit day) says it should not have been: its cause revoked, cleared, or removed by an
  objection after the fact, or ended by another record reported late (a grade list's grade
  raised by a record that arrived after the day it happened). And, in the decision index:
  entries stored as in force on their day that the evaluator says had ended by then (term
  run out, cleared, revoked).
- **Cause to exit**: for each restrict list, days from the entry's start (the day its cause
  happened) to the first day it was no longer enforced; entries still in force are counted
  apart.
Only counts leave this module, never who.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import numpy as np

from socialcredit import dates
from socialcredit.engine.evaluate import evaluate
from socialcredit.engine.file import File
from socialcredit.engine.lists import Entry, merge
from socialcredit.engine.view import consent_held, objection_state, version_in_force
from socialcredit.harm.replay import History, could_be_listed, enforced, known_at
from socialcredit.rulebook.model import Rulebook

Truth = dict[tuple[str, str], str]  # (source, record_id) -> the true owner's national id
REASONS = ("revoked", "cleared", "late_record", "objection", "term", "other")
# Consent withdrawn after the fact drops a source's records from today's view of the whole
# history, but the sanction was lawful while consent was held: not counted as outlived.
LAWFUL = "consent"
BINS = (0, 30, 90, 180, 365, 730, 1095, 1825)  # days: the cause-to-exit histogram's edges


def harm_audit(
    files: list[File],
    rb: Rulebook,
    day: date,
    truth: Truth | None = None,
    index: list[dict] | None = None,
) -> dict:
    """Audit every file's restrict entries up to `day`; `truth` enables the wrong-person
    counts, `index` (stored entries: subject_id, list_id, start, end, state, as_of) the
    decision-index check."""
    deny = {ld.id: [] for ld in rb.lists if ld.kind == "restrict"}
    for m in rb.measures:
        if m.effect == "deny" and m.list in deny:
            deny[m.list].append(m.service)
    sanctions, wrong, outlived = _Tally(), _Tally(), _Tally()
    by_cause: Counter = Counter()
    by_reason: dict[str, Counter] = {r: Counter() for r in REASONS}
    exits: dict[str, list[int]] = {lid: [] for lid in deny}
    in_force: Counter = Counter()
    stored = _by_subject(index or [])
    index_report = {"checked": 0, "stale": 0, "by_reason": dict.fromkeys((*REASONS, LAWFUL), 0)}
    for f in files:
        histories, final = enforced(f, rb, day) if could_be_listed(f, rb) else ({}, [])
        final_by_key = {(e.list_id, e.start): e for e in final}
        windows = _windows(final)
        for key, h in histories.items():
            if not h.days:
                continue
            now = h.segments[-1][1] > day
            services = len(deny[h.list_id])
            sanctions.add(f.subject_id, h, services, now)
            if now:
                in_force[h.list_id] += 1
            else:
                exits[h.list_id].append((h.segments[-1][1] - h.start).days)
            if truth is not None:
                mistaken = [k for k in h.cause if truth.get(k, f.national_id) != f.national_id]
                if mistaken:
                    wrong.add(f.subject_id, h, services, now)
                    by_cause["linkage" if _linked(f, mistaken) else "source_mistake"] += 1
            fe = final_by_key.get(key)
            # Any entry of the same list in the final view justifies the day: a record
            # known late may move an island's start without the person being wronged.
            excess = h.days - sum(h.overlap(lo, hi) for lo, hi in windows.get(h.list_id, ()))
            reason = _reason(f, rb, day, h.list_id, h.start, h.cause, fe) if excess > 0 else ""
            if excess > 0 and reason != LAWFUL:
                outlived.add(f.subject_id, h, services, now, excess)
                by_reason[reason]["entries"] += 1
                by_reason[reason]["days"] += excess
        for row in stored.get(f.subject_id, ()):
            if row["list_id"] not in deny or row["as_of"] > day:
                continue
            index_report["checked"] += 1
            reason = _stale(f, rb, row)
            if reason:
                index_report["stale"] += 1
                index_report["by_reason"][reason] += 1
    wrong_report = None
    if truth is not None:
        causes = {c: by_cause[c] for c in ("linkage", "source_mistake")}
        wrong_report = wrong.as_dict() | {"by_cause": causes}
    reasons = {r: {"entries": c["entries"], "days": c["days"]} for r, c in by_reason.items()}
    return {
        "as_of": day.isoformat(),
        "rulebook": {"id": rb.id, "version": rb.version},
        "subjects": len(files),
        "ground_truth": truth is not None,
        "sanctions": sanctions.as_dict(),
        "wrong_person": wrong_report,
        "outlived": outlived.as_dict() | {"by_reason": reasons},
        "index": index_report if index is not None else None,
        "exit_times": {lid: _distribution(exits[lid], in_force[lid]) for lid in deny},
    }


class _Tally:
    """Entries, people, deny decisions, enforced days, and entries still in force."""

    def __init__(self) -> None:
        self.entries = self.deny = self.days = self.in_force = 0
        self.people: set[str] = set()

    def add(self, subject: str, h: History, services: int, now: bool, days: int = 0) -> None:
        self.entries += 1
        self.people.add(subject)
        self.deny += services
        self.days += days or h.days
        self.in_force += now

    def as_dict(self) -> dict:
        return {
            "entries": self.entries,
            "people": len(self.people),
            "deny_decisions": self.deny,
            "days": self.days,
            "in_force": self.in_force,
        }


def _windows(final: list[Entry]) -> dict[str, list[tuple[date, date | None]]]:
    """Per list, the merged day ranges in which the final view has an entry active."""
    spans: dict[str, list[tuple[date, date | None]]] = {}
    for e in final:
        if e.state != "suspended" and (e.end is None or e.active_from < e.end):
            spans.setdefault(e.list_id, []).append((e.active_from, e.end))
    return {lid: merge(s) for lid, s in spans.items()}


def _linked(f: File, keys: list[tuple[str, str]]) -> bool:
    """True when one of the mistaken records joined the file by an identity link."""
    return any(v.link_confidence is not None for v in f.records if v.key in set(keys))


def _reason(
    f: File, rb: Rulebook, day: date, list_id: str, start: date, cause, fe: Entry | None
) -> str:
    """Why an entry in force (in an earlier view, or in the index) should have ended."""
    if fe is None or fe.end is None or fe.end > day:
        latest = {}
        for v in f.records:
            if v.key in cause and version_in_force(v, day):
                latest[v.key] = v
        if any(v.status == "revoked" for v in latest.values()) or len(latest) < len(cause):
            return "revoked"
        if any(
            (o.source, o.record_id) in cause and objection_state(o, day) == "accepted"
            for o in f.objections
        ):
            return "objection"
        gated = {
            v.source
            for v in f.records
            if v.key in cause and (src := rb.source(v.source)) and src.requires_consent
        }
        if any(not consent_held(f.consents, s, day) for s in gated):
            return "consent"  # withdrawn since: today's view drops the source's records
        return "other"
    ld = rb.list_def(list_id)
    if ld.cleared_by and any(
        v.type == ld.cleared_by and v.occurred_at == fe.end and v.status == "active"
        for v in f.records
    ):
        return "cleared"
    if any(v.version == 1 and v.occurred_at <= fe.end < v.ingested_on for v in f.records):
        return "late_record"  # e.g. a grade list left on a record reported after the day
    if ld.term and fe.end == dates.add(start, ld.term, rb.country):
        return "term"
    return "other"


def _by_subject(rows: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in rows:
        if r["state"] in ("pending", "active"):
            out.setdefault(r["subject_id"], []).append(r)
    return out


def _stale(f: File, rb: Rulebook, row: dict) -> str | None:
    """The reason a stored entry in force on its day should not be, or None if it should."""
    as_of = row["as_of"]
    entries = evaluate(known_at(f, as_of), rb, as_of).entries
    fe = next((e for e in entries if (e.list_id, e.start) == (row["list_id"], row["start"])), None)
    if fe is not None and fe.state != "ended":
        return None
    cause = row["cause"]
    cause = json.loads(cause) if isinstance(cause, str) else cause
    keys = {tuple(c.split(":", 1)) for c in cause}
    return _reason(f, rb, as_of, row["list_id"], row["start"], keys, fe)


def _distribution(days: list[int], in_force: int) -> dict:
    """Median, 90th percentile (numpy's linear interpolation) and maximum, in days (to a
    tenth of a day)."""
    a = np.asarray(days, dtype=float)
    counts = np.histogram(a, bins=[*BINS, np.inf])[0] if len(a) else np.zeros(len(BINS), int)
    return {
        "exited": len(days),
        "in_force": in_force,
        "median_days": round(float(np.median(a)), 1) if len(a) else None,
        "p90_days": round(float(np.percentile(a, 90)), 1) if len(a) else None,
        "max_days": int(a.max()) if len(a) else None,
        "histogram": {"from_days": list(BINS), "entries": [int(c) for c in counts]},
    }
