"""Point MLflow at the project's tracking store and experiment, the same way every time.

The default store is a local SQLite file (:data:`icipredict.config.DEFAULT_TRACKING_URI`); MLflow
refuses the plain file store for the registry. A remote ``http(s)://`` tracking server works the
same: the server then decides where artifacts go (``--artifacts-destination``), so no local
artifact location is forced on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from urllib.parse import urlparse

from icipredict.config import DEFAULT_TRACKING_URI

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
        ``sqlite:///path.db`` or ``http(s)://host:port``; default
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

    uri = tracking_uri or DEFAULT_TRACKING_URI
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
