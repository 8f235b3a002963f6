"""Files as the Arrow tables the batch plan reads (the store's batch_tables shape)."""

from __future__ import annotations

import pyarrow as pa

from socialcredit.engine.file import File

RECORD_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("version", pa.int64()),
        ("type", pa.string()),
        ("occurred_at", pa.date32()),
        ("quantity", pa.float64()),
        ("points", pa.float64()),
        ("case_no", pa.string()),
        ("status", pa.string()),
        ("ingested_on", pa.date32()),
        ("superseded_on", pa.date32()),
        ("link_confidence", pa.float64()),
    ]
)
CONSENT_SCHEMA = pa.schema(
    [
        ("subject_id", pa.string()),
        ("source", pa.string()),
        ("action", pa.string()),
        ("on", pa.date32()),
        ("seq", pa.int64()),
    ]
)
OBJECTION_SCHEMA = pa.schema(
    [
        ("objection_id", pa.string()),
        ("subject_id", pa.string()),
        ("source", pa.string()),
        ("record_id", pa.string()),
        ("filed_on", pa.date32()),
        ("deadline", pa.date32()),
        ("state", pa.string()),
        ("decided_on", pa.date32()),
        ("target", pa.string()),
        ("list_id", pa.string()),
        ("entry_start", pa.date32()),
        ("appeal_deadline", pa.date32()),
        ("appeal_state", pa.string()),
        ("appeal_decided_on", pa.date32()),
    ]
)


def tables_from_files(files: list[File]) -> dict[str, pa.Table]:
    records, consents, objections = [], [], []
    for f in files:
        for r in f.records:
            records.append(
                {
                    "subject_id": f.subject_id,
                    "source": r.source,
                    "record_id": r.record_id,
                    "version": r.version,
                    "type": r.type,
                    "occurred_at": r.occurred_at,
                    "quantity": r.quantity,
                    "points": r.points,
                    "case_no": r.case_no,
                    "status": r.status,
                    "ingested_on": r.ingested_on,
                    "superseded_on": r.superseded_on,
                    "link_confidence": r.link_confidence,
                }
            )
        for c in f.consents:
            consents.append(
                {
                    "subject_id": f.subject_id,
                    "source": c.source,
                    "action": c.action,
                    "on": c.on,
                    "seq": len(consents),
                }
            )
        for o in f.objections:
            objections.append(
                {
                    "objection_id": o.objection_id,
                    "subject_id": f.subject_id,
                    "source": o.source,
                    "record_id": o.record_id,
                    "filed_on": o.filed_on,
                    "deadline": o.deadline,
                    "state": o.state,
                    "decided_on": o.decided_on,
                    "target": o.target,
                    "list_id": o.list_id,
                    "entry_start": o.entry_start,
                    "appeal_deadline": o.appeal_deadline,
                    "appeal_state": o.appeal_state,
                    "appeal_decided_on": o.appeal_decided_on,
                }
            )
        for r in f.repairs:  # an approved repair acts as an entry objection accepted that day
            objections.append(
                {
                    "objection_id": r.repair_id,
                    "subject_id": f.subject_id,
                    "filed_on": r.decided_on,
                    "deadline": r.decided_on,
                    "state": "accepted",
                    "decided_on": r.decided_on,
                    "target": "entry",
                    "list_id": r.list_id,
                    "entry_start": r.entry_start,
                }
            )
    return {
        "records": pa.Table.from_pylist(records, RECORD_SCHEMA),
        "consents": pa.Table.from_pylist(consents, CONSENT_SCHEMA),
        "objections": pa.Table.from_pylist(objections, OBJECTION_SCHEMA),
        "subjects": pa.table({"subject_id": pa.array([f.subject_id for f in files], pa.string())}),
    }
