"""What officials do with links: judge a pair, work the review queue, read why a link was made.

A judgement holds for every version of the record and for good: later batches, relinks
and retrained models apply it before anything the model says (see `decide`).
"""

from __future__ import annotations

from datetime import date

from socialcredit.identity import store as s
from socialcredit.identity.link import IdentityError, LinkReport, link_incremental
from socialcredit.store import Store


def judge(
    store: Store,
    source: str,
    record_id: str,
    subject_id: str,
    *,
    same: bool,
    by: str,
    on: date,
    note: str | None = None,
) -> LinkReport:
    """Record an official's judgement on a pair and apply it to every version of the record.

    "same" links the record to the subject (confidence 1); "different" unlinks it from that
    subject and links it anew among the other candidates. Either holds for good.
    """
    versions = store.record_versions(source, record_id)
    if not versions:
        raise IdentityError(f"no record {source}:{record_id} — check the source and record_id")
    if any(v["national_id"] for v in versions):
        raise IdentityError(
            f"record {source}:{record_id} carries a national id, which decides its subject — "
            "a wrong id is corrected by the source sending a new version"
        )
    if not s.subject_exists(store, subject_id):
        raise IdentityError(f"no subject {subject_id} — check the subject id")
    key = (source, record_id)
    earlier = s.judgements_for(store, [key]).get(key, {})
    with store._write() as conn:
        if same:  # a record is one person's: an earlier "same" for another subject lapses
            for other, was_same in earlier.items():
                if was_same and other != subject_id:
                    s.save_judgement(
                        conn,
                        source,
                        record_id,
                        other,
                        False,
                        on,
                        by,
                        f"superseded by 'same' for {subject_id}",
                    )
        s.save_judgement(conn, source, record_id, subject_id, same, on, by, note)
    store.audit(
        by,
        "official",
        "link.judge",
        subject_id=subject_id,
        detail={"source": source, "record_id": record_id, "same": same, "note": note},
    )
    # Versions already in this subject's file stay there, now confirmed, from the day
    # they were linked (--known-at); the others the judgement changes leave their file
    # and are linked anew.
    keep = [v for v in versions if same and v["subject_id"] == subject_id]
    undo = [
        v for v in versions
        if v["subject_id"] and v not in keep and (same or v["subject_id"] == subject_id)
    ]  # fmt: skip
    s.write_links(
        store,
        [
            {
                "seq": v["seq"],
                "source": source,
                "record_id": record_id,
                "state": "review",
                "subject_id": None,
                "match_probability": None,
                "confidence": None,
                "model_version": None,
                "linked_on": on,
                "explanation": {"judgement": same},
            }
            for v in undo
        ],
    )
    report = link_incremental(store, [key], on)
    linked = {r["seq"]: r for r in s.link_rows(store, source, record_id)}
    confirmed = [
        {**linked[v["seq"]], "state": "confirmed", "confidence": 1.0,
         "explanation": {**linked[v["seq"]]["explanation"], "judgement": "same"}}
        for v in keep if v["seq"] in linked
    ]  # fmt: skip
    s.write_links(store, confirmed)
    report.confirmed += len(confirmed)
    return report


def review_queue(store: Store, include_unmatched: bool = True) -> list[dict]:
    """Return the record versions waiting for an official, oldest first."""
    states = ("review", "unmatched") if include_unmatched else ("review",)
    return s.links_in_state(store, states)


def explanation(store: Store, source: str, record_id: str) -> dict | None:
    """Return the latest version's link: state, subject, probability, model, and why."""
    rows = s.link_rows(store, source, record_id)
    return rows[0] if rows else None
