"""End to end in headless Chromium: the board page scores a record and shows the probability."""

from __future__ import annotations

import json
import struct
import zlib
from contextlib import contextmanager

import pytest

from board_model import setup_registry
from browser import chromium_path, serve_app
from icipredict.predict.service import create_app

TOKEN = "browser-test-token"


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    from board_store import small_store

    return small_store(tmp_path_factory)


@pytest.fixture(scope="module")
def server(tmp_path_factory, net):
    uri = setup_registry(tmp_path_factory.mktemp("registry"))
    with serve_app(create_app(uri, token=TOKEN, store=net["store"],
                              cache_dir=net["cache"])) as url:
        yield url


def _png_is_not_blank(data: bytes) -> bool:
    """Decode enough of the PNG (8-bit RGB/RGBA, no interlace) to see more than one colour."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunk = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            width, _, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    raw = zlib.decompress(idat)
    stride = width * channels + 1
    # Filter bytes differ per row, so compare unfiltered-agnostic: count distinct row payloads.
    rows = {raw[i + 1:i + stride] for i in range(0, min(len(raw), stride * 400), stride)}
    return len(rows) > 5


@contextmanager
def _board_page(server: str):  # noqa: ANN202 - yields a playwright Page
    """The board page in headless Debian chromium, the API token entered."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.goto(f"{server}/board")
            page.fill("#token", TOKEN)
            yield page
        finally:
            browser.close()


def test_board_page_scores_a_store_query(server, net):
    """The weekly list as a store query: the page shows the centre's patients, best first."""
    pats = net["cohort"].patients
    centre = pats["centre"].iloc[0]
    want = set(pats.loc[pats["centre"] == centre, "patient_id"])
    with _board_page(server) as page:
        page.fill("#q-centres", f" {centre} ")
        page.click("#querylist")
        rows = page.frame_locator("#list").locator("tr:has(td)")
        rows.first.wait_for(timeout=20000)
        shown = [rows.nth(i).locator("td").nth(1).inner_text() for i in range(rows.count())]
        assert set(shown) == want
        # a malformed date is named on the page
        page.fill("#q-centres", "")
        page.evaluate("document.getElementById('q-from').type = 'text'")
        page.fill("#q-from", "next week")
        page.click("#querylist")
        page.wait_for_function("document.getElementById('listerror').textContent.length > 0")
        assert "started_from" in page.inner_text("#listerror")


def test_board_page_scores_a_record(server, tmp_path):
    record = {"patient_id": "web-1", "cancer_type": "NSCLC", "tmb": 20, "albumin": "38 g/L",
              "nlr": 3, "age": 70}
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record))
    with _board_page(server) as page:
        page.set_input_files("#file", str(path))
        page.wait_for_function("document.getElementById('record').value.includes('web-1')")
        page.click("#score")
        try:
            page.wait_for_selector("#board-probability", timeout=15000)
        except Exception:
            pytest.fail(f"no score shown; page error: {page.inner_text('#error')!r}")
        text = page.inner_text("#board-probability")
        assert text.startswith("Response probability:") and text.endswith("%")
        report = page.frame_locator("#report").locator("#response-probability")
        assert report.inner_text(timeout=15000).endswith("%")
        shot = page.screenshot(full_page=False)
        assert _png_is_not_blank(shot)
        (tmp_path / "board.png").write_bytes(shot)

        # An invalid record shows every problem on the page.
        page.fill("#record", json.dumps({"cancer_type": "??", "albumin": 40}))
        page.click("#score")
        page.wait_for_function("document.getElementById('error').textContent.length > 0")
        err = page.inner_text("#error")
        assert "cancer_type" in err and "albumin" in err
