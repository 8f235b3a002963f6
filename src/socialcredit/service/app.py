"""The application: routes, problem+json errors, limits and metrics over one store.

The API answers for today, the machine's local date (SPEC §3): there is no `as_of`
parameter, because a provider that could ask about another day would see listings still
in their notice period, which nobody may enforce yet. Tests and replays pass `today`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import date

import anyio.to_thread
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from socialcredit import __version__
from socialcredit.service import problems
from socialcredit.service.decisions import Index
from socialcredit.service.deps import Service
from socialcredit.service.limits import (
    BODY_TIMEOUT,
    MAX_BODY,
    REQUEST_TIMEOUT,
    BodyLimit,
    PeopleBudget,
    RequestTimeout,
)
from socialcredit.service.metrics import Metrics, MetricsMiddleware
from socialcredit.service.routes import ROUTERS
from socialcredit.service.shortcut import CheckShortcut
from socialcredit.store import Store
from socialcredit.store.connect import POOL_SIZE

DESCRIPTION = """\
Sources push records, providers check people at their own services, subjects read their
own file and object, officials work the review queue and may read any file, auditors verify
the log. Every check and every read of a file is logged, and the subject sees who asked.

Each token has one role (`socialcredit token create`). Errors are RFC 9457
`application/problem+json`. Bodies are limited to 10 MiB; a request not answered within 30
seconds gets 503; a provider token may check a budget of people a minute (default 1,200; a
batch spends one per person), one budget however many workers serve.
"""


def create_app(
    store_url: str | None = None,
    *,
    store: Store | None = None,
    today: Callable[[], date] = date.today,
    max_body: int = MAX_BODY,
    body_timeout: float = BODY_TIMEOUT,
    request_timeout: float = REQUEST_TIMEOUT,
) -> FastAPI:
    """Return the API over the store at `store_url` (or an opened `store`)."""
    owned = store is None
    store = store or Store.open(store_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # Sync routes run in this loop's thread pool: no more threads than pooled connections
        # (the GIL runs one at a time anyway), so no request opens a connection of its own.
        anyio.to_thread.current_default_thread_limiter().total_tokens = POOL_SIZE
        # What the process holds once started (the app, its libraries: some 350,000 objects)
        # lives as long as the process: out of the collector's sight, a full collection walks
        # only what requests made since. Each took 100-140 ms, a stall of every request in
        # flight, several times a minute under checks.
        gc.freeze()
        yield
        if owned:
            store.close()

    app = FastAPI(
        title="socialcredit", version=__version__, description=DESCRIPTION, lifespan=lifespan
    )
    app.state.service = Service(store, Index(store), PeopleBudget(store), Metrics(), today)
    problems.install(app)

    for router in ROUTERS:
        app.include_router(router)
    from socialcredit.console import mount  # the web console, beside the API it calls

    mount(app)
    # Added last is outermost: metrics see every answer, the 413s of BodyLimit included;
    # the answer's clock starts once the body is in (its own limit is BodyLimit's); a check
    # is answered inside all three, before routing.
    app.add_middleware(CheckShortcut, service=app.state.service)
    app.add_middleware(RequestTimeout, timeout=request_timeout)
    app.add_middleware(BodyLimit, limit=max_body, timeout=body_timeout)
    app.add_middleware(
        MetricsMiddleware, metrics=app.state.service.metrics, routes=app.router.routes
    )

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            app.openapi_schema = problems.openapi_problem_media(schema)
        return app.openapi_schema

    app.openapi = openapi
    return app
