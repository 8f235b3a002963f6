"""Check decisions: what a provider learns about one person at one service.

A provider learns the decision and, for it, the lists with their dates and legal basis —
never a score, a grade or a record.
"""

from __future__ import annotations

from datetime import date

from socialcredit.engine.lists import Entry
from socialcredit.rulebook.model import EFFECTS, Rulebook


class CheckError(ValueError):
    """A check that cannot be answered (an undeclared service)."""


def how_to_object(rb: Rulebook) -> str:
    dp = rb.due_process
    suspend = " and suspends the entry meanwhile" if dp.suspend_on_objection else ""
    return (
        "The person may object to the listing or to any record behind it in their resident "
        f"portal or with `socialcredit objection file`; an official must decide within "
        f"{dp.review_deadline}, or it is resolved in the person's favour{suspend}."
    )


def services_of(rb: Rulebook) -> list[str]:
    if rb.services is not None:
        return [s.id for s in rb.services]
    return sorted({m.service for m in rb.measures})


def reason(rb: Rulebook, list_id: str, since: date, until: date | None) -> dict:
    """One reason of a check answer: which list, from when to when, on what legal basis."""
    ld = rb.list_def(list_id)
    return {
        "list": list_id,
        "since": since.isoformat(),
        "until": until.isoformat() if until else None,
        "legal_basis": ld.legal_basis if ld else "",
        "how_to_object": how_to_object(rb),
    }


def decide(entries: list[Entry], rb: Rulebook, service: str, day: date) -> dict:
    """Return the check answer of SPEC §4 for the entries in force on `day`."""
    if rb.services is not None and service not in services_of(rb):
        raise CheckError(
            f'service "{service}" is not declared in rulebook {rb.id} v{rb.version} — '
            f"declared: {', '.join(services_of(rb))}"
        )
    effects = {m.list: m.effect for m in rb.measures if m.service == service}
    active = [e for e in entries if e.state == "active" and e.list_id in effects]
    decision = min((effects[e.list_id] for e in active), key=EFFECTS.index, default="allow")
    reasons = []
    if decision != "allow":
        for e in active:
            if effects[e.list_id] == decision:
                reasons.append(reason(rb, e.list_id, e.active_from, e.end))
    reasons.sort(key=lambda r: (r["list"], r["since"]))
    return {"decision": decision, "service": service, "as_of": day.isoformat(), "reasons": reasons}
