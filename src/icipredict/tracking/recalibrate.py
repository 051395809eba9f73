"""Local recalibration of a registered model, registered as a new version with lineage.

:func:`recalibrate` scores a centre's own patients (a column map, or a store centre) with a
registered version, fits the recalibration maps of :mod:`icipredict.evaluation.recalibration`
on their outcomes (response: logistic intercept + slope; Cox survival: a slope on the linear
predictor), writes them into a copy of the version's bundle (``manifest.json`` key
``recalibration``: the registry model applies them when it loads, see
:meth:`icipredict.registry.bundle.Bundle.load`), logs that bundle in a new MLflow run with
lineage (params/tags naming the original version and its run), registers it (the artifact scan
looks for the cohort's patient IDs too) and sends it through the promotion gate
(:func:`icipredict.tracking.registry.promote`) on the same patients.

Note: the gate's calibration check on the patients the maps were fitted on is in-sample (the
slope is ~1 by construction); judge the new version on later patients with ``icipredict
promote NAME VERSION --eval-data`` before relying on it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.cohort.schema import CohortError

logger = logging.getLogger(__name__)

#: MLflow experiment of recalibration runs.
EXPERIMENT = "icipredict-recalibration"


@dataclass
class RecalibrationResult:
    """What :func:`recalibrate` fitted, registered and decided."""

    name: str
    original_version: str
    version: str
    run_id: str
    maps: dict[str, Any]
    before: dict[str, float]
    after: dict[str, float]
    decision: Any = None
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        """Human-readable summary."""
        out = [f"{self.name} version {self.version}: version {self.original_version} "
               f"recalibrated on {self.maps['cohort']} (run {self.run_id})"]
        if "response" in self.maps:
            r = self.maps["response"]
            out.append(f"  response: logit p' = {r['intercept']:+.3f} + {r['slope']:.3f} logit p "
                       f"({r['n']} patients, {r['events']} responders); calibration slope "
                       f"{self.before['response_slope']:.2f} -> {self.after['response_slope']:.2f}, "
                       f"intercept {self.before['response_intercept']:+.2f} -> "
                       f"{self.after['response_intercept']:+.2f}")
        for end in ("os", "pfs"):
            if end in self.maps:
                s = self.maps[end]
                out.append(f"  {end.upper()}: linear predictor x {s['slope']:.3f} "
                           f"[{s['ci_low']:.3f}, {s['ci_high']:.3f}] ({s['n']} patients, "
                           f"{s['events']} events)")
        out += [f"  note: {n}" for n in self.notes]
        if self.decision is not None:
            out.append(self.decision.summary())
        return out


def cohort_frame(cohort: str, store: str | Path | None = None,
                 bundle_dir: str | Path | None = None) -> tuple[pd.DataFrame, str]:
    """A centre's patients with outcomes (index ``patient_id``) and a label for lineage.

    ``cohort`` is a column-map YAML or the name of a centre in the cohort store ``store``
    (default store when None). Read as ``icipredict validate`` reads a cohort
    (:func:`icipredict.tracking.validate.load_cohort`): with the bundle in ``bundle_dir``, its
    gene flags, and radiomics computed with the model's own settings when it uses imaging.
    """
    from icipredict import config
    from icipredict.registry.bundle import Bundle
    from icipredict.tracking.validate import load_cohort

    opts: dict[str, Any] = {}
    if bundle_dir is not None:
        bundle = Bundle(bundle_dir)
        spec = bundle.builder.spec_
        opts = {"genes": spec.genes or (), "radiomics": bundle.radiomics, "builder_spec": spec}
    path = Path(cohort)
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise CohortError("column map not found", file=path)
        return load_cohort(path, **opts), f"column map {path.name}"
    store_path = Path(store) if store is not None else config.default_store()
    return load_cohort(f"{store_path}#{cohort}", **opts), f"store centre {cohort}"


def _download_bundle(name: str, version: str, dst: Path) -> Path:
    import mlflow

    from icipredict.registry.bundle import Bundle

    local = mlflow.artifacts.download_artifacts(artifact_uri=f"models:/{name}/{version}",
                                                dst_path=str(dst))
    return Bundle.of_model(local).folder


def _scores(bundle: Path, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Response probability and each Cox end point's linear predictor of ``frame``."""
    from icipredict.registry import schema
    from icipredict.registry.members import CoxMember
    from icipredict.registry.model import ICIPredictModel

    model = ICIPredictModel().load_bundle(bundle)
    if model.manifest.get("recalibration"):
        raise CohortError("this version is already recalibrated: recalibrate the original "
                          f"({model.manifest['recalibration'].get('from')})")
    rows = model.rows(schema.check_input(frame, model.columns))
    out = {}
    if model.response is not None:
        out["response"] = model.response.proba(rows)
    for end, member in model.surv.items():
        if isinstance(member, CoxMember):
            out[end] = member.risk(rows)
    return out


def fit_maps(frame: pd.DataFrame, scores: dict[str, np.ndarray]) -> tuple[dict, dict, list[str]]:
    """The recalibration maps, the response calibration before (slope, intercept), notes."""
    from icipredict.evaluation import recalibration as rc
    from icipredict.evaluation.metrics import calibration_intercept, calibration_slope
    from icipredict.modeling.experiment import response_label

    maps: dict[str, Any] = {}
    before: dict[str, float] = {}
    notes: list[str] = []
    if "response" in scores and "responder" in frame:
        # the label training uses: non-responders censored before the first scan are unknown
        y = response_label(frame).to_numpy(dtype=float)
        p = scores["response"]
        maps["response"] = rc.fit_response_recalibration(y, p)
        ok = np.isfinite(y) & np.isfinite(p)
        before = {"response_slope": float(calibration_slope(y[ok], p[ok])),
                  "response_intercept": float(calibration_intercept(y[ok], p[ok]))}
    for end in ("os", "pfs"):
        cols = (f"{end}_months", f"{end}_event")
        if end not in scores or not all(c in frame for c in cols):
            continue
        try:
            maps[end] = rc.fit_survival_slope(frame[cols[0]].to_numpy(dtype=float),
                                              frame[cols[1]].to_numpy(dtype=float), scores[end])
        except CohortError as err:
            notes.append(f"{end.upper()} not recalibrated: {err}")
    if not maps:
        raise CohortError("nothing to recalibrate: the cohort has no usable outcomes for the "
                          "model's response or Cox survival models")
    return maps, before, notes


