"""Test helper: Debian's chromium for Playwright (no browser download is possible here).

:func:`chromium_path` fails (never skips) in CI when chromium is missing (``make install``
installs it); elsewhere the test is skipped with the install command.
"""

from __future__ import annotations

import os
import shutil

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
