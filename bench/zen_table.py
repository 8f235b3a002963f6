"""The ZEN engine baseline of bench/checks.py: the same decision by a JDM decision table.

The table is built from the rulebook's measures: one row per (list, service) measure, its
effect as output, the rows ordered deny, review, priority (hit policy "first"), so the
strongest effect of the person's active lists wins, and a last row giving allow — the
precedence the service's decision index holds (rulebook.model.EFFECTS).

ZEN evaluates at check time, so it needs the person's active list entries. Two figures:
- evaluate only: the entries of every one of the N subjects already in a Python dict, so
  ZEN's figure is the engine call alone (no data access, no token, budget or log);
- fetch + evaluate: the person's active entries read with one SELECT on the driver's
  connection (the bare minimum of data access), then the engine call.
Every sampled decision is compared with the index's answer; a disagreement stops the run.
"""

from __future__ import annotations

import json
from datetime import date

import zen

from socialcredit.rulebook.model import EFFECTS
from socialcredit.store.bulk import insert_rows
from socialcredit.store.schema import entries


def decision_table(rb) -> dict:
    """The JDM graph: request → decision table over (lists, service) → response."""
    ordered = sorted(rb.measures, key=lambda m: EFFECTS.index(m.effect))
    rules = [
        {
            "_id": f"m{i}",
            "lists": f"contains($, {json.dumps(m.list)})",
            "service": json.dumps(m.service),
            "decision": json.dumps(m.effect),
            "list": json.dumps(m.list),
        }
        for i, m in enumerate(ordered)
    ]
    rules.append({"_id": "none", "lists": "", "service": "", "decision": '"allow"', "list": ""})
    table = {
        "hitPolicy": "first",
        "inputs": [{"id": "lists", "name": "Active lists", "field": "lists"},
                   {"id": "service", "name": "Service", "field": "service"}],
        "outputs": [{"id": "decision", "name": "Decision", "field": "decision"},
                    {"id": "list", "name": "Because of", "field": "list"}],
        "rules": rules,
    }  # fmt: skip
    return {
        "nodes": [
            {"id": "in", "type": "inputNode", "name": "request", "position": {"x": 0, "y": 0}},
            {"id": "table", "type": "decisionTableNode", "name": "measures",
             "position": {"x": 240, "y": 0}, "content": table},
            {"id": "out", "type": "outputNode", "name": "response", "position": {"x": 480, "y": 0}},
        ],
        "edges": [{"id": "e1", "sourceId": "in", "targetId": "table", "type": "edge"},
                  {"id": "e2", "sourceId": "table", "targetId": "out", "type": "edge"}],
    }  # fmt: skip


def seed_entries(store, day: date) -> None:
    """Give every subject with a bench deny decision the active list entry behind it (once).

    bench/checks.py writes the decision index directly, as `score` would leave it; ZEN works
    from the entries, so they are written from the same reasons.
    """
    if store.setting("bench_checks_entries") == str(day):
        return
    with store._read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT subject_id, reasons FROM decisions WHERE service = 'flight'"
        ).all()
    out = []
    for sid, reasons in rows:
        for r in json.loads(reasons):
            since = date.fromisoformat(r["since"])
            out.append((sid, r["list"], since, since, None, "active", "[]", day))
    with store._write() as conn:
        conn.execute(entries.delete())
        cols = ("subject_id", "list_id", "start", "active_from", "end", "state", "cause", "as_of")
        insert_rows(conn, entries, cols, out)
    store.set_setting("bench_checks_entries", str(day))
    print(f"wrote {len(out):,} active list entries for the ZEN baseline")


def versus_zen(store, rb, index, day: date, nids: list[str], timed) -> dict:
    """Time ZEN on the same people as the index lookup; return the figures of `timed`."""
    engine = zen.ZenEngine(
        {"loader": {"type": "static", "content": {"measures": decision_table(rb)}}}
    )
    # engine.evaluate(key, …) keeps the compiled graph; ZenDecision.evaluate (the other way
    # in) measured over ten times the CPU per call here, so ZEN gets its faster door.
    mark = "?" if store.dialect == "sqlite" else "%s"
    fetch = (
        "SELECT e.list_id FROM subjects s JOIN entries e ON e.subject_id = s.subject_id "
        f"WHERE s.national_id = {mark} AND e.state = 'active' AND e.active_from <= {mark} "
        f'AND (e."end" IS NULL OR e."end" > {mark})'
    )
    with store._read() as conn:
        listed = conn.exec_driver_sql(
            "SELECT s.national_id, e.list_id FROM subjects s JOIN entries e "
            "ON e.subject_id = s.subject_id WHERE e.state = 'active'"
        ).all()
    memory: dict[str, list[str]] = {}
    for nid, list_id in listed:
        memory.setdefault(nid, []).append(list_id)
    print(f"  ZEN: {len(memory):,} people with active entries held in memory")

    def evaluate(nid: str) -> str:
        ctx = {"service": "flight", "lists": memory.get(nid, [])}
        return engine.evaluate("measures", ctx)["result"]["decision"]

    raw = store.engine.raw_connection()
    today = day.isoformat() if store.dialect == "sqlite" else day

    def fetch_evaluate(nid: str) -> str:
        cur = raw.cursor()
        cur.execute(fetch, (nid, today, today))
        lists = [r[0] for r in cur.fetchall()]
        cur.close()
        return engine.evaluate("measures", {"service": "flight", "lists": lists})["result"][
            "decision"
        ]

    # The same answers, or the comparison means nothing.
    _, by_nid, _ = index.lookup("flight", day, nids[:2000], [])
    for nid in nids[:2000]:
        ours = by_nid[nid].decision if nid in by_nid else "allow"
        if evaluate(nid) != ours or fetch_evaluate(nid) != ours:
            raise SystemExit(f"ZEN and the index disagree on {nid}: the index says {ours}")
    print(f"  ZEN and the index agree on {min(2000, len(nids)):,} sampled people")
    out = {
        "zen": timed("ZEN: evaluate only (entries in memory)", evaluate, nids),
        "zen_fetch": timed("ZEN: SELECT entries + evaluate", fetch_evaluate, nids),
    }
    raw.close()
    return out
