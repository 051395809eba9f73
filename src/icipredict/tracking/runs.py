"""Log and register what the training pipeline returns, in MLflow.

:func:`train_experiment` trains an experiment config with
:func:`icipredict.training.pipeline.fit_experiment` (MLflow-free: data, CV, metrics, refit) and
logs the result: one parent run with the config, tags and pooled held-out ``cv_*`` metrics, one
nested run per validation fold (its own metrics and ROC, calibration, decision and KM figures for
its held-out patients), the figures, the fitted feature spec, dataset lineage, model-card
inputs, and the pyfunc registry model (:mod:`icipredict.registry`).

Only aggregates and models leave the cohort: no artifact holds a patient row or ID.
"""

from __future__ import annotations

import logging
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.config import resolve_tracking_uri
from icipredict.tracking.mlflow_setup import configure_tracking
from icipredict.training.config import ExperimentConfig, load_experiment
from icipredict.training.pipeline import TrainedExperiment, fit_experiment

logger = logging.getLogger(__name__)


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
    tracking_uri
        Where the run was logged (after the precedence flag > environment > config > default).
    """

    run_id: str
    experiment_id: str
    model_uri: str
    metrics: dict[str, float]
    fold_metrics: pd.DataFrame
    config_hash: str
    seconds: float
    what_is_pickled: list[str] = field(default_factory=list)
    tracking_uri: str = ""


@dataclass
class _Fitted:
    """The final builder and models, as the bundle writer takes them."""

    builder: Any
    response: Any = None
    survival: dict[str, Any] = field(default_factory=dict)


INTERVAL_NOTE = (
    "Per-patient 95% response intervals: exact (Clopper-Pearson) 95% interval of the response "
    "rate among training patients whose held-out predicted probability fell in the same bin "
    "(a Venn predictor on score bins), widened to contain the point. They cover the rate of "
    "patients the model scores alike, not each patient's own probability where factors the "
    "model does not see differ, nor shifts between centres beyond those of the validation "
    "scheme. Per-patient 95% survival intervals: the Kaplan-Meier 95% band, at the trained "
    "horizons, of training patients whose held-out risk score fell in the same bin, widened "
    "to contain the point (null where fewer than 5 of the bin were still at risk): the "
    "survival of patients the model scores alike, not a band around the patient's own curve.")


# ------------------------------------------------------------------------------ helpers
@contextmanager
def _progress(enabled: bool, name: str) -> Iterator[Callable[[str, int, int], None]]:
    """A step callback drawing a rich bar, opened at the first step (after the radiomics
    extraction's own bar has closed)."""
    state: dict[str, Any] = {}

    def step(message: str, done: int, total: int) -> None:
        if not enabled:
            return
        if "bar" not in state:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            state["bar"] = Progress(TextColumn("{task.description}"), BarColumn(),
                                    TextColumn("{task.completed}/{task.total}"),
                                    TimeElapsedColumn(), transient=False)
            state["bar"].start()
            state["task"] = state["bar"].add_task("", total=total + 1)
        state["bar"].update(state["task"], description=f"[bold]{name}[/]: {message}",
                            completed=done, total=total + 1)

    try:
        yield step
    finally:
        if "bar" in state:
            state["bar"].stop()


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


def _radiomics_tags(record: dict[str, Any]) -> dict[str, str]:
    """MLflow tags naming the radiomics settings of a run (hash, source, engine, rule)."""
    source = record["settings_source"]
    return {"radiomics_settings_hash": str(record["settings_hash"]),
            "radiomics_settings_source": (source if isinstance(source, str)
                                          else f"file:{source['file']}"),
            "radiomics_engine": f"{record['engine']} {record['engine_version']}",
            "radiomics_lesion_rule": str(record["rule"])}


# ------------------------------------------------------------------------------ logging
def _log_config(trained: TrainedExperiment, rad_record: dict[str, Any] | None) -> None:
    """Tags (commit, version, config hash, scheme, specs, radiomics), params, config files."""
    import mlflow

    config = trained.config
    project = (config.source_path.parent.parent if config.source_path else Path.cwd())
    mlflow.set_tags({"git_commit": git_commit(project), "icipredict_version":
                     _package_version(), "config_hash": config.config_hash(),
                     "validation_scheme": config.validation.scheme,
                     "feature_spec": trained.feature_spec.name,
                     "models": ",".join(s.name for s in trained.model_specs)})
    if rad_record is not None:
        mlflow.set_tags(_radiomics_tags(rad_record))
    mlflow.log_params(config.flat_params())
    if config.source_path is not None:
        mlflow.log_artifact(str(config.source_path), "config")
    mlflow.log_artifact(str(config.feature_spec_path), "config")
    for p in config.model_spec_paths:
        mlflow.log_artifact(str(p), "config/models")


def _log_validation(trained: TrainedExperiment) -> None:
    """One nested run per fold (params, metrics, notes), then the pooled metrics and table."""
    import mlflow

    for fold in trained.folds:
        with mlflow.start_run(run_name=f"{trained.config.name}-{fold.name}", nested=True):
            mlflow.log_params({"fold": fold.number, "held_out": fold.name,
                               "n_train": fold.n_train, "n_test": fold.n_test})
            mlflow.log_metrics(fold.metrics)
            if fold.notes:
                mlflow.set_tag("notes", "; ".join(fold.notes)[:5000])
            _log_fold_figures(fold)
    mlflow.log_metrics(trained.metrics)
    if trained.notes:
        mlflow.set_tag("notes", "; ".join(trained.notes)[:5000])
    mlflow.log_table(trained.fold_table, "validation/folds.json")


def _log_selection(trained: TrainedExperiment) -> None:
    """The response model's selection on the training patients: candidates' inner AUCs and SEs
    (a table), the rule's threshold and the choice (tags), the candidates' spec files."""
    import mlflow

    sel = trained.selection
    if sel is None:
        return
    mlflow.log_table(sel.table.reset_index().replace([np.inf], -1), "selection/candidates.json")
    mlflow.set_tags({"selected_response_model": sel.chosen, "selection_best": sel.best,
                     "selection_scheme": sel.scheme,
                     "selection_rule": "one standard error; simpler = fewer features, then "
                                       "linear < trees < ensembles",
                     "selection_summary": sel.summary()})
    mlflow.log_metric("selection_threshold_auc", sel.threshold)
    for p in trained.config.candidate_spec_paths:
        mlflow.log_artifact(str(p), "config/candidates")


def _log_fold_figures(fold: Any) -> None:
    """The fold's ROC, calibration, decision and KM figures (its held-out patients) under
    ``plots/`` of its nested run; figures a small fold cannot support are skipped quietly."""
    import mlflow

    from icipredict.training.figures import write_heldout_figures

    if fold.held is None or fold.predictions is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        files = write_heldout_figures(fold.held, fold.predictions, Path(tmp),
                                      label=f"held-out {fold.name}", level=logging.INFO)
        if files:
            mlflow.log_artifacts(tmp, "plots")


def _log_lineage_and_card(trained: TrainedExperiment) -> None:
    """Dataset lineage (aggregates only) and the model-card inputs."""
    from icipredict.tracking.lineage import log_cohort_lineage
    from icipredict.tracking.modelcard import log_card_inputs, validity_domain

    config, source = trained.config, trained.source
    log_cohort_lineage(trained.frame.drop(columns=["split"], errors="ignore"),
                       source=source["uri"], name=source["name"],
                       context="training", query=source["query"])
    log_card_inputs(validity=validity_domain(trained.fit_frame),
                    calibration=trained.calibration,
                    subgroup_metrics=trained.subgroups, description=config.description,
                    limitations=[f"Validated by {config.validation.scheme}.",
                                 INTERVAL_NOTE])


def _log_model(trained: TrainedExperiment, rad_record: dict[str, Any] | None
               ) -> tuple[Any, dict[str, Any]]:
    """Figures, the fitted feature spec and the pyfunc registry model; (model info, manifest)."""
    import mlflow

    from icipredict.registry.bundle import write_bundle
    from icipredict.registry.model import log_registry_model
    from icipredict.training.figures import write_figures

    config, specs = trained.config, trained.specs
    fit_frame = trained.fit_frame
    final = _Fitted(trained.final.builder_, trained.final.response_, trained.final.survival_)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        write_figures(trained, tmp / "plots")
        mlflow.log_artifacts(str(tmp / "plots"), "plots")
        (tmp / "builder.json").write_text(final.builder.to_json())
        mlflow.log_artifact(str(tmp / "builder.json"), "features")
        manifest = write_bundle(
            tmp / "bundle", builder=final.builder, response_model=final.response,
            survival_models=final.survival, training_frame=fit_frame,
            response_intervals=trained.response_uncertainty,
            survival_intervals=trained.survival_uncertainty, risk_groups=trained.risk_groups,
            info={"experiment": config.name, "config_hash": config.config_hash(),
                  "models": {t: s.name for t, s in specs.items()}},
            radiomics=(rad_record if "imaging" in final.builder.spec_.modalities
                       else None))
        info = log_registry_model(tmp / "bundle")
    return info, manifest


# ------------------------------------------------------------------------------ main entry
def train_experiment(
    config: str | Path | ExperimentConfig,
    *,
    tracking_uri: str | None = None,
    progress: bool = True,
    cache_dir: str | Path | None = None,
) -> TrainResult:
    """Train an experiment config (:func:`~icipredict.training.pipeline.fit_experiment`) and log
    everything to MLflow.

    Parameters
    ----------
    config
        Path of an ``experiments/*.yaml`` file, or an :class:`ExperimentConfig`.
    tracking_uri
        ``sqlite:///...`` or ``http(s)://...``; precedence as MLflow's: this >
        ``MLFLOW_TRACKING_URI`` > the config's ``tracking.tracking_uri`` > ``sqlite:///mlflow.db``.
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
    from icipredict.registry.bundle import radiomics_record

    start = time.perf_counter()
    if not isinstance(config, ExperimentConfig):
        config = load_experiment(config)
    # Checked before the (slow) training: an unusable tracking URI, or a radiomics settings
    # file that vanished since the config was loaded (named as the config's
    # radiomics.settings), fails first.
    uri = resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    experiment_id = configure_tracking(uri,
                                       config.tracking.experiment,
                                       artifact_location=config.tracking.artifact_location)
    imaging = "imaging" in read_spec(config.feature_spec_path).modalities
    rad_record = (radiomics_record(config.radiomics_settings, config.radiomics.lesion_rule)
                  if imaging else None)
    with _progress(progress, config.name) as step:
        trained = fit_experiment(config, cache_dir=cache_dir, progress=progress, on_step=step)
        n = len(trained.folds) + 2
        step("logging", n - 1, n - 1)
        with mlflow.start_run(run_name=config.name) as run:
            _log_config(trained, rad_record)
            _log_validation(trained)
            _log_selection(trained)
            info, manifest = _log_model(trained, rad_record)
            _log_lineage_and_card(trained)
            mlflow.set_tag("what_is_pickled",
                           ", ".join(manifest["what_is_pickled"]) or "nothing")
            step("done", n, n - 1)
            run_id, model_uri = run.info.run_id, info.model_uri

    seconds = time.perf_counter() - start
    logger.info("trained %s in %.1f s: run %s", config.name, seconds, run_id)
    return TrainResult(run_id=run_id, experiment_id=str(experiment_id), model_uri=model_uri,
                       metrics=trained.metrics, fold_metrics=trained.fold_table,
                       config_hash=config.config_hash(), seconds=seconds,
                       what_is_pickled=manifest["what_is_pickled"], tracking_uri=uri)


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
    if "train_response_n_unlabelled" in m:
        lines.append(
            "response labels: left out of training "
            f"{int(m['train_response_n_unlabelled'])} without a label, "
            f"{int(m.get('train_response_n_censored_before_assessment', 0))} censored before "
            "the first tumour assessment")
    if "cv_response_ece" in m:
        bins = m.get("cv_response_ece_n_bins")
        scheme = f" ({int(bins)} equal-width bins)" if bins is not None else ""
        ici = (f"; ICI (isotonic curve, no bins) {m['cv_response_ici']:.3f}"
               if "cv_response_ici" in m else "")
        lines.append(f"ECE{scheme}: {m['cv_response_ece']:.3f}{ici}")
    for key in sorted(k for k in m if k.endswith("_auc") and "_minus_" in k):
        primary, other = key.removeprefix("cv_").removesuffix("_auc").split("_minus_", 1)
        lines.append(f"AUC {primary} - {other}: {m[key]:+.3f} [{m.get(key + '_ci_low', 0):+.3f}, "
                     f"{m.get(key + '_ci_high', 0):+.3f}], paired bootstrap p = "
                     f"{m.get(key + '_p', float('nan')):.3f}")
    return lines


__all__ = ["TrainResult", "train_experiment",
           "summary_lines", "git_commit"]
