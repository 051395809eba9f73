"""The federated result as a registry bundle: the same board model as a pooled training's.

- response: the Platt-calibrated logistic regression (:mod:`.export`) as a scikit-learn
  ``Pipeline`` of a ``SimpleImputer`` (the fit's fill values) and a ``LogisticRegression``
  whose fitted attributes are the federated coefficients (registry codec ``skops``);
- or the federated XGBoost booster with its grid and Platt map
  (:class:`~icipredict.modeling.grid_booster.GridBoostedResponse`, codec ``federated_xgboost``);
- OS / PFS: :class:`~icipredict.modeling.cox_estimates.CoxEstimates` with the centres'
  patient-weighted mixture baseline (codec ``cox_estimates``);
- the training domain, feature ranges and risk tertiles from federated aggregates only.

No row, ID or per-patient vector reaches the bundle: the coordinator never had one.
Response and survival intervals are null: their tables need each centre's patient and outcome
counts per bin of held-out scores, cells of 1-4 patients with their outcomes that the protocol
does not share.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.errors import RegistryError

#: Shown on the model card and kept in the manifest.
LIMITATIONS = [
    "Trained federated: no centre sent rows; coefficients equal the pooled fit's.",
    "Response probabilities are Platt-scaled on held-out (leave-one-centre-out) logits, "
    "fitted federated; the per-patient 95% response and survival intervals are not available "
    "(null): they need each centre's outcome counts in small bins of held-out scores, which "
    "the federation does not share.",
    "OS/PFS: Cox model stratified by centre; every patient gets the patient-weighted mixture "
    "of the centres' Breslow baselines, on a monthly grid, up to the last month every centre "
    "had at least min_count patients at risk; survival past it is null.",
    "Training domain and input ranges are coarse: counts below fixed edges, values shared by "
    "fewer than min_count patients of a centre unseen.",
]
#: Replaces the first two limitations when the response model is federated XGBoost.
XGB_LIMITATION = (
    "Response: XGBoost trained federated (Flower's cyclic or bagging strategy) on a shared grid "
    "of <= 32 bins per feature; not equal to pooled XGBoost (see README, Federated training). "
    "Probabilities are Platt-scaled on leave-one-centre-out margins, fitted federated; the "
    "per-patient 95% response and survival intervals are not available (null).")


def response_estimator(model: dict[str, Any]) -> Any:
    """The calibrated federated logistic model as a fitted scikit-learn ``Pipeline``.

    The imputer is fitted (``fit``) on one made-up row of the fill values, so its
    ``statistics_`` are those values; the logistic regression gets the fitted attributes
    scikit-learn documents (``classes_``, ``coef_``, ``intercept_``, ``n_features_in_``):
    there is no constructor from coefficients.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    names = list(model["features"])
    cal = model.get("calibrated") or {"coef": model["coef"], "intercept": model["intercept"]}
    impute = SimpleImputer(strategy="mean").fit(pd.DataFrame([model["fill"]], columns=names,
                                                             dtype=float))
    lr = LogisticRegression()
    lr.classes_ = np.array([0, 1])
    lr.coef_ = np.asarray(cal["coef"], dtype=float).reshape(1, -1)
    lr.intercept_ = np.array([float(cal["intercept"])])
    lr.n_features_in_ = len(names)
    return Pipeline([("impute", impute), ("logistic", lr)])


def cox_estimator(model: dict[str, Any]) -> Any:
    """The federated stratified Cox model with its mixture baseline (None without one)."""
    from icipredict.modeling.cox_estimates import CoxEstimates

    base = model.get("baseline") or {}
    if not base.get("follow_up_months"):
        return None
    return CoxEstimates(
        features=list(model["features"]), coef=list(model["coef"]), mean=list(model["mean"]),
        impute=list(model["fill"]), baseline_times=[0.0, *base["grid_months"]],
        baseline_cumhaz=[0.0, *base["cumhaz"]], follow_up_=float(base["follow_up_months"]),
        details={k: base[k] for k in ("rule", "weights", "per_centre", "grid_months")})


