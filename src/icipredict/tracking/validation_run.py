"""Where a validation goes: local files (with the cohort's IDs) and an MLflow evaluation run
(aggregates only, linked to the model version; never an ID)."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path

from icipredict.evaluation.external_report import figure_png, to_html, to_json
from icipredict.tracking.validate import (
    INTERACTION_TAG,
    ValidationResult,
    flat_metrics,
    interaction_shown,
)

logger = logging.getLogger(__name__)

#: MLflow experiment of the evaluation runs (unless one is given).
EXPERIMENT = "icipredict-external-validation"


def write_outputs(result: ValidationResult, out: str | Path) -> dict[str, Path]:
    """Write ``report.json``, ``report.html`` (figures embedded) and ``scores.csv`` (the
    cohort's own IDs joined to every score and outcome: for the centre, never logged)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    images = {k: figure_png(f) for k, f in result.figures.items()}
    paths = {"json": out / "report.json", "html": out / "report.html",
             "csv": out / "scores.csv"}
    paths["json"].write_text(to_json(result.report))
    paths["html"].write_text(to_html(result.report, images))
    result.scores.to_csv(paths["csv"])
    return paths


def log_validation(result: ValidationResult, *, experiment: str = EXPERIMENT,
                   cohort_label: str | None = None) -> str:
    """Log the report as an MLflow evaluation run linked to the model version.

    Tags ``model_name``, ``model_version``, ``run_type = external_validation`` (and, when the
    registry knows the version, a ``validation.<run id>`` tag on the version); metrics from
    :func:`~icipredict.tracking.validate.flat_metrics`; artifacts ``validation/report.json``,
    ``validation/report.html`` and the figures. The per-patient table is never logged.

    Returns
    -------
    str
        The run id.
    """
    import mlflow

    from icipredict.tracking.mlflow_setup import configure_tracking

    model = result.report.get("model") or {}
    configure_tracking(mlflow.get_tracking_uri(), experiment)
    tags = {"run_type": "external_validation", "model_name": str(model.get("name")),
            "model_version": str(model.get("version")),
            "cohort": cohort_label or str((result.report.get("cohort") or {}).get("source")),
            "predictive.statement": str((result.report.get("predictive") or {})
                                        .get("statement", ""))[:4900]}
    with mlflow.start_run(run_name=f"validate {model.get('name')} v{model.get('version')}",
                          tags=tags) as run:
        mlflow.log_params({"n_boot": result.report["settings"]["n_boot"],
                           "seed": result.report["settings"]["seed"],
                           "n_patients": result.report["cohort"]["n"]})
        mlflow.log_metrics(flat_metrics(result.report))
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            images = {}
            for name, fig in result.figures.items():
                images[name] = figure_png(fig)
                (folder / name).write_bytes(images[name])
            (folder / "report.json").write_text(to_json(result.report))
            (folder / "report.html").write_text(to_html(result.report, images))
            mlflow.log_artifacts(str(folder), artifact_path="validation")
        run_id = run.info.run_id
    _refuse_ids(run_id, result)
    if model.get("name") and model.get("version"):
        try:
            client = mlflow.MlflowClient()
            client.set_model_version_tag(model["name"], model["version"], f"validation.{run_id}",
                                         json.dumps({"cohort": tags["cohort"]}))
            predictive = result.report.get("predictive") or {}
            if "untreated" in predictive:  # only a run with untreated patients can say
                shown = interaction_shown(predictive)
                client.set_model_version_tag(model["name"], model["version"], INTERACTION_TAG,
                                             "shown" if shown else "not shown")
                client.set_model_version_tag(model["name"], model["version"],
                                             "predictive.run", run_id)
        except Exception as exc:  # noqa: BLE001 - the run is logged; the link is a courtesy
            logger.warning("could not tag model version: %s", exc)
    return run_id


def _refuse_ids(run_id: str, result: ValidationResult) -> None:
    """Scan the run for the cohort's IDs; on a hit delete the run and raise (never kept)."""
    import mlflow

    from icipredict.tracking.scan import assert_run_clean

    try:
        assert_run_clean(run_id, set(result.scores.index.astype(str)))
    except Exception:
        mlflow.delete_run(run_id)
        raise


__all__ = ["EXPERIMENT", "log_validation", "write_outputs"]
