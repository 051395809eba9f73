"""Model card: built from registry + run + card inputs; required sections; no patient values."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from icipredict.tracking.lineage import log_cohort_lineage
from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.tracking.modelcard import (
    build_model_card,
    log_card_inputs,
    log_model_card,
    validity_domain,
)
from icipredict.tracking.registry import register
from icipredict.tracking.scan import scan_run
from mlflow_helpers import fresh_tracking_uri

SECTIONS = ["## Intended use", "## Must not be used for", "## Training data",
            "### Centres", "## Validity domain", "## Metrics", "## Calibration",
            "## Known limitations", "## Licences", "## What is pickled"]


@pytest.fixture()
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(5)
    n = 120
    return pd.DataFrame({
        "patient_id": [f"MSK-{i:06d}" for i in range(n)],
        "centre": ["MSK"] * 80 + ["Lyon"] * 40,
        "cancer_type": ["NSCLC"] * 60 + ["MEL"] * 57 + ["RCC"] * 3,
        "drug_class": ["PD-1/PD-L1"] * 100 + ["combination"] * 20,
        "tmb": rng.gamma(2, 5, n).round(2),
        "albumin": rng.normal(3.8, 0.4, n).round(2),
        "responder": (rng.random(n) < 0.3).astype(int),
    })


@pytest.fixture()
def registered(tmp_path, frame):
    configure_tracking(fresh_tracking_uri(tmp_path), "card-test")
    X, y = frame[["tmb", "albumin"]], frame["responder"]
    with mlflow.start_run() as run:
        log_cohort_lineage(frame, source=tmp_path / "chowell2022_train.csv",
                           name="chowell2022-train")
        mlflow.log_metrics({"auc": 0.71, "auc_ci_low": 0.62, "auc_ci_high": 0.80,
                            "calibration_slope": 0.93, "calibration_slope_ci_low": 0.7,
                            "calibration_slope_ci_high": 1.2})
        mlflow.sklearn.log_model(LogisticRegression().fit(X, y), name="model",
                                 serialization_format="skops",
                                 pip_requirements=["scikit-learn"])
        log_card_inputs(
            validity=validity_domain(frame),
            subgroup_metrics=pd.DataFrame({"subgroup": ["cancer_type=NSCLC", "cancer_type=MEL"],
                                           "n": [60, 57], "auc": [0.74, float("nan")],
                                           "auc_ci_low": [0.6, np.nan],
                                           "auc_ci_high": [0.86, np.nan]}),
            limitations=["Toy model for tests."],
            description="A two-feature logistic model.",
            calibration={"ece": 0.05, "ece_ci_low": 0.03, "ece_ci_high": 0.09,
                         "ece_n_bins": 10, "ece_binning": "10 equal-width bins on [0, 1]",
                         "ici": 0.04, "ici_ci_low": 0.02, "ici_ci_high": 0.07},
        )
    version = register(run.info.run_id, "card-model")
    yield run.info.run_id, version
    mlflow.set_tracking_uri(None)


def test_validity_domain_is_aggregate_only(frame):
    domain = validity_domain(frame)
    assert domain["categories"]["cancer_type"] == {"MEL": 57, "NSCLC": 60, "RCC": "<5"}
    assert domain["categories"]["centre"] == {"Lyon": 40, "MSK": 80}
    tmb = domain["ranges"]["tmb"]
    assert frame["tmb"].min() < tmb["low"] < tmb["high"] < frame["tmb"].max()
    assert set(domain["ranges"]) == {"tmb", "albumin"}  # no IDs or outcomes


def test_card_has_every_section_and_the_facts(registered, frame):
    run_id, version = registered
    card = build_model_card("card-model", "challenger")
    assert card.version == version and "challenger" in card.aliases
    assert card.centres == {"Lyon": 40, "MSK": 80}
    md = card.to_markdown()
    for section in SECTIONS:
        assert section in md, section
    assert "| MSK | 80 |" in md and "| Lyon | 40 |" in md
    assert "RCC (<5)" in md and "PD-1/PD-L1 (100)" in md
    assert "| overall | auc | 0.710 | 0.620 to 0.800 |" in md
    assert "| cancer_type=NSCLC | auc | 0.740 | 0.600 to 0.860 | 60 |" in md
    assert "calibration_slope: 0.930 (95% CI 0.700 to 1.200)" in md
    # the ECE with its binning, and the binning-free ICI (issue 12)
    assert "- ece: 0.050 (95% CI 0.030 to 0.090)" in md
    assert "- ece_binning: 10 equal-width bins on [0, 1]" in md
    assert "- ici: 0.040 (95% CI 0.020 to 0.070)" in md and "ici_ci_low" not in md
    assert "Chowell et al. 2022" in md and "GPL-3.0" not in md
    assert "Toy model for tests." in md
    assert "Nothing: no pickle files" in md and "skops" in card.serialisation["sklearn"]
    data = json.loads(card.to_json())  # strict JSON: NaN became null
    assert data["metrics"][-1]["value"] is None
    assert not any(pid in md or pid in card.to_json() for pid in frame["patient_id"])


def test_pickled_pyfunc_is_declared(tmp_path):
    configure_tracking(fresh_tracking_uri(tmp_path), "card-test")
    try:
        class Const(mlflow.pyfunc.PythonModel):
            def predict(self, context, model_input, params=None):
                return np.full(len(model_input), 0.5)

        with mlflow.start_run() as run:
            mlflow.pyfunc.log_model(name="model", python_model=Const(),
                                    pip_requirements=["mlflow"])
        register(run.info.run_id, "pickled")
        card = build_model_card("pickled", 1)
        assert any(p.endswith("python_model.pkl") for p in card.pickled)
        md = card.to_markdown()
        assert "python_model.pkl" in md and "No validity domain was recorded" in md
    finally:
        mlflow.set_tracking_uri(None)


def test_log_model_card_stores_artifacts_and_tag(registered, frame):
    run_id, version = registered
    log_model_card("card-model", version)
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(run_id, f"model_card/v{version}")}
    assert files == {f"model_card/v{version}/model_card.md",
                     f"model_card/v{version}/model_card.json"}
    tag = mlflow.MlflowClient().get_model_version("card-model", version).tags["model_card"]
    assert tag == f"runs:/{run_id}/model_card/v{version}"
    assert scan_run(run_id, frame["patient_id"]) == []


def test_short_card_keeps_what_the_model_reads_and_html_embeds_the_plots(tmp_path, frame):
    """Short by default (< 80 lines): the inputs, held-out headline metrics with CIs, per-centre
    rows, intended use and warnings; bookkeeping metrics, ranges and licences only with --full;
    HTML embeds the run's figures."""
    from mlflow.models import infer_signature

    from icipredict.tracking.modelcard import plot_images

    configure_tracking(fresh_tracking_uri(tmp_path), "short-card")
    X = frame.assign(mut_BRCA2=0.0, radiomics_original_firstorder_Entropy=2.0)[
        ["tmb", "mut_BRCA2", "radiomics_original_firstorder_Entropy"]]
    y = frame["responder"]
    clf = LogisticRegression().fit(X, y)
    (tmp_path / "plots").mkdir()
    png = b"\x89PNG\r\n\x1a\n" + b"0" * 32
    for stem in ("feature_importance", "km_os", "roc", "calibration"):
        (tmp_path / "plots" / f"{stem}.png").write_bytes(png)
    held_out = {"cv_response_auc": 0.66, "cv_response_auc_ci_low": 0.61,
                "cv_response_auc_ci_high": 0.71, "auc": 0.91,  # apparent: not the headline
                "cv_response_calibration_slope": 0.95, "cv_response_calibration_slope_ci_low": 0.7,
                "cv_response_calibration_slope_ci_high": 1.2, "cv_os_harrell_c": 0.61,
                "cv_os_harrell_c_ci_low": 0.57, "cv_os_harrell_c_ci_high": 0.64,
                "cv_response_n": 120.0, "cv_response_n_events": 31.0, "cv_response_n_boot": 200.0,
                "cv_os_alpha": 0.05, "cv_os_tau": 53.85, "n_patients": 600.0}
    try:
        with mlflow.start_run() as run:
            log_cohort_lineage(frame, source=tmp_path / "synthetic.parquet", name="synthetic")
            mlflow.log_metrics(held_out)
            mlflow.log_artifacts(str(tmp_path / "plots"), "plots")
            mlflow.sklearn.log_model(clf, name="model", serialization_format="skops",
                                     signature=infer_signature(X, clf.predict(X)),
                                     pip_requirements=["scikit-learn"])
            log_card_inputs(
                validity=validity_domain(frame),
                subgroup_metrics=pd.DataFrame({"subgroup": ["centre=MSK", "centre=Lyon",
                                                            "cancer_type=NSCLC"],
                                               "n": [80, 40, 60], "auc": [0.64, 0.69, 0.7],
                                               "harrell_c": [0.6, 0.62, 0.6]}),
                limitations=["Validated by leave_one_centre_out."])
        register(run.info.run_id, "short")
        card = build_model_card("short", "1")
        assert card.features_used == list(X.columns)
        assert card.plots == ["plots/roc.png", "plots/calibration.png", "plots/km_os.png",
                              "plots/feature_importance.png"]
        short, full = card.to_markdown(full=False), card.to_markdown(full=True)
        assert len(short.splitlines()) < 80 and len(short.splitlines()) < len(full.splitlines())
        for section in ("## What the model uses", "## Headline metrics", "## Intended use",
                        "## Must not be used for", "## Validity domain", "## Warnings"):
            assert section in short, section
        assert "- Clinical and laboratory" not in short  # no such input here
        assert "- Genomic (2): tmb, mut_BRCA2" in short
        assert "- Imaging (radiomics) (1): radiomics_original_firstorder_Entropy" in short
        assert "Trained on 120 patients from 2 centre(s): Lyon 40, MSK 80." in short
        assert "| Response | AUC | 0.660 | 0.610 to 0.710 |" in short  # held-out, not 0.91
        assert "| Response | Calibration slope (ideal 1) | 0.950 | 0.700 to 1.200 |" in short
        assert "| OS | Harrell's C | 0.610 | 0.570 to 0.640 |" in short
        assert "Response: 31 responders of 120" in short
        assert "| MSK | 80 | 0.640 | 0.600 |" in short and "| Lyon | 40 | 0.690 | 0.620 |" in short
        assert "It supports, never replaces, the board's decision." in short
        assert "- Validated by leave_one_centre_out." in short
        assert "RCC (<5)" in short and "(1 variables, see `--full`)" in short  # tmb's range
        assert "`icipredict model card short/1 --full`" in short
        for bookkeeping in ("n_boot", "cv_os_alpha", "cv_os_tau", "n_patients", "Licences",
                            "| tmb |", "cancer_type=NSCLC", "0.910"):
            assert bookkeeping not in short, bookkeeping
        for detail in ("| overall | cv_response_n_boot | 200 |", "| overall | cv_os_tau |",
                       "## Licences", "| tmb |", "cancer_type=NSCLC", "| overall | auc | 0.910"):
            assert detail in full, detail
        assert "`plots/roc.png`, `plots/calibration.png`" in short
        images = plot_images(card)
        assert set(images) == set(card.plots) and images["plots/roc.png"] == png
        page = card.to_html(images=images)
        assert page.count('<img src="data:image/png;base64,') == 4
        assert page.index('alt="roc"') < page.index('alt="calibration"') < page.index('alt="km os"')
        assert "<table>" in page and "<script" not in page and "Headline metrics" in page
    finally:
        mlflow.set_tracking_uri(None)


