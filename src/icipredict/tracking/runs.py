"""Train an experiment config end to end and track everything in MLflow.

:func:`train_experiment` loads the cohort (store query or column-mapped files), builds features
(radiomics from the imaging table when the feature spec includes imaging), runs the validation
scheme with one nested MLflow run per fold (metrics with bootstrap CIs), pools the held-out
predictions into the run's ``cv_*`` metrics and plots, refits on all training patients and logs
the pyfunc registry model (:mod:`icipredict.tracking.pyfunc`) with the config, the fitted feature
spec, dataset lineage, model-card inputs and tags (git commit, package version, config hash).

Only aggregates and models leave the cohort: no artifact holds a patient row or ID.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError
from icipredict.config import CACHE_HOME
from icipredict.tracking.experiment import ExperimentConfig, load_experiment
from icipredict.tracking.mlflow_setup import configure_tracking

logger = logging.getLogger(__name__)

ENDPOINTS = ("os", "pfs")
#: Radiomics settings of training runs without a ``radiomics:`` key in their config (recorded
#: in the model's ``radiomics.json``).
RADIOMICS_SETTINGS = "default"
#: Lesion aggregation rule of training runs without a ``radiomics:`` key (``radiomics.json``).
RADIOMICS_RULE = "largest"
#: Default folder of the radiomics feature cache.
DEFAULT_CACHE = CACHE_HOME / "icipredict" / "radiomics"


@dataclass
class TrainResult:
    """What :func:`train_experiment` produced.

    Attributes
    ----------
    run_id, experiment_id
        The parent MLflow run and its experiment.
    model_uri
        URI of the logged registry model (``models:/<model_id>``).
    metrics
        The parent run's metrics (``cv_*`` pooled held-out metrics with CI bounds).
    fold_metrics
        One row per validation fold: held-out group, sizes and main metrics.
    seconds
        Wall-clock duration.
    """

    run_id: str
    experiment_id: str
    model_uri: str
    metrics: dict[str, float]
    fold_metrics: pd.DataFrame
    config_hash: str
    seconds: float
    what_is_pickled: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------ data
def load_training_frame(config: ExperimentConfig, *, cache_dir: str | Path | None = None,
                        progress: bool = False) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per patient with canonical inputs, outcomes and (for files) the split column.

    Returns
    -------
    (frame, source)
        The frame (index ``patient_id``) and a lineage description (``uri``, ``name``,
        ``query``).
    """
    from icipredict.cohort.loaders import load_source
    from icipredict.cohort.store import CohortStore
    from icipredict.features.builder import patient_frame
    from icipredict.features.spec import read_spec

    spec = read_spec(config.feature_spec_path)
    genes = spec.genes or ()
    # The experiment's radiomics settings and lesion rule (defaults without a radiomics: key).
    how = {"settings": config.radiomics_settings, "rule": config.radiomics.lesion_rule}
    if config.cohort.store is not None:
        st = config.cohort.store
        path = _store_path(config, st.path)
        cohort = CohortStore(path).cohort(st.centres or None)
        rad = _radiomics(cohort, spec, cache_dir, progress, **how)
        frame = patient_frame(cohort, rad, genes=genes, include_outcomes=True)
        source = {"uri": str(path), "name": f"{config.name}-store",
                  "query": {"centres": st.centres or "all"}}
    else:
        frames = []
        for fs, cmap in zip(config.cohort.files or [], config.column_map_paths, strict=True):
            cohort = load_source(cmap)
            rad = _radiomics(cohort, spec, cache_dir, progress, **how)
            part = patient_frame(cohort, rad, genes=genes, include_outcomes=True)
            if fs.split is not None:
                part["split"] = fs.split
            frames.append(part)
        frame = pd.concat(frames)
        source = {"uri": str(config.column_map_paths[0]), "name": f"{config.name}-files",
                  "query": {"column_maps": [p.name for p in config.column_map_paths]}}
    if frame.index.duplicated().any():
        raise CohortError(f"{int(frame.index.duplicated().sum())} patient(s) appear twice in "
                          "the cohort sources", file=config.source_path)
    return frame, source


