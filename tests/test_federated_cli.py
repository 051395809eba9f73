"""``icipredict federated``: bad input is refused with a clear message before any network round."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from icipredict.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_train_refuses_a_model_without_a_federated_fit(tmp_path):
    experiment = tmp_path / "rf.yaml"
    experiment.write_text(
        "name: fed_rf\ndescription: a forest has no federated fit\n"
        "cohort: {store: {path: unused.duckdb}}\n"
        f"features: {ROOT / 'models/features/loris.yaml'}\n"
        f"models: [{ROOT / 'models/rf16.yaml'}]\n"
        "targets: [response]\nvalidation: {scheme: leave_one_centre_out}\n", encoding="utf-8")
    res = runner.invoke(app, ["federated", "train", str(experiment), "--superlink", "127.0.0.1:9"])
    assert res.exit_code == 2
    assert "RF16Forest" in res.output and "no federated fit" in res.output


def test_train_refuses_a_bad_dropout_policy():
    res = runner.invoke(app, ["federated", "train", str(ROOT / "experiments/demo_federated.yaml"),
                              "--superlink", "127.0.0.1:9", "--on-dropout", "maybe"])
    assert res.exit_code == 2 and "fail or quorum" in res.output


def test_node_refuses_a_missing_store(tmp_path):
    res = runner.invoke(app, ["federated", "node", "--store", str(tmp_path / "none.duckdb"),
                              "--centre", "x", "--superlink", "127.0.0.1:9"])
    assert res.exit_code == 2 and "no such store" in res.output


def test_node_refuses_a_missing_certificate(tmp_path):
    store = tmp_path / "s.duckdb"
    store.write_bytes(b"")
    res = runner.invoke(app, ["federated", "node", "--store", str(store), "--centre", "x",
                              "--superlink", "127.0.0.1:9", "--root-certificates",
                              str(tmp_path / "ca.pem")])
    assert res.exit_code == 2 and "no such CA certificate" in res.output
