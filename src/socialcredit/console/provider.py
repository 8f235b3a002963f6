"""The provider desk: check one person, or a manifest (CSV); decisions and reasons only."""

from __future__ import annotations

import csv
import io
from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from socialcredit.console.web import attempt, page, respond, service, token_of, viewer
from socialcredit.service.models import BatchIn, CheckIn
from socialcredit.service.problems import Problem
from socialcredit.service.routes.checks import check_manifest, check_person

router = APIRouter()
COLUMNS = ("national_id", "subject_id")


def context(request: Request, **extra) -> dict:
    who = viewer(request, "provider")
    return {"services": list(who.services), "result": None, "manifest": None, "error": None} | extra


@page(router, "/console/provider")
def desk(request: Request) -> Response:
    return respond(request, "provider.html", context(request))


@page(router, "/console/provider/check", methods=("POST",))
def check_one(
    request: Request, service_: Annotated[str, Form(alias="service")],
    national_id: Annotated[str, Form()],
) -> Response:  # fmt: skip
    """One person at one service, through POST /v1/checks itself (logged, budgeted)."""
    viewer(request, "provider")
    svc, token = service(request), token_of(request)
    out, error = attempt(
        lambda: check_person(svc, token, CheckIn(national_id=national_id, service=service_))
    )
    ctx = context(request, result=out and {"national_id": national_id, **out}, error=error)
    return respond(request, "provider.html", ctx, status=error["status"] if error else 200)


def read_manifest(data: bytes) -> list[dict | str]:
    """The people of a CSV manifest: a national_id (or subject_id) column with a header, or
    one national id per line without one. Raise Problem(422) naming the bad line."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Problem(422, "the manifest is not UTF-8 text — save the CSV as UTF-8") from None
    rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
    if not rows:
        raise Problem(422, "the manifest is empty — one national id per line, or a CSV with a "
                      "national_id column")  # fmt: skip
    header = [c.strip().lower() for c in rows[0]]
    if not any(c in COLUMNS for c in header):
        if len(header) > 1:
            raise Problem(422, "line 1 of the manifest must name a national_id or subject_id "
                          f"column; it reads {','.join(rows[0])}")  # fmt: skip
        return [r[0].strip() for r in rows]
    people: list[dict | str] = []
    for line, r in enumerate(rows[1:], start=2):
        cells = dict(zip(header, (c.strip() for c in r), strict=False))
        if cells.get("subject_id"):
            people.append({"subject_id": cells["subject_id"]})
        elif cells.get("national_id"):
            people.append(cells["national_id"])
        else:
            raise Problem(422, f"line {line} of the manifest has no national_id or subject_id")
    return people


@page(router, "/console/provider/manifest", methods=("POST",))
async def manifest(
    request: Request, service_: Annotated[str, Form(alias="service")],
    file: Annotated[UploadFile, File()],
) -> Response:  # fmt: skip
    """A manifest through POST /v1/checks/batch itself: one decision per person, in order."""
    viewer(request, "provider")
    data = await file.read()
    svc, token = service(request), token_of(request)
    out, error = await run_in_threadpool(
        attempt,
        lambda: check_manifest(svc, token, BatchIn(service=service_, people=read_manifest(data))),
    )
    if out:
        out["file"] = file.filename
        out["counts"] = {
            d: sum(r["decision"] == d for r in out["results"])
            for d in dict.fromkeys(r["decision"] for r in out["results"])
        }
    ctx = context(request, manifest=out, error=error)
    return respond(request, "provider.html", ctx, status=error["status"] if error else 200)
