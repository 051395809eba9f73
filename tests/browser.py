"""Test helper: Debian's chromium for Playwright (no browser download is possible here).

:func:`chromium_path` fails (never skips) in CI when chromium is missing (``make install``
installs it); elsewhere the test is skipped with the install command.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

#: Flags for a headless run that makes no background requests of its own.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str:
    """The chromium binary, or fail (CI) / skip (elsewhere) when it is not installed."""
    path = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        if os.environ.get("CI") == "true":
            pytest.fail("chromium is not installed (apt-get install -y chromium); required in CI")
        pytest.skip("chromium is not installed (apt-get install -y chromium)")
    return path


def launch(pw):  # noqa: ANN001, ANN201 - playwright objects
    """Headless chromium from :func:`chromium_path` with :data:`ARGS`."""
    return pw.chromium.launch(executable_path=chromium_path(), args=ARGS)


@contextmanager
def serve_app(app) -> Iterator[str]:  # noqa: ANN001 - an ASGI app
    """Run ``app`` with uvicorn on a free local port in a thread; yields its base URL."""
    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not srv.started and time.time() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        srv.should_exit = True
        thread.join(timeout=10)
