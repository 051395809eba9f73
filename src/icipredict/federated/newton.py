"""Exact federated Newton–Raphson on the coordinator: summed local gradients give the pooled fit.

Each fit is a generator: it yields the coefficients it needs evaluated and receives the sums
over all participating centres (loss or log-likelihood, gradient, Hessian; see
:mod:`icipredict.federated.local`). :func:`run_lockstep` advances many fits together (the full
model and every leave-one-centre-out fit), so one network round serves all of them.

Objectives are scikit-learn's and lifelines' own, so the result equals the pooled fit:

- logistic: ``C * sum_i w_i loss_i + penalty(beta)`` with the intercept unpenalised;
  ``penalty`` is none, ``0.5 ||beta||^2`` (l2) or ``||beta||_1`` (l1, by proximal Newton with an
  exact coordinate-descent solve of each quadratic model);
- Cox: ``loglik(beta) - n * penalizer * 0.5 ||beta||^2`` on standardised covariates, as
  lifelines' ``CoxPHFitter(penalizer, l1_ratio=0)`` (which standardises with the pooled mean and
  sample standard deviation and divides the coefficients back).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Sums = tuple[float, np.ndarray, np.ndarray]
Fit = Generator[np.ndarray, Sums, "FitResult"]


#: A Newton step below this is taken unevaluated and ends the fit (error ~ its square).
LAST_STEP = 1e-4


class FederatedFitError(RuntimeError):
    """A federated fit did not converge."""


@dataclass
class FitResult:
    """Coefficients of a converged fit and how it got there."""

    beta: np.ndarray
    objective: float
    iterations: int
    evaluations: int
    hessian: np.ndarray | None = field(default=None, repr=False)


def _soft(x: float, t: float) -> float:
    return float(np.sign(x) * max(abs(x) - t, 0.0))


def _l1_quadratic_step(beta: np.ndarray, g: np.ndarray, H: np.ndarray, C: float,
                       tol: float = 1e-14, max_sweeps: int = 10_000) -> np.ndarray:
    """Minimise ``C (g.d + d.H.d / 2) + ||(beta + d)[1:]||_1`` by coordinate descent."""
    z = beta.copy()
    Hg = C * H
    grad = C * g.copy()  # gradient of the smooth part at z: C g + C H (z - beta)
    for _ in range(max_sweeps):
        biggest = 0.0
        for j in range(len(z)):
            hjj = Hg[j, j]
            if hjj <= 0:
                continue
            target = z[j] - grad[j] / hjj
            new = target if j == 0 else _soft(target, 1.0 / hjj)
            delta = new - z[j]
            if delta != 0.0:
                grad += Hg[:, j] * delta
                z[j] = new
                biggest = max(biggest, abs(delta))
        if biggest < tol:
            break
    return z - beta


def logistic_fit(d: int, *, penalty: str = "none", C: float = 1.0, tol: float = 1e-10,
                 last_step: float = LAST_STEP, max_iter: int = 100,
                 start: np.ndarray | None = None) -> Fit:
    """Generator fitting a (penalised) logistic regression with intercept; see module doc.

    Parameters
    ----------
    d
        Number of features (the intercept is added).
    penalty
        ``none``, ``l2`` or ``l1`` (scikit-learn's parametrisation with ``C``).
    C
        Inverse penalty strength.
    tol
        Stop when the largest coefficient change is below this.
    last_step
        A Newton step whose largest change is below this is the last: it is taken without
        evaluating where it lands (that would cost a network round), which leaves an error of
        the order of its square (Newton converges quadratically), as lifelines' own Newton does.
    max_iter
        Newton iterations before :class:`FederatedFitError`.
    start
        Initial coefficients (intercept first); zeros by default. A good start saves rounds
        (Platt scaling starts at the identity map ``(0, 1)``).
    """
    if penalty not in ("none", "l1", "l2"):
        raise ValueError(f"unknown penalty {penalty!r}: none, l1 or l2")

    def objective(beta: np.ndarray, loss: float) -> float:
        scale = 1.0 if penalty == "none" else C
        pen = {"none": 0.0, "l2": 0.5 * float(beta[1:] @ beta[1:]),
               "l1": float(np.abs(beta[1:]).sum())}[penalty]
        return scale * loss + pen

    beta = np.zeros(d + 1) if start is None else np.asarray(start, float).copy()
    loss, g, H = yield beta
    f = objective(beta, loss)
    evaluations = 1
    for it in range(1, max_iter + 1):
        if penalty == "l1":
            step = _l1_quadratic_step(beta, g, H, C)
        else:
            scale = 1.0 if penalty == "none" else C
            G, Hs = scale * g, scale * H
            if penalty == "l2":
                G = G + np.r_[0.0, beta[1:]]
                Hs = Hs + np.diag(np.r_[0.0, np.ones(d)])
            step = -np.linalg.solve(Hs, G)
        if float(np.max(np.abs(step))) < last_step:  # converged: take it without a round
            return FitResult(beta + step, f, it, evaluations, H)
        t = 1.0
        while True:  # backtracking: accept the first step that does not increase the objective
            cand = beta + t * step
            c_loss, c_g, c_H = yield cand
            evaluations += 1
            c_f = objective(cand, c_loss)
            if c_f <= f + 1e-12 * max(1.0, abs(f)) or t < 1e-8:
                break
            t /= 2
        change = float(np.max(np.abs(cand - beta)))
        beta, f, g, H = cand, c_f, c_g, c_H
        if change < tol:
            return FitResult(beta, f, it, evaluations, H)
    raise FederatedFitError(f"logistic regression did not converge in {max_iter} iterations")


def cox_fit(d: int, *, n_total: int, penalizer: float = 0.0, tol: float = 1e-10,
            last_step: float = LAST_STEP, max_iter: int = 100) -> Fit:
    """Generator maximising the summed (stratified) Cox log-likelihood; see module doc
    (``tol`` and ``last_step`` as in :func:`logistic_fit`).

    The coefficients are on the standardised scale the nodes were asked to use; divide by the
    standard deviations to get them on the covariates' scale.
    """
    def objective(beta: np.ndarray, ll: float) -> float:
        return ll - n_total * penalizer * 0.5 * float(beta @ beta)

    beta = np.zeros(d)
    ll, g, H = yield beta
    f = objective(beta, ll)
    evaluations = 1
    for it in range(1, max_iter + 1):
        G = g - n_total * penalizer * beta
        Hs = H - n_total * penalizer * np.eye(d)
        step = np.linalg.solve(-Hs, G)
        if not d or float(np.max(np.abs(step))) < last_step:  # converged (see logistic_fit)
            return FitResult(beta + step, f, it, evaluations, Hs)
        t = 1.0
        while True:
            cand = beta + t * step
            c_ll, c_g, c_H = yield cand
            evaluations += 1
            c_f = objective(cand, c_ll)
            if c_f >= f - 1e-12 * max(1.0, abs(f)) or t < 1e-8:
                break
            t /= 2
        change = float(np.max(np.abs(cand - beta))) if d else 0.0
        beta, f, g, H = cand, c_f, c_g, c_H
        if change < tol:
            return FitResult(beta, f, it, evaluations, H - n_total * penalizer * np.eye(d))
    raise FederatedFitError(f"Cox model did not converge in {max_iter} iterations")


def run_lockstep(fits: dict[str, Generator[Any, Any, Any]],
                 evaluate: Callable[[dict[str, Any]], dict[str, Any]]
                 ) -> tuple[dict[str, Any], int]:
    """Advance every fit together: one ``evaluate`` call (one network round) per step.

    Parameters
    ----------
    fits
        Name -> generator from :func:`logistic_fit` / :func:`cox_fit` (or any generator that
        yields what the nodes need and receives their merged reply, such as
        :func:`icipredict.federated.boosting.boosting_fit`).
    evaluate
        Name -> coefficients in, name -> summed ``(objective, gradient, Hessian)`` out.

    Returns
    -------
    (results, rounds)
    """
    pending: dict[str, Any] = {name: next(gen) for name, gen in fits.items()}
    results: dict[str, Any] = {}
    rounds = 0
    while pending:
        sums = evaluate(pending)
        rounds += 1
        nxt: dict[str, Any] = {}
        for name, beta_sums in sums.items():
            try:
                nxt[name] = fits[name].send(beta_sums)
            except StopIteration as stop:
                results[name] = stop.value
        pending = nxt
    return results, rounds


def add_sums(parts: list[Sums]) -> Sums:
    """Element-wise sum of several centres' ``(objective, gradient, Hessian)``."""
    total: Any = None
    for part in parts:
        total = part if total is None else (total[0] + part[0], total[1] + part[1],
                                            total[2] + part[2])
    if total is None:
        raise FederatedFitError("no centre answered")
    return total
