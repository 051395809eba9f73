"""Figures of a trained experiment, written as PNG files (no MLflow; tracking logs the folder).

Held-out ROC, calibration and decision curve of the response model, Kaplan-Meier curves by
held-out risk tertile per survival end point, and the final response model's mean absolute
feature contributions; :func:`write_heldout_figures` draws the held-out ones for any set of
patients (one validation fold's).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.modeling.experiment import (
    ENDPOINTS,
    responder_target,
    survival_target,
    target_fields,
)

if TYPE_CHECKING:
    from icipredict.training.pipeline import TrainedExperiment

logger = logging.getLogger(__name__)


def write_figures(trained: TrainedExperiment, folder: str | Path) -> list[Path]:
    """Draw every figure the experiment supports into ``folder``; returns the files written.

    A figure that cannot be drawn (e.g. too few events) is skipped with a warning.
    """
    from icipredict.evaluation import plots

    folder = Path(folder)
    write_heldout_figures(trained.held, trained.oof, folder)
    final = trained.final
    if final.response_ is not None and hasattr(final.response_, "contributions"):
        contrib = final.response_.contributions(trained.features()).drop(
            columns=["bias"], errors="ignore")
        _guard("importance", lambda: plots.plot_feature_importance(
            contrib.abs().mean(), path=folder / "feature_importance.png",
            xlabel="mean |contribution| (log-odds)"))
    return sorted(folder.glob("*.png"))


def _guard(name: str, fn: Callable[[], Any], level: int = logging.WARNING) -> None:
    try:
        fn()  # a plain Figure (not pyplot's): freed when dropped, any backend
    except (CohortError, ValueError) as exc:
        logger.log(level, "plot %s skipped: %s", name, exc)


def write_heldout_figures(held: pd.DataFrame, oof: pd.DataFrame, folder: str | Path, *,
                          label: str = "held-out", level: int = logging.WARNING) -> list[Path]:
    """ROC, calibration and decision curve of ``oof["prob"]`` and Kaplan-Meier curves by risk
    tertile of ``oof["risk_<end>"]`` for the patients ``held`` (same order), into ``folder``.

    Used for the pooled held-out predictions and for one fold's held-out patients. A figure that
    cannot be drawn (one class only, too few events) is skipped, logged at ``level``.
    """
    from icipredict.evaluation import plots
    from icipredict.evaluation.decision import decision_curve

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if "prob" in oof:
        ok, y = responder_target(held)
        p = oof["prob"].to_numpy()[ok]
        _guard("roc", lambda: plots.plot_roc(y, {label: p}, path=folder / "roc.png"), level)
        _guard("calibration", lambda: plots.plot_calibration(
            y, {label: p}, path=folder / "calibration.png"), level)
        _guard("decision", lambda: plots.plot_decision_curve(
            decision_curve(y, {"model": p}), path=folder / "decision_curve.png"), level)
    for end in ENDPOINTS:
        if f"risk_{end}" in oof:
            ok, ys = survival_target(held, end)
            ev, tm = target_fields(ys)

            def km(ok: np.ndarray = ok, ys: np.ndarray = ys, ev: str = ev, tm: str = tm,
                   end: str = end) -> Any:
                return plots.plot_km_by_risk_group(
                    ys[tm], ys[ev], oof[f"risk_{end}"].to_numpy()[ok],
                    title=f"{end.upper()} by {label} risk tertile",
                    path=folder / f"km_{end}.png")

            _guard(f"km_{end}", km, level)
    return sorted(folder.glob("*.png"))


__all__ = ["write_figures", "write_heldout_figures"]
