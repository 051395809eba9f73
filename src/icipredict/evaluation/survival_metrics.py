"""Survival metrics (OS/PFS) on scikit-survival, with bootstrap CIs for the C-indices.

Inputs are arrays: follow-up ``time`` (months), ``event`` (1 = event, 0 = censored) and a ``risk``
score (higher = earlier event). Structured targets are built with ``sksurv.util.Surv.from_arrays``.

Harrell's and Uno's C are computed as weighted sums over patient pairs, with exactly the pair
rules of ``sksurv.metrics.concordance_index_censored`` / ``concordance_index_ipcw`` (patient ``i``
with an event is comparable with ``j`` when ``T_j > T_i``, or ``T_j == T_i`` and ``j`` is censored;
risk ties count 1/2). A bootstrap resample only changes how often each patient appears, so every
replicate is ``c·A·c / c·B·c`` with the resample's count vector ``c`` — all replicates at once.

Test follow-up beyond the training follow-up
--------------------------------------------
Uno's C, time-dependent AUC and the Brier score weight events by the inverse of the *training*
censoring distribution ``G``, which is unknown after the last training time ``t_max``. Test
patients followed beyond ``t_max`` are therefore administratively censored at ``t_max`` (this
changes no metric evaluated before ``t_max``), ``tau`` of Uno's C is clipped to ``t_max``, and
horizons at or beyond ``t_max`` (or beyond the test follow-up) are dropped. The report says so in
``info``/``notes``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import overload

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from sksurv.metrics import (
    cumulative_dynamic_auc,
    integrated_brier_score,
)
from sksurv.nonparametric import CensoringDistributionEstimator
from sksurv.util import Surv

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import (
    N_BOOT,
    Estimate,
    MetricReport,
    bootstrap_indices,
    counts_from_indices,
    percentile_ci,
)

logger = logging.getLogger(__name__)

#: Default horizons (months) of the time-dependent AUC.
HORIZONS = (6.0, 12.0, 24.0)
#: Largest n for the pairwise-matrix bootstrap (n^2 floats); above it, resamples are looped.
_MAX_PAIRWISE_N = 4000
_TIED_TOL = 1e-8

SurvivalFunction = Callable[[np.ndarray], np.ndarray]


@overload
def check_survival(time, event, risk: None = None) -> tuple[np.ndarray, np.ndarray, None]: ...
@overload
def check_survival(time, event, risk: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...
def check_survival(time, event, risk=None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Validate survival inputs: finite non-negative times, 0/1 events, at least one event."""
    time = np.asarray(time, dtype=float).ravel()
    event = np.asarray(event, dtype=float).ravel()
    if time.shape != event.shape:
        raise CohortError(f"time and event must have the same length, got {time.size}, {event.size}")
    if not np.isfinite(time).all() or (time < 0).any():
        raise CohortError("survival times must be finite and >= 0 (drop or impute missing first)")
    if not np.isin(event, (0, 1)).all():
        raise CohortError("event indicators must be 0/1 (1 = event, 0 = censored)")
    if event.sum() == 0:
        raise CohortError("all patients are censored: survival metrics are undefined")
    if risk is not None:
        risk = np.asarray(risk, dtype=float).ravel()
        if risk.shape != time.shape:
            raise CohortError(f"risk must have length {time.size}, got {risk.size}")
        if not np.isfinite(risk).all():
            raise CohortError("risk scores must be finite")
    return time, event.astype(bool), risk


