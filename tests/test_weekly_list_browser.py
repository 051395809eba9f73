"""The weekly list in headless Chromium: each patient's warnings are shown as sentences."""

from __future__ import annotations

import pytest

from board_model import setup_registry
from browser import launch
from icipredict.predict.report import write_list
from icipredict.predict.scorer import score_batch


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory):
    return setup_registry(tmp_path_factory.mktemp("registry"))


def test_weekly_list_reads_the_warnings_not_a_count(model_uri, tmp_path):
    from playwright.sync_api import sync_playwright

    rows = [{"patient_id": "W-01", "cancer_type": "PAAD", "tmb": 3, "nlr": 8},
            {"patient_id": "W-02", "cancer_type": "NSCLC", "tmb": 30, "nlr": 2, "albumin": 4.1,
             "age": 60}]
    scores = score_batch(rows, model_uri)
    by_id = {s.patient_id: s for s in scores}
    assert by_id["W-01"].warnings  # PAAD is outside the stand-in model's training data
    paths = write_list(scores, tmp_path / "week")
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(paths["html"].as_uri())
            header = page.locator("#weekly-list tr").first.inner_text()
            assert "Warnings" in header
            for s in scores:
                row = page.locator("#weekly-list tr", has_text=s.patient_id)
                cell = row.locator("td.warnings")
                items = cell.locator("li")
                assert items.count() == len(s.warnings)
                for i, w in enumerate(s.warnings):
                    assert items.nth(i).is_visible()
                    assert items.nth(i).inner_text().strip() == w.message
                if not s.warnings:
                    assert cell.inner_text().strip() == "none"
            text = page.locator("#weekly-list").inner_text()
            assert "was not in the training data" in text
        finally:
            browser.close()
