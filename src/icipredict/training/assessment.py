"""Held-out performance of an experiment: metrics with CIs, comparators, within-fold C, subgroups.

Plain functions over the patient frame and a table of predictions (``prob``, ``risk_<end>``,
``prob_<comparator>``, indexed like the frame); metric keys are the names the tracked run logs
(``<prefix>response_auc``, ``<prefix>os_harrell_c_ci_low``, ...).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.modeling.experiment import (
    ENDPOINTS,
    responder_target,
    response_label,
    survival_target,
    target_fields,
)
from icipredict.training.config import ExperimentConfig

logger = logging.getLogger(__name__)


def _finite(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in values.items() if v is not None and np.isfinite(v)}


def prediction_metrics(frame: pd.DataFrame, pred: pd.DataFrame, train: pd.DataFrame,
                       config: ExperimentConfig, prefix: str) -> tuple[dict[str, float], list[str]]:
    """Response and survival metrics (with CI bounds) of predictions on ``frame``.

    ``train`` (the patients the models were fitted on) gives the censoring distribution of
    Uno's C and the time-dependent AUC. Returns the metrics and notes on what could not be
    computed.
    """
    from icipredict.evaluation.metrics import response_metrics
    from icipredict.evaluation.survival_metrics import survival_metrics

    out: dict[str, float] = {}
    notes: list[str] = []
    if "prob" in pred:
        ok, y = responder_target(frame)
        try:
            rep = response_metrics(y, pred["prob"].to_numpy()[ok], n_boot=config.n_bootstrap,
                                   seed=config.seed)
            out.update({f"{prefix}response_{k}": v for k, v in rep.to_dict().items()
                        if isinstance(v, int | float)})
        except (CohortError, ValueError) as exc:
            notes.append(f"response: {exc}")
    for end in ENDPOINTS:
        if f"risk_{end}" not in pred:
            continue
        ok, y = survival_target(frame, end)
        tok, ty = survival_target(train, end)
        ev, tm = target_fields(y)
        try:
            rep = survival_metrics(y[tm], y[ev], pred[f"risk_{end}"].to_numpy()[ok],
                                   train_time=ty[tm], train_event=ty[ev],
                                   horizons=config.horizons, n_boot=config.n_bootstrap,
                                   seed=config.seed)
            out.update({f"{prefix}{end}_{k}": v for k, v in rep.to_dict().items()
                        if isinstance(v, int | float)})
        except (CohortError, ValueError) as exc:
            notes.append(f"{end}: {exc}")
    return _finite(out), notes


def comparator_metrics(held: pd.DataFrame, oof: pd.DataFrame, primary: str,
                       comparators: list[Any], config: ExperimentConfig) -> dict[str, float]:
    """Held-out metrics of each comparator and its paired difference from the primary model.

    ``cv_<name>_response_*`` as for the primary; ``cv_<primary>_minus_<name>_auc`` with the
    paired-bootstrap CI and two-sided p-value (same patients, same resamples).
    """
    from icipredict.evaluation.compare import compare_auc
    from icipredict.evaluation.metrics import response_metrics

    out: dict[str, float] = {}
    ok, y = responder_target(held)
    primary_p = oof["prob"].to_numpy()[ok]
    for comp in comparators:
        p = oof[f"prob_{comp.name}"].to_numpy()[ok]
        try:
            rep = response_metrics(y, p, n_boot=config.n_bootstrap, seed=config.seed)
            cmp = compare_auc(y, primary_p, p, n_boot=config.n_bootstrap, seed=config.seed)
        except (CohortError, ValueError) as exc:
            logger.warning("comparator %s not evaluated: %s", comp.name, exc)
            continue
        out.update({f"cv_{comp.name}_response_{k}": v for k, v in rep.to_dict().items()
                    if isinstance(v, int | float)})
        key = f"cv_{primary}_minus_{comp.name}_auc"
        out.update({key: cmp.difference.value, f"{key}_ci_low": cmp.difference.low,
                    f"{key}_ci_high": cmp.difference.high, f"{key}_p": cmp.p_value})
    return _finite(out)


def within_fold_c(frame: pd.DataFrame, oof: pd.DataFrame,
                  config: ExperimentConfig) -> dict[str, float]:
    """``cv_<end>_harrell_c_within_fold``: Harrell's C over pairs of one held-out fold only.

    The pooled ``cv_<end>_harrell_c`` also compares patients of different folds, whose risk
    scores come from different fold models (a Cox linear predictor is centred on its own
    training data), so it can be pulled down or up by the scales alone.
    """
    from icipredict.evaluation.survival_metrics import harrell_c

    out: dict[str, float] = {}
    for end in ENDPOINTS:
        if f"risk_{end}" not in oof:
            continue
        ok, y = survival_target(frame, end)
        ev, tm = target_fields(y)
        try:
            est = harrell_c(y[tm], y[ev], oof[f"risk_{end}"].to_numpy()[ok],
                            strata=oof["_fold"].to_numpy()[ok], n_boot=config.n_bootstrap,
                            seed=config.seed)
        except (CohortError, ValueError) as exc:
            logger.warning("%s within-fold C: %s", end, exc)
            continue
        out.update({k: v for k, v in est.to_dict(f"cv_{end}_harrell_c_within_fold").items()
                    if np.isfinite(v)})
    return out


def subgroup_table(held: pd.DataFrame, oof: pd.DataFrame, config: ExperimentConfig
                   ) -> pd.DataFrame | None:
    """Held-out metrics per centre and per cancer type (aggregates for the model card)."""
    from icipredict.evaluation.subgroups import subgroup_metrics

    df = held[[c for c in ("centre", "cancer_type", "responder", "os_months", "os_event")
               if c in held.columns]].copy()
    kwargs: dict[str, Any] = {}
    if "prob" in oof and "responder" in df:
        df["prob"] = oof["prob"]
        df["responder"] = response_label(held)
        kwargs.update(y_col="responder", prob_col="prob")
    if "risk_os" in oof and "os_months" in df:
        df["risk"] = oof["risk_os"]
        kwargs.update(time_col="os_months", event_col="os_event", risk_col="risk")
    if not kwargs:
        return None
    tables = []
    for col in ("centre", "cancer_type"):
        if col in df:
            try:
                t = subgroup_metrics(df, col, n_boot=min(config.n_bootstrap, 200),
                                     seed=config.seed, include_all=col == "centre", **kwargs)
                t.insert(0, "subgroup", np.where(t["group"] == "all", "overall",
                                                 col + "=" + t["group"].astype(str)))
                tables.append(t.drop(columns=["group_col", "group"]))
            except (CohortError, ValueError) as exc:
                logger.warning("subgroup metrics by %s skipped: %s", col, exc)
    return pd.concat(tables, ignore_index=True) if tables else None


__all__ = ["comparator_metrics", "prediction_metrics", "subgroup_table", "within_fold_c"]
