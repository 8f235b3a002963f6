"""POST /v1/checks answered before FastAPI's routing: the one endpoint that is hot.

FastAPI's way to a route — its exception and exit-stack middlewares, the route table, the
body's content type parsed as a MIME header, the parameters solved as dependencies — cost
more than a check's own transaction: driving the ASGI app with 32 requests in flight, a
check took 265–337 µs of CPU through the route and 127–130 µs through this middleware. This
middleware, the innermost of the app's, takes a POST /v1/checks whose body is JSON that
`CheckIn` accepts and answers it with the route's own function (`routes.checks.check_one`),
its problems as the app's handlers word them. Any other body goes on to the route, so every
refusal of a malformed body (400, 422) is FastAPI's, as documented in OpenAPI.
"""

from __future__ import annotations

from pydantic import ValidationError

from socialcredit.service import problems
from socialcredit.service.models import CheckIn
from socialcredit.service.routes import checks
from socialcredit.store import StoreError

PATH = "/v1/checks"
# The route it answers for, as the router would have set it (the metrics label by it).
ROUTE = next(r for r in checks.router.routes if getattr(r, "path", None) == PATH)
HEADERS = [(b"content-type", b"application/json")]


class CheckShortcut:
    """ASGI middleware: POST /v1/checks with a valid JSON body, answered here."""

    def __init__(self, app, service) -> None:
        self.app, self.service = app, service

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != PATH or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        message = await receive()  # the whole body: BodyLimit, outside, has read it
        authorization = json = None  # the first of each header, as Starlette reads them
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"content-type" and json is None:
                json = value == b"application/json"
        try:
            body = CheckIn.model_validate_json(message.get("body", b"")) if json else None
        except ValidationError:
            body = None
        if body is None:  # FastAPI's route reads it, and words its refusal

            async def replay():
                nonlocal message
                if message is None:
                    return await receive()
                out, message = message, None
                return out

            await self.app(scope, replay, send)
            return
        scope["route"] = ROUTE
        try:
            answer = await checks.check_one(self.service, authorization, body)
        except (problems.Problem, StoreError) as e:  # as the app's handlers answer them
            await problems.answer(e, scope["path"])(scope, receive, send)
            return
        length = (b"content-length", str(len(answer)).encode())
        await send({"type": "http.response.start", "status": 200, "headers": [length, *HEADERS]})
        await send({"type": "http.response.body", "body": answer})
