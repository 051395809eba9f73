"""Per-patient 95% intervals of the registry model: bootstrap refits and recalibration.

*Model refits* (:func:`bootstrap_refits`): the response and Cox models are refitted (same
hyperparameters, feature builder unchanged) on ``R`` bootstrap resamples of the *training*
patients and saved next to the point model. A patient's spread is the variance over the refits of
their logit ``logit(p_r)`` (response) or complementary log-log ``log H0_r(t) + lp_r`` (survival
at ``t``).

*Recalibration* (:func:`calibration_uncertainty`, response only): from the out-of-fold
predictions, a logistic recalibration ``logit P(y=1) = a + b * logit(p)`` is refitted on
bootstrap resamples; the covariance ``V`` of ``(a, b)`` gives ``v(s) = V_aa + 2 s V_ab +
s^2 V_bb`` at ``s = logit(p)``.

The response interval is ``expit(s +- 1.96 sqrt(var_refits + v(s)))``
(:func:`response_interval`); the survival interval is ``exp(-exp(c +- 1.96 sd_refits))`` with
``c`` the point model's cloglog (:func:`survival_interval`). Both are centred on the point
estimate. See ``docs/registry_model.md`` for what they cover (and do not).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit

logger = logging.getLogger(__name__)

#: The 97.5% quantile of the standard normal distribution.
Z95 = 1.959963984540054


def calibration_uncertainty(y: np.ndarray, p: np.ndarray, *, n_boot: int = 200,
                            seed: int = 0) -> dict[str, Any]:
    """Bootstrap covariance of a logistic recalibration of held-out predictions.

    Parameters
    ----------
    y, p
        Held-out responder labels and predicted probabilities (e.g. out-of-fold).
    n_boot
        Bootstrap resamples of patients.
    seed
        Seed of the resampling.

    Returns
    -------
    dict
        ``{"method", "n", "n_boot", "a", "b", "cov": [[Vaa, Vab], [Vab, Vbb]]}``.
    """
    # Batched Newton-Raphson over all resamples at once (evaluation's solver, stratified
    # resamples so each holds responders and non-responders).
    from icipredict.evaluation.bootstrap import bootstrap_indices
    from icipredict.evaluation.metrics import _logistic_newton

    y = np.asarray(y, dtype=float)
    s = logit(np.clip(np.asarray(p, dtype=float), 1e-6, 1 - 1e-6))
    ok = ~np.isnan(y) & ~np.isnan(s)
    y, s = y[ok], s[ok]
    x = np.stack([np.ones_like(s), s], axis=-1)
    full = _logistic_newton(x, y, np.zeros_like(s))
    idx = bootstrap_indices(len(y), n_boot, strata=y.astype(int), seed=seed)
    coefs = _logistic_newton(x[idx], y[idx], np.zeros(idx.shape))
    coefs = coefs[np.isfinite(coefs).all(axis=1)]
    cov = np.cov(coefs.T) if len(coefs) > 2 else np.zeros((2, 2))
    return {"method": "bootstrap covariance of logistic recalibration on held-out predictions",
            "n": int(len(y)), "n_boot": int(len(coefs)), "a": float(full[0]),
            "b": float(full[1]), "cov": cov.tolist()}


def bootstrap_refits(model: Any, X: pd.DataFrame, y: np.ndarray, *, n_refits: int = 20,
                     seed: int = 0, strata: np.ndarray | None = None) -> list[Any]:
    """Refit ``model`` (same hyperparameters) on bootstrap resamples of training patients.

    Parameters
    ----------
    model
        A fitted (or unfitted) scikit-learn-style estimator; :func:`sklearn.base.clone` is
        refitted, the original is untouched.
    X, y
        The training matrix and target the model was fitted on (survival: structured array).
    n_refits
        Number of resamples ``R`` (0 = none).
    seed
        Seed of the resampling.
    strata
        Resample within these groups (e.g. responder status, so each resample has both).

    Returns
    -------
    list
        Fitted clones; a resample the estimator refuses (e.g. no events) is skipped and logged.
    """
    from sklearn.base import clone

    from icipredict.evaluation.bootstrap import bootstrap_indices

    if n_refits <= 0:
        return []
    idx = bootstrap_indices(len(X), n_refits, strata=strata, seed=seed)
    out = []
    for rows in idx:
        try:
            out.append(clone(model).fit(X.iloc[rows], y[rows]))
        except Exception as exc:  # noqa: BLE001 - a degenerate resample must not stop training
            logger.warning("bootstrap refit skipped: %s", exc)
    return out


def response_interval(p: np.ndarray, unc: dict[str, Any] | None,
                      refit_p: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised 95% interval around ``p`` (see the module docstring).

    Parameters
    ----------
    p
        Point probabilities, shape ``(n,)``.
    unc
        From :func:`calibration_uncertainty` (or None).
    refit_p
        Probabilities of the bootstrap refits, shape ``(n, R)`` (or None).

    Returns
    -------
    low, high
        NaN where neither source of uncertainty is available.
    """
    s = logit(np.clip(p, 1e-6, 1 - 1e-6))
    var = np.zeros_like(s)
    have = False
    if unc:
        (vaa, vab), (_, vbb) = unc["cov"]
        var += np.maximum(vaa + 2 * s * vab + s * s * vbb, 0.0)
        have = True
    if refit_p is not None and refit_p.shape[1] >= 2:
        var += np.var(logit(np.clip(refit_p, 1e-6, 1 - 1e-6)), axis=1, ddof=1)
        have = True
    if not have:
        nan = np.full_like(s, np.nan)
        return nan, nan
    sd = np.sqrt(var)
    return expit(s - Z95 * sd), expit(s + Z95 * sd)


def survival_interval(point: np.ndarray, refit_cloglog: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """95% interval of S(t) on the complementary log-log scale (see the module docstring).

    Parameters
    ----------
    point
        Point S(t), shape ``(n,)``.
    refit_cloglog
        ``log H0_r(t) + lp_r`` of the refits, shape ``(n, R)``.

    Returns
    -------
    low, high
        The point itself where the spread is undefined (e.g. S = 1 before the first event).
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        c = np.log(-np.log(np.clip(point, 1e-300, 1.0)))
        sd = np.std(refit_cloglog, axis=1, ddof=1)
        ok = np.isfinite(c) & np.isfinite(sd)
        low = np.where(ok, np.exp(-np.exp(c + Z95 * sd)), point)
        high = np.where(ok, np.exp(-np.exp(c - Z95 * sd)), point)
    return low, high