def _store_path(config: ExperimentConfig, path: str | None) -> Path:
    from icipredict import config as base

    if path is None:
        return Path(base.DEFAULT_STORE)
    try:
        return config.resolve(path, "cohort.store.path")
    except CohortError:
        return Path(path)  # the store raises its own clear error when it is absent


def _radiomics(cohort, spec, cache_dir, progress: bool, *,  # noqa: ANN001
               settings: str | Path = RADIOMICS_SETTINGS,
               rule: str = RADIOMICS_RULE) -> pd.DataFrame | None:
    """Wide radiomics (index patient_id) from the store's table and/or the images.

    ``settings`` (builtin name or pyradiomics YAML path) builds the engine; the feature cache
    keys entries by its settings hash, so runs with other settings never share features.
    ``rule`` combines a patient's lesions (``radiomics_matrix``).
    """
    if "imaging" not in spec.modalities:
        return None
    from icipredict.features.imaging import extract_cohort, radiomics_matrix
    from icipredict.features.radiomics_engine import PyRadiomicsEngine

    parts = []
    if len(cohort.radiomics):
        parts.append(cohort.radiomics)
    if len(cohort.imaging):
        cache = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        cache.mkdir(parents=True, exist_ok=True)
        long, errors = extract_cohort(cohort.imaging, cache_dir=cache, n_jobs=2,
                                      engine=PyRadiomicsEngine(settings),
                                      progress=progress)
        if len(errors):
            # Never log the error table: image paths can carry source IDs.
            logger.warning("radiomics failed for %d lesion(s) of %d patient(s)", len(errors),
                           errors["patient_id"].nunique())
        if len(long):
            parts.append(long)
    if not parts:
        return None
    cols = ["patient_id", "lesion_id", "feature", "value"]
    long = pd.concat([p[[c for c in cols if c in p.columns]] for p in parts], ignore_index=True)
    return radiomics_matrix(long, rule=rule).set_index("patient_id")


def _survival_y(frame: pd.DataFrame, end: str) -> tuple[np.ndarray, np.ndarray]:
    """Mask of patients with a known outcome, and the sksurv target for them."""
    from sksurv.util import Surv

    t = pd.to_numeric(frame.get(f"{end}_months"), errors="coerce")
    e = pd.to_numeric(frame.get(f"{end}_event"), errors="coerce")
    ok = (t.notna() & e.notna()).to_numpy()
    return ok, Surv.from_arrays(e[ok].astype(bool).to_numpy(), t[ok].to_numpy(dtype=float))


def _responder(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    y = pd.to_numeric(frame.get("responder"), errors="coerce")
    ok = y.notna().to_numpy()
    return ok, y[ok].astype(int).to_numpy()


# ------------------------------------------------------------------------------ validation
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


@dataclass
class _Fitted:
    builder: Any
    response: Any = None
    survival: dict[str, Any] = field(default_factory=dict)


def _fit_all(frame: pd.DataFrame, feature_spec, specs: dict[str, Any], targets: list[str]
             ) -> _Fitted:  # noqa: ANN001
    """Fit the builder and every model on ``frame`` (training patients only)."""
    from icipredict.features.builder import FeatureBuilder
    from icipredict.modeling.search import tune_and_fit

    builder = FeatureBuilder(feature_spec).fit(frame)
    X = builder.transform(frame)
    fitted = _Fitted(builder)
    if "response" in targets and specs.get("response") is not None:
        ok, y = _responder(frame)
        fitted.response, _ = tune_and_fit(specs["response"], X[ok], y)
    for end in ENDPOINTS:
        if end in targets and specs.get("survival") is not None:
            ok, y = _survival_y(frame, end)
            if ok.sum() and y[y.dtype.names[0]].any():
                fitted.survival[end], _ = tune_and_fit(specs["survival"], X[ok], y)
    return fitted


def _comparator_probability(spec: Any, builder: Any, train: pd.DataFrame,
                            test: pd.DataFrame) -> np.ndarray:
    """A comparator response model fitted on the fold's training patients (same features)."""
    from icipredict.modeling.search import tune_and_fit

    ok, y = _responder(train)
    model, _ = tune_and_fit(spec, builder.transform(train)[ok], y)
    return model.predict_proba(builder.transform(test))[:, 1]


def _comparator_metrics(held: pd.DataFrame, oof: pd.DataFrame, primary: str,
                        comparators: list[Any], config: ExperimentConfig) -> dict[str, float]:
    """Held-out metrics of each comparator and its paired difference from the primary model.

    ``cv_<name>_response_*`` as for the primary; ``cv_<primary>_minus_<name>_auc`` with the
    paired-bootstrap CI and two-sided p-value (same patients, same resamples).
    """
    from icipredict.evaluation.compare import compare_auc
    from icipredict.evaluation.metrics import response_metrics

    out: dict[str, float] = {}
    ok, y = _responder(held)
    primary_p = oof["prob"].to_numpy()[ok]
    for comp in comparators:
        p = oof[f"prob_{comp.name}"].to_numpy()[ok]
        try:
            rep = response_metrics(y, p, n_boot=config.n_bootstrap, seed=config.seed)
            cmp = compare_auc(y, primary_p, p, n_boot=config.n_bootstrap, seed=config.seed)
        except (CohortError, ValueError) as exc:
            logger.warning("comparator %s not evaluated: %s", comp.name, exc)
            continue
        out.update({f"cv_{comp.name}_response_{k}": v for k, v in rep.to_dict().items()
                    if isinstance(v, int | float)})
        key = f"cv_{primary}_minus_{comp.name}_auc"
        out.update({key: cmp.difference.value, f"{key}_ci_low": cmp.difference.low,
                    f"{key}_ci_high": cmp.difference.high, f"{key}_p": cmp.p_value})
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}


