"""The app in sandbox mode under uvicorn on a free port of 127.0.0.1.

The sandbox's SDK clients call back to the server's own address, so the port is chosen
first and given to the app as PORT (the socket stays bound: no race for the port).
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

import httpx
import uvicorn

from handlers.asgi import create_app
from tests.support import make_settings


class SandboxServer:
    """The real app with TSUNAGU_SANDBOX=on (or as configured), served until stop()."""

    def __init__(self, database_url: str, **extra: Any) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        port = self._sock.getsockname()[1]
        values = {"TSUNAGU_SANDBOX": "on", "HOST": "127.0.0.1", "PORT": str(port)}
        # No programme calendar here (these tests do not use it). On PostgreSQL a server
        # that lives past a scheduler round leaves a psycopg connection open after
        # shutdown (APScheduler's job store), which a later test then reports as a
        # ResourceWarning; reported to the lead with issue #5.
        values["TSUNAGU_SCHEDULER"] = "false"
        values.update(extra)
        self.settings = make_settings(database_url, None, **values)
        self.url = f"http://127.0.0.1:{port}"
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Serve; returns once the app has migrated and listens."""
        config = uvicorn.Config(
            create_app(self.settings, freeze_gc=False),
            lifespan="on",
            log_level="warning",
            access_log=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the app did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Shut down gracefully."""
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=30)
        self._server = self._thread = None
        self._sock.close()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what the page does, without a browser

    def state(self, since: int = -1) -> dict[str, Any]:
        """The page's view of the fake LINE and Slack (waits while ?since= is current)."""
        response = httpx.get(f"{self.url}/sandbox/api/state", params={"since": since}, timeout=30)
        response.raise_for_status()
        return dict(response.json())

    def wait_for(self, check: Any, timeout: float = 15.0) -> Any:
        """Long-poll the state until check(state) is truthy; return its value."""
        deadline = time.monotonic() + timeout
        state = self.state()
        while True:
            found = check(state)
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError("the sandbox never reached the expected state")
            state = self.state(state["version"])

    def deliver(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """Ask the sandbox to build and sign a platform request, then POST it to the app."""
        built = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        built.raise_for_status()
        signed = built.json()
        return httpx.post(
            f"{self.url}{signed['url']}",
            content=signed["body"].encode("utf-8"),
            headers=signed["headers"],
            timeout=10,
        )
