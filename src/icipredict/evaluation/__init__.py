"""evaluation stage of icipredict (see DESIGN.md): model-agnostic metrics on arrays.

- :mod:`.bootstrap` — stratified bootstrap over patients, :class:`Estimate`, :class:`MetricReport`
- :mod:`.metrics` — response metrics (AUC, AUPRC, Brier, calibration, ECE, threshold metrics)
- :mod:`.survival_metrics` — Harrell/Uno C, time-dependent AUC, integrated Brier score
- :mod:`.compare` — paired bootstrap comparison of two models, DeLong's test
- :mod:`.subgroups` — metrics per cancer type / centre / sex / drug class
- :mod:`.decision` — decision curves (net benefit)
- :mod:`.validation` — CV splitters (incl. leave-one-centre-out) and the package's one
  cross-validation loop (out-of-fold predictions; the training pipeline runs through it)
- :mod:`.plots` — figures (imported on demand: it loads matplotlib)
"""

from icipredict.evaluation.bootstrap import Estimate, MetricReport

__all__ = ["Estimate", "MetricReport"]