def _domain(result: dict[str, Any], builder: Any) -> dict[str, Any]:
    """``training_domain`` from aggregates: summed categories, coarse numeric ranges and
    federated medians of input columns (a capped column's maximum is the cap's: left out)."""
    from icipredict.registry.schema import input_columns

    reg, state = result["registry"], result["state"]
    numeric: dict[str, Any] = {}
    doubles = {c["name"] for c in input_columns(builder) if c["type"] == "double"}
    means, scales = state.get("means") or {}, state.get("scales") or {}
    caps = builder.spec_.caps
    imputed = builder.spec_.imputation == "median"  # counts of the builder output: no NaN left
    n_patients = int(sum(result["centres"].values()))
    for col, (lo, hi) in reg["feature_ranges"].items():
        if col not in doubles:
            continue

        def raw(v: float | None, col: str = col) -> float | None:
            if v is None or means.get(col) is None:
                return v
            return v * scales[col] + means[col]

        numeric[col] = {"min": raw(lo), "max": None if col in caps else raw(hi),
                        "q50": state.get("raw_medians", {}).get(col),
                        "n": None if imputed else int(reg["observed"][col]),
                        "missing": None if imputed else n_patients - int(reg["observed"][col])}
    return {"n_patients": n_patients,
            "categories": {k: {lvl: int(n) for lvl, n in v.items()}
                           for k, v in reg["categories"].items()},
            "numeric": numeric, "patients_per_centre": dict(result["centres"]),
            "source": "federated aggregates (small cells suppressed at each centre)"}


def _risk_groups(result: dict[str, Any]) -> dict[str, Any]:
    from icipredict.evaluation.risk_groups import risk_tertiles

    rg = result["registry"].get("risk_groups") or {"endpoint": "os", "cut_points": []}
    # results written before held-out tertiles carry no source: theirs were in-sample
    out = risk_tertiles(np.array([]), endpoint=rg["endpoint"],
                        source=rg.get("source", "in-sample risk scores of the training "
                                      "patients, from the centres' counts below fixed edges "
                                      "(federated)"))
    out["cut_points"] = list(rg["cut_points"])
    return out


def _response_name(models: dict[str, Any], wanted: str | None) -> str | None:
    """The response model the bundle holds: ``wanted``, else the logistic ``response``, else
    the boosted ``response_xgb`` (a bundle holds one response model)."""
    names = [k for k, m in models.items() if m["target"] == "response"]
    if wanted is not None:
        if wanted not in names:
            raise RegistryError(f"federated result has no response model {wanted!r} (it has "
                                f"{names})")
        return wanted
    return next((k for k in ("response", "response_xgb") if k in names), None)


def limitations(model: dict[str, Any] | None) -> list[str]:
    """The bundle's limitations for its response model (``model``: its description)."""
    if model is None or model["kind"] != "xgboost":
        return LIMITATIONS
    return [XGB_LIMITATION, *LIMITATIONS[2:]]


def write_federated_bundle(result: dict[str, Any], folder: str | Path,
                           config: Any | None = None, response: str | None = None
                           ) -> dict[str, Any]:
    """Write the registry bundle of a federated result (:meth:`Coordinator.run`).

    ``response`` names the result's response model to write (default: the logistic
    ``response``, else the boosted ``response_xgb``); a bundle holds one.

    Returns
    -------
    dict
        The manifest (``federation`` holds the run's lineage).
    """
    from icipredict.features.spec import FeatureSpec
    from icipredict.federated.builder_state import builder_from_state
    from icipredict.federated.protocol import decode, encode
    from icipredict.modeling.grid_booster import GridBoostedResponse
    from icipredict.registry.bundle import TrainingAggregates, write_bundle

    result = decode(encode(result))  # plain JSON numbers, as a result read from Flower's file
    builder = builder_from_state(FeatureSpec.model_validate(result["spec"]), result["state"])
    models = result["models"]
    name = _response_name(models, response)
    model = models.get(name) if name else None
    slope = (model or {}).get("platt", {}).get("slope", 1.0)
    if slope <= 0:  # a calibration map cannot repair a ranking; inverting it hides the fault
        raise RegistryError(
            f"federated {name}: its Platt slope on leave-one-centre-out predictions is "
            f"{slope:.3g} <= 0 (held-out scores rank responders below non-responders); "
            "refused for the registry: train with more data or trees, or another model")
    survival = {end: cox_estimator(models[end]) for end in ("os", "pfs") if end in models}
    info = {"federation": result["federation"], "limitations": limitations(model),
            "models": {k: f"federated {m['kind']}" + ("" if k in (name, "os", "pfs") else
                                                      " (not in this bundle)")
                       for k, m in models.items()}}
    if model is not None and "platt" in model:
        info["calibration"] = {"method": "platt (federated)", **model["platt"]}
    if config is not None:
        info.update({"experiment": config.name, "config_hash": config.config_hash()})
    return write_bundle(
        folder, builder=builder,
        response_model=None if model is None else (
            GridBoostedResponse.from_description(model) if model["kind"] == "xgboost"
            else response_estimator(model)),
        survival_models={k: v for k, v in survival.items() if v is not None},
        training_frame=TrainingAggregates(_domain(result, builder),
                                          result["registry"]["feature_ranges"]),
        response_intervals=None, info=info, risk_groups=_risk_groups(result))
