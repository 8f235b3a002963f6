"""The limits of a public endpoint (SPEC §5): body size and read time, answer time, people
checked.

The people budget lives in the store (`store.budget`), not in this process: `serve` may
run several worker processes, and a budget kept in each would multiply. Rate-limit
libraries count requests, while this budget counts people — a batch of 400 spends 400.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from socialcredit.service import problems
from socialcredit.store import budget
from socialcredit.store.driver import Driver

MAX_BODY = 10 * 1024 * 1024  # bytes (SPEC §5)
BODY_TIMEOUT = 30.0  # seconds to deliver a whole request body
REQUEST_TIMEOUT = 30.0  # seconds to answer once the body is in
DEFAULT_BUDGET = 1200  # people a minute per provider token (SPEC §5)
WINDOW = 60  # seconds


class BodyLimit:
    """ASGI middleware: read the body within the limits, then hand it to the app.

    Over `limit` bytes (by Content-Length or as it streams in) the answer is 413 and the app
    never runs; the server discards the rest of the body, so the connection stays usable.
    """

    def __init__(self, app, limit: int = MAX_BODY, timeout: float = BODY_TIMEOUT) -> None:
        self.app, self.limit, self.timeout = app, limit, timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        declared = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = None
        if declared is not None and declared > self.limit:
            await self._reject(scope, send, 413, self._too_large(declared))
            return
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self.timeout):
                while True:
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        await self._reject(scope, send, 413, self._too_large(None))
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
        except TimeoutError:
            detail = f"the body did not arrive within {self.timeout:g} seconds"
            await self._reject(scope, send, 408, detail, close=True)
            return
        whole = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return whole
            return await receive()

        await self.app(scope, replay, send)

    def _too_large(self, declared: int | None) -> str:
        size = f"{declared:,} bytes" if declared is not None else "more"
        return (
            f"the body is {size}; at most {self.limit:,} bytes ({self.limit / 2**20:g} MiB) "
            "are accepted — split the records or the manifest over several requests"
        )

    async def _reject(self, scope, send, status: int, detail: str, close: bool = False) -> None:
        resp = problems.response(status, detail, scope.get("path"))
        if close:
            resp.headers["Connection"] = "close"
        await resp(scope, _no_receive, send)


async def _no_receive():
    return {"type": "http.disconnect"}


class RequestTimeout:
    """ASGI middleware: a request not answered within `timeout` seconds gets 503.

    A timer is armed per request (no task of its own: that cost more than a check's
    lookup). At the deadline, if no answer has started, the client gets a problem+json 503
    from a task started then, and whatever the app sends later is dropped. A sync route runs
    in a worker thread, which cannot be stopped; what it writes still lands (ingest and the
    log are idempotent per request, so a retry duplicates nothing). Once an answer has
    started it is never cut off.
    """

    def __init__(self, app, timeout: float = REQUEST_TIMEOUT) -> None:
        self.app, self.timeout = app, timeout
        self._late: set[asyncio.Task] = set()  # the 503s being sent, held until sent

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = dropped = False

        async def sending(message):
            nonlocal started
            if dropped:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        def expire() -> None:
            nonlocal dropped
            if not started:
                dropped = True
                task = asyncio.get_running_loop().create_task(self._refuse(scope, send))
                self._late.add(task)
                task.add_done_callback(self._late.discard)

        timer = asyncio.get_running_loop().call_later(self.timeout, expire)
        try:
            await self.app(scope, receive, sending)
        except Exception:
            if not dropped:
                raise
            problems.log.exception("a request that timed out failed later")
        finally:
            timer.cancel()

    async def _refuse(self, scope, send) -> None:
        detail = (
            f"no answer within {self.timeout:g} seconds; the request may still complete — "
            "retry it later (checks and records are safe to repeat)"
        )
        resp = problems.response(503, detail, scope.get("path"), headers={"Retry-After": "1"})
        await resp(scope, _no_receive, send)


class PeopleBudget:
    """Per-token budget of people checked in any `window` seconds, shared through the store."""

    def __init__(self, store, window: int = WINDOW, clock: Callable[[], float] = time.time):
        # Wall-clock time, not monotonic: every worker (and host) must agree on "now".
        self.window, self.clock = window, clock
        self.db = Driver(store.engine)

    def spend_many(self, key: str, ns: list[int], limit: int, cur) -> list[tuple]:
        """Spend each of `ns` people from `key`'s budget in turn, on `cur`, a driver cursor
        inside the write transaction that logs the checks (`store.driver`): `(None, used)` or
        `(wait, used)` each, `wait` the seconds until it would fit; a refused spend takes
        nothing. `n` above `limit` is the caller's to refuse."""
        return budget.spend_many(self.db, cur, key, ns, limit, self.window, self.clock())
