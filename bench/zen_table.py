"""The ZEN engine baseline of bench/checks.py: the same decision made by a JDM graph.

Without a decision index, a decision is made from the person's file: the records the
rulebook's lists are built from. `file_graph` encodes the rulebook's path from those records
to the decision at one service: for each list with a measure there, an expression that
holds when the person has a current record of the list's type whose notice has passed, whose
term has not ended and whose case no record of the clearing type has closed (the rules of
engine.lists.record_spans); then a decision table over those lists with one row per
measure, ordered deny, review, priority (hit policy "first"), and a last row giving allow —
the precedence the decision index holds (rulebook.model.EFFECTS). Working-day notices need
the holiday calendar: the graph is given, once per day, the last day a record may carry and
have served each notice (`served`), as a deployment would give it the calendar. Not encoded
(no such record in the benchmark's data; the run checks agreement person by person):
objections, repairs, consent and the count and grade conditions, which no `flight` measure
uses.

Three figures, each the engine call through `ZenEngine.evaluate` with the compiled graph:
- records in memory: every listed person's records already in a Python dict;
- SELECT + evaluate: the person's current records read with one SELECT on the driver's
  connection (the least data access a check can make), then the engine call;
- lists only: the older, easier table, handed the person's active list names — which are
  the output of scoring, i.e. what the decision index already holds.
Every sampled decision is compared with the index's answer; a disagreement stops the run.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import zen

from socialcredit import dates
from socialcredit.rulebook.model import EFFECTS
from socialcredit.store.bulk import insert_rows
from socialcredit.store.schema import entries, records


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


_UNIT = {"d": "d", "w": "w", "m": "M", "y": "y"}  # rulebook unit → ZEN's d().add unit


def _after(expr: str, dur) -> str:
    """ZEN: the date `dur` after the date `expr` (calendar units only)."""
    return expr if dur.n == 0 else f'{expr}.add({dur.n}, "{_UNIT[dur.unit]}")'


def served(rb, day: date) -> dict[str, str]:
    """For each working-day notice of the rulebook, the last day a record may carry and be
    past its notice on `day` (what the holiday calendar says; computed once a day)."""
    out = {}
    for ld in rb.lists:
        if ld.notice is not None and ld.notice.unit == "wd" and ld.notice.n:
            last = day
            while dates.add(last, ld.notice, rb.country) > day:
                last -= timedelta(days=1)
            out[f"wd{ld.notice.n}"] = last.isoformat()
    return out


PATH = ("in", "cleared", "lists", "measures", "out")


def file_graph(rb, service: str) -> dict:
    """The JDM graph from a person's records to the decision at `service` (module doc)."""
    measures = sorted(
        (m for m in rb.measures if m.service == service), key=lambda m: EFFECTS.index(m.effect)
    )
    clearing, holds = [], []
    for i, m in enumerate(measures):
        ld = rb.list_def(m.list)
        if ld.when.record_type is None or ld.when.count:
            raise SystemExit(f"list {ld.id}: only record-type lists are encoded for ZEN")
        start = "d(#.occurred_at)"
        if ld.notice is None or ld.notice.n == 0:
            noticed = f"{start} <= d(today)"
        elif ld.notice.unit == "wd":
            noticed = f"{start} <= d(served.wd{ld.notice.n})"
        else:
            noticed = f"{_after(start, ld.notice)} <= d(today)"
        cond = (f'#.type == "{ld.when.record_type}" and #.status == "active" and {noticed}'
                + (f" and {_after(start, ld.term)} > d(today)" if ld.term else ""))  # fmt: skip
        if ld.cleared_by:
            key = f"closed{i}"
            clearing.append({"id": key, "key": key, "value": (
                f'map(filter(records, #.type == "{ld.cleared_by}" and #.status == "active" '
                f"and d(#.occurred_at) <= d(today)), #.case_no)")})  # fmt: skip
            cond += f" and not (#.case_no in {key})"
        holds.append({"id": f"l{i}", "key": f"l{i}", "value": f"some(records, {cond})"})
    keep = [{"id": k, "key": k, "value": k} for k in ("records", "today", "served")]
    rules = [{"_id": f"m{i}", **{f"l{j}": ("true" if j == i else "") for j in range(len(measures))},
              "decision": json.dumps(m.effect), "list": json.dumps(m.list)}
             for i, m in enumerate(measures)]  # fmt: skip
    rules.append({"_id": "none", **{f"l{j}": "" for j in range(len(measures))},
                  "decision": '"allow"', "list": ""})  # fmt: skip
    table = {
        "hitPolicy": "first",
        "inputs": [{"id": f"l{i}", "name": m.list, "field": f"l{i}"}
                   for i, m in enumerate(measures)],
        "outputs": [{"id": "decision", "name": "Decision", "field": "decision"},
                    {"id": "list", "name": "Because of", "field": "list"}],
        "rules": rules,
    }  # fmt: skip

    def node(id_, type_, x, content=None):
        n = {"id": id_, "type": type_, "name": id_, "position": {"x": x, "y": 0}}
        return n | ({"content": content} if content is not None else {})

    return {
        "nodes": [
            node("in", "inputNode", 0),
            node("cleared", "expressionNode", 200, {"expressions": clearing + keep}),
            node("lists", "expressionNode", 400, {"expressions": holds}),
            node("measures", "decisionTableNode", 600, table),
            node("out", "outputNode", 800),
        ],
        "edges": [{"id": f"e{i}", "sourceId": a, "targetId": b, "type": "edge"}
                  for i, (a, b) in enumerate(zip(PATH, PATH[1:], strict=False))],
    }  # fmt: skip


