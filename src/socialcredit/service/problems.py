"""RFC 9457 problem details: every error the API gives is `application/problem+json`.

A route raises `Problem`; validation errors, unknown paths and methods, and unexpected
failures are turned into the same shape by the handlers installed with `install`.
"""

from __future__ import annotations

import json
import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

from socialcredit.store import StoreError

MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:socialcredit:problem:"

# One type per kind of failure; `title` is fixed per type (RFC 9457 §3.1.3), `detail` varies.
TYPES = {
    400: ("bad-request", "The request cannot be read"),
    401: ("unauthorized", "A valid bearer token is required"),
    403: ("forbidden", "This token may not do that"),
    404: ("not-found", "Not found"),
    405: ("method-not-allowed", "Method not allowed"),
    408: ("body-timeout", "The request body arrived too slowly"),
    409: ("conflict", "The request conflicts with the current state"),
    413: ("body-too-large", "The request body is too large"),
    422: ("invalid", "The request is well-formed but invalid"),
    429: ("budget-exhausted", "This token's budget of people checked is spent"),
    500: ("internal", "Internal error"),
    503: ("unavailable", "The service cannot answer now"),
}

log = logging.getLogger("socialcredit.service")


class InvalidPart(BaseModel):
    """One invalid part of a request."""

    path: str = Field(description='where, e.g. "people[3].national_id"')
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details (media type application/problem+json)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="a URI naming the kind of problem")
    title: str = Field(description="a short summary, the same for every problem of this type")
    status: int = Field(description="the HTTP status code")
    detail: str = Field(description="what went wrong in this request and how to put it right")
    instance: str | None = Field(default=None, description="the request path")
    errors: list[InvalidPart] | None = Field(
        default=None, description="every invalid part of the request, by path (422)"
    )


class Problem(Exception):
    """An error answered as problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        errors: list[dict] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail
        self.headers = headers or {}
        self.errors = errors


def body(status: int, detail: str, instance: str | None = None, errors=None) -> dict[str, Any]:
    """Return the problem document for `status`."""
    slug, title = TYPES.get(status, ("error", HTTPStatus(status).phrase))
    out: dict[str, Any] = {
        "type": TYPE_PREFIX + slug,
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        out["instance"] = instance
    if errors:
        out["errors"] = errors
    return out


def response(
    status: int,
    detail: str,
    instance: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    errors: list[dict] | None = None,
) -> Response:
    """Return a problem+json response."""
    content = json.dumps(body(status, detail, instance, errors), ensure_ascii=False)
    return Response(content, status_code=status, headers=headers, media_type=MEDIA_TYPE)


HEADERS = {
    401: {
        "WWW-Authenticate": {"description": "the Bearer challenge", "schema": {"type": "string"}}
    },
    429: {
        "Retry-After": {
            "description": "seconds until the budget allows this request",
            "schema": {"type": "integer", "minimum": 1},
        }
    },
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status documented as a problem (see `openapi`)."""
    out: dict[int | str, dict[str, Any]] = {}
    for s in sorted(statuses):
        out[s] = {
            "model": ProblemDetails,
            "description": TYPES.get(s, ("", HTTPStatus(s).phrase))[1],
        }
        if s in HEADERS:
            out[s]["headers"] = HEADERS[s]
    return out


# Parts of a pydantic error location that name a union member, not a field.
_TAGS = {"str", "int", "float", "bool", "list", "dict", "none", "json-or-python"}


def call(fn, *args, **kw):
    """Run a core step, its refusals as problems: unknown 404, not yours to decide 403, not
    possible in this state 409. A body the schema accepts is never refused 422 here."""
    from socialcredit.store import StoreError

    try:
        return fn(*args, **kw)
    except LookupError as e:
        raise Problem(404, str(e)) from None
    except PermissionError as e:
        raise Problem(403, str(e)) from None
    except (ValueError, StoreError) as e:
        raise Problem(409, str(e)) from None


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.isidentifier() and part not in _TAGS and not part[:1].isupper():
            out += f".{part}" if out else part
    return out or "body"


def _validation(request: Request, exc: RequestValidationError) -> Response:
    errs = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errs):
        msg = next(e for e in errs if e.get("type") == "json_invalid").get("ctx", {})
        why = msg.get("error", "invalid JSON")
        return response(400, f"the body is not valid JSON: {why}", request.url.path)
    errors: list[dict] = []
    for e in errs:
        loc = tuple(p for p in e.get("loc", ()) if p != "body")
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        item = {"path": _path(loc), "message": message}
        if item not in errors:
            errors.append(item)
    detail = "; ".join(f"{x['path']}: {x['message']}" for x in errors[:5])
    if len(errors) > 5:
        detail += f"; and {len(errors) - 5} more"
    return response(422, detail, request.url.path, errors=errors)


def answer(exc: Problem | StoreError, instance: str) -> Response:
    """The answer to a Problem, or to a StoreError: 503, the store cannot do it now."""
    if isinstance(exc, StoreError):
        return response(503, str(exc), instance)
    return response(exc.status, exc.detail, instance, headers=exc.headers, errors=exc.errors)


def install(app: FastAPI) -> None:
    """Answer every error the app can raise with problem+json."""

    @app.exception_handler(Problem)
    @app.exception_handler(StoreError)
    async def _problem(request: Request, exc: Problem | StoreError) -> Response:
        return answer(exc, request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        return _validation(request, exc)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no endpoint {request.method} {request.url.path} — see /openapi.json"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return response(exc.status_code, detail, request.url.path, headers=exc.headers)

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return response(500, "the server failed to answer; the failure is logged", request.url.path)


def openapi_problem_media(schema: dict) -> dict:
    """Document error responses as application/problem+json, which is what they are."""
    for path in schema.get("paths", {}).values():
        for op in path.values():
            for status, resp in op.get("responses", {}).items():
                content = resp.get("content", {})
                if status[:1] in "45" and "application/json" in content:
                    content[MEDIA_TYPE] = content.pop("application/json")
    return schema
