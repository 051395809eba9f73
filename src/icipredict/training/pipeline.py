"""Train an experiment config, without MLflow: :func:`fit_experiment` -> :class:`TrainedExperiment`.

The steps, each in the stage it belongs to:

1. the training frame from the cohort store or the centre files, radiomics included
   (:func:`icipredict.training.data.load_training_frame`);
2. the config's validation scheme as a splitter (:func:`splitter_for`) and cross-validation
   through the package's one CV loop,
   :func:`icipredict.evaluation.validation.cross_validate_predictions`, with
   :class:`icipredict.modeling.experiment.ExperimentModels` as the estimator (feature builder,
   response model with its calibration, survival models, comparators, fitted on each fold's
   training patients only);
3. per-fold metrics, pooled held-out metrics with bootstrap CIs, the paired comparison of every
   comparator with the primary response model, the within-fold C-index and subgroup metrics
   (:mod:`icipredict.training.assessment`);
4. the refit of the builder and the primary models on all training patients, and the input of
   the registry model's per-patient response intervals (a Venn table of the held-out response
   predictions: :mod:`icipredict.evaluation.uncertainty`).

:mod:`icipredict.tracking.runs` logs and registers what it returns; nothing here imports MLflow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import clone

from icipredict.cohort.schema import CohortError
from icipredict.evaluation.validation import CVFold
from icipredict.modeling.experiment import (
    ExperimentModels,
    responder_target,
    response_strata,
    target_fields,
)
from icipredict.training.config import ExperimentConfig, load_experiment

logger = logging.getLogger(__name__)

#: The fold metrics kept in :attr:`TrainedExperiment.fold_table`.
FOLD_TABLE_METRICS = ("response_auc", "os_harrell_c", "pfs_harrell_c")

#: ``on_step(message, done, total)``: progress of :func:`fit_experiment` (folds, then the refit).
StepCallback = Callable[[str, int, int], None]


@dataclass
class FoldResult:
    """One validation fold: its held-out group, sizes and metrics on its held-out patients."""

    number: int
    name: str
    n_train: int
    n_test: int
    metrics: dict[str, float]
    notes: list[str] = field(default_factory=list)
    #: The fold's held-out patients (rows of the cohort) and their predictions, in the same
    #: order, for its figures; kept in memory, never logged.
    held: pd.DataFrame | None = field(default=None, repr=False)
    predictions: pd.DataFrame | None = field(default=None, repr=False)

    def row(self) -> dict[str, Any]:
        """The fold's row of :attr:`TrainedExperiment.fold_table`."""
        return {"fold": self.number, "held_out": self.name, "n_train": self.n_train,
                "n_test": self.n_test, **{m: self.metrics.get(m) for m in FOLD_TABLE_METRICS}}


