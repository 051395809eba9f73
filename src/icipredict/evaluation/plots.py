"""Evaluation figures (matplotlib), saved as PNG, SVG or PDF.

Every function returns a :class:`matplotlib.figure.Figure` and saves it when ``path`` is given
(format from the suffix: ``.png``, ``.svg`` or ``.pdf``). New figures are plain ``Figure``
objects, not pyplot's: importing this module chooses no backend, nothing is opened on a screen,
and a figure is freed when it is no longer referenced (no ``pyplot.close``), in scripts, servers
and threads alike. In Jupyter (after ``%matplotlib inline``, as the notebooks do) a returned
figure shows inline as an image; ``ax=`` draws into an existing (e.g. pyplot) axes instead.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from lifelines import KaplanMeierFitter
from lifelines.statistics import multivariate_logrank_test
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from scipy.special import expit
from sklearn.metrics import precision_recall_curve, roc_curve

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.bootstrap import bootstrap_indices, percentile_ci
from icipredict.evaluation.metrics import (
    _logit,
    auc_score,
    average_precision,
    calibration_intercept,
    calibration_slope,
    calibration_table,
    check_binary,
)
from icipredict.evaluation.survival_metrics import check_survival

logger = logging.getLogger(__name__)

_FORMATS = {".png", ".svg", ".pdf"}
_GRID = np.linspace(0, 1, 101)


def save_figure(fig: Figure, path: str | Path, dpi: int = 150) -> Path:
    """Save ``fig`` to ``path`` (PNG, SVG or PDF by suffix), creating parent folders."""
    path = Path(path)
    if path.suffix.lower() not in _FORMATS:
        raise CohortError(f"figure format {path.suffix!r} not supported; use one of {_FORMATS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    logger.info("saved figure %s", path)
    return path


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        save_figure(fig, path)
    return fig


def _models(predictions) -> dict[str, np.ndarray]:
    if isinstance(predictions, Mapping):
        return {str(k): np.asarray(v, dtype=float) for k, v in predictions.items()}
    return {"model": np.asarray(predictions, dtype=float)}


def _axes(ax, figsize=(5.5, 5)) -> tuple[Figure, Axes]:
    """``ax`` and its figure, or a new ``Figure`` (not pyplot's: no backend is involved)."""
    if ax is not None:
        return ax.figure, ax
    fig = Figure(figsize=figsize)
    return fig, fig.subplots()


def _roc_on_grid(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    fpr, tpr, _ = roc_curve(y, p)
    return np.interp(_GRID, fpr, tpr)


def _pr_on_grid(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    precision, recall, _ = precision_recall_curve(y, p)
    # recall is decreasing; take the step (max precision at recall >= r) on the grid
    order = np.argsort(recall)
    r, prec = recall[order], np.maximum.accumulate(precision[order][::-1])[::-1]
    return np.interp(_GRID, r, prec)


def _band(y, p, curve, n_boot, seed):
    idx = bootstrap_indices(y.size, n_boot, strata=y, seed=seed)
    curves = np.array([curve(y[row], p[row]) for row in idx])
    return np.percentile(curves, [2.5, 97.5], axis=0)


def plot_roc(
    y,
    predictions,
    *,
    n_boot: int = 200,
    seed: int = 0,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "ROC curve",
) -> Figure:
    """ROC curve of each model with a bootstrap 95% band, and the chance diagonal.

    Parameters
    ----------
    y
        Responder labels (0/1).
    predictions
        Probabilities of one model or a mapping ``name -> probabilities``.
    n_boot, seed
        Bootstrap for the bands and the AUC CI in the legend (0 = no band).
    ax, path, title
        Axes to draw on (new figure when None), file to save, title.
    """
    fig, ax = _axes(ax)
    for name, p in _models(predictions).items():
        yy, pp, _ = check_binary(y, p)
        fpr, tpr, _ = roc_curve(yy, pp)
        label = f"{name} (AUC {auc_score(yy, pp):.3f}"
        if n_boot:
            idx = bootstrap_indices(yy.size, n_boot, strata=yy, seed=seed)
            # one AUC per bootstrap replicate: an array, never a float
            low, high = percentile_ci(np.asarray(auc_score(yy[idx], pp[idx])))
            label += f" [{low:.3f}, {high:.3f}]"
        (line,) = ax.plot(fpr, tpr, label=label + ")")
        if n_boot:
            lo, hi = _band(yy, pp, _roc_on_grid, n_boot, seed)
            ax.fill_between(_GRID, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", xlim=(0, 1), ylim=(0, 1.01),
           title=title)
    ax.legend(loc="lower right", fontsize=8)
    return _finish(fig, path)


def plot_pr(
    y,
    predictions,
    *,
    n_boot: int = 200,
    seed: int = 0,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Precision–recall curve",
) -> Figure:
    """Precision–recall curve of each model with a bootstrap 95% band and the prevalence line."""
    fig, ax = _axes(ax)
    prevalence = None
    for name, p in _models(predictions).items():
        yy, pp, _ = check_binary(y, p)
        prevalence = yy.mean()
        precision, recall, _ = precision_recall_curve(yy, pp)
        label = f"{name} (AP {average_precision(yy, pp):.3f})"
        (line,) = ax.step(recall, precision, where="post", label=label)
        if n_boot:
            lo, hi = _band(yy, pp, _pr_on_grid, n_boot, seed)
            ax.fill_between(_GRID, lo, hi, color=line.get_color(), alpha=0.2, linewidth=0)
    if prevalence is None:
        raise CohortError("plot_pr needs at least one model")
    ax.axhline(prevalence, linestyle="--", color="grey", label=f"prevalence {prevalence:.2f}")
    ax.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", xlim=(0, 1), ylim=(0, 1.01),
           title=title)
    ax.legend(loc="upper right", fontsize=8)
    return _finish(fig, path)


def plot_calibration(
    y,
    predictions,
    *,
    n_bins: int = 10,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Calibration",
) -> Figure:
    """Calibration curve: observed vs predicted per equal-width bin (Wilson 95% CI bars), the
    logistic recalibration curve ``expit(a + b·logit(p))`` as the smooth, and the ideal diagonal.
    """
    fig, ax = _axes(ax)
    grid = np.linspace(0.005, 0.995, 199)
    for name, p in _models(predictions).items():
        yy, pp, _ = check_binary(y, p)
        table = calibration_table(yy, pp, n_bins)
        # clipped: at an observed 0 or 1 the Wilson bound can differ from it by rounding only
        err = np.clip(np.vstack([table["observed"] - table["observed_ci_low"],
                                 table["observed_ci_high"] - table["observed"]]), 0, None)
        slope = float(calibration_slope(yy, pp))
        intercept_ab = _recalibration_intercept(yy, pp)
        cont = ax.errorbar(table["mean_predicted"], table["observed"], yerr=err, fmt="o",
                           capsize=2, label=f"{name} (slope {slope:.2f}, "
                           f"CITL {float(calibration_intercept(yy, pp)):.2f})")
        ax.plot(grid, expit(intercept_ab + slope * _logit(grid)),
                color=cont.lines[0].get_color(), alpha=0.8)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="ideal")
    ax.set(xlabel="predicted probability", ylabel="observed proportion", xlim=(0, 1),
           ylim=(0, 1), title=title)
    ax.legend(loc="upper left", fontsize=8)
    return _finish(fig, path)


def _recalibration_intercept(y: np.ndarray, p: np.ndarray) -> float:
    """Intercept ``a`` of the two-parameter recalibration model ``a + b·logit(p)``."""
    from icipredict.evaluation.metrics import _logistic_newton

    lp = _logit(p)
    x = np.stack([np.ones_like(lp), lp], axis=-1)
    return float(_logistic_newton(x, y.astype(float), np.zeros_like(lp))[0])


def risk_groups(risk, n_groups: int = 3, labels: Sequence[str] | None = None) -> pd.Series:
    """Split patients into ``n_groups`` equal-sized groups by risk (tertiles by default).

    Ties are broken by order so groups always exist; the first group has the lowest risk.
    """
    risk = pd.Series(np.asarray(risk, dtype=float))
    if labels is None:
        labels = ("low", "intermediate", "high") if n_groups == 3 else [
            f"Q{i + 1}" for i in range(n_groups)]
    if len(labels) != n_groups:
        raise CohortError(f"need {n_groups} labels, got {len(labels)}")
    return pd.qcut(risk.rank(method="first"), n_groups, labels=list(labels))


def plot_km_by_risk_group(
    time,
    event,
    risk,
    *,
    n_groups: int = 3,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Kaplan–Meier by predicted risk group",
    xlabel: str = "months",
) -> Figure:
    """Kaplan–Meier curves (with 95% bands) per predicted-risk group and the log-rank p-value.

    The p-value of lifelines' ``multivariate_logrank_test`` is shown in the title and stored in
    ``fig.logrank_p``.
    """
    time, event, risk = check_survival(time, event, risk)
    groups = risk_groups(risk, n_groups, labels)
    test = multivariate_logrank_test(time, groups.astype(str).to_numpy(), event)
    fig, ax = _axes(ax, figsize=(6.5, 5))
    for g in groups.cat.categories:
        m = (groups == g).to_numpy()
        kmf = KaplanMeierFitter().fit(time[m], event[m], label=str(g))
        sf = kmf.survival_function_.iloc[:, 0]
        ci = kmf.confidence_interval_survival_function_
        (line,) = ax.step(sf.index, sf.to_numpy(), where="post",
                          label=f"{g} risk (n={int(m.sum())}, events={int(event[m].sum())})")
        ax.fill_between(ci.index, ci.iloc[:, 0], ci.iloc[:, 1], step="post", alpha=0.15,
                        color=line.get_color(), linewidth=0)
    p = float(test.p_value)
    ax.set(xlabel=xlabel, ylabel="survival probability", ylim=(0, 1.02),
           title=f"{title}\nlog-rank p = {p:.2g}")
    ax.legend(loc="upper right", fontsize=8)
    fig.logrank_p = p  # type: ignore[attr-defined]
    return _finish(fig, path)


def plot_time_dependent_auc(
    curves: Mapping[str, pd.DataFrame] | pd.DataFrame,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Time-dependent AUC",
) -> Figure:
    """Time-dependent AUC against horizon (from :func:`survival_metrics.time_dependent_auc`).

    ``curves`` is one DataFrame with columns ``horizon`` and ``auc`` or a mapping of them.
    """
    if isinstance(curves, pd.DataFrame):
        curves = {"model": curves}
    fig, ax = _axes(ax)
    for name, frame in curves.items():
        ok = frame["auc"].notna()
        ax.plot(frame.loc[ok, "horizon"], frame.loc[ok, "auc"], marker="o", label=str(name))
    ax.axhline(0.5, linestyle="--", color="grey", label="chance")
    ax.set(xlabel="horizon (months)", ylabel="cumulative/dynamic AUC", ylim=(0.4, 1),
           title=title)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_decision_curve(
    curve: pd.DataFrame,
    *,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Decision curve",
) -> Figure:
    """Net benefit against threshold probability (from :func:`decision.decision_curve`)."""
    if "threshold" not in curve.columns:
        raise CohortError("decision curve frame needs a 'threshold' column")
    fig, ax = _axes(ax, figsize=(6.5, 5))
    styles: dict[str, dict[str, Any]] = {"treat_all": dict(color="grey", linestyle=":"),
                                         "treat_none": dict(color="black", linestyle="--")}
    lines = [c for c in curve.columns.drop("threshold") if not c.endswith(("_ci_low", "_ci_high"))]
    for col in lines:
        drawn = ax.plot(curve["threshold"], curve[col], label=col.replace("_", " "),
                        **styles.get(col, {}))
        if f"{col}_ci_low" in curve.columns:  # the 95% CI band, when the curve carries one
            ax.fill_between(curve["threshold"], curve[f"{col}_ci_low"], curve[f"{col}_ci_high"],
                            color=drawn[0].get_color(), alpha=0.15, linewidth=0)
    top = float(np.nanmax(curve[lines].to_numpy()))
    ax.set(xlabel="threshold probability", ylabel="net benefit",
           ylim=(-0.05, max(top, 0.01) * 1.1), xlim=(0, float(curve["threshold"].max())),
           title=title)
    ax.legend(fontsize=8)
    return _finish(fig, path)


def plot_feature_importance(
    importance: Mapping[str, float] | pd.Series,
    *,
    top_n: int = 20,
    errors: Mapping[str, float] | pd.Series | None = None,
    ax: Axes | None = None,
    path: str | Path | None = None,
    title: str = "Feature importance",
    xlabel: str = "importance",
) -> Figure:
    """Horizontal bars of the ``top_n`` features by absolute importance (largest on top)."""
    imp = pd.Series(importance, dtype=float).dropna()
    if imp.empty:
        raise CohortError("no feature importances to plot")
    imp = imp.reindex(imp.abs().sort_values(ascending=False).index[:top_n])[::-1]
    xerr = None if errors is None else pd.Series(errors, dtype=float).reindex(imp.index).to_numpy()
    fig, ax = _axes(ax, figsize=(6, 0.3 * len(imp) + 1.2))
    ax.barh(imp.index.astype(str), imp.to_numpy(), xerr=xerr, color="steelblue")
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set(xlabel=xlabel, title=title)
    return _finish(fig, path)
