"""HTML reports: one page per patient with inline SVG, A4 print CSS, intended use; weekly list."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from board_model import setup_registry
from icipredict.predict.report import render_report, survival_svg, write_list
from icipredict.predict.scorer import score, score_batch

PATIENT = {"patient_id": "P<1>", "cancer_type": "PAAD", "tmb": 20, "albumin": 3.9, "nlr": 3,
           "age": 70, "drug": "pembrolizumab"}


@pytest.fixture(scope="module")
def model_uri(tmp_path_factory):
    return setup_registry(tmp_path_factory.mktemp("registry"))


def test_report_has_score_plots_reasons_warnings_and_use(model_uri):
    s = score(PATIENT, model_uri)
    html = render_report(s)
    assert f"{100 * s.response.probability:.0f}%" in html
    assert "P&lt;1&gt;" in html and "P<1>" not in html  # escaped
    svgs = re.findall(r"<svg.*?</svg>", html, flags=re.S)
    assert len(svgs) == 2
    for svg in svgs:
        ET.fromstring(svg)  # well-formed inline SVG
    assert s.reasons[0].text in html
    assert "was not in the training data" in html  # PAAD is outside the stand-in's domain
    assert "Intended use" in html and "never replace" in html
    assert "@media print" in html and "size: A4" in html
    assert f"version {s.model.version}" in html
    assert "<script" not in html


def test_survival_svg_draws_both_curves(model_uri):
    s = score(PATIENT, model_uri)
    svg = str(survival_svg(s.os, s.pfs))
    assert svg.count("<path") == 2
    root = ET.fromstring(svg)
    assert root.tag.endswith("svg")


def test_weekly_list_html_and_csv(model_uri, tmp_path):
    rows = [{"patient_id": "A", "cancer_type": "MEL", "tmb": 2, "nlr": 9},
            {"patient_id": "B", "cancer_type": "NSCLC", "tmb": 40, "nlr": 2}]
    scores = score_batch(rows, model_uri)
    paths = write_list(scores, tmp_path / "week")
    table = pd.read_csv(paths["csv"])
    assert list(table["patient_id"]) == ["B", "A"]
    html = paths["html"].read_text()
    assert html.index(">B<") < html.index(">A<")
    assert (tmp_path / "week" / "A.html").is_file()


def test_weekly_list_shows_and_exports_every_warning(model_uri, tmp_path):
    """The list shows the warnings themselves; the CSV never splits a message on its ';'."""
    from icipredict.predict.scorer import BoardWarning

    rows = [{"patient_id": "A", "cancer_type": "PAAD", "tmb": 2, "nlr": 9},  # unseen type
            {"patient_id": "B", "cancer_type": "NSCLC", "tmb": 40, "nlr": 2}]
    scores = score_batch(rows, model_uri)
    tricky = 'Albumin 38 given in g/L; read as 3.8 g/dL, "check", please'
    a = next(s for s in scores if s.patient_id == "A")
    a.warnings.append(BoardWarning(code="unit_converted", message=tricky))
    paths = write_list(scores, tmp_path / "week")
    table = pd.read_csv(paths["csv"]).set_index("patient_id")
    assert "warnings" not in table.columns
    assert table.loc["A", "n_warnings"] == len(a.warnings) >= 2
    assert table.loc["A", "warning_codes"].split("|") == [w.code for w in a.warnings]
    long = pd.read_csv(paths["warnings"])
    assert list(long.columns) == ["rank", "patient_id", "code", "message"]
    mine = long[long["patient_id"] == "A"]
    assert mine["message"].tolist() == [w.message for w in a.warnings]  # tricky one intact
    assert (mine["rank"] == table.loc["A", "rank"]).all()
    assert len(long) == sum(len(s.warnings) for s in scores)
    html = paths["html"].read_text()
    assert "was not in the training data" in html
    assert "read as 3.8 g/dL, &#34;check&#34;, please" in html  # escaped, shown whole
    a.warnings.append(BoardWarning(code="bad|code", message="x"))
    with pytest.raises(ValueError, match="bad|code"):
        write_list(scores, tmp_path / "again")


def test_cli_predict_and_list(model_uri, tmp_path):
    import json

    import mlflow
    from typer.testing import CliRunner

    from icipredict.cli import app

    tracking = mlflow.get_tracking_uri()
    rec = tmp_path / "p.json"
    rec.write_text(json.dumps({"patient_id": "C1", "cancer_type": "MEL", "tmb": 12}))
    runner = CliRunner()
    res = runner.invoke(app, ["predict", "--patient", str(rec), "--model", model_uri,
                              "--tracking-uri", tracking, "--report", str(tmp_path / "r.html"),
                              "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "r.json").read_text())["patient_id"] == "C1"
    assert "C1" in (tmp_path / "r.html").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"cancer_type": "??", "albumin": 40}))
    res = runner.invoke(app, ["predict", "--patient", str(bad), "--model", model_uri,
                              "--tracking-uri", tracking])
    assert res.exit_code == 2 and "2 problem(s)" in res.output
    lst = tmp_path / "list.csv"
    lst.write_text("patient_id,cancer_type,tmb\nA,MEL,1\nB,MEL,30\n")
    res = runner.invoke(app, ["predict-list", str(lst), "--out-dir", str(tmp_path / "out"),
                              "--model", model_uri, "--tracking-uri", tracking])
    assert res.exit_code == 0, res.output
    assert pd.read_csv(tmp_path / "out" / "list.csv")["patient_id"].tolist() == ["B", "A"]


def test_survival_interval_is_shown_when_the_model_gives_one(model_uri):
    """The registry model fills ``os_survival_<h>m_ci_low/high`` from its Kaplan-Meier table
    at the trained horizons: the curve's band and the 12/24-month cells show it."""
    from icipredict.predict.scoring.assemble import survival_estimate
    from icipredict.predict.scoring.result import CURVE_MONTHS

    row = pd.Series({f"os_survival_{h}m": 0.9 - 0.02 * h for h in CURVE_MONTHS})
    for h, lo, hi in ((6, 0.70, 0.85), (12, 0.55, 0.79), (24, 0.31, 0.58)):
        row[f"os_survival_{h}m_ci_low"], row[f"os_survival_{h}m_ci_high"] = lo, hi
    os_estimate = survival_estimate(row, "os", CURVE_MONTHS)
    assert (os_estimate.at_12m.ci_low, os_estimate.at_12m.ci_high) == (0.55, 0.79)
    assert os_estimate.curve[2].ci_low is None  # 3 months: not in the table, no interval
    s = score(PATIENT, model_uri).model_copy(update={"os": os_estimate})
    svg = str(survival_svg(s.os, s.pfs))
    assert svg.count("<polygon") == 1  # the OS band (the stand-in's PFS has none)
    html = render_report(s)
    assert "(55%&ndash;79%)" in html and "(31%&ndash;58%)" in html
