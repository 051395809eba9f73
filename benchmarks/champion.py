"""The honest champion on real data: chosen before the test, compared with the refit LLR6.

Trains ``experiments/pan_cancer_best_loris.yaml`` (LORIS year split; time-forward inner selection
on the 2015-2016 vs 2017 training patients) and ``experiments/pan_cancer_best.yaml`` (Chowell
random split; stratified 5-fold inner selection) with the package's MLflow-free pipeline
(:func:`icipredict.training.pipeline.fit_experiment`; response only: the survival models are
not compared here, and leaving them out saves most of the time on 2 shared cores), then on each
split's test patients:

- the selection table (inner AUC, SE, features, family, within one SE, chosen);
- the champion's AUC [95% CI], calibration slope and intercept;
- the refit LLR6 recipe as shipped (``models/llr6.yaml``: Platt-calibrated) and as published
  (uncalibrated, balanced class weights), on the same patients;
- the paired bootstrap AUC difference champion - LLR6 (1000 resamples, stratified on response)
  and DeLong's p.

The goal (issue 12): champion AUC >= refit LLR6 with the paired CI not below 0, and a
calibration slope in 0.9-1.1. The section it writes into ``benchmarks/quality.md`` (after the
notes mark, between its own markers, so ``quality.py`` keeps it) says whether that is met.

Usage::

    .venv/bin/python benchmarks/champion.py                  # both splits
    .venv/bin/python benchmarks/champion.py --splits loris   # one split
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from icipredict.evaluation.compare import compare_auc, delong_test
from icipredict.evaluation.metrics import auc_with_ci, calibration_intercept, calibration_slope
from icipredict.modeling.experiment import ExperimentModels, responder_target
from icipredict.modeling.spec import load_spec
from icipredict.training.config import load_experiment
from icipredict.training.pipeline import fit_experiment

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
EXPERIMENTS = {"loris": ("LORIS year split", ROOT / "experiments" / "pan_cancer_best_loris.yaml"),
               "chowell": ("Chowell random split", ROOT / "experiments" / "pan_cancer_best.yaml"),
               "synthetic": ("Synthetic network, leave-one-centre-out (run from a folder "
                             "holding icipredict-demo/)",
                             ROOT / "experiments" / "synthetic_champion.yaml")}
BEGIN, END = "<!-- champion.py: begin -->", "<!-- champion.py: end -->"
N_BOOT = 1000


def _fmt_table(table: pd.DataFrame) -> list[str]:
    cols = ["mean_auc", "se", "n_features", "family_rank", "within_one_se", "chosen"]
    out = ["| candidate | inner AUC | SE | features | family (0 linear, 1 trees, 2 ensemble) "
           "| within 1 SE | chosen |", "|---|---|---|---|---|---|---|"]
    for name, r in table[cols].iterrows():
        feats = "all" if not np.isfinite(r["n_features"]) else f"{r['n_features']:.0f}"
        out.append(f"| {name} | {r['mean_auc']:.3f} | {r['se']:.3f} | {feats} | "
                   f"{r['family_rank']} | {'yes' if r['within_one_se'] else 'no'} | "
                   f"{'**yes**' if r['chosen'] else ''} |")
    return out


def _cells(y: np.ndarray, p: np.ndarray) -> str:
    return (f"{auc_with_ci(y, p, n_boot=N_BOOT)} | {calibration_slope(y, p):.2f} | "
            f"{calibration_intercept(y, p):+.2f}")


def run(key: str) -> list[str]:
    """Train one experiment, evaluate on its test patients; Markdown lines."""
    label, path = EXPERIMENTS[key]
    t0 = time.perf_counter()
    config = load_experiment(path)
    # Cost only (2 shared cores): the survival models are not part of this comparison.
    config.targets = ["response"]
    trained = fit_experiment(config)
    sel = trained.selection
    ok, y = responder_target(trained.held)
    champ = trained.oof["prob"].to_numpy()[ok]
    llr6 = trained.oof["prob_llr6"].to_numpy()[ok]
    if config.validation.scheme == "split_column":
        published = load_spec("llr6").model_copy(update={"calibrate": False})
        raw = ExperimentModels(trained.feature_spec, published, None, ("response",)).fit(
            trained.fit_frame).predict(trained.held)["prob"].to_numpy()[ok]
    else:  # pooled held-out centres: the Platt LLR6 of each fold is the comparator
        raw = llr6
    lines = [f"### {label} (test n = {ok.sum()}; {path.name})", "",
             f"Inner selection on the training patients only ({sel.scheme}; splits "
             + ", ".join(f"{n}: {a} train / {b} validate" for n, (a, b) in sel.splits.items())
             + f"). One-SE threshold {sel.threshold:.3f} (best: {sel.best}).", ""]
    lines += _fmt_table(sel.table) + [""]
    lines += ["| model (test) | AUC [95% CI] | cal. slope | cal. intercept |", "|---|---|---|---|",
              f"| champion: {sel.chosen} | {_cells(y, champ)} |",
              f"| LLR6 refit, Platt (models/llr6.yaml) | {_cells(y, llr6)} |",
              f"| LLR6 refit, published recipe (uncalibrated) | {_cells(y, raw)} |", ""]
    if raw is llr6:
        lines = [ln for ln in lines if "published recipe" not in ln]
    comps = {}
    pairs = [("LLR6 (Platt)", llr6)] + ([] if raw is llr6 else
                                        [("LLR6 (published recipe)", raw)])
    for name, other in pairs:
        comps[name] = compare_auc(y, champ, other, n_boot=N_BOOT, seed=0)
        dl = delong_test(y, champ, other)
        lines.append(f"- champion - {name}: AUC {comps[name].difference} (paired bootstrap), "
                     f"DeLong p {dl.p_value:.3f}")
    diff = comps[pairs[-1][0]].difference
    slope = calibration_slope(y, champ)
    met_auc = diff.value >= 0 and diff.low >= 0
    lines += ["", f"Goal (AUC >= the refit {pairs[-1][0]} with the paired CI not below 0; slope "
              f"0.9-1.1): AUC {'met' if met_auc else 'NOT met'} (difference {diff.value:+.3f}, "
              f"CI low {diff.low:+.3f}); slope {slope:.2f} "
              f"{'met' if 0.9 <= slope <= 1.1 else 'NOT met'}. "
              f"({time.perf_counter() - t0:.0f} s)", ""]
    return lines


def _subsections(lines: list[str]) -> dict[str, list[str]]:
    """``### `` subsections of a block by heading (the split's label), in order."""
    out: dict[str, list[str]] = {}
    current = None
    for line in lines:
        if line.startswith("### "):
            current = line.split(" (", 1)[0]
            out[current] = []
        if current is not None:
            out[current].append(line)
    return out