INTERVAL_NOTE = (
    "Per-patient 95% intervals: spread of {r} refits of the response and Cox models on bootstrap "
    "resamples of the training patients (logit / complementary log-log scale), the response "
    "one widened by the held-out recalibration spread; they reflect sampling uncertainty of "
    "a model this size, not shifts between centres.")


def _interval_refits(fitted: _Fitted, frame: pd.DataFrame, targets: list[str], n_refits: int,
                     seed: int) -> dict[str, list[Any]]:
    """Bootstrap refits of the final models (pyfunc per-patient intervals)."""
    from icipredict.tracking.pyfunc import bootstrap_refits

    out: dict[str, list[Any]] = {}
    if n_refits <= 0:
        return out
    X = fitted.builder.transform(frame)
    if fitted.response is not None:
        ok, y = _responder(frame)
        out["response"] = bootstrap_refits(fitted.response, X[ok], y, n_refits=n_refits,
                                           seed=seed, strata=y.astype(int))
    for end, model in fitted.survival.items():
        ok, y = _survival_y(frame, end)
        out[end] = bootstrap_refits(model, X[ok], y, n_refits=n_refits, seed=seed + 1,
                                    strata=y[y.dtype.names[0]].astype(int))
    return out


def _predict(fitted: _Fitted, frame: pd.DataFrame) -> pd.DataFrame:
    X = fitted.builder.transform(frame)
    out = pd.DataFrame(index=frame.index)
    if fitted.response is not None:
        out["prob"] = fitted.response.predict_proba(X)[:, 1]
    for end, model in fitted.survival.items():
        out[f"risk_{end}"] = model.predict(X)
    return out


def _metrics(frame: pd.DataFrame, pred: pd.DataFrame, train: pd.DataFrame,
             config: ExperimentConfig, prefix: str) -> tuple[dict[str, float], list[str]]:
    """Response and survival metrics (with CI bounds) of predictions on ``frame``."""
    from icipredict.evaluation.metrics import response_metrics
    from icipredict.evaluation.survival_metrics import survival_metrics

    out: dict[str, float] = {}
    notes: list[str] = []
    if "prob" in pred:
        ok, y = _responder(frame)
        try:
            rep = response_metrics(y, pred["prob"].to_numpy()[ok], n_boot=config.n_bootstrap,
                                   seed=config.seed)
            out.update({f"{prefix}response_{k}": v for k, v in rep.to_dict().items()
                        if isinstance(v, int | float)})
        except (CohortError, ValueError) as exc:
            notes.append(f"response: {exc}")
    for end in ENDPOINTS:
        if f"risk_{end}" not in pred:
            continue
        ok, y = _survival_y(frame, end)
        tok, ty = _survival_y(train, end)
        ev, tm = y.dtype.names
        try:
            rep = survival_metrics(y[tm], y[ev], pred[f"risk_{end}"].to_numpy()[ok],
                                   train_time=ty[tm], train_event=ty[ev],
                                   horizons=config.horizons, n_boot=config.n_bootstrap,
                                   seed=config.seed)
            out.update({f"{prefix}{end}_{k}": v for k, v in rep.to_dict().items()
                        if isinstance(v, int | float)})
        except (CohortError, ValueError) as exc:
            notes.append(f"{end}: {exc}")
    return {k: float(v) for k, v in out.items() if v is not None and np.isfinite(v)}, notes


