"""Prometheus metrics: requests by route and status, latencies, decisions by effect.

Each app has its own registry, so several apps in one process (tests) do not collide.
Routes are labelled by their template (`/v1/subjects/{subject_id}`), never the raw path.
"""

from __future__ import annotations

import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.routing import Match

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's instruments and the ASGI middleware that feeds them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "socialcredit_http_requests",
            "HTTP requests answered, by route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "socialcredit_http_request_duration_seconds",
            "Time to answer an HTTP request",
            ["method", "route"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "socialcredit_check_decisions",
            "Check decisions given, by service and effect",
            ["service", "decision"],
            registry=self.registry,
        )
        self.people = Counter(
            "socialcredit_people_checked",
            "People checked (a batch counts each person)",
            registry=self.registry,
        )
        self.content_type = CONTENT_TYPE_LATEST
        self._decided: dict[tuple, object] = {}  # labelled children, looked up once each

    def decided(self, service: str, decision: str, n: int = 1) -> None:
        """Count `n` decisions given at `service`."""
        child = self._decided.get((service, decision))
        if child is None:
            child = self._decided[service, decision] = self.decisions.labels(service, decision)
        child.inc(n)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware: count and time every request by its route template and status.

    A request is counted when its answer is sent (a 503 for a request over the time limit
    counts then, while its route may still run), or when the app fails without one (500).
    """

    def __init__(self, app, metrics: Metrics, routes: list) -> None:
        # `routes` is the app's route list, to label requests answered before routing.
        self.app, self.metrics, self.routes = app, metrics, routes
        self._series: dict[tuple, tuple] = {}  # labelled children, looked up once each

    def _observe(self, scope, status: int, started: float) -> None:
        key = (scope["method"], _route(scope, self.routes), status)
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = (
                self.metrics.latency.labels(key[0], key[1]),
                self.metrics.requests.labels(key[0], key[1], str(status)),
            )
        series[0].observe(time.perf_counter() - started)
        series[1].inc()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status, counted = 500, False

        async def sending(message):
            nonlocal status, counted
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)
            final = message["type"] == "http.response.body" and not message.get("more_body")
            if final and not counted:
                counted = True
                self._observe(scope, status, started)

        try:
            await self.app(scope, receive, sending)
        finally:
            if not counted:
                self._observe(scope, status, started)


def _route(scope, routes) -> str:
    route = scope.get("route")
    if route is not None:
        return route.path
    for r in routes:  # answered before routing (413, 408): find the route it was meant for
        match, _ = r.matches(scope)
        if match == Match.FULL:
            return getattr(r, "path", "other")
    return "unmatched"
