"""Decision-curve analysis (Vickers & Elkin 2006).

At threshold probability ``pt`` a patient is treated when the predicted probability ``>= pt``.
Net benefit weighs false positives by the odds of the threshold::

    NB(pt) = TP/n - FP/n · pt / (1 - pt)

Treat-all: ``NB = prevalence - (1 - prevalence) · pt / (1 - pt)``; treat-none: ``NB = 0``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
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


def decision_curve(
    y,
    predictions: Mapping[str, Sequence[float] | np.ndarray] | Sequence[float] | np.ndarray,
    thresholds: Sequence[float] | np.ndarray = THRESHOLDS,
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

    Returns
    -------
    pandas.DataFrame
        Columns ``threshold``, ``treat_all``, ``treat_none`` and one column per model
        (``model`` when a single array is given).
    """
    if not isinstance(predictions, Mapping):
        predictions = {"model": predictions}
    pt = _check_thresholds(thresholds)
    y_arr = np.asarray(y, dtype=float)
    out = pd.DataFrame({"threshold": pt})
    prevalence = None
    for name, p in predictions.items():
        p_arr = np.asarray(p, dtype=float)
        keep = np.isfinite(y_arr) & np.isfinite(p_arr)
        out[name] = net_benefit(y_arr[keep], p_arr[keep], pt)
        if prevalence is None:
            prevalence = float(y_arr[keep].mean())
    if prevalence is None:
        raise CohortError("decision_curve needs at least one model")
    out.insert(1, "treat_all", prevalence - (1 - prevalence) * pt / (1 - pt))
    out.insert(2, "treat_none", 0.0)
    return out
