"""Federated Newton–Raphson equals the pooled fit (sklearn, lifelines) within 1e-6."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from lifelines import CoxPHFitter
from sklearn.linear_model import LogisticRegression

from icipredict.federated.local import cox_efron_sums, cumulative_counts, logistic_sums
from icipredict.federated.newton import add_sums, cox_fit, logistic_fit, run_lockstep


def _centres(seed: int = 3, sizes: tuple[int, ...] = (60, 45, 80, 30)):
    rng = np.random.default_rng(seed)
    out = []
    for k, n in enumerate(sizes):
        X = rng.normal(size=(n, 4)) + 0.2 * k
        eta = -0.5 + X @ np.array([0.8, -0.5, 0.0, 0.3]) + 0.2 * k
        y = (rng.random(n) < 1 / (1 + np.exp(-eta))).astype(float)
        t = np.round(rng.exponential(np.exp(-0.5 * X[:, 0] + 0.3 * X[:, 1])) * 12, 0) + 1  # ties
        e = (rng.random(n) < 0.7).astype(float)
        out.append((X, y, t, e))
    return out


def _logistic(centres, penalty, C, weights=None, exclude=None):
    def evaluate(betas):
        return {name: add_sums([logistic_sums(X, y, b, None if weights is None
                                              else np.where(y == 1, weights[1], weights[0]))
                                for k, (X, y, _, _) in enumerate(centres) if k != exclude])
                for name, b in betas.items()}
    results, rounds = run_lockstep({"m": logistic_fit(4, penalty=penalty, C=C)}, evaluate)
    return results["m"].beta, rounds


@pytest.mark.parametrize("penalty,C", [("none", 1.0), ("l2", 0.5), ("l1", 0.1)])
def test_federated_logistic_equals_sklearn(penalty, C):
    centres = _centres()
    X = np.vstack([c[0] for c in centres])
    y = np.concatenate([c[1] for c in centres])
    n, n1 = len(y), y.sum()
    weights = {0: n / (2 * (n - n1)), 1: n / (2 * n1)}  # class_weight="balanced"
    beta, rounds = _logistic(centres, penalty, C, weights)
    kw = {"none": {"C": np.inf}, "l2": {"C": C}, "l1": {"C": C, "l1_ratio": 1.0}}[penalty]
    ref = LogisticRegression(solver="saga" if penalty == "l1" else "lbfgs", tol=1e-12,
                             max_iter=200_000, class_weight="balanced", **kw).fit(X, y)
    np.testing.assert_allclose(beta, np.r_[ref.intercept_, ref.coef_[0]], atol=1e-6)
    assert rounds < 40


def test_federated_cox_equals_lifelines_stratified():
    centres = _centres()
    frames = [pd.DataFrame(X, columns=list("abcd")).assign(T=t, E=e, centre=k)
              for k, (X, _, t, e) in enumerate(centres)]
    pooled = pd.concat(frames, ignore_index=True)
    for penalizer in (0.0, 0.1):
        ref = CoxPHFitter(penalizer=penalizer).fit(pooled, "T", "E", strata=["centre"])
        cols = list("abcd")
        mean, std = pooled[cols].mean().to_numpy(), pooled[cols].std().to_numpy()

        def evaluate(betas, mean=mean, std=std):
            return {name: add_sums([cox_efron_sums((X - mean) / std, t, e, b)
                                    for X, _, t, e in centres]) for name, b in betas.items()}
        results, _ = run_lockstep({"cox": cox_fit(4, n_total=len(pooled),
                                                  penalizer=penalizer)}, evaluate)
        np.testing.assert_allclose(results["cox"].beta / std, ref.params_.to_numpy(), atol=1e-6)


def test_unstratified_sum_is_not_the_pooled_cox():
    # Why the protocol is stratified: summing per-centre sums is the stratified model, not the
    # pooled one (risk sets cross centres); the test would catch a silent claim otherwise.
    centres = _centres()
    frames = [pd.DataFrame(X, columns=list("abcd")).assign(T=t, E=e)
              for X, _, t, e in centres]
    pooled = pd.concat(frames, ignore_index=True)
    ref = CoxPHFitter().fit(pooled, "T", "E")
    X = pooled[list("abcd")].to_numpy()
    _, g, _ = cox_efron_sums(X, pooled["T"].to_numpy(), pooled["E"].to_numpy(),
                             ref.params_.to_numpy())
    assert np.max(np.abs(g)) < 1e-3  # the pooled fit's own score is zero...
    summed = add_sums([cox_efron_sums(c[0], c[2], c[3], ref.params_.to_numpy())
                       for c in centres])
    assert np.max(np.abs(summed[1])) > 1e-2  # ...the stratified score there is not


def test_leave_one_centre_out_fits_run_in_lockstep():
    centres = _centres()
    fits = {f"loco{k}": logistic_fit(4, penalty="l2", C=1.0) for k in range(len(centres))}

    def evaluate(betas):
        return {name: add_sums([logistic_sums(X, y, b) for k, (X, y, _, _) in enumerate(centres)
                                if f"loco{k}" != name]) for name, b in betas.items()}
    results, rounds = run_lockstep(fits, evaluate)
    for k in range(len(centres)):
        X = np.vstack([c[0] for i, c in enumerate(centres) if i != k])
        y = np.concatenate([c[1] for i, c in enumerate(centres) if i != k])
        ref = LogisticRegression(C=1.0, tol=1e-12, max_iter=10_000).fit(X, y)
        np.testing.assert_allclose(results[f"loco{k}"].beta, np.r_[ref.intercept_, ref.coef_[0]],
                                   atol=1e-6)
    assert rounds <= max(r.evaluations for r in results.values())


def test_cumulative_counts_suppress_both_tails():
    X = np.r_[np.arange(20.0), np.nan][:, None]  # 0..19 observed, one missing
    X = np.column_stack([X, X])
    below = cumulative_counts(X, [[0.5, 3.0, 5.0, 10.0, 16.0, 17.0, 30.0], [9.5, 10.5]], 5)
    # 1 and 3 below: suppressed to 0; 16 and 17 within 5 of the 20 observed: sent as 20
    np.testing.assert_array_equal(below[0], [0, 0, 5, 10, 20, 20, 20])
    np.testing.assert_array_equal(below[1], [10, 11])  # columns may have their own edges


def test_a_centre_with_no_more_rows_than_parameters_sits_the_model_out(monkeypatch, tmp_path):
    import icipredict.federated.node as node_mod

    rng = np.random.default_rng(0)
    design = {"X": rng.normal(size=(12, 12)), "response": np.tile([0.0, 1.0], 6)}
    monkeypatch.setattr(node_mod, "_design", lambda node, req: design)
    node = node_mod.NodeData(tmp_path / "s.duckdb", "c", tmp_path, min_count=5)
    wide = {"target": "response", "columns": list(range(12)), "fill": [0.0] * 12}
    narrow = {"target": "response", "columns": [0, 1, 2], "fill": [0.0] * 3}
    out = node_mod._fit_moments(node, {"fits": {"wide": wide, "narrow": narrow}})["fits"]
    assert out["wide"] == {"skipped": "small"}  # 12 rows, 13 parameters
    assert out["narrow"]["n"] == 12 and out["narrow"]["positives"] == 6


@pytest.mark.parametrize("model", ["logistic_l1", "logistic", "cox"])
def test_last_small_newton_step_is_taken_without_a_round(model):
    # the step below LAST_STEP is taken unevaluated: one round fewer, the same fit within
    # the square of that step (Newton's quadratic convergence), a start point is honoured
    centres = _centres()

    def sums(b):
        if model == "cox":
            return add_sums([cox_efron_sums(X, t, e, b) for X, _, t, e in centres])
        return add_sums([logistic_sums(X, y, b) for X, y, _, _ in centres])

    def fit(last_step, start=None):
        gen = (cox_fit(4, n_total=sum(len(c[0]) for c in centres), penalizer=0.01,
                       last_step=last_step) if model == "cox" else
               logistic_fit(4, penalty="l1" if model == "logistic_l1" else "none", C=0.5,
                            last_step=last_step, start=start))
        results, rounds = run_lockstep({"m": gen}, lambda betas: {
            n: sums(b) for n, b in betas.items()})
        return results["m"].beta, rounds

    exact, rounds_exact = fit(0.0)
    fast, rounds_fast = fit(1e-4)
    assert rounds_fast < rounds_exact
    np.testing.assert_allclose(fast, exact, atol=1e-8)
    if model == "logistic":
        started, rounds_started = fit(1e-4, start=exact + 0.01)
        np.testing.assert_allclose(started, exact, atol=1e-8)
        assert rounds_started < rounds_fast
