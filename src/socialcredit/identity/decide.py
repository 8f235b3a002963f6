"""Decide one record's link from its scored candidates and the officials' judgements.

Pure: no store, no model. `link.py` feeds it what the model scored; the bench uses
`confidence` on FEBRL4 the same way.
"""

from __future__ import annotations

from datetime import date


def confidence(probabilities: list[float]) -> float:
    """Return the confidence that a record is its best candidate's (probabilities best first).

    odds(best) / (1 + sum of each candidate's odds): the probability that the record is the
    best candidate's rather than another candidate's or nobody's, the candidates' pairwise
    match probabilities taken as competing hypotheses. Two certain candidates give 0.5.
    """
    if not probabilities:
        return 0.0
    certain = sum(1 for p in probabilities if p >= 1.0)
    if certain:
        return 1.0 / certain if probabilities[0] >= 1.0 else 0.0
    odds = [p / (1.0 - p) for p in probabilities]
    return odds[0] / (1.0 + sum(odds))


# A runner-up the model would, on its own, call more likely than not the record's person.
RIVAL = 0.5


def rival(probabilities: list[float]) -> bool:
    """Whether a candidate other than the best could be the record's person (best first).

    `confidence` weighs the candidates' odds against each other, so a best candidate far
    ahead in odds wins even when the runner-up is itself a likely match: a surname typed as
    its homophone (汪小 for 王小, same birth date) finds both people, and the one whose
    name matches the typo exactly wins at 0.996. Two people the model would each call a
    match is a link that could be someone else's: it waits for an official (SPEC §3).
    """
    return len(probabilities) > 1 and probabilities[1] >= RIVAL


def joins(probabilities: list[float], threshold: float) -> bool:
    """Whether a record joins its best candidate's file (candidates' probabilities, best
    first): confident at the threshold, and no rival."""
    return confidence(probabilities) >= threshold and not rival(probabilities)


def decide(
    record: dict,
    candidates: list[dict],
    judged: dict[str, bool],
    threshold: float,
    model_version: int | None,
    day: date,
    problems: list[str] = (),
) -> dict:
    """Return the link row for one record version from its scored candidates (best first).

    Candidates an official judged different are left out; see `confidence`. `detail` is
    the scored pair's explanation (JSON text, model.explanation_sql), stored merged into
    `explanation`.
    """
    row = {
        "seq": record["seq"],
        "source": record["source"],
        "record_id": record["record_id"],
        "model_version": model_version,
        "linked_on": day,
        "subject_id": None,
        "match_probability": None,
        "confidence": None,
        "replaces": record.get("state") is not None,
    }
    same = sorted(sid for sid, is_same in judged.items() if is_same)
    kept = [c for c in candidates if judged.get(c["subject_uid"]) is not False]
    why = {
        "threshold": threshold,
        "problems": list(problems),
        "excluded_by_judgement": sorted(sid for sid, v in judged.items() if not v),
        "candidates": [
            {
                "subject_id": c["subject_uid"],
                "match_probability": c["match_probability"],
                "match_weight": c["match_weight"],
            }
            for c in kept
        ],
    }
    if same:
        scored = next((c for c in candidates if c["subject_uid"] == same[0]), None)
        row.update(
            state="confirmed",
            subject_id=same[0],
            confidence=1.0,
            match_probability=scored["match_probability"] if scored else None,
        )
        why["judgement"] = "same"
        detail = (scored or {}).get("explanation")
        return _kept_day({**row, "explanation": why, "detail": detail}, record)
    if not kept:
        return {**row, "state": "unmatched", "explanation": why}
    best = kept[0]
    probabilities = [c["match_probability"] for c in kept]
    sure = confidence(probabilities)
    row.update(
        subject_id=best["subject_uid"],
        match_probability=best["match_probability"],
        confidence=sure,
        state="linked" if joins(probabilities, threshold) else "review",
    )
    why["confidence"] = sure
    if rival(probabilities):
        why["rival"] = kept[1]["subject_uid"]
    return _kept_day({**row, "explanation": why, "detail": best["explanation"]}, record)


def _kept_day(row: dict, record: dict) -> dict:
    """Keep the day a link was first made when a relink puts the record in the same file.

    Under --known-at a linked record counts from that day (SPEC §3); re-deciding it with
    the same outcome must not move that day later.
    """
    joined = ("linked", "confirmed")
    if (
        row["state"] in joined
        and record.get("state") in joined
        and record.get("link_subject") == row["subject_id"]
        and record.get("linked_on") is not None
    ):
        row["linked_on"] = record["linked_on"]
    return row
