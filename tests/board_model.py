"""Test helper: a tiny stand-in registry model with the board's pyfunc contract.

It follows ``docs/registry_model.md``: ``predict(df, params={"horizons": [...], "explain": bool})``
returns response_probability (+ 95% CI), risk_score, os/pfs_survival_<h>m, median_os/pfs_months
(None when not reached), missing_modalities and, with ``explain``, ``contrib_<feature>``; the
model carries a metadata-only registry bundle (``manifest.json`` naming ``domain.json`` and
``risk_groups.json``). A logistic response model on four features and an exponential survival
model make every number checkable by hand.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

#: Feature -> (coefficient on the standardised value, mean, sd).
COEF = {"tmb": (0.8, 8.0, 8.0), "albumin": (0.5, 3.8, 0.5), "nlr": (-0.6, 5.0, 4.0),
        "age": (-0.1, 62.0, 12.0)}
INTERCEPT = -1.1
DOMAIN = {"n_patients": 400,
          "categories": {"cancer_type": {"NSCLC": 150, "MEL": 120, "BLCA": 80, "RCC": 50},
                         "drug_class": {"PD-1/PD-L1": 300, "combination": 100}},
          "numeric": {"tmb": {"min": 0.0, "max": 60.0}, "albumin": {"min": 2.5, "max": 5.0},
                      "nlr": {"min": 0.5, "max": 30.0}, "age": {"min": 25.0, "max": 90.0}}}
RISK_CUTS = [-0.3, 0.3]
BASE_OS_RATE = 0.04  # per month
BASE_PFS_RATE = 0.08


class StandInModel(mlflow.pyfunc.PythonModel):
    """Logistic response + exponential survival on tmb, albumin, nlr, age."""

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        params = params or {}
        horizons = [float(h) for h in params.get("horizons") or [12.0, 24.0]]
        explain = bool(params.get("explain", False))
        df = model_input
        n = len(df)
        z = {f: ((pd.to_numeric(df[f], errors="coerce").to_numpy(dtype=float) - m) / s
                 if f in df.columns else np.full(n, np.nan)) for f, (_, m, s) in COEF.items()}
        contrib = {f: np.nan_to_num(COEF[f][0] * z[f]) for f in COEF}
        logit = INTERCEPT + sum(contrib.values())
        p = 1 / (1 + np.exp(-logit))
        out = {"response_probability": p,
               "response_ci_low": 1 / (1 + np.exp(-(logit - 0.5))),
               "response_ci_high": 1 / (1 + np.exp(-(logit + 0.5)))}
        risk = -0.5 * logit - 0.55
        out["risk_score"] = risk
        os_rate, pfs_rate = BASE_OS_RATE * np.exp(risk), BASE_PFS_RATE * np.exp(risk)
        for h in horizons:
            tag = f"{h:g}"
            out[f"os_survival_{tag}m"] = np.exp(-os_rate * h)
            out[f"pfs_survival_{tag}m"] = np.exp(-pfs_rate * h)
        med_os = math.log(2) / os_rate
        med_pfs = math.log(2) / pfs_rate
        out["median_os_months"] = np.array([None if m > 60 else float(m) for m in med_os],
                                           dtype=object)
        out["median_pfs_months"] = np.array([None if m > 60 else float(m) for m in med_pfs],
                                            dtype=object)
        out["missing_modalities"] = np.where(np.isnan(z["tmb"]), "genomic", "")
        if explain:
            for f, c in contrib.items():
                out[f"contrib_{f}"] = c
        return pd.DataFrame(out, index=range(n))


def signature() -> ModelSignature:
    """Optional input columns (a record may lack any of them) and the two params."""
    inputs = Schema([ColSpec("string", "cancer_type", required=False)]
                    + [ColSpec("double", f, required=False) for f in COEF])
    params = ParamSchema([ParamSpec("horizons", "double", [12.0, 24.0], shape=(-1,)),
                          ParamSpec("explain", "boolean", False)])
    return ModelSignature(inputs=inputs, params=params)


def register_stand_in(tmp: Path, name: str = "icipredict") -> str:
    """Log the stand-in in the current tracking store, register it, alias ``champion``.

    Returns the ``models:/NAME@champion`` URI.
    """
    from icipredict.registry.bundle import FILES, MANIFEST, MODEL_FORMAT

    bundle = tmp / "artifacts" / "bundle"
    bundle.mkdir(parents=True, exist_ok=True)
    (bundle / FILES["domain"]).write_text(json.dumps(DOMAIN))
    (bundle / FILES["risk_groups"]).write_text(json.dumps(
        {"cut_points": RISK_CUTS, "labels": ["low", "intermediate", "high"]}))
    columns = [{"name": "cancer_type", "type": "string", "required": False,
                "modality": "clinical"}] + [
        {"name": f, "type": "double", "required": False, "modality": "clinical"} for f in COEF]
    (bundle / MANIFEST).write_text(json.dumps({
        "format": MODEL_FORMAT, "input_columns": columns,
        "files": {k: FILES[k] for k in ("domain", "risk_groups")}}))
    mlflow.set_experiment("board-stand-in")  # never the experiment a previous test left active
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(
            name="model", python_model=StandInModel(), signature=signature(),
            artifacts={"bundle": str(bundle)})
    mv = mlflow.register_model(info.model_uri, name)
    mlflow.MlflowClient().set_registered_model_alias(name, "champion", mv.version)
    return f"models:/{name}@champion"


def setup_registry(tmp: Path) -> str:
    """A fresh tracking store in ``tmp`` with the stand-in as champion; the scorer cache cleared."""
    from icipredict.predict.scorer import clear_model_cache
    from mlflow_helpers import fresh_tracking_uri

    tmp.mkdir(parents=True, exist_ok=True)
    uri = fresh_tracking_uri(tmp)
    # both: a module that trained before (configure_tracking) left its registry URI set
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    clear_model_cache()
    return register_stand_in(tmp)


def expected_probability(tmb: float, albumin: float, nlr: float, age: float) -> float:
    """The stand-in's response probability computed by hand."""
    values = {"tmb": tmb, "albumin": albumin, "nlr": nlr, "age": age}
    logit = INTERCEPT + sum(c * (values[f] - m) / s for f, (c, m, s) in COEF.items())
    return 1 / (1 + math.exp(-logit))
