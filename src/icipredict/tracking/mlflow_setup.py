"""Point MLflow at the project's tracking store and experiment, the same way every time.

The tracking URI follows MLflow's precedence (:func:`icipredict.config.resolve_tracking_uri`):
``--tracking-uri`` > ``MLFLOW_TRACKING_URI`` > the experiment config's ``tracking_uri`` > the
default. The default store is a local SQLite file
(:data:`icipredict.config.DEFAULT_TRACKING_URI`); MLflow refuses the plain file store for the registry. A remote ``http(s)://`` tracking server works the
same: the server then decides where artifacts go (``--artifacts-destination``), so no local
artifact location is forced on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from icipredict.config import resolve_tracking_uri

logger = logging.getLogger(__name__)

#: Experiment used when a config does not name one.
DEFAULT_EXPERIMENT = "icipredict"


def disable_telemetry() -> None:
    """Turn MLflow's usage telemetry off (set before MLflow starts any client)."""
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"


def sqlite_path(tracking_uri: str) -> Path | None:
    """Return the database file of a ``sqlite:///`` URI, or None for other stores."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri[len("sqlite:///"):])


def default_artifact_location(tracking_uri: str) -> str | None:
    """Where a new experiment's artifacts go for this tracking URI.

    For a SQLite store: an ``mlartifacts/`` folder beside the database file (absolute ``file://``
    URI, so runs started from another working directory still find their artifacts). For a
    tracking server: None (the server's ``--artifacts-destination`` decides).
    """
    db = sqlite_path(tracking_uri)
    if db is None:
        return None
    return (db.expanduser().resolve().parent / "mlartifacts").as_uri()


def configure_tracking(
    tracking_uri: str | None = None,
    experiment: str | None = DEFAULT_EXPERIMENT,
    *,
    artifact_location: str | None = None,
) -> str | None:
    """Set the tracking and registry URI, switch telemetry off, and select the experiment.

    Parameters
    ----------
    tracking_uri
        ``sqlite:///path.db`` or ``http(s)://host:port``; None: ``MLFLOW_TRACKING_URI``, else
        :data:`icipredict.config.DEFAULT_TRACKING_URI`.
    experiment
        Experiment name, created when missing; None only sets the URIs.
    artifact_location
        Artifact root for a *new* experiment (default: see :func:`default_artifact_location`).
        Ignored for an existing experiment (MLflow cannot move one).

    Returns
    -------
    str or None
        The experiment id (None when ``experiment`` is None).
    """
    disable_telemetry()
    import mlflow  # imported after the telemetry switch so it is read at start-up

    uri = resolve_tracking_uri(tracking_uri)
    scheme = urlparse(uri).scheme
    if scheme not in ("sqlite", "http", "https", "postgresql", "mysql", "databricks"):
        raise ValueError(
            f"tracking URI {uri!r} is not supported: use sqlite:///file.db or http(s)://host:port "
            "(MLflow refuses the plain file store for the model registry)"
        )
    db = sqlite_path(uri)
    if db is not None:
        db.expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if experiment is None:
        return None
    client = mlflow.MlflowClient()
    found = client.get_experiment_by_name(experiment)
    if found is None:
        location = artifact_location or default_artifact_location(uri)
        experiment_id = client.create_experiment(experiment, artifact_location=location)
        logger.info("created experiment %r (%s) with artifacts at %s", experiment,
                    experiment_id, location or "the server's default")
    else:
        experiment_id = found.experiment_id
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(experiment_id)
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def run_ui_link(tracking_uri: str, experiment_id: str | None, run_id: str | None) -> str:
    """Where to see a run in MLflow's UI.

    For a tracking server (``http(s)://``): the run's page,
    ``<uri>/#/experiments/<experiment>/runs/<run>``. For a database store (SQLite, ...): the
    command that starts the UI on it, followed by the run's page path in that UI.
    """
    page = (f"#/experiments/{experiment_id}/runs/{run_id}" if experiment_id and run_id
            else "")
    if tracking_uri.startswith(("http://", "https://")):
        return f"{tracking_uri.rstrip('/')}/{page}"
    command = f"mlflow ui --backend-store-uri {tracking_uri}"
    return f"{command}, then open {page}" if page else command


def tracking_lines(tracking_uri: str, experiment_id: str | None = None,
                   run_id: str | None = None) -> list[str]:
    """Two lines a command that logs prints: the tracking URI, and the run's UI link."""
    return [f"tracking URI: {tracking_uri}",
            f"MLflow UI: {run_ui_link(tracking_uri, experiment_id, run_id)}"]


def run_of_version(name: str, version: str) -> tuple[str | None, str | None]:
    """The (experiment id, run id) that produced a registered model version (None when unknown)."""
    import mlflow

    client = mlflow.MlflowClient()
    run_id = client.get_model_version(name, str(version)).run_id
    if not run_id:
        return None, None
    try:
        return client.get_run(run_id).info.experiment_id, run_id
    except Exception:  # noqa: BLE001 - a deleted run: the link is a courtesy
        return None, run_id
