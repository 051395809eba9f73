"""The BRCA1/2 report in headless Chromium: tables filled, Kaplan-Meier images decoded."""

from __future__ import annotations

from pathlib import Path

from browser import chromium_path
from icipredict.cohort.brca import analyse
from icipredict.cohort.brca.report import to_json, write_html
from test_brca_outcomes import network


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    analysis = analyse(network())
    html = write_html(analysis, tmp_path / "brca.html")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(),
                                     args=["--no-sandbox", "--disable-gpu", "--no-first-run"])
        try:
            page = browser.new_page()
            page.goto(html.as_uri())
            summary = page.inner_text("#summary")  # 23 frameshifts + 5 VUS, one per patient
            assert "28 somatic variant(s) in 28 patient(s)" in summary
            assert "23 pathogenic carrier(s)" in summary
            widths = page.eval_on_selector_all(
                "img.km", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)")
            assert len(widths) == 2 and all(w > 100 for w in widths)  # OS and PFS decoded
            rows = page.locator("#outcomes tr:has(td)")
            assert rows.count() == 3 * 4  # centres A, B and pooled x 4 classes
            text = page.inner_text("#outcomes")
            assert "pathogenic_biallelic" in text
            assert page.locator("#registry tr:has(td)").count() == len(analysis.registry.somatic)
        finally:
            browser.close()


def test_json_has_no_nan() -> None:
    import json

    payload = to_json(analyse(network()))
    json.dumps(payload, allow_nan=False)
    assert {"registry", "germline", "outcomes", "co_alterations", "tmb_msi", "kb_version"} <= set(
        payload)