@dataclass
class TrainedExperiment:
    """Everything :func:`fit_experiment` produced: what the tracking layer logs and registers.

    Patient rows (``frame``, ``fit_frame``, ``held``, ``oof``) stay in memory: they feed
    aggregates (metrics, figures, lineage profile, validity domain) and never an artifact.

    Attributes
    ----------
    config, feature_spec
        The experiment config and its feature spec.
    model_specs
        Every model spec of the config, in config order.
    specs
        Task (``response``, ``survival``) -> the primary model spec of that task.
    comparators
        Further response model specs, validated on the same folds as the primary.
    frame, source
        Every patient of the cohort (index ``patient_id``) and its lineage (``uri``, ``name``,
        ``query``).
    fit_frame
        The patients the final models were fitted on (all but a split column's test rows).
    held, oof
        The held-out patients (rows of ``frame``) and their pooled out-of-fold predictions
        (``prob``, ``risk_<end>``, ``prob_<comparator>``, ``_fold``; averaged over repeats for
        repeated k-fold), in the same order.
    folds
        One :class:`FoldResult` per validation split.
    metrics
        Pooled held-out metrics (``cv_*``) with CI bounds, comparator comparisons and the
        within-fold C-index.
    notes
        What could not be computed on the pooled held-out predictions, and why.
    final
        The builder and primary models refitted on ``fit_frame``
        (:class:`~icipredict.modeling.experiment.ExperimentModels`).
    subgroups
        Held-out metrics per centre and cancer type (None when nothing to compute).
    response_uncertainty
        Input of the registry model's per-patient 95% response intervals: the Venn table of
        the pooled held-out response predictions
        (:func:`icipredict.evaluation.uncertainty.response_interval_table`; None without a
        response model). Made from out-of-fold predictions of the training patients only
        (:func:`training_oof`).
    survival_uncertainty
        Input of its per-patient 95% survival intervals: end point -> the Kaplan-Meier table
        of the training patients' out-of-fold risk-score bins
        (:func:`icipredict.evaluation.survival_uncertainty.survival_interval_table`, at the
        config's ``horizons``; None without a survival model). From the same out-of-fold
        predictions as ``response_uncertainty``.
    risk_groups
        The board's risk tertiles: cut-points of the out-of-fold risk scores of the training
        patients and the end point they score (:func:`risk_group_cutpoints`; None without a
        survival model).
    seconds
        Wall-clock duration of the training.
    """

    config: ExperimentConfig
    feature_spec: Any
    model_specs: list[Any]
    specs: dict[str, Any]
    comparators: list[Any]
    frame: pd.DataFrame
    source: dict[str, Any]
    fit_frame: pd.DataFrame
    held: pd.DataFrame
    oof: pd.DataFrame
    folds: list[FoldResult]
    metrics: dict[str, float]
    notes: list[str]
    final: ExperimentModels
    subgroups: pd.DataFrame | None
    response_uncertainty: dict[str, Any] | None = None
    survival_uncertainty: dict[str, Any] | None = None
    risk_groups: dict[str, Any] | None = None
    seconds: float = 0.0
    #: The response model's selection on the training patients (None without ``selection:``).
    selection: Any = None

    @property
    def fold_table(self) -> pd.DataFrame:
        """One row per fold: number, held-out group, sizes and main metrics."""
        return pd.DataFrame([f.row() for f in self.folds])

    @property
    def calibration(self) -> dict[str, Any]:
        """Held-out calibration metrics of the response model (slope, intercept, ECE with its
        binning, ICI; CIs)."""
        from icipredict.evaluation.metrics import ECE_BINNING

        out: dict[str, Any] = {k.removeprefix("cv_response_"): v for k, v in self.metrics.items()
                               if k.startswith(("cv_response_calibration", "cv_response_ece",
                                                "cv_response_ici"))}
        if "ece_n_bins" in out:
            out["ece_binning"] = f"{int(out['ece_n_bins'])} {ECE_BINNING}"
        return out

    def features(self) -> pd.DataFrame:
        """The final builder's feature matrix of the training patients."""
        return self.final.builder_.transform(self.fit_frame)


def splitter_for(config: ExperimentConfig, frame: pd.DataFrame):  # noqa: ANN201
    """The splitter and its group labels for the config's validation scheme."""
    from icipredict.evaluation import validation as v

    val = config.validation
    if val.scheme == "leave_one_centre_out":
        return v.LeaveOneCentreOut(), frame["centre"].astype(str).to_numpy()
    if val.scheme == "split_column":
        if val.column not in frame.columns:
            raise CohortError(f"validation column {val.column!r} is not in the cohort",
                              file=config.source_path, column="validation.column")
        labels = np.where(frame[val.column].astype(str) == val.test_value, "test", "train")
        return v.FixedSplit(train_value="train", test_value="test"), labels
    if val.scheme == "repeated_kfold":
        return v.RepeatedStratifiedKFoldCV(n_splits=val.n_splits, n_repeats=val.n_repeats,
                                           random_state=val.seed), None
    return v.StratifiedKFoldCV(n_splits=val.n_splits, random_state=val.seed), None


