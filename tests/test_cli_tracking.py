"""CLI: icipredict register / promote (gate, --force --reason) / model card."""

from __future__ import annotations

import json

import mlflow
import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from typer.testing import CliRunner

from icipredict.cli import app
from icipredict.tracking.mlflow_setup import configure_tracking
from mlflow_helpers import fresh_tracking_uri

runner = CliRunner()


@pytest.fixture()
def setup(tmp_path):
    uri = fresh_tracking_uri(tmp_path)
    configure_tracking(uri, "cli-test")
    rng = np.random.default_rng(3)
    X = pd.DataFrame({"tmb": rng.normal(0, 1, 600), "nlr": rng.normal(0, 1, 600)})
    y = (rng.random(600) < 1 / (1 + np.exp(-2 * X["tmb"]))).astype(int)
    held_out = X.assign(responder=y)
    path = tmp_path / "held_out.csv"
    held_out.to_csv(path, index=False)

    def log(target) -> str:
        with mlflow.start_run() as run:
            mlflow.sklearn.log_model(LogisticRegression().fit(X, target), name="model",
                                     pyfunc_predict_fn="predict_proba",
                                     serialization_format="skops",
                                     pip_requirements=["scikit-learn"])
        return run.info.run_id

    yield uri, path, log, y
    mlflow.set_tracking_uri(None)


def test_register_promote_force_and_card(setup):
    uri, path, log, y = setup
    opts = ["--tracking-uri", uri]
    good = runner.invoke(app, ["register", log(y), "--name", "m", *opts])
    assert good.exit_code == 0, good.output
    assert "version 1" in good.output
    assert f"tracking URI: {uri}" in good.output
    assert f"mlflow ui --backend-store-uri {uri}" in good.output and "/runs/" in good.output

    ok = runner.invoke(app, ["promote", "m", "1", "--eval-data", str(path), *opts])
    assert ok.exit_code == 0, ok.output
    assert "promoted to champion" in ok.output and f"tracking URI: {uri}" in ok.output

    noise = np.random.default_rng(9).permutation(y)  # a model that learnt nothing useful
    assert runner.invoke(app, ["register", log(noise), "--name", "m", *opts]).exit_code == 0
    refused = runner.invoke(app, ["promote", "m", "challenger", "--eval-data", str(path), *opts])
    assert refused.exit_code == 1
    assert "NOT promoted" in refused.output and "auc" in refused.output

    no_reason = runner.invoke(app, ["promote", "m", "2", "--eval-data", str(path), "--force",
                                    *opts])
    assert no_reason.exit_code == 2 and "reason" in no_reason.output

    forced = runner.invoke(app, ["promote", "m", "2", "--eval-data", str(path), "--force",
                                 "--reason", "test override", *opts])
    assert forced.exit_code == 0 and "forced: test override" in forced.output

    card = runner.invoke(app, ["model", "card", "m@champion", "--format", "json", *opts])
    assert card.exit_code == 0, card.output
    data = json.loads(card.stdout)
    assert data["version"] == "2" and "champion" in data["aliases"]
    assert data["promotion"]["promotion.forced_reason"] == "test override"

    md = runner.invoke(app, ["model", "card", "m/1", *opts])
    assert md.exit_code == 0 and "Intended use" in md.output
    full = runner.invoke(app, ["model", "card", "m/1", "--full", *opts])
    assert full.exit_code == 0 and "Intended use" in full.output
    page = runner.invoke(app, ["model", "card", "m/1", "--format", "html", *opts])
    assert page.exit_code == 0, page.output
    assert page.stdout.startswith("<!DOCTYPE html>") and "<h2>Intended use</h2>" in page.stdout


def test_promote_with_unreadable_eval_data_is_a_clear_error(setup, tmp_path):
    uri, _, log, y = setup
    runner.invoke(app, ["register", log(y), "--name", "m", "--tracking-uri", uri])
    bad = tmp_path / "no_outcomes.csv"
    pd.DataFrame({"tmb": [1.0]}).to_csv(bad, index=False)
    result = runner.invoke(app, ["promote", "m", "1", "--eval-data", str(bad),
                                 "--tracking-uri", uri])
    assert result.exit_code == 2 and "no outcome column" in result.output
