"""Consent files: which people let which source score them (SPEC §2)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from pathlib import Path

from socialcredit.dates import parse_date
from socialcredit.ingest.read import CHUNK, chunked, detect_format, digest_and_count, read_rows
from socialcredit.ingest.report import IngestReport
from socialcredit.records import Reject, canonical_json, check_national_id
from socialcredit.store import Store


def ingest_consents(
    store: Store, path_or_rows: str | Path | Iterable[dict], as_of: date
) -> IngestReport:
    """Ingest consent rows (national_id, source, action, on); unknown people are rejected."""
    if isinstance(path_or_rows, (str, Path)):
        path = Path(path_or_rows)
        fmt = detect_format(path, None)
        label, (file_digest, _) = str(path), digest_and_count(path, fmt)
        rows: Iterable = read_rows(path, fmt)
    else:
        rows = list(path_or_rows)
        label = "consents"
        file_digest = hashlib.sha256(canonical_json(rows).encode()).hexdigest()
    rb = store.rulebook_in_force(as_of)
    sources = {s.id for s in rb.sources}
    report = IngestReport()
    for chunk_start, chunk in enumerate(chunked(rows, CHUNK)):
        base = chunk_start * CHUNK
        parsed = [(base + i + 1, raw if isinstance(raw, dict) else {},
                   _consent(raw, base + i + 1, sources, as_of))
                  for i, raw in enumerate(chunk)]  # fmt: skip
        with store.ingest_batch() as tx:
            nids = {p["national_id"] for _, _, p in parsed if not isinstance(p, Reject)}
            known = tx.subjects_for(nids)
            existing = tx.consents_for({s["subject_id"] for s in known.values()})
            new, rejects = [], []
            for row_no, raw, c in parsed:
                if not isinstance(c, Reject) and c["national_id"] not in known:
                    c = Reject(row_no, "national_id",
                               f"no subject holds national id {c['national_id']} — "
                               "ingest a record about this person first")  # fmt: skip
                if isinstance(c, Reject):
                    rejects.append((c, raw))
                    continue
                key = (known[c["national_id"]]["subject_id"], c["source"], c["action"], c["on"])
                if key in existing:
                    report.duplicates += 1
                    continue
                existing.add(key)
                new.append(key)
                report.accepted += 1
            tx.add_consents(new)
            tx.add_rejects([
                {"file": label, "file_digest": file_digest, "row": r.row,
                 "source": raw.get("source") or None, "field": r.field,
                 "reason": r.reason, "raw": canonical_json(raw), "rejected_on": as_of}
                for r, raw in rejects
            ])  # fmt: skip
        for r, _ in rejects:
            report.add_reject(r)
    return report


def _consent(raw: dict | str, row: int, sources: set[str], as_of: date) -> dict | Reject:
    if isinstance(raw, str):
        return Reject(row, "row", f"line {raw}")
    nid = str(raw.get("national_id") or "").strip()
    if not nid:
        return Reject(row, "national_id", "missing — a consent names the person's national_id")
    try:
        nid, _ = check_national_id(nid)
    except ValueError as e:
        return Reject(row, "national_id", str(e))
    source = str(raw.get("source") or "").strip() or None
    if source is not None and source not in sources:
        return Reject(row, "source", f'"{source}" is not declared in the active rulebook')
    action = str(raw.get("action") or "").strip()
    if action not in ("grant", "revoke"):
        return Reject(row, "action", f'must be grant or revoke, got "{action}"')
    on = raw.get("on")
    try:
        day = as_of if on in (None, "") else parse_date(on)
    except ValueError as e:
        return Reject(row, "on", str(e))
    return {"national_id": nid, "source": source, "action": action, "on": day}
