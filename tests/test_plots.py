"""Tests of the evaluation figures: files written, and what the axes hold."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pytest
from lifelines.statistics import multivariate_logrank_test
from scipy.special import expit

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.decision import decision_curve
from icipredict.evaluation.plots import (
    plot_calibration,
    plot_decision_curve,
    plot_feature_importance,
    plot_km_by_risk_group,
    plot_pr,
    plot_roc,
    plot_time_dependent_auc,
    risk_groups,
    save_figure,
)
from icipredict.evaluation.survival_metrics import time_dependent_auc


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    n = 300
    lp = rng.normal(-1, 1.3, n)
    y = rng.binomial(1, expit(lp))
    p = expit(lp)
    noisy = expit(lp + rng.normal(0, 1.5, n))
    t_event = rng.exponential(10 * np.exp(-0.8 * lp))
    t_cens = rng.uniform(1, 36, n)
    return {"y": y, "p": p, "noisy": noisy, "time": np.minimum(t_event, t_cens),
            "event": (t_event <= t_cens).astype(int), "risk": lp}


def _written(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000


def test_roc_with_two_models_png_and_svg(data, tmp_path):
    for name in ("roc.png", "roc.svg"):
        fig = plot_roc(data["y"], {"full": data["p"], "noisy": data["noisy"]}, n_boot=50,
                       path=tmp_path / "sub" / name)
        assert _written(tmp_path / "sub" / name)
    ax = fig.axes[0]
    assert len(ax.lines) == 3  # two models + chance
    labels = ax.get_legend_handles_labels()[1]
    assert labels[0].startswith("full (AUC") and "[" in labels[0] and labels[2] == "chance"
    assert len(ax.collections) == 2  # one CI band per model
    assert (tmp_path / "sub" / "roc.svg").read_text().lstrip().startswith("<?xml")


def test_pr_and_calibration(data, tmp_path):
    fig = plot_pr(data["y"], data["p"], n_boot=50, path=tmp_path / "pr.png")
    assert _written(tmp_path / "pr.png")
    assert len(fig.axes[0].lines) == 2  # curve + prevalence
    assert f"prevalence {data['y'].mean():.2f}" in fig.axes[0].get_legend_handles_labels()[1]
    fig = plot_calibration(data["y"], {"a": data["p"], "b": data["noisy"]},
                           path=tmp_path / "cal.svg")
    assert _written(tmp_path / "cal.svg")
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert labels[0] == "ideal" and sum("slope" in lab for lab in labels) == 2
    assert len(fig.axes[0].containers) == 2  # binned points with error bars per model


def test_km_by_risk_tertile_reports_lifelines_logrank(data, tmp_path):
    fig = plot_km_by_risk_group(data["time"], data["event"], data["risk"],
                                path=tmp_path / "km.png")
    assert _written(tmp_path / "km.png")
    ax = fig.axes[0]
    assert len(ax.lines) == 3
    labels = ax.get_legend_handles_labels()[1]
    assert [lab.split()[0] for lab in labels] == ["low", "intermediate", "high"]
    groups = risk_groups(data["risk"]).astype(str).to_numpy()
    ref = multivariate_logrank_test(data["time"], groups, data["event"]).p_value
    assert fig.logrank_p == pytest.approx(ref)
    assert f"{ref:.2g}" in ax.get_title()
    assert sorted(np.unique(groups, return_counts=True)[1].tolist()) == [100, 100, 100]


def test_time_dependent_auc_decision_and_importance(data, tmp_path):
    frame, _ = time_dependent_auc(data["time"], data["event"], data["risk"],
                                  train_time=data["time"], train_event=data["event"])
    fig = plot_time_dependent_auc({"cox": frame, "other": frame}, path=tmp_path / "td.png")
    assert _written(tmp_path / "td.png") and len(fig.axes[0].lines) == 3
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), frame["auc"])

    curve = decision_curve(data["y"], {"model": data["p"]})
    fig = plot_decision_curve(curve, path=tmp_path / "dc.svg")
    assert _written(tmp_path / "dc.svg")
    assert fig.axes[0].get_legend_handles_labels()[1] == ["treat all", "treat none", "model"]

    imp = {"tmb": 0.4, "nlr": -0.3, "albumin": 0.1, "age": 0.05}
    fig = plot_feature_importance(imp, top_n=3, path=tmp_path / "imp.png")
    assert _written(tmp_path / "imp.png")
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [t.get_text() for t in ax.get_yticklabels()] == ["albumin", "nlr", "tmb"]


def test_bad_format_refused(data, tmp_path):
    fig = plot_feature_importance({"a": 1.0})
    with pytest.raises(CohortError, match="format"):
        save_figure(fig, tmp_path / "x.jpg")


def test_import_chooses_no_backend_and_figures_are_not_pyplots(tmp_path):
    """Importing the module leaves the backend alone (notebooks keep their inline backend);
    figures are plain Figure objects saved with whatever backend is active."""
    import subprocess
    import sys

    code = (
        "import matplotlib; matplotlib.use('svg')\n"
        "import numpy as np\n"
        "from icipredict.evaluation import plots\n"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend()\n"
        "y = np.array([0, 1] * 20); p = np.linspace(0.1, 0.9, 40)\n"
        f"fig = plots.plot_roc(y, p, n_boot=0, path={str(tmp_path / 'roc.png')!r})\n"
        "import matplotlib.pyplot as plt\n"
        "assert plt.get_fignums() == [], plt.get_fignums()\n"
        "assert matplotlib.get_backend() == 'svg'\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert (tmp_path / "roc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
