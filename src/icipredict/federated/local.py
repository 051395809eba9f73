"""A node's local sums: gradients, Hessians and log-likelihoods over its own rows only.

Every function here takes one centre's rows and returns sums over them (vectors of the model's
dimension and d x d matrices). Nothing per patient is returned. The coordinator adds the
centres' sums (:mod:`icipredict.federated.newton`): for logistic regression and for the Cox
model stratified by centre, the summed gradient and Hessian are exactly the pooled ones.
"""

from __future__ import annotations

import numpy as np


def logistic_sums(X: np.ndarray, y: np.ndarray, beta: np.ndarray,
                  weights: np.ndarray | None = None) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted log-loss, its gradient and Hessian at ``beta`` (intercept first).

    Parameters
    ----------
    X
        Local design matrix without intercept column, shape ``(n, d)``.
    y
        0/1 outcomes.
    beta
        ``(d + 1,)``: intercept, then coefficients.
    weights
        Per-row weights (e.g. class weights); 1 when None.

    Returns
    -------
    (loss, gradient, hessian)
        Sums over the local rows of the weighted negative log-likelihood, shapes ``()``,
        ``(d + 1,)`` and ``(d + 1, d + 1)``.
    """
    Xi = np.column_stack([np.ones(len(X)), X])
    w = np.ones(len(X)) if weights is None else np.asarray(weights, float)
    eta = Xi @ beta
    # numpy only (no scipy import: every Flower round is a fresh process); stable for large |eta|
    p = np.exp(-np.logaddexp(0.0, -eta))
    loss = float(np.sum(w * (np.logaddexp(0.0, eta) - y * eta)))
    grad = Xi.T @ (w * (p - y))
    hess = (Xi * (w * p * (1 - p))[:, None]).T @ Xi
    return loss, grad, hess


def cox_efron_sums(X: np.ndarray, time: np.ndarray, event: np.ndarray,
                   beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Cox partial log-likelihood (Efron ties) of one stratum, its gradient and Hessian.

    The risk sets are those of the local rows only: summing these over centres gives the Cox
    model *stratified by centre* exactly (lifelines' ``strata=['centre']``). An unstratified fit
    would need every centre's rows in each risk set and is not offered.

    Parameters
    ----------
    X
        ``(n, d)`` covariates (already standardised as the coordinator asked).
    time, event
        Follow-up and event flag (1 = event).
    beta
        ``(d,)`` coefficients.

    Returns
    -------
    (loglik, gradient, hessian)
        Shapes ``()``, ``(d,)``, ``(d, d)``; the Hessian is of the log-likelihood (negative
        semi-definite).
    """
    n, d = X.shape
    ll, grad, hess = 0.0, np.zeros(d), np.zeros((d, d))
    if n == 0 or not np.any(event):
        return ll, grad, hess
    order = np.argsort(-time, kind="stable")  # descending: cumulative sums give risk sets
    X, time, event = X[order], time[order], event[order].astype(bool)
    xb = X @ beta
    shift = xb.max()
    r = np.exp(xb - shift)
    s0 = np.cumsum(r)
    s1 = np.cumsum(r[:, None] * X, axis=0)
    s2 = np.cumsum(r[:, None, None] * (X[:, :, None] * X[:, None, :]), axis=0)
    for t in np.unique(time[event]):
        at = time == t
        last = np.flatnonzero(at)[-1]  # risk set: every row with time >= t
        dead = at & event
        k = int(dead.sum())
        rd = r[dead]
        d0, d1 = rd.sum(), rd @ X[dead]
        d2 = (X[dead] * rd[:, None]).T @ X[dead]
        ll += float(xb[dead].sum())
        grad += X[dead].sum(axis=0)
        for j in range(k):
            f = j / k
            phi = s0[last] - f * d0
            a = (s1[last] - f * d1) / phi
            ll -= float(np.log(phi) + shift)
            grad -= a
            hess -= (s2[last] - f * d2) / phi - np.outer(a, a)
    return ll, grad, hess


def moments(X: np.ndarray) -> dict[str, np.ndarray]:
    """Per-column count of observed values, their sum and sum of squares (NaN = missing)."""
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0)
    return {"n": observed.sum(axis=0).astype(float), "sum": values.sum(axis=0),
            "sumsq": (values ** 2).sum(axis=0)}


def cumulative_counts(X: np.ndarray, edges: list, min_count: int) -> list[np.ndarray]:
    """Per column, how many observed values lie below each edge (tails suppressed).

    A count under ``min_count`` is sent as 0, and one within ``min_count`` of the column's
    observed total as that total, so neither tail singles out fewer than ``min_count``
    patients. ``edges[j]`` are column ``j``'s increasing edges (columns may have different
    numbers); the result has the same shape.
    """
    out = []
    for j, e in enumerate(edges):
        v = np.sort(X[:, j][~np.isnan(X[:, j])])
        c = np.searchsorted(v, np.asarray(e, float), side="left").astype(float)
        total = float(len(v))
        c = np.where(c < min_count, 0.0, c)
        out.append(np.where(total - c < min_count, total, c))
    return out
