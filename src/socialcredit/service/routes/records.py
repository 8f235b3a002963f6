"""POST /v1/records: a source pushes records about people, with a result per record."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from socialcredit.ingest import ingest_rows
from socialcredit.scoring import rescore_subjects
from socialcredit.service import problems
from socialcredit.service.deps import Source, Svc
from socialcredit.service.models import IngestOut, RecordIn
from socialcredit.service.problems import Problem
from socialcredit.store.schema import records as records_t

router = APIRouter(tags=["records"])


def touched_subjects(store, source: str, record_ids: list[str]) -> list[str]:
    """Return every subject any version of these records belongs to (a correction can move
    a record from one file to another: both files change)."""
    out: set[str] = set()
    r = records_t
    for i in range(0, len(record_ids), 500):
        q = (
            select(r.c.subject_id)
            .distinct()
            .where(
                r.c.source == source,
                r.c.record_id.in_(record_ids[i : i + 500]),
                r.c.subject_id.is_not(None),
            )
        )
        with store._read() as conn:
            out.update(conn.scalars(q))
    return sorted(out)


@router.post(
    "/v1/records",
    response_model=IngestOut,
    summary="Submit records for the token's source",
    responses=problems.responses(400, 401, 403, 408, 413, 422),
)
def post_records(
    records: list[RecordIn],
    who: Source,
    svc: Svc,
) -> dict:
    """A JSON array of records (SPEC §2), all for the token's own source: a record naming
    another source makes the whole request 403. Bad records are rejected with their reason
    while the good ones land; the same record sent again is a duplicate. The files of the
    people concerned are rescored at once, so checks see the change."""
    rows = [r.model_dump(exclude_unset=True) for r in records]
    others = sorted(
        {
            str(r["source"]).strip()
            for r in rows
            if r.get("source") not in (None, "") and str(r["source"]).strip() != who.source
        }
    )
    if others:
        raise Problem(
            403,
            f'token {who.token_id} reports for source "{who.source}" only; the '
            f"request has records of {', '.join(others)}: nothing was stored",
        )
    day = svc.today()
    report = ingest_rows(svc.store, rows, label=f"api:{who.source}", source=who.source, as_of=day)
    changed = [x["record_id"] for x in report.results if x["status"] in ("accepted", "correction")]
    rescore_subjects(svc.store, touched_subjects(svc.store, who.source, changed), day)
    out = report.to_json(results=True)
    for x in out["results"]:
        if x["record_id"] is not None and not isinstance(x["record_id"], str):
            x["record_id"] = str(x["record_id"])
    return out