def _within_fold_c(frame: pd.DataFrame, oof: pd.DataFrame,
                   config: ExperimentConfig) -> dict[str, float]:
    """``cv_<end>_harrell_c_within_fold``: Harrell's C over pairs of one held-out fold only.

    The pooled ``cv_<end>_harrell_c`` also compares patients of different folds, whose risk
    scores come from different fold models (a Cox linear predictor is centred on its own
    training data), so it can be pulled down or up by the scales alone.
    """
    from icipredict.evaluation.survival_metrics import harrell_c

    out: dict[str, float] = {}
    for end in ENDPOINTS:
        if f"risk_{end}" not in oof:
            continue
        ok, y = _survival_y(frame, end)
        ev, tm = y.dtype.names
        try:
            est = harrell_c(y[tm], y[ev], oof[f"risk_{end}"].to_numpy()[ok],
                            strata=oof["_fold"].to_numpy()[ok], n_boot=config.n_bootstrap,
                            seed=config.seed)
        except (CohortError, ValueError) as exc:
            logger.warning("%s within-fold C: %s", end, exc)
            continue
        out.update({k: v for k, v in est.to_dict(f"cv_{end}_harrell_c_within_fold").items()
                    if np.isfinite(v)})
    return out


# ------------------------------------------------------------------------------ helpers
@contextmanager
def _progress(enabled: bool, total: int) -> Iterator[Any]:
    if not enabled:
        class _Null:
            def add_task(self, *a: Any, **k: Any) -> int:
                return 0

            def update(self, *a: Any, **k: Any) -> None:
                pass

        yield _Null()
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/"
                  "{task.total}"), TimeElapsedColumn(), transient=False) as bar:
        yield bar


