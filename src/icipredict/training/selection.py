"""Choose the response model before the test set is seen: inner validation + one-SE rule.

On the training patients only (the experiment's test rows never enter), every candidate spec
is fitted with its own feature builder, tuning and calibration
(:class:`~icipredict.modeling.experiment.ExperimentModels`) on each inner training part and
scored by AUC on the inner validation part:

- ``leave_one_centre_out``: each centre in turn (the synthetic network's transfer question);
  the standard error of a candidate is the SD of its per-centre AUCs over ``sqrt(k)``;
- ``kfold``: stratified folds, for a single centre without start dates (the Chowell split);
  standard error as for centres;
- ``time_forward``: patients who started ICI before ``validate_from`` train, later ones
  validate (the real cohort's year split, repeated inside its training years); one split, so
  the standard error is the bootstrap SD of the AUC over the validation patients.

The **one-standard-error rule** (Breiman et al. 1984; Hastie, Tibshirani & Friedman, ESL 7.10):
the candidates whose mean AUC is at least the best mean minus the best's standard error are
"as good as the best"; among them the **simplest** wins. Simpler means, in this order: fewer
features read (a ``features`` list in the spec; otherwise every feature of the builder), then
the family (linear < trees < ensembles, :data:`icipredict.modeling.spec.FAMILY_RANK`), then the
higher mean AUC. No MLflow here: :mod:`icipredict.tracking.runs` logs the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.modeling.experiment import ExperimentModels, responder_target

logger = logging.getLogger(__name__)


@dataclass
class SelectionResult:
    """What the selection saw and chose.

    Attributes
    ----------
    table
        One row per candidate: ``mean_auc``, ``se``, per-split AUCs (``auc_<split>``),
        ``n_features`` (``inf`` = all), ``family_rank``, ``within_one_se``, ``chosen``.
    chosen
        The chosen candidate's spec name.
    best
        The candidate with the highest mean AUC.
    threshold
        Best mean AUC minus its standard error.
    scheme
        The inner validation scheme.
    splits
        Inner split name -> (n inner training patients, n validation patients).
    """

    table: pd.DataFrame
    chosen: str
    best: str
    threshold: float
    scheme: str
    splits: dict[str, tuple[int, int]]

    def summary(self) -> str:
        """One line: what was chosen and why."""
        row = self.table.loc[self.chosen]
        return (f"selected {self.chosen} (inner {self.scheme} AUC {row['mean_auc']:.3f}) by the "
                f"one-SE rule: best {self.best} {self.table.loc[self.best, 'mean_auc']:.3f}, "
                f"threshold {self.threshold:.3f}")


def inner_splits(frame: pd.DataFrame, selection: Any) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """``(name, train positions, validation positions)`` of the inner validation.

    Raises
    ------
    CohortError
        The time column is missing, or a split leaves one side without responders.
    """
    if selection.scheme == "leave_one_centre_out":
        centre = frame["centre"].astype(str).to_numpy()
        return [(c, np.flatnonzero(centre != c), np.flatnonzero(centre == c))
                for c in sorted(set(centre))]
    if selection.scheme == "kfold":
        from sklearn.model_selection import StratifiedKFold

        from icipredict.modeling.experiment import response_strata

        folds = StratifiedKFold(selection.n_splits, shuffle=True, random_state=0)
        return [(f"fold{k}", tr, va) for k, (tr, va)
                in enumerate(folds.split(frame, response_strata(frame)))]
    col = selection.time_column
    if col not in frame.columns:
        raise CohortError(f"selection.time_column {col!r} is not in the cohort (map the ICI "
                          "start date or year in the column map)", column="selection.time_column")
    values = frame[col]
    year = (values.dt.year if pd.api.types.is_datetime64_any_dtype(values)
            else pd.to_numeric(values, errors="coerce")).to_numpy(dtype=float)
    known = ~np.isnan(year)
    train = np.flatnonzero(known & (year < selection.validate_from))
    val = np.flatnonzero(known & (year >= selection.validate_from))
    return [(f"from_{selection.validate_from}", train, val)]


def _bootstrap_se(y: np.ndarray, p: np.ndarray, n_boot: int, seed: int) -> float:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    aucs = []
    for _ in range(n_boot):
        idx = rng.integers(0, len(y), len(y))
        if 0 < y[idx].sum() < len(idx):
            aucs.append(roc_auc_score(y[idx], p[idx]))
    return float(np.std(aucs, ddof=1))


def _split_auc(frame: pd.DataFrame, train: np.ndarray, val: np.ndarray, feature_spec: Any,
               spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validation labels and the candidate's probabilities (fitted on ``train`` only)."""
    model = ExperimentModels(feature_spec, spec, None, ("response",)).fit(frame.iloc[train])
    held = frame.iloc[val]
    ok, y = responder_target(held)
    return y, model.predict(held)["prob"].to_numpy()[ok]


def select_response_model(frame: pd.DataFrame, feature_spec: Any, candidates: list[Any],
                          selection: Any, seed: int = 0) -> SelectionResult:
    """Score every candidate on the inner splits of ``frame`` and apply the one-SE rule.

    Parameters
    ----------
    frame
        The training patients only (canonical inputs and outcomes, one row each).
    feature_spec
        The experiment's feature spec (each split fits its own builder).
    candidates
        Response model specs (:class:`~icipredict.modeling.spec.ModelSpec`).
    selection
        The experiment's :class:`~icipredict.training.config.Selection`.
    seed
        Seed of the bootstrap standard error.

    Returns
    -------
    SelectionResult
    """
    from sklearn.metrics import roc_auc_score

    splits = inner_splits(frame, selection)
    for name, train, val in splits:
        for part, rows in (("training", train), ("validation", val)):
            _, y = responder_target(frame.iloc[rows])
            if y.sum() == 0 or y.sum() == len(y):
                raise CohortError(f"inner split {name}: the {part} part has "
                                  f"{len(y)} patients with a response and not both classes",
                                  column="selection")
    results: list[dict[str, Any]] = []
    for spec in candidates:
        aucs, ses = {}, []
        for name, train, val in splits:
            y, p = _split_auc(frame, train, val, feature_spec, spec)
            aucs[f"auc_{name}"] = float(roc_auc_score(y, p))
            if len(splits) == 1:
                ses.append(_bootstrap_se(y, p, selection.n_bootstrap, seed))
        values = np.array(list(aucs.values()))
        se = ses[0] if ses else float(values.std(ddof=1) / np.sqrt(len(values)))
        n_feat, rank = spec.complexity()
        results.append({"candidate": spec.name, "mean_auc": float(values.mean()), "se": se,
                        "n_features": n_feat, "family_rank": rank, **aucs})
        logger.info("selection %s: AUC %.3f (SE %.3f)", spec.name, values.mean(), se)
    table = pd.DataFrame(results).set_index("candidate")
    best = str(table["mean_auc"].idxmax())
    threshold = float(table.loc[best, "mean_auc"] - table.loc[best, "se"])
    table["within_one_se"] = table["mean_auc"] >= threshold
    eligible = table[table["within_one_se"]].assign(neg=lambda t: -t["mean_auc"])
    chosen = str(eligible.sort_values(["n_features", "family_rank", "neg"]).index[0])
    table["chosen"] = table.index == chosen
    result = SelectionResult(table=table, chosen=chosen, best=best, threshold=threshold,
                             scheme=selection.scheme,
                             splits={n: (len(t), len(v)) for n, t, v in splits})
    logger.info("%s", result.summary())
    return result


__all__ = ["SelectionResult", "inner_splits", "select_response_model"]