def test_short_and_full_cards_render_the_shared_sections_alike():
    """Intended use, must-not-be-used-for and the domain's categories are spelled once
    (``tracking/templates/modelcard_sections.md.j2``), imported by both card templates."""
    from icipredict.tracking.modelcard import TEMPLATE, ModelCard
    from icipredict.tracking.modelcard_short import SHORT_TEMPLATE

    for template in (TEMPLATE, SHORT_TEMPLATE):
        assert template.startswith('{% import "modelcard_sections.md.j2" as sections -%}\n')
        assert "## Intended use" not in template and "## Must not be used for" not in template
    card = ModelCard(name="m", version="2", intended_use=["Use A.", "Use B."],
                     not_for=["Not X."],
                     validity_domain={"n_patients": 9, "quantiles": [0.01, 0.99], "ranges": {},
                                      "categories": {"cancer_type": {"MEL": 6, "RCC": "<5"},
                                                     "centre": {"A": 9}}})
    short, full = card.to_markdown(full=False), card.to_markdown(full=True)
    shared = ("\n\n## Intended use\n\n- Use A.\n- Use B.\n\n"
              "## Must not be used for\n\n- Not X.\n\n## ")
    assert shared in short and shared in full
    assert "## Validity domain\n\n- cancer_type: MEL (6), RCC (<5)\n- Values outside" in short
    assert "centre" not in short.split("## Validity domain")[1]
    assert "Training patients: 9.\n\n- **cancer_type**: MEL (6), RCC (<5)\n" \
           "- **centre**: A (9)\n\n| Variable" in full
