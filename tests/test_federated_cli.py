"""``icipredict federated``: bad input is refused with a clear message before any network round."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from icipredict.cli import app

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()


def test_train_refuses_a_model_without_a_federated_fit():
    res = runner.invoke(app, ["federated", "train", str(ROOT / "experiments/demo_synthetic.yaml"),
                              "--superlink", "127.0.0.1:9"])
    assert res.exit_code == 2
    assert "XGBResponse" in res.output and "no federated fit" in res.output


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
