"""POST /v1/records: a source pushes records about people, with a result per record."""

from __future__ import annotations

from fastapi import APIRouter

from socialcredit.ingest import ingest_rows
from socialcredit.scoring import rescore_subjects, touched_subjects
from socialcredit.service import problems
from socialcredit.service.deps import Source, Svc
from socialcredit.service.models import IngestOut, RecordIn
from socialcredit.service.problems import Problem

router = APIRouter(tags=["records"])


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
    changed = [
        (who.source, x["record_id"])
        for x in report.results
        if x["status"] in ("accepted", "correction")
    ]
    rescore_subjects(svc.store, touched_subjects(svc.store, changed), day)
    out = report.to_json(results=True)
    for x in out["results"]:
        if x["record_id"] is not None and not isinstance(x["record_id"], str):
            x["record_id"] = str(x["record_id"])
    return out
