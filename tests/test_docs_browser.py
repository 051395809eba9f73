"""End to end in headless Chromium: ``/docs`` and ``/redoc`` work offline behind the token.

Every request to anything but the local server is aborted (and recorded: the pages must not
even try). The page asks for the token, fetches the OpenAPI description with it and lists the
operations; "Try it out" sends the token.
"""

from __future__ import annotations

from contextlib import contextmanager
from urllib.parse import urlsplit

import pytest

from board_model import setup_registry
from browser import launch, serve_app
from icipredict.predict.service import create_app

TOKEN = "docs-browser-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    uri = setup_registry(tmp_path_factory.mktemp("registry"))
    with serve_app(create_app(uri, token=TOKEN)) as url:
        yield url


@contextmanager
def _offline_page(server: str):  # noqa: ANN202 - yields (page, blocked, refused)
    """A page whose requests reach only ``server``; the others are aborted and listed, and so
    are the browser's reports of what the page's Content-Security-Policy refused."""
    from playwright.sync_api import sync_playwright

    local = urlsplit(server).netloc
    blocked: list[str] = []
    refused: list[str] = []  # what the page's Content-Security-Policy stopped in the browser

    def route(r) -> None:  # noqa: ANN001 - playwright Route
        url = r.request.url
        if urlsplit(url).netloc == local:
            r.continue_()
        else:
            blocked.append(url)
            r.abort()

    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 1400})
            context.route("**/*", route)
            page = context.new_page()
            page.on("console", lambda m: "Content Security Policy" in m.text and refused.append(m.text))
            yield page, blocked, refused
        finally:
            browser.close()


def test_swagger_ui_offline_with_the_token(server, tmp_path):
    with _offline_page(server) as (page, blocked, refused):
        page.goto(f"{server}/docs")
        # A wrong token is refused on the page; nothing is listed.
        page.fill("#token", "wrong")
        page.click("#access button[type=submit]")
        page.locator("#status", has_text="401").wait_for(timeout=10000)
        assert page.locator(".opblock").count() == 0

        page.fill("#token", TOKEN)
        page.click("#access button[type=submit]")
        score = page.locator(".opblock-post", has=page.locator(
            ".opblock-summary-path", has_text="/score"))
        score.first.wait_for(timeout=20000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert {"/score", "/score/batch", "/models"} <= {p.strip() for p in paths}
        assert score.first.locator(".opblock-summary-method").inner_text() == "POST"
        (tmp_path / "docs.png").write_bytes(page.screenshot())

        # "Try it out" sends the token: GET /models answers 200 with the model's name.
        models = page.locator(".opblock-get", has=page.locator(
            ".opblock-summary-path", has_text="/models")).first
        models.locator(".opblock-summary").click()
        models.locator("button.try-out__btn").click()
        models.locator("button.execute").click()
        status = models.locator(".live-responses-table tbody .response-col_status").first
        status.wait_for(timeout=20000)
        assert status.inner_text().strip().startswith("200")
        assert "icipredict" in models.locator(".live-responses-table").inner_text()

        # The token stays for the tab: a reload lists the operations without asking again.
        page.reload()
        page.locator(".opblock").first.wait_for(timeout=20000)
    assert blocked == [] and refused == []


def test_redoc_offline_with_the_token(server, tmp_path):
    with _offline_page(server) as (page, blocked, refused):
        page.goto(f"{server}/redoc")
        page.fill("#token", TOKEN)
        page.click("#access button[type=submit]")
        page.get_by_text("/score/batch").first.wait_for(timeout=30000)
        assert "icipredict tumour board API" in page.inner_text("#redoc")
        (tmp_path / "redoc.png").write_bytes(page.screenshot())
    assert blocked == []
    # ReDoc's footer links its maker's logo on a CDN: the policy stops it in the browser.
    assert all("cdn.redoc.ly" in msg for msg in refused), refused