def seed_records(store, day: date) -> None:
    """Give every subject with a bench deny decision the record behind it (once): a
    court.dishonest_debtor record on the day the reason says the entry started."""
    if store.setting("bench_checks_records") == str(day):
        return
    with store._read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT d.subject_id, s.national_id, d.reasons FROM decisions d "
            "JOIN subjects s ON s.subject_id = d.subject_id WHERE d.service = 'flight'"
        ).all()
    now = datetime.now(UTC).replace(tzinfo=None)
    out = []
    for i, (sid, nid, reasons) in enumerate(rows):
        for r in json.loads(reasons):
            since = date.fromisoformat(r["since"])
            out.append(("court", f"bench-{i}", 1, f"{i:064d}", sid, nid,
                        "court.dishonest_debtor", since, 1.0, f"K{i}", "active", "{}", day,
                        now))  # fmt: skip
    cols = ("source", "record_id", "version", "digest", "subject_id", "national_id", "type",
            "occurred_at", "quantity", "case_no", "status", "attrs", "ingested_on",
            "ingested_at")  # fmt: skip
    with store._write() as conn:
        conn.execute(records.delete())
        insert_rows(conn, records, cols, out)
    store.set_setting("bench_checks_records", str(day))
    print(f"wrote {len(out):,} court records behind the deny decisions for the ZEN baseline")


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
    engine = zen.ZenEngine({"loader": {"type": "static", "content": {
        "file": file_graph(rb, "flight"), "lists": decision_table(rb)}}})  # fmt: skip
    # engine.evaluate(key, …) keeps the compiled graph; ZenDecision.evaluate (the other way
    # in) measured over ten times the CPU per call here, so ZEN gets its faster door.
    today, calendar = day.isoformat(), served(rb, day)
    mark = "?" if store.dialect == "sqlite" else "%s"
    fetch = (
        "SELECT r.type, r.occurred_at, r.case_no, r.status FROM subjects s "
        "JOIN records r ON r.subject_id = s.subject_id "
        f"WHERE s.national_id = {mark} AND r.superseded_on IS NULL"
    )
    with store._read() as conn:
        rows = conn.exec_driver_sql(
            "SELECT s.national_id, r.type, r.occurred_at, r.case_no, r.status FROM subjects s "
            "JOIN records r ON r.subject_id = s.subject_id WHERE r.superseded_on IS NULL"
        ).all()
        listed = conn.exec_driver_sql(
            "SELECT s.national_id, e.list_id FROM subjects s JOIN entries e "
            "ON e.subject_id = s.subject_id WHERE e.state = 'active'"
        ).all()
    files: dict[str, list[dict]] = {}
    for nid, type_, occurred, case_no, status in rows:
        files.setdefault(nid, []).append(
            {"type": type_, "occurred_at": str(occurred), "case_no": case_no, "status": status}
        )
    memory: dict[str, list[str]] = {}
    for nid, list_id in listed:
        memory.setdefault(nid, []).append(list_id)
    print(f"  ZEN: {len(files):,} people with records, {len(memory):,} with active entries, "
          "held in memory")  # fmt: skip

    def from_file(recs: list[dict]) -> str:
        ctx = {"records": recs, "today": today, "served": calendar}
        return engine.evaluate("file", ctx)["result"]["decision"]

    def evaluate_file(nid: str) -> str:
        return from_file(files.get(nid, []))

    raw = store.engine.raw_connection()

    def fetch_evaluate(nid: str) -> str:
        cur = raw.cursor()
        cur.execute(fetch, (nid,))
        recs = [{"type": t, "occurred_at": str(o), "case_no": c, "status": st}
                for t, o, c, st in cur.fetchall()]  # fmt: skip
        cur.close()
        return from_file(recs)

    def evaluate_lists(nid: str) -> str:
        ctx = {"service": "flight", "lists": memory.get(nid, [])}
        return engine.evaluate("lists", ctx)["result"]["decision"]

    # The same answers, or the comparison means nothing.
    _, by_nid, _ = index.lookup("flight", day, nids[:2000], [])
    for nid in nids[:2000]:
        ours = by_nid[nid].decision if nid in by_nid else "allow"
        theirs = (evaluate_file(nid), fetch_evaluate(nid), evaluate_lists(nid))
        if theirs != (ours, ours, ours):
            raise SystemExit(f"ZEN and the index disagree on {nid}: index {ours}, ZEN {theirs}")
    denied = sum(1 for n in nids[:2000] if n in by_nid and by_nid[n].decision == "deny")
    print(f"  ZEN and the index agree on {min(2000, len(nids)):,} sampled people ({denied} deny)")
    out = {
        "zen_file": timed("ZEN: evaluate the file (records in memory)", evaluate_file, nids),
        "zen_fetch": timed("ZEN: SELECT records + evaluate the file", fetch_evaluate, nids),
        "zen": timed("ZEN: evaluate active lists (index output)", evaluate_lists, nids),
    }
    raw.close()
    return out
