"""The limits of a public endpoint (SPEC §5): body size, body read time, people checked.

The people budget is a sliding-window log kept in this process. Rate-limit libraries count
requests, while this budget counts people — a batch of 400 spends 400 — and the whole of it
is a deque per token; no shared store is needed because `serve` runs one process. Run
several workers and each keeps its own budget (the effective budget multiplies).
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections import deque
from collections.abc import Callable

from socialcredit.service import problems

MAX_BODY = 10 * 1024 * 1024  # bytes (SPEC §5)
BODY_TIMEOUT = 30.0  # seconds to deliver a whole request body
DEFAULT_BUDGET = 1200  # people a minute per provider token (SPEC §5)
WINDOW = 60.0


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


class PeopleBudget:
    """Per-token budget of people checked in any `window` seconds (a sliding-window log)."""

    def __init__(self, window: float = WINDOW, clock: Callable[[], float] = time.monotonic):
        self.window, self.clock = window, clock
        self._log: dict[str, deque[tuple[float, int]]] = {}
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def spend(self, key: str, n: int, limit: int) -> int | None:
        """Spend `n` people from `key`'s budget; return None, or the seconds to wait (refused).

        A refused request spends nothing. `n` above `limit` is the caller's to refuse.
        """
        now = self.clock()
        with self._lock:
            log = self._log.setdefault(key, deque())
            used = self._used.get(key, 0)
            while log and log[0][0] <= now - self.window:
                used -= log.popleft()[1]
            if used + n <= limit:
                log.append((now, n))
                self._used[key] = used + n
                return None
            self._used[key] = used
            freed = 0
            for at, count in log:
                freed += count
                if used - freed + n <= limit:
                    return max(1, math.ceil(at + self.window - now))
            return max(1, math.ceil(self.window))

    def used(self, key: str) -> int:
        """Return the people spent in the current window."""
        with self._lock:
            now = self.clock()
            return sum(c for at, c in self._log.get(key, ()) if at > now - self.window)
