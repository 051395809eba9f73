"""Log a federated run to MLflow: same experiment as the config's, the federation in its lineage.

The run holds the coefficients and the builder state (``federated_model.json``: aggregates
only), the leave-one-centre-out and per-centre metrics, tags naming the federation (centres,
rounds, suppression threshold, dropout policy and dropped centres), the model-card inputs and
the registry model (:mod:`.bundle`), so ``icipredict register <run>`` registers it as any
other run's model.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from icipredict.errors import RegistryError
from icipredict.federated.builder_state import builder_from_state

log = logging.getLogger(__name__)


def model_document(result: dict[str, Any]) -> dict[str, Any]:
    """The federated model as one JSON document: builder state + every model's coefficients."""
    from icipredict.features.spec import FeatureSpec

    spec = FeatureSpec.model_validate(result["spec"])
    builder = builder_from_state(spec, result["state"])
    return {"feature_builder": json.loads(builder.to_json()), "models": result["models"],
            "federation": result["federation"], "centres": result["centres"]}


def _metrics(result: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    for scheme in ("loco", "apparent"):
        for model, idx in result[scheme].items():
            name = {"response": "auc", "response_xgb": "xgb_auc"}.get(model, f"{model}_harrell_c")
            if idx["pooled_within_centre"] is not None:
                out[f"{scheme}_{name}"] = float(idx["pooled_within_centre"])
            for centre, v in idx["per_centre"].items():
                if v is not None:
                    out[f"{scheme}_{name}.{centre}"] = float(v)
    return out


def log_federated_run(result: dict[str, Any], config: Any, *, tracking_uri: str | None = None
                      ) -> str:
    """Log ``result`` (from the coordinator) under the config's MLflow experiment.

    Returns
    -------
    str
        The run id.
    """
    import mlflow

    from icipredict.config import resolve_tracking_uri
    from icipredict.federated.protocol import decode, encode
    from icipredict.tracking.mlflow_setup import configure_tracking

    result = decode(encode(result))  # plain JSON numbers, as a result read from Flower's file
    uri = resolve_tracking_uri(tracking_uri, config.tracking.tracking_uri)
    configure_tracking(uri, config.tracking.experiment,
                       artifact_location=config.tracking.artifact_location)
    fed = result["federation"]
    with mlflow.start_run(run_name=f"{config.name}-federated") as run:
        mlflow.log_params({k: v for k, v in config.flat_params().items()
                           if not k.startswith("tracking.")})
        mlflow.log_params({"federation.min_count": fed["min_count"],
                           "federation.on_dropout": fed["on_dropout"],
                           "federation.quorum": fed["quorum"]})
        mlflow.set_tags({
            "icipredict.federated": "true",
            "federation.centres": ",".join(fed["centres"]),
            "federation.rounds": str(fed["rounds"]),
            "federation.min_count": str(fed["min_count"]),
            "federation.suppressed_cells": str(fed["suppressed_cells"]),
            "federation.dropped": json.dumps(fed["dropped"]),
            "federation.protocol": json.dumps(fed["versions"]),
            "federation.cox": fed["stratified_cox"],
        })
        mlflow.log_metrics(_metrics(result))
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "federated_model.json"
            path.write_text(json.dumps(model_document(result), indent=2, allow_nan=False),
                            encoding="utf-8")
            mlflow.log_artifact(str(path))
            if result.get("registry"):
                try:
                    _log_registry_model(result, config, Path(tmp) / "bundle")
                except RegistryError as exc:  # the run stays; it cannot be registered
                    log.warning("no registry model logged: %s", exc)
                    mlflow.set_tag("registry_model", f"not logged: {exc}"[:5000])
        return run.info.run_id


def _log_registry_model(result: dict[str, Any], config: Any, folder: Path) -> None:
    """The registry model and its model-card inputs, in the active run."""
    import mlflow

    from icipredict.federated.bundle import write_federated_bundle
    from icipredict.registry.model import log_registry_model
    from icipredict.tracking.modelcard import log_card_inputs

    manifest = write_federated_bundle(result, folder, config)
    log_registry_model(folder)
    domain = json.loads((folder / manifest["files"]["domain"]).read_text())
    # the coarse federated range (see .export), not percentiles: "~0-~1" on the card
    ranges = {c: {"low": v["min"], "high": v["max"], "n": v["n"], "missing": v["missing"]}
              for c, v in domain["numeric"].items()
              if v["min"] is not None and v["max"] is not None}
    log_card_inputs(validity={"n_patients": domain["n_patients"],
                              "categories": domain["categories"], "ranges": ranges,
                              "quantiles": ["~0", "~1"],
                              "centres": domain["patients_per_centre"]},
                    description=config.description, limitations=manifest["limitations"])
    mlflow.set_tag("what_is_pickled", ", ".join(manifest["what_is_pickled"]) or "nothing")


def register_federated(run_id: str, name: str, stores: Iterable[str | Path] = ()) -> str:
    """Register a federated run's model as any run's (:func:`icipredict.tracking.registry.
    register`: alias ``challenger``, the artifact scan first, ``federation.*`` tags on the
    version).

    The coordinator holds no patient ID to scan for; where the centres' stores are at hand (the
    local demo, tests) every patient and sample ID in them is scanned for.
    """
    from icipredict.cohort.store import CohortStore
    from icipredict.tracking.registry import register

    ids: set[str] = set()
    for path in stores:
        store = CohortStore(Path(path))
        for table, column in (("patients", "patient_id"), ("samples", "sample_id")):
            ids.update(str(v) for v in store.table(table, all_versions=True)[column].dropna())
    return register(run_id, name, forbidden_ids=ids)