def git_commit(path: Path) -> str:
    """The current git commit of the project (``unknown`` outside a checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=path, capture_output=True,
                             text=True, timeout=10, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=path, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _package_version() -> str:
    try:
        return metadata.version("icipredict")
    except metadata.PackageNotFoundError:
        return "unknown"


def _plots(folder: Path, frame: pd.DataFrame, oof: pd.DataFrame, fitted: _Fitted,
           X: pd.DataFrame) -> None:
    """ROC, calibration, decision curve (held-out), KM by risk group, importance (final)."""
    import matplotlib.pyplot as plt

    from icipredict.evaluation import plots
    from icipredict.evaluation.decision import decision_curve

    folder.mkdir(parents=True, exist_ok=True)

    def guard(name: str, fn) -> None:  # noqa: ANN001
        try:
            fig = fn()
            plt.close(fig)
        except (CohortError, ValueError) as exc:
            logger.warning("plot %s skipped: %s", name, exc)

    if "prob" in oof:
        ok, y = _responder(frame)
        p = oof["prob"].to_numpy()[ok]
        guard("roc", lambda: plots.plot_roc(y, {"held-out": p}, path=folder / "roc.png"))
        guard("calibration", lambda: plots.plot_calibration(
            y, {"held-out": p}, path=folder / "calibration.png"))
        guard("decision", lambda: plots.plot_decision_curve(
            decision_curve(y, {"model": p}), path=folder / "decision_curve.png"))
    for end in ENDPOINTS:
        if f"risk_{end}" in oof:
            ok, ys = _survival_y(frame, end)
            ev, tm = ys.dtype.names
            guard(f"km_{end}", lambda ok=ok, ys=ys, ev=ev, tm=tm, end=end:
                  plots.plot_km_by_risk_group(
                      ys[tm], ys[ev], oof[f"risk_{end}"].to_numpy()[ok],
                      title=f"{end.upper()} by held-out risk tertile",
                      path=folder / f"km_{end}.png"))
    if fitted.response is not None and hasattr(fitted.response, "contributions"):
        contrib = fitted.response.contributions(X).drop(columns=["bias"], errors="ignore")
        guard("importance", lambda: plots.plot_feature_importance(
            contrib.abs().mean(), path=folder / "feature_importance.png",
            xlabel="mean |contribution| (log-odds)"))


# ------------------------------------------------------------------------------ main entry
def train_experiment(
    config: str | Path | ExperimentConfig,
    *,
    tracking_uri: str | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> TrainResult:
    """Train an experiment config and log everything to MLflow.

    Parameters
    ----------
    config
        Path of an ``experiments/*.yaml`` file, or an :class:`ExperimentConfig`.
    tracking_uri
        Override the config's tracking URI (``sqlite:///...`` or ``http(s)://...``).
    progress
        Show rich progress bars.
    cache_dir
        Radiomics feature cache (default ``~/.cache/icipredict/radiomics``).

    Returns
    -------
    TrainResult
    """
    import mlflow

    from icipredict.features.spec import read_spec
    from icipredict.modeling.spec import load_spec
    from icipredict.tracking import pyfunc
    from icipredict.tracking.lineage import log_cohort_lineage
    from icipredict.tracking.modelcard import log_card_inputs, validity_domain

    start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_experiment(config)
    feature_spec = read_spec(config.feature_spec_path)
    model_specs = [load_spec(p) for p in config.model_spec_paths]
    specs: dict[str, Any] = {}
    comparators: list[Any] = []  # further response models: evaluated on the same folds, compared
    for s in model_specs:
        if s.task in specs:
            if s.task == "response" and "response" in config.targets:
                comparators.append(s)
            else:
                logger.warning("only the first %s model is used; %s ignored", s.task, s.name)
            continue
        specs[s.task] = s
    uri = tracking_uri or config.tracking.tracking_uri
    experiment_id = configure_tracking(uri, config.tracking.experiment,
                                       artifact_location=config.tracking.artifact_location)
    imaging = "imaging" in feature_spec.modalities
    # Built before the (slow) radiomics step: a settings file that vanished since the config
    # was loaded fails here, naming the config's radiomics.settings.
    rad_record = (pyfunc.radiomics_record(config.radiomics_settings,
                                          config.radiomics.lesion_rule) if imaging else None)
    frame, source = load_training_frame(config, cache_dir=cache_dir, progress=progress)
    splitter, groups = splitter_for(config, frame)
    folds = list(splitter.split(frame, _strata(frame), groups))
    fold_names = (splitter.test_centres(groups=groups) if hasattr(splitter, "test_centres")
                  else [f"fold{k}" for k in range(len(folds))])
    project = (config.source_path.parent.parent if config.source_path else Path.cwd())

    with mlflow.start_run(run_name=config.name) as run, \
            _progress(progress, len(folds) + 2) as bar:
        task = bar.add_task(f"[bold]{config.name}[/]: validation", total=len(folds) + 2)
        mlflow.set_tags({"git_commit": git_commit(project), "icipredict_version":
                         _package_version(), "config_hash": config.config_hash(),
                         "validation_scheme": config.validation.scheme,
                         "feature_spec": feature_spec.name,
                         "models": ",".join(s.name for s in model_specs)})
        if rad_record is not None:
            mlflow.set_tags(_radiomics_tags(rad_record))
        mlflow.log_params(config.flat_params())
        if config.source_path is not None:
            mlflow.log_artifact(str(config.source_path), "config")
        mlflow.log_artifact(str(config.feature_spec_path), "config")
        for p in config.model_spec_paths:
            mlflow.log_artifact(str(p), "config/models")

        # -- validation: one nested run per fold --------------------------------------------
        oof_parts, rows = [], []
        train_rows = np.ones(len(frame), dtype=bool)
        for k, ((tr, te), name) in enumerate(zip(folds, fold_names, strict=True)):
            train, test = frame.iloc[tr], frame.iloc[te]
            bar.update(task, description=f"[bold]{config.name}[/]: fold {name}")
            with mlflow.start_run(run_name=f"{config.name}-{name}", nested=True):
                fitted = _fit_all(train, feature_spec, specs, config.targets)
                pred = _predict(fitted, test)
                for comp in comparators:
                    pred[f"prob_{comp.name}"] = _comparator_probability(comp, fitted.builder,
                                                                        train, test)
                metrics, notes = _metrics(test, pred, train, config, "")
                mlflow.log_params({"fold": k, "held_out": name, "n_train": len(tr),
                                   "n_test": len(te)})
                mlflow.log_metrics(metrics)
                if notes:
                    mlflow.set_tag("notes", "; ".join(notes)[:5000])
            oof_parts.append(pred.assign(_fold=k))
            rows.append({"fold": k, "held_out": name, "n_train": len(tr), "n_test": len(te),
                         **{m: metrics.get(m) for m in ("response_auc", "os_harrell_c",
                                                        "pfs_harrell_c")}})
            if config.validation.scheme == "split_column":
                train_rows = np.zeros(len(frame), dtype=bool)
                train_rows[tr] = True
            bar.update(task, advance=1)

        # -- pooled held-out metrics ----------------------------------------------------------
        oof = pd.concat(oof_parts)
        if config.validation.scheme == "repeated_kfold":
            oof = oof.groupby(level=0).mean()
        held = frame.loc[oof.index]
        fit_frame = frame.iloc[np.flatnonzero(train_rows)]
        cv_metrics, notes = _metrics(held, oof, fit_frame, config, "cv_")
        if "prob" in oof:
            cv_metrics.update(_comparator_metrics(held, oof, specs["response"].name, comparators,
                                                  config))
        if config.validation.scheme != "repeated_kfold" and len(folds) > 1:
            cv_metrics.update(_within_fold_c(held, oof, config))
        mlflow.log_metrics(cv_metrics)
        if notes:
            mlflow.set_tag("notes", "; ".join(notes)[:5000])
        fold_table = pd.DataFrame(rows)
        mlflow.log_table(fold_table, "validation/folds.json")

        # -- refit on all training patients ---------------------------------------------------
        bar.update(task, description=f"[bold]{config.name}[/]: refit on all training data")
        final = _fit_all(fit_frame, feature_spec, specs, config.targets)
        X_fit = final.builder.transform(fit_frame)
        bar.update(task, advance=1)

        bar.update(task, description=f"[bold]{config.name}[/]: logging")
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            _plots(tmp / "plots", held, oof, final, X_fit)
            mlflow.log_artifacts(str(tmp / "plots"), "plots")
            (tmp / "builder.json").write_text(final.builder.to_json())
            mlflow.log_artifact(str(tmp / "builder.json"), "features")
            unc = None
            if "prob" in oof:
                ok, y = _responder(held)
                unc = pyfunc.calibration_uncertainty(y, oof["prob"].to_numpy()[ok],
                                                     n_boot=200, seed=config.seed)
            refits = _interval_refits(final, fit_frame, config.targets,
                                      config.interval_refits, config.seed)
            manifest = pyfunc.write_bundle(
                tmp / "bundle", builder=final.builder, response_model=final.response,
                survival_models=final.survival, training_frame=fit_frame,
                response_uncertainty=unc, response_refits=refits.pop("response", None),
                survival_refits=refits,
                info={"experiment": config.name, "config_hash": config.config_hash(),
                      "models": {t: s.name for t, s in specs.items()}},
                radiomics=(rad_record if "imaging" in final.builder.spec_.modalities
                           else None))
            info = pyfunc.log_registry_model(tmp / "bundle")
        log_cohort_lineage(frame.drop(columns=["split"], errors="ignore"),
                           source=source["uri"], name=source["name"],
                           context="training", query=source["query"])
        calib = {k.removeprefix("cv_response_"): v for k, v in cv_metrics.items()
                 if k.startswith("cv_response_calibration") or k.startswith("cv_response_ece")}
        sub = _subgroups(held, oof, config)
        log_card_inputs(validity=validity_domain(fit_frame), calibration=calib,
                        subgroup_metrics=sub, description=config.description,
                        limitations=[f"Validated by {config.validation.scheme}.",
                                     INTERVAL_NOTE.format(r=config.interval_refits)])
        mlflow.set_tag("what_is_pickled", ", ".join(manifest["what_is_pickled"]) or "nothing")
        bar.update(task, advance=1, description=f"[bold]{config.name}[/]: done")
        run_id, model_uri = run.info.run_id, info.model_uri

    seconds = time.perf_counter() - start
    logger.info("trained %s in %.1f s: run %s", config.name, seconds, run_id)
    return TrainResult(run_id=run_id, experiment_id=str(experiment_id), model_uri=model_uri,
                       metrics=cv_metrics, fold_metrics=fold_table,
                       config_hash=config.config_hash(), seconds=seconds,
                       what_is_pickled=manifest["what_is_pickled"])


def _radiomics_tags(record: dict[str, Any]) -> dict[str, str]:
    """MLflow tags naming the radiomics settings of a run (hash, source, engine, rule)."""
    source = record["settings_source"]
    return {"radiomics_settings_hash": str(record["settings_hash"]),
            "radiomics_settings_source": (source if isinstance(source, str)
                                          else f"file:{source['file']}"),
            "radiomics_engine": f"{record['engine']} {record['engine_version']}",
            "radiomics_lesion_rule": str(record["rule"])}


def _strata(frame: pd.DataFrame) -> np.ndarray:
    """Labels the stratified splitters use: responder (missing -> -1)."""
    y = pd.to_numeric(frame.get("responder"), errors="coerce")
    return y.fillna(-1).astype(int).to_numpy()


def _subgroups(held: pd.DataFrame, oof: pd.DataFrame, config: ExperimentConfig
               ) -> pd.DataFrame | None:
    """Held-out metrics per centre and per cancer type (aggregates for the model card)."""
    from icipredict.evaluation.subgroups import subgroup_metrics

    df = held[[c for c in ("centre", "cancer_type", "responder", "os_months", "os_event")
               if c in held.columns]].copy()
    kwargs: dict[str, Any] = {}
    if "prob" in oof and "responder" in df:
        df["prob"] = oof["prob"]
        df["responder"] = pd.to_numeric(df["responder"], errors="coerce")
        kwargs.update(y_col="responder", prob_col="prob")
    if "risk_os" in oof and "os_months" in df:
        df["risk"] = oof["risk_os"]
        kwargs.update(time_col="os_months", event_col="os_event", risk_col="risk")
    if not kwargs:
        return None
    tables = []
    for col in ("centre", "cancer_type"):
        if col in df:
            try:
                t = subgroup_metrics(df, col, n_boot=min(config.n_bootstrap, 200),
                                     seed=config.seed, include_all=col == "centre", **kwargs)
                t.insert(0, "subgroup", np.where(t["group"] == "all", "overall",
                                                 col + "=" + t["group"].astype(str)))
                tables.append(t.drop(columns=["group_col", "group"]))
            except (CohortError, ValueError) as exc:
                logger.warning("subgroup metrics by %s skipped: %s", col, exc)
    return pd.concat(tables, ignore_index=True) if tables else None


def summary_lines(result: TrainResult) -> list[str]:
    """Human-readable main metrics: AUC and C-indices with CIs."""
    m = result.metrics
    lines = []
    for key, label in (("cv_response_auc", "response AUC"), ("cv_os_harrell_c", "OS Harrell C"),
                       ("cv_os_harrell_c_within_fold", "OS Harrell C, pairs within a fold"),
                       ("cv_pfs_harrell_c", "PFS Harrell C"),
                       ("cv_pfs_harrell_c_within_fold", "PFS Harrell C, pairs within a fold"),
                       ("cv_response_calibration_slope", "calibration slope")):
        if key in m:
            lo, hi = m.get(f"{key}_ci_low"), m.get(f"{key}_ci_high")
            ci = f" [{lo:.3f}, {hi:.3f}]" if lo is not None and hi is not None else ""
            lines.append(f"{label}: {m[key]:.3f}{ci}")
    for key in sorted(k for k in m if k.endswith("_auc") and "_minus_" in k):
        primary, other = key.removeprefix("cv_").removesuffix("_auc").split("_minus_", 1)
        lines.append(f"AUC {primary} - {other}: {m[key]:+.3f} [{m.get(key + '_ci_low', 0):+.3f}, "
                     f"{m.get(key + '_ci_high', 0):+.3f}], paired bootstrap p = "
                     f"{m.get(key + '_p', float('nan')):.3f}")
    return lines


__all__ = ["TrainResult", "train_experiment", "load_training_frame", "splitter_for",
           "summary_lines", "git_commit"]
