"""The board report's wording as Chromium shows it: reasons a clinician reads (issue 17)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from board_model import setup_registry
from browser import launch
from icipredict.predict.explain import top_reasons
from icipredict.predict.report import write_report
from icipredict.predict.scorer import score

RECORD = {"patient_id": "P-words", "cancer_type": "Melanoma", "tmb": 55, "albumin": 4.8,
          "nlr": 1, "age": 40, "prior_systemic_therapy": 0, "sex": "female"}


def _reasons() -> list:
    """Reasons of a tree model's contributions: flags, a category, radiomics, an imputed ECOG."""
    out_row = pd.Series({"contrib_prior_systemic_therapy": 0.5, "contrib_ecog": -0.9,
                         "contrib_cancer_type_MEL": 0.4,
                         "contrib_radiomics_original_firstorder_Entropy": -0.2,
                         "contrib_tmb": 0.3, "missing_modalities": ""})
    frame_row = pd.Series({"prior_systemic_therapy": 0, "ecog": np.nan, "tmb": 55.0,
                           "cancer_type": "MEL",
                           "radiomics_original_firstorder_Entropy": 2.35}, dtype=object)
    return top_reasons(out_row, frame_row, k=5)


def test_report_reads_as_sentences_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    uri = setup_registry(tmp_path / "registry")
    s = score(RECORD, uri)
    s = s.model_copy(update={"reasons": _reasons()})
    page_path = write_report(s, tmp_path / "report.html")
    with sync_playwright() as pw:
        browser = launch(pw)
        try:
            page = browser.new_page()
            page.goto(page_path.as_uri())
            reasons = page.inner_text("#reasons")
            assert "No prior systemic therapy — raises the chance of response" in reasons
            assert "Cancer type: Melanoma — raises the chance of response" in reasons
            assert "TMB 55 mut/Mb — raises the chance of response" in reasons
            assert "Tumour texture (entropy) 2.35 — lowers the chance of response" in reasons
            assert "ECOG" not in reasons and "training median" not in reasons  # imputed
            body = page.inner_text("body")
            assert "original_firstorder" not in body  # the engine's name only on hover
            cell = page.locator("#reasons td", has_text="Tumour texture")
            assert cell.get_attribute("title") == "pyradiomics: original_firstorder_Entropy"
            assert "not reached" in body and "None" not in body
        finally:
            browser.close()