def write(sections: list[str], out: Path) -> None:
    """Replace (or append) this script's section of ``quality.md``; subsections of splits not
    run this time are kept."""
    text = out.read_text() if out.is_file() else ""
    kept: dict[str, list[str]] = {}
    if BEGIN in text and END in text:
        kept = _subsections(text.split(BEGIN, 1)[1].split(END, 1)[0].splitlines())
    kept.update(_subsections(sections))
    order = [f"### {label}" for label, _ in EXPERIMENTS.values()]
    body = [line for key in sorted(kept, key=lambda k: order.index(k) if k in order else 99)
            for line in kept[key]]
    block = "\n".join([BEGIN, "", "## Champion chosen before the test (benchmarks/champion.py, "
                       f"{dt.date.today().isoformat()})", "", *body, END])
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    out.write_text(text)


def main() -> None:
    """Run the chosen splits, print and write the section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--splits", nargs="+", choices=list(EXPERIMENTS),
                        default=list(EXPERIMENTS))
    parser.add_argument("--out", type=Path, default=HERE / "quality.md")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("icipredict.training.selection").setLevel(logging.INFO)
    sections = []
    for key in args.splits:
        lines = run(key)
        print("\n".join(lines), flush=True)
        sections += lines
        write(sections, args.out)  # after each split: a later one may take long


if __name__ == "__main__":
    main()