def _after(frame: pd.DataFrame, scores: dict[str, np.ndarray], maps: dict[str, Any]
           ) -> dict[str, float]:
    """Calibration slope and intercept of the recalibrated response on the same patients."""
    from icipredict.evaluation.metrics import calibration_intercept, calibration_slope
    from icipredict.evaluation.recalibration import apply_response_recalibration
    from icipredict.modeling.experiment import response_label

    if "response" not in maps:
        return {}
    y = response_label(frame).to_numpy(dtype=float)
    p = apply_response_recalibration(scores["response"], maps["response"])
    ok = np.isfinite(y) & np.isfinite(p)
    return {"response_slope": float(calibration_slope(y[ok], p[ok])),
            "response_intercept": float(calibration_intercept(y[ok], p[ok]))}


def _log_run(name: str, version: str, source_run: str | None, bundle: Path,
             maps: dict[str, Any], metrics: dict[str, float], label: str) -> str:
    """The recalibration run: lineage tags, params, the maps and the new registry model."""
    import mlflow

    from icipredict.registry.model import log_registry_model

    mlflow.set_experiment(EXPERIMENT)
    with mlflow.start_run(run_name=f"recalibrate-{name}-v{version}") as run:
        mlflow.set_tags({"recalibrated_from": f"models:/{name}/{version}",
                         "recalibrated_from_run_id": source_run or "",
                         "recalibration_cohort": label})
        mlflow.log_params({"original_model": name, "original_version": version,
                           "cohort": label, "response_method": "logistic intercept+slope",
                           "survival_method": "Cox slope on the linear predictor"})
        mlflow.log_metrics({f"recal_{part}_{k}": float(v) for part, m in maps.items()
                            if isinstance(m, dict) for k, v in m.items()})
        mlflow.log_metrics({k if k.endswith("_after") else f"{k}_before": v
                            for k, v in metrics.items()})
        log_registry_model(bundle)
        return run.info.run_id


def recalibrate(name: str, version: str, cohort: str, *, store: str | Path | None = None,
                promote_it: bool = True, n_boot: int = 1000) -> RecalibrationResult:
    """Recalibrate ``name``/``version`` on a centre's patients; register and gate the result.

    Parameters
    ----------
    name, version
        Registered model and version (a number or an alias such as ``champion``).
    cohort
        Column-map YAML or store centre name (see :func:`cohort_frame`).
    store
        Cohort store for a centre name (default store when None).
    promote_it
        Send the new version through the promotion gate on the same patients.
    n_boot
        Bootstrap resamples of the gate.

    Returns
    -------
    RecalibrationResult
    """
    import mlflow
    from mlflow import MlflowClient

    from icipredict.tracking.registry import EvalData, promote, register, resolve

    version = resolve(name, version)
    client = MlflowClient()
    source_run = client.get_model_version(name, version).run_id
    with tempfile.TemporaryDirectory() as tmp:
        bundle = _download_bundle(name, version, Path(tmp) / "original")
        frame, label = cohort_frame(cohort, store, bundle)
        scores = _scores(bundle, frame)
        maps, before, notes = fit_maps(frame, scores)
        maps.update({"cohort": label, "from": f"models:/{name}/{version}"})
        after = _after(frame, scores, maps)
        new = Path(tmp) / "bundle"
        shutil.copytree(bundle, new)
        manifest = json.loads((new / "manifest.json").read_text())
        manifest["recalibration"] = maps
        (new / "manifest.json").write_text(json.dumps(manifest, indent=1, allow_nan=False))
        run_id = _log_run(name, version, source_run, new, maps, before | {
            f"{k}_after": v for k, v in after.items()}, label)
    # The new run's artifacts may hold neither the cohort's IDs nor the original's training IDs.
    from icipredict.tracking.scan import cohort_ids

    forbidden = set(frame.index.astype(str))
    try:
        forbidden |= cohort_ids(source_run) if source_run else set()
    except ValueError as err:  # the original's training files are not readable here
        logger.warning("original training IDs not scanned for: %s", err)
    new_version = register(run_id, name, forbidden_ids=forbidden)
    for key, value in {"recalibrated_from_version": version, "recalibration_cohort": label,
                       "recalibrated_from_run_id": source_run or ""}.items():
        client.set_model_version_tag(name, new_version, key, value)
    decision = None
    if promote_it:
        data = EvalData.from_frame(frame.reset_index(drop=True))
        signature = mlflow.models.get_model_info(f"models:/{name}/{new_version}").signature
        if signature is not None and signature.inputs.has_input_names():
            data.X = data.X.reindex(columns=signature.inputs.input_names())
        decision = promote(name, new_version, eval_data=data, n_boot=n_boot)
    return RecalibrationResult(name, version, new_version, run_id, maps, before, after,
                               decision, notes)


__all__ = ["EXPERIMENT", "RecalibrationResult", "cohort_frame", "fit_maps", "recalibrate"]