def model_specs_of(config: ExperimentConfig) -> tuple[Any, list[Any], dict[str, Any], list[Any]]:
    """The feature spec, every model spec, the primary spec per task, and the comparators.

    The first spec of a task is its primary model; further response models (when response is
    a target) are comparators; further survival models are ignored with a warning.
    """
    from icipredict.features.spec import read_spec
    from icipredict.modeling.spec import load_spec

    feature_spec = read_spec(config.feature_spec_path)
    model_specs = [load_spec(p) for p in config.model_spec_paths]
    specs: dict[str, Any] = {}
    comparators: list[Any] = []
    if config.selection is not None:
        # The selected candidate is the primary response model; response models listed
        # under `models` are its comparators (set by select_primary).
        specs["response"] = None
    for s in model_specs:
        if s.task in specs:
            if s.task == "response" and "response" in config.targets:
                comparators.append(s)
            else:
                logger.warning("only the first %s model is used; %s ignored", s.task, s.name)
            continue
        specs[s.task] = s
    return feature_spec, model_specs, specs, comparators


def select_primary(config: ExperimentConfig, frame: pd.DataFrame, feature_spec: Any,
                   specs: dict[str, Any]) -> Any:
    """Run the config's response-model selection on the training rows of ``frame`` (never a
    split column's test rows) and make the chosen spec the primary response model."""
    from icipredict.modeling.spec import load_spec
    from icipredict.training.selection import select_response_model

    train = frame
    if config.validation.scheme == "split_column":
        train = frame[frame[config.validation.column].astype(str) != config.validation.test_value]
    candidates = [load_spec(p) for p in config.candidate_spec_paths]
    result = select_response_model(train, feature_spec, candidates, config.selection,
                                   seed=config.seed)
    specs["response"] = next(c for c in candidates if c.name == result.chosen)
    return result


def fit_experiment(config: str | Path | ExperimentConfig, *,
                   cache_dir: str | Path | None = None, progress: bool = False,
                   on_step: StepCallback | None = None) -> TrainedExperiment:
    """Train an experiment config: validate, assess, refit. Pure: no MLflow, nothing written
    but the radiomics feature cache.

    Parameters
    ----------
    config
        Path of an ``experiments/*.yaml`` file, or an :class:`ExperimentConfig`.
    cache_dir
        Radiomics feature cache (default ``~/.cache/icipredict/radiomics``).
    progress
        Show the radiomics extraction's progress bar.
    on_step
        Called as ``on_step(message, done, total)`` after each fold and after the refit.

    Returns
    -------
    TrainedExperiment
    """
    from icipredict.training import assessment
    from icipredict.training.data import load_training_frame

    start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_experiment(config)
    feature_spec, model_specs, specs, comparators = model_specs_of(config)
    frame, source = load_training_frame(config, cache_dir=cache_dir, progress=progress)
    selection = (select_primary(config, frame, feature_spec, specs)
                 if config.selection is not None else None)
    estimator = ExperimentModels(feature_spec, specs.get("response"), specs.get("survival"),
                                 list(config.targets), comparators)
    folds, fit_rows, oof = _validate(config, frame, estimator, on_step)
    held = frame.loc[oof.index]
    fit_frame = frame.iloc[fit_rows]
    metrics, notes = assessment.prediction_metrics(held, oof, fit_frame, config, "cv_")
    if "prob" in oof:
        excluded = response_exclusion_counts(fit_frame, held)
        metrics.update(excluded)
        notes += response_exclusion_notes(excluded)
    if "prob" in oof:
        metrics.update(assessment.comparator_metrics(held, oof, specs["response"].name,
                                                     comparators, config))
    if config.validation.scheme != "repeated_kfold" and len(folds) > 1:
        metrics.update(assessment.within_fold_c(held, oof, config))
    primary = ExperimentModels(feature_spec, specs.get("response"), specs.get("survival"),
                               list(config.targets))
    final = clone(primary).fit(fit_frame)
    empty = getattr(final.builder_, "empty_columns_", [])
    if empty:  # once per training (the folds' builders drop the same columns silently)
        notes.append(f"no training values for {len(empty)} feature column(s), dropped from "
                     f"the model: {', '.join(empty)}")
        logger.warning(notes[-1])
    # The intervals and the risk cut-points come from out-of-fold predictions of the training
    # patients only (a split column's test rows are never among them).
    fit_oof = training_oof(config, fit_frame, oof, primary)
    unc = interval_inputs(fit_frame.loc[fit_oof.index], fit_oof)
    surv_unc = survival_interval_inputs(fit_frame.loc[fit_oof.index], fit_oof, config.horizons)
    if on_step is not None:
        on_step("refit on all training data", len(folds) + 1, len(folds) + 1)
    trained = TrainedExperiment(
        config=config, feature_spec=feature_spec, model_specs=model_specs, specs=specs,
        comparators=comparators, frame=frame, source=source, fit_frame=fit_frame, held=held,
        oof=oof, folds=folds, metrics=metrics, notes=notes, final=final,
        subgroups=assessment.subgroup_table(held, oof, config), response_uncertainty=unc,
        survival_uncertainty=surv_unc, risk_groups=risk_group_cutpoints(fit_oof, final),
        selection=selection)
    trained.seconds = time.perf_counter() - start
    logger.info("trained %s in %.1f s", config.name, trained.seconds)
    return trained


