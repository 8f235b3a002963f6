"""Run the API under uvicorn: in the foreground (`socialcredit serve`) or, for tests and
benchmarks, a real server on a free loopback port in a background thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

# Connection limits a public endpoint needs; the body limits are the app's (limits.py).
SERVER_LIMITS = dict(
    timeout_keep_alive=5,  # seconds an idle keep-alive connection is held
    limit_concurrency=1000,  # connections and tasks at once; beyond, 503
    h11_max_incomplete_event_size=16 * 1024,  # request line and headers
    timeout_graceful_shutdown=10,
)


def config(app, host: str = "127.0.0.1", port: int = 8000, **options) -> uvicorn.Config:
    return uvicorn.Config(
        app, host=host, port=port, log_level="warning", **(SERVER_LIMITS | options)
    )


def serve(store, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Serve the API over an opened store until interrupted (the caller closes the store)."""
    from socialcredit.service.app import create_app

    uvicorn.Server(config(create_app(store=store), host, port)).run()


@contextmanager
def background(app, host: str = "127.0.0.1", **options) -> Iterator[str]:
    """Serve `app` on a free port of `host` in a thread; yield its base URL, then stop it."""
    # proto named: asyncio only sets TCP_NODELAY on accepted sockets whose proto is TCP, and
    # without it every answer waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(config(app, host, port, **options))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API server did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()
