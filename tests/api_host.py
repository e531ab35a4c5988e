"""A live dev host for tests: function_app served over a real socket on a free port."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import contextmanager

import httpx
import uvicorn

from functions import runtime
from functions.registry import registered
from shared.devhost import DevHost
from shared.settings import ENVIRONMENT, Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_host(monkeypatch, settings: Settings, poll_seconds: float = 0.2):
    """Yield (base URL, DevHost) with the functions reading `settings` from the environment."""
    for name, variable in ENVIRONMENT.items():
        monkeypatch.setenv(variable, str(getattr(settings, name)))
    runtime.rowgate.cache_clear()
    host = DevHost(registered(), runtime.rowgate().storage, settings.function_key, poll_seconds)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(host.asgi(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    host.start()
    try:
        yield f"http://127.0.0.1:{port}", host
    finally:
        host.stop()
        server.should_exit = True
        thread.join(timeout=10)
        runtime.rowgate().engine.dispose()
        runtime.rowgate.cache_clear()


def finished(client: httpx.Client, started: httpx.Response, timeout: float = 30) -> dict:
    """Follow a 202's status URL until the orchestration ends; its last status."""
    assert started.status_code == 202, started.text
    status_url = started.json()["statusQueryGetUri"]
    assert started.headers["location"] == status_url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get(status_url).json()
        if status["runtimeStatus"] in ("Completed", "Failed", "Terminated"):
            return status
        time.sleep(0.05)
    raise AssertionError("the orchestration did not finish")
