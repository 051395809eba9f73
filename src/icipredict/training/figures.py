"""Figures of a trained experiment, written as PNG files (no MLflow; tracking logs the folder).

Held-out ROC, calibration and decision curve of the response model, Kaplan-Meier curves by
held-out risk tertile per survival end point, and the final response model's mean absolute
feature contributions.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from icipredict.cohort.schema import CohortError
from icipredict.modeling.experiment import ENDPOINTS, responder_target, survival_target

if TYPE_CHECKING:
    from icipredict.training.pipeline import TrainedExperiment

logger = logging.getLogger(__name__)


def write_figures(trained: TrainedExperiment, folder: str | Path) -> list[Path]:
    """Draw every figure the experiment supports into ``folder``; returns the files written.

    A figure that cannot be drawn (e.g. too few events) is skipped with a warning.
    """
    from icipredict.evaluation import plots
    from icipredict.evaluation.decision import decision_curve

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    held, oof, final = trained.held, trained.oof, trained.final

    def guard(name: str, fn: Callable[[], Any]) -> None:
        try:
            fn()  # a plain Figure (not pyplot's): freed when dropped, any backend
        except (CohortError, ValueError) as exc:
            logger.warning("plot %s skipped: %s", name, exc)

    if "prob" in oof:
        ok, y = responder_target(held)
        p = oof["prob"].to_numpy()[ok]
        guard("roc", lambda: plots.plot_roc(y, {"held-out": p}, path=folder / "roc.png"))
        guard("calibration", lambda: plots.plot_calibration(
            y, {"held-out": p}, path=folder / "calibration.png"))
        guard("decision", lambda: plots.plot_decision_curve(
            decision_curve(y, {"model": p}), path=folder / "decision_curve.png"))
    for end in ENDPOINTS:
        if f"risk_{end}" in oof:
            ok, ys = survival_target(held, end)
            ev, tm = ys.dtype.names
            guard(f"km_{end}", lambda ok=ok, ys=ys, ev=ev, tm=tm, end=end:
                  plots.plot_km_by_risk_group(
                      ys[tm], ys[ev], oof[f"risk_{end}"].to_numpy()[ok],
                      title=f"{end.upper()} by held-out risk tertile",
                      path=folder / f"km_{end}.png"))
    if final.response_ is not None and hasattr(final.response_, "contributions"):
        contrib = final.response_.contributions(trained.features()).drop(
            columns=["bias"], errors="ignore")
        guard("importance", lambda: plots.plot_feature_importance(
            contrib.abs().mean(), path=folder / "feature_importance.png",
            xlabel="mean |contribution| (log-odds)"))
    return sorted(folder.glob("*.png"))


__all__ = ["write_figures"]