def _validate(config: ExperimentConfig, frame: pd.DataFrame, estimator: ExperimentModels,
              on_step: StepCallback | None) -> tuple[list[FoldResult], np.ndarray, pd.DataFrame]:
    """Cross-validate: fold results, positions of the training patients, pooled predictions."""
    from icipredict.evaluation.validation import cross_validate_predictions
    from icipredict.training.assessment import prediction_metrics

    splitter, groups = splitter_for(config, frame)
    strata = response_strata(frame)
    total = splitter.get_n_splits(frame, strata, groups) + 1
    names = (splitter.test_centres(groups=groups) if hasattr(splitter, "test_centres")
             else [f"fold{k}" for k in range(total - 1)])
    folds: list[FoldResult] = []
    fit_rows = np.arange(len(frame))

    def on_fold(fold: CVFold) -> None:
        nonlocal fit_rows
        train, test = frame.iloc[fold.train], frame.iloc[fold.test]
        metrics, notes = prediction_metrics(test, fold.predictions, train, config, "")
        pred = (fold.predictions.set_axis(test.index)
                if isinstance(fold.predictions, pd.DataFrame)
                and len(fold.predictions) == len(test) else None)
        folds.append(FoldResult(fold.split, names[fold.split], len(fold.train),
                                len(fold.test), metrics, notes, held=test, predictions=pred))
        if config.validation.scheme == "split_column":
            fit_rows = np.sort(fold.train)
        if on_step is not None:
            on_step(f"fold {names[fold.split]}", fold.split + 1, total)

    long = cross_validate_predictions(estimator, frame, strata, splitter, groups=groups,
                                      method="predict", on_fold=on_fold)
    return folds, fit_rows, pooled_predictions(long, frame, config.validation.scheme)


def response_exclusion_counts(fit_frame: pd.DataFrame, held: pd.DataFrame) -> dict[str, float]:
    """Patients left out of response training (``train_response_n_*``) and of its held-out
    evaluation (``cv_response_n_*``): no response given, or censored before the first tumour
    assessment (:func:`icipredict.modeling.experiment.response_exclusions`)."""
    from icipredict.modeling.experiment import response_exclusions

    out: dict[str, float] = {}
    for prefix, part in (("train_", fit_frame), ("cv_", held)):
        counts = response_exclusions(part)
        out.update({f"{prefix}{k}": float(v) for k, v in counts.items()
                    if k != "response_n_labelled"})
    return out


def response_exclusion_notes(counts: dict[str, float]) -> list[str]:
    """One note per nonzero exclusion count of the training patients."""
    from icipredict.modeling.experiment import FIRST_ASSESSMENT_MONTHS

    notes = []
    if n := int(counts.get("train_response_n_unlabelled", 0)):
        notes.append(f"response: {n} training patient(s) without a response label left out")
    if n := int(counts.get("train_response_n_censored_before_assessment", 0)):
        notes.append(f"response: {n} training non-responder(s) censored before the first "
                     f"tumour assessment ({FIRST_ASSESSMENT_MONTHS:.1f} months) treated as "
                     "unknown and left out")
    return notes


