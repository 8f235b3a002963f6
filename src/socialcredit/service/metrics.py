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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """ASGI middleware: count and time every request by its route template and status."""

    def __init__(self, app, metrics: Metrics, routes: list) -> None:
        # `routes` is the app's route list, to label requests answered before routing.
        self.app, self.metrics, self.routes = app, metrics, routes

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route, method = _route(scope, self.routes), scope["method"]
            self.metrics.latency.labels(method, route).observe(time.perf_counter() - started)
            self.metrics.requests.labels(method, route, str(status)).inc()


def _route(scope, routes) -> str:
    route = scope.get("route")
    if route is not None:
        return route.path
    for r in routes:  # answered before routing (413, 408): find the route it was meant for
        match, _ = r.matches(scope)
        if match == Match.FULL:
            return getattr(r, "path", "other")
    return "unmatched"
