"""Decision-curve analysis (Vickers & Elkin 2006).

At threshold probability ``pt`` a patient is treated when the predicted probability ``>= pt``.
Net benefit weighs false positives by the odds of the threshold::

    NB(pt) = TP/n - FP/n · pt / (1 - pt)

Treat-all: ``NB = prevalence - (1 - prevalence) · pt / (1 - pt)``; treat-none: ``NB = 0``.

With ``n_boot`` the curve carries percentile 95% CIs from ordinary patient resampling (the
prevalence varies between resamples, as it does between cohorts); every model and treat-all
are computed on the same resamples.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import bootstrap_indices, counts_from_indices
from icipredict.evaluation.metrics import check_binary

#: Default threshold probabilities: 0.01, 0.02, ..., 0.99.
THRESHOLDS = np.round(np.arange(0.01, 1.0, 0.01), 2)


def net_benefit(y, p, thresholds: Sequence[float] | np.ndarray = THRESHOLDS) -> np.ndarray:
    """Net benefit of treating patients with ``p >= pt`` at each threshold ``pt``."""
    y, p, _ = check_binary(y, p)
    pt = _check_thresholds(thresholds)
    treat = p[None, :] >= pt[:, None]
    n = y.size
    tp = (treat & (y == 1)).sum(1)
    fp = (treat & (y == 0)).sum(1)
    return tp / n - fp / n * pt / (1 - pt)


def _check_thresholds(thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    pt = np.asarray(thresholds, dtype=float)
    if pt.ndim != 1 or pt.size == 0 or (pt <= 0).any() or (pt >= 1).any():
        raise CohortError("threshold probabilities must lie strictly between 0 and 1")
    return pt


def _resampled_net_benefit(y: np.ndarray, treat: np.ndarray, pt: np.ndarray,
                           counts: np.ndarray) -> np.ndarray:
    """Net benefit in each resample, ``(n_boot, n_thresholds)``: ``counts`` says how often
    each patient is drawn (0 for patients left out), ``treat`` is ``(n_thresholds, n)``."""
    n = counts.sum(axis=1, keepdims=True)
    tp = counts @ (treat & (y == 1)).T.astype(float)
    fp = counts @ (treat & (y == 0)).T.astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return tp / n - fp / n * (pt / (1 - pt))[None, :]


def _add_ci(out: pd.DataFrame, name: str, replicates: np.ndarray) -> None:
    finite = np.where(np.isfinite(replicates), replicates, np.nan)
    low, high = np.nanpercentile(finite, [2.5, 97.5], axis=0)
    out[f"{name}_ci_low"], out[f"{name}_ci_high"] = low, high


def decision_curve(
    y,
    predictions: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
    thresholds: Sequence[float] | np.ndarray = THRESHOLDS,
    *,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Net benefit of one or more models against treat-all and treat-none.

    Parameters
    ----------
    y
        Responder labels (0/1).
    predictions
        Probabilities of one model, or a mapping ``model name -> probabilities``.
    thresholds
        Threshold probabilities in (0, 1).
    n_boot
        Bootstrap resamples for 95% CIs (0: none).
    seed
        Seed of the resamples.

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``treat_all``, ``treat_none`` and one column per model
        (``model`` when a single array is given); with ``n_boot``, also ``<column>_ci_low``
        and ``<column>_ci_high`` for treat-all and each model.
    """
    if not isinstance(predictions, Mapping):
        predictions = {"model": predictions}
    if not predictions:
        raise CohortError("decision_curve needs at least one model")
    pt = _check_thresholds(thresholds)
    y_arr = np.asarray(y, dtype=float)
    counts = (counts_from_indices(bootstrap_indices(y_arr.size, n_boot, seed=seed), y_arr.size)
              if n_boot else None)
    out = pd.DataFrame({"threshold": pt})
    first_keep = None
    for name, p in predictions.items():
        p_arr = np.asarray(p, dtype=float)
        keep = np.isfinite(y_arr) & np.isfinite(p_arr)
        first_keep = keep if first_keep is None else first_keep
        out[name] = net_benefit(y_arr[keep], p_arr[keep], pt)
        if counts is not None:
            treat = p_arr[keep][None, :] >= pt[:, None]
            _add_ci(out, name, _resampled_net_benefit(y_arr[keep], treat, pt, counts[:, keep]))
    assert first_keep is not None
    prevalence = float(y_arr[first_keep].mean())
    out.insert(1, "treat_all", prevalence - (1 - prevalence) * pt / (1 - pt))
    out.insert(2, "treat_none", 0.0)
    if counts is not None:
        everyone = np.ones((pt.size, int(first_keep.sum())), dtype=bool)
        _add_ci(out, "treat_all",
                _resampled_net_benefit(y_arr[first_keep], everyone, pt, counts[:, first_keep]))
    return out