def training_oof(config: ExperimentConfig, fit_frame: pd.DataFrame, oof: pd.DataFrame,
                 estimator: ExperimentModels) -> pd.DataFrame:
    """Out-of-fold predictions of the training patients (``fit_frame``) only.

    Under k-fold, repeated k-fold and leave-one-centre-out every patient is a training patient
    and ``oof`` already is that. Under ``split_column`` ``oof`` holds the *test* rows; the
    training rows get their own inner stratified k-fold (``validation.n_splits`` folds,
    ``validation.seed``) of ``estimator``, so nothing fitted for the deployed model (interval
    table, risk cut-points) sees a test patient.
    """
    from icipredict.evaluation.validation import StratifiedKFoldCV, cross_validate_predictions

    if config.validation.scheme != "split_column":
        return oof.loc[oof.index.isin(fit_frame.index)]
    splitter = StratifiedKFoldCV(n_splits=config.validation.n_splits,
                                 random_state=config.validation.seed)
    long = cross_validate_predictions(estimator, fit_frame, response_strata(fit_frame), splitter,
                                      method="predict")
    return pooled_predictions(long, fit_frame, "kfold")


def risk_group_cutpoints(fit_oof: pd.DataFrame, final: ExperimentModels) -> dict[str, Any] | None:
    """Tertile cut-points of the training patients' *out-of-fold* risk scores, for the end
    point whose model gives the registry model's ``risk_score`` (OS, else PFS).

    Held-out scores are what a model trained this way gives patients it has not seen, as the
    board's patient is; in-sample scores of a flexible model (boosted trees) are spread wider
    than a new patient's, as the model fits its training patients. Pooled over folds they also
    carry the differences between the fold models: on the demo's penalised Cox (LOCO) the
    out-of-fold tertiles were -0.300 / 0.317 against -0.255 / 0.282 in-sample.
    """
    from icipredict.evaluation.risk_groups import risk_tertiles

    end = next((e for e in ("os", "pfs") if e in final.survival_), None)
    if end is None or f"risk_{end}" not in fit_oof:
        return None
    return risk_tertiles(fit_oof[f"risk_{end}"].to_numpy(dtype=float), endpoint=end,
                         source="out-of-fold risk scores of the training patients")


def interval_inputs(held: pd.DataFrame, oof: pd.DataFrame) -> dict[str, Any] | None:
    """The Venn table of the pooled held-out response predictions behind the registry model's
    per-patient 95% intervals (None without a response model). Nothing is refitted."""
    from icipredict.evaluation.uncertainty import response_interval_table

    if "prob" not in oof:
        return None
    ok, y = responder_target(held)
    return response_interval_table(y, oof["prob"].to_numpy()[ok])


def survival_interval_inputs(held: pd.DataFrame, oof: pd.DataFrame, horizons: list[float]
                             ) -> dict[str, Any] | None:
    """End point -> the Kaplan-Meier table of the held-out risk-score bins behind the registry
    model's per-patient 95% survival intervals, read at ``horizons`` (None without a survival
    model). Nothing is refitted."""
    from icipredict.evaluation.survival_uncertainty import survival_interval_table
    from icipredict.modeling.experiment import survival_target

    tables = {}
    for end in ("os", "pfs"):
        if f"risk_{end}" not in oof:
            continue
        ok, y = survival_target(held, end)
        event, time = target_fields(y)
        table = survival_interval_table(y[time], y[event], oof[f"risk_{end}"].to_numpy()[ok],
                                        horizons, endpoint=end)
        if table is not None:
            tables[end] = table
    return tables or None


def pooled_predictions(long: pd.DataFrame, frame: pd.DataFrame, scheme: str) -> pd.DataFrame:
    """Out-of-fold predictions, one row per held-out patient (index ``patient_id``).

    Rows in fold order (patients of fold 0, then fold 1, ...) with the fold in ``_fold``; for
    repeated k-fold the mean over repeats, ordered by patient ID.
    """
    meta = {"row", "index", "split", "repeat", "fold", "test_group"}
    columns = [c for c in long.columns if c not in meta]
    oof = long[columns].set_axis(pd.Index(long["index"].to_numpy(), name=frame.index.name))
    oof["_fold"] = long["split"].to_numpy()
    if scheme == "repeated_kfold":
        oof = oof.groupby(level=0).mean()
    return oof


__all__ = ["FoldResult", "TrainedExperiment", "fit_experiment", "interval_inputs",
           "model_specs_of", "pooled_predictions", "risk_group_cutpoints", "select_primary",
           "splitter_for", "survival_interval_inputs", "training_oof"]