# --------------------------------------------------------------------------- concordance
def _pair_matrices(
    time: np.ndarray, event: np.ndarray, risk: np.ndarray, weight: np.ndarray,
    strata: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Numerator and denominator pair matrices of a (weighted) concordance index
    (with ``strata``: only pairs within one stratum)."""
    later = time[None, :] > time[:, None]
    tied_censored = (time[None, :] == time[:, None]) & ~event[None, :]
    comparable = event[:, None] & (later | tied_censored)
    if strata is not None:
        comparable &= strata[:, None] == strata[None, :]
    diff = risk[:, None] - risk[None, :]
    score = np.where(np.abs(diff) <= _TIED_TOL, 0.5, (diff > 0).astype(float))
    den = comparable * weight[:, None]
    return den * score, den


def _weighted_concordance(
    time, event, risk, weight, idx: np.ndarray | None, alpha: float,
    strata: np.ndarray | None = None,
) -> tuple[Estimate, np.ndarray]:
    n = time.size
    if n > _MAX_PAIRWISE_N:
        return _looped_concordance(time, event, risk, weight, idx, alpha, strata)
    num, den = _pair_matrices(time, event, risk, weight, strata)
    total = den.sum()
    if total == 0:
        raise CohortError("no comparable pairs: concordance is undefined")
    value = float(num.sum() / total)
    if idx is None:
        return Estimate(value), np.empty(0)
    c = counts_from_indices(idx, n).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        reps = ((c @ num) * c).sum(1) / ((c @ den) * c).sum(1)
    low, high = percentile_ci(reps, alpha)
    return Estimate(value, low, high), reps


def _looped_concordance(time, event, risk, weight, idx, alpha, strata=None):
    def one(rows):
        t, e, r, w = time[rows], event[rows], risk[rows], weight[rows]
        g = None if strata is None else strata[rows]
        num, den = 0.0, 0.0
        for i in np.flatnonzero(e & (w > 0)):
            mask = (t > t[i]) | ((t == t[i]) & ~e)
            if g is not None:
                mask &= g == g[i]
            d = r[i] - r[mask]
            num += w[i] * (np.sum(d > _TIED_TOL) + 0.5 * np.sum(np.abs(d) <= _TIED_TOL))
            den += w[i] * mask.sum()
        return num / den if den > 0 else math.nan

    value = one(np.arange(time.size))
    if idx is None:
        return Estimate(value), np.empty(0)
    reps = np.array([one(rows) for rows in idx])
    return Estimate(value, *percentile_ci(reps, alpha)), reps


def harrell_c(
    time, event, risk, *, strata=None, n_boot: int = N_BOOT, seed: int = 0,
    alpha: float = 0.05
) -> Estimate:
    """Harrell's concordance index with a bootstrap CI (equals sksurv's point estimate).

    Parameters
    ----------
    time, event
        Follow-up time and event flag (1 = event).
    risk
        Risk score; higher = earlier event. Pass ``-p`` for a response probability.
    strata
        Optional group label per patient: only pairs within one group count (a stratified C,
        e.g. over the held-out folds of a cross-validation, whose risk scores come from
        different models on different scales). Without it: all pairs (sksurv's C).
    n_boot, seed, alpha
        Bootstrap resamples (stratified on the event flag), seed, 1 - confidence level.
    """
    time, event, risk = check_survival(time, event, risk)
    if strata is not None:
        strata = np.asarray(pd.factorize(pd.Series(np.asarray(strata)))[0])
        if strata.size != time.size:
            raise CohortError(f"strata has {strata.size} values for {time.size} patients")
    idx = bootstrap_indices(time.size, n_boot, strata=event, seed=seed) if n_boot else None
    return _weighted_concordance(time, event, risk, np.ones(time.size), idx, alpha, strata)[0]


def _train_limit(train_time: np.ndarray) -> float:
    return float(train_time.max())


def admin_censor(time, event, limit: float) -> tuple[np.ndarray, np.ndarray, int]:
    """Censor follow-up at ``limit``: times ``>= limit`` become censored at ``limit``."""
    time = np.asarray(time, dtype=float).copy()
    event = np.asarray(event, dtype=bool).copy()
    beyond = time >= limit
    n_changed = int((beyond & (event | (time > limit))).sum())
    time[beyond] = limit
    event[beyond] = False
    return time, event, n_changed


def _ipcw(train_time, train_event, time, event, tau: float) -> np.ndarray:
    """Inverse probability of censoring weights 1/G(T_i) for events before ``tau`` (else 0)."""
    cens = CensoringDistributionEstimator().fit(Surv.from_arrays(train_event, train_time))
    w = np.zeros(time.size)
    use = event & (time < tau)
    if use.any():
        g = cens.predict_proba(time[use])
        if (g <= 0).any():
            raise CohortError("censoring survival is zero before tau: shorten tau")
        w[use] = 1.0 / g
    return w


def uno_c(
    time,
    event,
    risk,
    *,
    train_time,
    train_event,
    tau: float | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
) -> tuple[Estimate, dict]:
    """Uno's IPCW concordance index truncated at ``tau``, with a bootstrap CI.

    ``tau`` defaults to (and is clipped to) the training maximum follow-up; test follow-up beyond
    it is administratively censored (see module notes). The censoring distribution is estimated on
    the training data and held fixed in the bootstrap (resampling is over test patients).

    Returns
    -------
    tuple
        The :class:`Estimate` and a dict with ``tau``, ``tau_clipped`` and ``n_admin_censored``.
    """
    time, event, risk = check_survival(time, event, risk)
    train_time, train_event, _ = check_survival(train_time, train_event)
    limit = _train_limit(train_time)
    clipped = tau is None or tau > limit
    tau_used = limit if tau is None or tau > limit else float(tau)
    t_adm, e_adm, n_adm = admin_censor(time, event, limit)
    w = _ipcw(train_time, train_event, t_adm, e_adm, tau_used) ** 2
    idx = bootstrap_indices(time.size, n_boot, strata=event, seed=seed) if n_boot else None
    est = _weighted_concordance(t_adm, e_adm, risk, w, idx, alpha)[0]
    info = {"tau": tau_used, "tau_clipped": bool(tau is not None and clipped),
            "n_admin_censored": n_adm}
    return est, info


# --------------------------------------------------------------------------- time-dependent
def usable_horizons(
    horizons: Sequence[float] | np.ndarray, test_time: np.ndarray, limit: float
) -> tuple[list[float], list[float]]:
    """Split horizons into usable (``min(test) <= t < min(max(test), limit)``) and dropped."""
    hi = min(float(test_time.max()), limit)
    lo = float(test_time.min())
    keep = [float(h) for h in horizons if lo <= h < hi]
    drop = [float(h) for h in horizons if not lo <= h < hi]
    return keep, drop


def time_dependent_auc(
    time,
    event,
    risk,
    *,
    train_time,
    train_event,
    horizons: Sequence[float] = HORIZONS,
) -> tuple[pd.DataFrame, dict]:
    """Cumulative/dynamic AUC at each horizon (``sksurv.metrics.cumulative_dynamic_auc``).

    Returns
    -------
    tuple
        A DataFrame with columns ``horizon`` and ``auc`` (``NaN`` for dropped horizons) and a dict
        with ``mean_auc`` (sksurv's integrated mean over the usable horizons, ``NaN`` with fewer
        than two), ``horizons_dropped`` and ``n_admin_censored``.
    """
    time, event, risk = check_survival(time, event, risk)
    train_time, train_event, _ = check_survival(train_time, train_event)
    limit = _train_limit(train_time)
    t_adm, e_adm, n_adm = admin_censor(time, event, limit)
    keep, drop = usable_horizons(horizons, t_adm, limit)
    aucs = dict.fromkeys(map(float, horizons), math.nan)
    mean_auc = math.nan
    if keep:
        auc, mean = cumulative_dynamic_auc(
            Surv.from_arrays(train_event, train_time), Surv.from_arrays(e_adm, t_adm), risk, keep
        )
        aucs.update(dict(zip(keep, map(float, np.atleast_1d(auc)), strict=True)))
        mean_auc = float(mean) if len(keep) > 1 else math.nan
    frame = pd.DataFrame({"horizon": list(aucs), "auc": list(aucs.values())})
    return frame, {"mean_auc": mean_auc, "horizons_dropped": drop, "n_admin_censored": n_adm}


def survival_matrix(
    surv: SurvivalFunction | np.ndarray, times: np.ndarray, grid: np.ndarray | None = None
) -> np.ndarray:
    """Evaluate survival predictions at ``times`` as an ``(n, len(times))`` matrix.

    Parameters
    ----------
    surv
        Either a callable ``times -> (n, len(times))`` array, or a matrix of ``S(t)`` on ``grid``.
    times
        Time points to evaluate.
    grid
        Increasing time grid of the matrix; ``S`` is read as a right-continuous step function
        (value at the largest grid point ``<= t``; 1 before the first grid point).
    """
    times = np.asarray(times, dtype=float)
    if callable(surv):
        out = np.asarray(surv(times), dtype=float)
        if out.ndim != 2 or out.shape[1] != times.size:
            raise CohortError(f"survival callable must return (n, {times.size}), got {out.shape}")
        return out
    mat = np.asarray(surv, dtype=float)
    if grid is None:
        raise CohortError("a survival matrix needs its time grid (surv_grid)")
    grid = np.asarray(grid, dtype=float)
    if mat.ndim != 2 or mat.shape[1] != grid.size:
        raise CohortError(f"survival matrix must be (n, {grid.size}), got {mat.shape}")
    if np.any(np.diff(grid) <= 0):
        raise CohortError("survival grid must be strictly increasing")
    pos = np.searchsorted(grid, times, side="right") - 1
    padded = np.hstack([np.ones((mat.shape[0], 1)), mat])
    return padded[:, pos + 1]


def default_ibs_grid(test_time: np.ndarray, limit: float, n_points: int = 100) -> np.ndarray:
    """Grid from the 5th to the 95th percentile of test follow-up, kept below ``limit``."""
    lo, hi = np.percentile(test_time, [5, 95])
    hi = min(hi, np.nextafter(min(limit, test_time.max()), 0))
    lo = max(lo, test_time.min())
    return np.linspace(lo, hi, n_points)


def integrated_brier(
    time,
    event,
    surv: SurvivalFunction | np.ndarray,
    *,
    train_time,
    train_event,
    times: np.ndarray | None = None,
    surv_grid: np.ndarray | None = None,
) -> tuple[float, dict]:
    """Integrated Brier score (``sksurv.metrics.integrated_brier_score``; lower is better).

    Parameters
    ----------
    time, event
        Test follow-up and event flags.
    surv
        Survival predictions: callable or matrix (see :func:`survival_matrix`).
    train_time, train_event
        Training follow-up (censoring distribution).
    times
        Integration grid; defaults to :func:`default_ibs_grid`. Points outside the usable range
        (test follow-up and below the training maximum) are removed.
    surv_grid
        Time grid of a survival matrix.
    """
    time, event, _ = check_survival(time, event)
    train_time, train_event, _ = check_survival(train_time, train_event)
    limit = _train_limit(train_time)
    t_adm, e_adm, n_adm = admin_censor(time, event, limit)
    grid = default_ibs_grid(t_adm, limit) if times is None else np.asarray(times, dtype=float)
    keep, drop = usable_horizons(grid, t_adm, limit)
    if len(keep) < 2:
        raise CohortError("integrated Brier score needs two usable time points within follow-up")
    keep_arr = np.asarray(keep)
    est = survival_matrix(surv, keep_arr, surv_grid)
    if est.shape[0] != time.size:
        raise CohortError(f"survival predictions for {est.shape[0]} patients, expected {time.size}")
    ibs = integrated_brier_score(
        Surv.from_arrays(train_event, train_time), Surv.from_arrays(e_adm, t_adm), est, keep_arr
    )
    info = {"ibs_t_min": float(keep_arr[0]), "ibs_t_max": float(keep_arr[-1]),
            "ibs_points_dropped": len(drop), "n_admin_censored": n_adm}
    return float(ibs), info


# --------------------------------------------------------------------------- report
def survival_metrics(
    time,
    event,
    risk,
    *,
    train_time=None,
    train_event=None,
    horizons: Sequence[float] = HORIZONS,
    surv: SurvivalFunction | np.ndarray | None = None,
    surv_grid: np.ndarray | None = None,
    tau: float | None = None,
    n_boot: int = N_BOOT,
    seed: int = 0,
    alpha: float = 0.05,
) -> MetricReport:
    """Survival metrics of a risk score on test patients.

    Parameters
    ----------
    time, event, risk
        Test follow-up (months), event flags and risk scores (higher = worse).
    train_time, train_event
        Training follow-up for the censoring distribution (Uno's C, time-dependent AUC, IBS).
        When absent, the test data estimate it (noted in the report).
    horizons
        Horizons (months) of the time-dependent AUC; reported as ``td_auc_<h>``.
    surv, surv_grid
        Optional survival predictions for the integrated Brier score (``ibs``).
    tau
        Truncation time of Uno's C (clipped to the training follow-up).
    n_boot, seed, alpha
        Bootstrap settings (C-indices only; stratified on the event flag).

    Returns
    -------
    MetricReport
        ``harrell_c``, ``uno_c``, ``td_auc_<h>``, ``td_auc_mean``, ``ibs``; ``n_events`` = events.
    """
    time, event, risk = check_survival(time, event, risk)
    report = MetricReport(n=int(time.size), n_events=int(event.sum()))
    idx = bootstrap_indices(time.size, n_boot, strata=event, seed=seed) if n_boot else None
    report.estimates["harrell_c"] = _weighted_concordance(
        time, event, risk, np.ones(time.size), idx, alpha
    )[0]
    if train_time is None or train_event is None:
        train_time, train_event = time, event
        report.notes.append("no training data given: censoring distribution estimated on test")
    train_time, train_event, _ = check_survival(train_time, train_event)
    limit = _train_limit(train_time)
    report.info["train_max_time"] = limit
    if time.max() > limit:
        report.notes.append(
            f"{int((time > limit).sum())} test patients followed beyond the training maximum "
            f"({limit:.1f}) were censored there"
        )
    est, info = uno_c(time, event, risk, train_time=train_time, train_event=train_event, tau=tau,
                      n_boot=n_boot, seed=seed, alpha=alpha)
    report.estimates["uno_c"] = est
    report.info["tau"] = info["tau"]
    if info["tau_clipped"]:
        report.notes.append(f"tau {tau} clipped to the training follow-up {limit:.1f}")
    frame, td = time_dependent_auc(time, event, risk, train_time=train_time,
                                   train_event=train_event, horizons=horizons)
    for h, a in zip(frame["horizon"], frame["auc"], strict=True):
        report.estimates[f"td_auc_{h:g}"] = Estimate(float(a))
    report.estimates["td_auc_mean"] = Estimate(td["mean_auc"])
    if td["horizons_dropped"]:
        report.notes.append(
            f"horizons {td['horizons_dropped']} outside the usable follow-up (< {limit:.1f} and "
            "within test follow-up): time-dependent AUC not estimated"
        )
    if surv is not None:
        ibs, ibs_info = integrated_brier(time, event, surv, train_time=train_time,
                                         train_event=train_event, surv_grid=surv_grid)
        report.estimates["ibs"] = Estimate(ibs)
        report.info.update({k: v for k, v in ibs_info.items() if k != "n_admin_censored"})
    report.info.update({"n_boot": n_boot, "alpha": alpha})
    return report
