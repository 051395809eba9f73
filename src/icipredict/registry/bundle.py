"""The registry bundle: one folder with everything the board needs, written and read here.

:func:`write_bundle` writes the fitted feature builder (JSON), each model through its codec
(:mod:`icipredict.registry.codecs`; a model without one is refused before anything is written),
aggregates of the training patients (domain, risk tertiles, feature ranges; no rows) and how
radiomics were computed. ``manifest.json`` names every file and every model entry, so
:class:`Bundle` reads a bundle through its manifest, never by searching file names.
``docs/registry_model.md`` describes the layout.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from icipredict.errors import RegistryError
from icipredict.evaluation.risk_groups import risk_tertiles
from icipredict.features.builder import FeatureBuilder
from icipredict.registry import codecs
from icipredict.registry.schema import input_columns, output_columns

#: Layout version of the bundle (1: the former ``tracking/pyfunc.py`` layout, not read).
MODEL_FORMAT = 2
MANIFEST = "manifest.json"
#: The bundle's JSON files by role (``manifest["files"]``).
FILES = {"builder": "builder.json", "domain": "domain.json", "risk_groups": "risk_groups.json",
         "radiomics": "radiomics.json"}
PARTS = ("response", "os", "pfs")


# ------------------------------------------------------------------------------ aggregates
def feature_ranges(X: pd.DataFrame) -> dict[str, list[float]]:
    """``{feature: [min, max]}`` of the training feature matrix (finite values only)."""
    out = {}
    for c in X.columns:
        v = X[c].to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if v.size:
            out[c] = [float(v.min()), float(v.max())]
    return out


def training_domain(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregates of the training patients' inputs (no rows): categories, ranges, centres."""
    domain: dict[str, Any] = {"n_patients": int(len(frame)), "categories": {}, "numeric": {}}
    for col in ("cancer_type", "drug_class", "sex", "msi_status"):
        if col in frame.columns:
            counts = frame[col].dropna().astype(str).value_counts().sort_index()
            domain["categories"][col] = {k: int(v) for k, v in counts.items()}
    for c in columns:
        name = c["name"]
        if c["type"] != "double" or name not in frame.columns:
            continue
        v = pd.to_numeric(frame[name], errors="coerce").dropna().to_numpy(dtype=float)
        if v.size == 0:
            continue
        q = np.quantile(v, [0.01, 0.25, 0.5, 0.75, 0.99])
        domain["numeric"][name] = {
            "min": float(v.min()), "max": float(v.max()), "q01": float(q[0]), "q25": float(q[1]),
            "q50": float(q[2]), "q75": float(q[3]), "q99": float(q[4]), "n": int(v.size),
            "missing": int(len(frame) - v.size)}
    if "centre" in frame.columns:
        counts = frame["centre"].astype(str).value_counts().sort_index()
        domain["patients_per_centre"] = {k: int(v) for k, v in counts.items()}
    return domain


def synthetic_example(columns: list[dict[str, Any]], domain: dict[str, Any]) -> pd.DataFrame:
    """A made-up input row (medians and most common categories): never a patient's record."""
    row: dict[str, Any] = {}
    for c in columns:
        name = c["name"]
        if c["type"] == "string":
            levels: dict[str, int] = domain["categories"].get(name) or {}
            row[name] = max(levels, key=levels.__getitem__) if levels else None
        else:
            num = domain["numeric"].get(name)
            row[name] = round(num["q50"], 3) if num else np.nan
    return pd.DataFrame([row])


def radiomics_record(settings: str | Path = "default", rule: str = "largest") -> dict[str, Any]:
    """How training computed radiomics: the ``radiomics.json`` entry of the bundle.

    Parameters
    ----------
    settings
        What the engine was built from: a builtin name (``"default"``, ``"ibsi"``) or a settings
        YAML path (its name and text are recorded, so the board can rebuild the same engine).
    rule
        Lesion aggregation rule given to ``radiomics_matrix``.

    Returns
    -------
    dict
        ``engine``, ``engine_version``, ``settings_hash``, ``settings_source`` (the builtin
        name, or ``{"file": name, "content": text}``) and ``rule``.
    """
    from icipredict.features.radiomics_engine import BUILTIN_SETTINGS, PyRadiomicsEngine

    engine = PyRadiomicsEngine(settings)
    if str(settings) in BUILTIN_SETTINGS:
        source: Any = str(settings)
    else:
        path = Path(settings)
        source = {"file": path.name, "content": path.read_text(encoding="utf-8")}
    return {"engine": engine.name, "engine_version": engine.version,
            "settings_hash": engine.settings_hash, "settings_source": source, "rule": rule}


# ------------------------------------------------------------------------------ writing
def _export_part(folder: Path, path: str, model: Any) -> dict[str, Any]:
    entry = {"path": path, **codecs.export_model(model, folder / path)}
    follow_up = getattr(model, "follow_up_", None)  # survival models (modeling.survival)
    if follow_up is not None and np.isfinite(follow_up):
        entry["follow_up_months"] = float(follow_up)
    return entry


def _export_models(folder: Path, models: dict[str, Any]) -> dict[str, Any]:
    """Manifest entries of the models (``response``, ``os``, ``pfs``): one each, no refits."""
    return {part: _export_part(folder, part, model) if model is not None else None
            for part, model in models.items()}


def _interval_tables(models: dict[str, Any], response: dict[str, Any] | None,
                     survival: dict[str, Any] | None) -> dict[str, Any]:
    """The manifest's interval tables, for the parts that have a model."""
    return {"response_intervals": response if models["response"] is not None else None,
            "survival_intervals": {end: t for end, t in (survival or {}).items()
                                   if models.get(end) is not None and t}}


def write_bundle(
    folder: str | Path,
    *,
    builder: FeatureBuilder,
    response_model: Any | None,
    survival_models: dict[str, Any],
    training_frame: pd.DataFrame | TrainingAggregates,
    response_intervals: dict[str, Any] | None = None,
    survival_intervals: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    radiomics: dict[str, Any] | None = None,
    risk_groups: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the registry model's bundle folder (JSON + native model files).

    Parameters
    ----------
    folder
        Output folder (created).
    builder
        Fitted feature builder.
    response_model
        Fitted response classifier (or None).
    survival_models
        ``{"os": model, "pfs": model}`` fitted survival models (either may be absent).
    training_frame
        The training patients' input frame (canonical columns; only aggregates are written), or
        their :class:`TrainingAggregates` (federated training; ``risk_groups`` then required).
    response_intervals
        :func:`~icipredict.evaluation.uncertainty.response_interval_table` (aggregates only):
        the per-patient 95% response intervals. None: null intervals.
    survival_intervals
        End point -> :func:`~icipredict.evaluation.survival_uncertainty.survival_interval_table`
        (aggregates only): the per-patient 95% survival intervals. None: null intervals.
    info
        Extra manifest entries (model names, experiment, ...).
    radiomics
        From :func:`radiomics_record`: written to ``radiomics.json`` when the feature spec
        reads imaging; ignored otherwise.
    risk_groups
        From :func:`~icipredict.evaluation.risk_groups.risk_tertiles` of out-of-fold risk
        scores (training does that); None: tertiles of the in-sample risks of
        ``training_frame`` (too wide for a flexible model; for callers without held-out ones).

    Returns
    -------
    dict
        The manifest.

    Raises
    ------
    RegistryError
        A model whose class has no codec; nothing is written then.
    """
    models = {"response": response_model, **{e: survival_models.get(e) for e in ("os", "pfs")}}
    for model in [m for m in models.values() if m is not None]:
        codecs.check_exportable(model)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    columns = input_columns(builder)
    imaging = radiomics is not None and "imaging" in builder.spec_.modalities
    files = {k: v for k, v in FILES.items() if k != "radiomics" or imaging}
    manifest: dict[str, Any] = {"format": MODEL_FORMAT, "files": files,
                                "input_columns": columns, "output_columns": output_columns(),
                                **_interval_tables(models, response_intervals,
                                                   survival_intervals)}
    manifest.update(_export_models(folder, models))
    domain, manifest["feature_ranges"], X = _training_summary(builder, training_frame, columns)
    manifest["what_is_pickled"] = []  # never anything: a model without a codec is refused
    manifest.update(info or {})
    if imaging:
        assert radiomics is not None  # imaging implies a radiomics record
        _write_radiomics(folder / files["radiomics"], manifest, radiomics)
    if risk_groups is None:
        risk_groups = _in_sample_risk_groups(folder, manifest, models, X)
    (folder / files["builder"]).write_text(builder.to_json())
    _dump(folder / files["domain"], domain, indent=2)
    _dump(folder / files["risk_groups"], risk_groups, indent=2)
    _dump(folder / MANIFEST, manifest, indent=2)
    return manifest


@dataclass(frozen=True)
class TrainingAggregates:
    """What a bundle records of the training patients when nobody holds their rows (federated
    training): the :func:`training_domain` and :func:`feature_ranges` computed from aggregates
    (a range bound may be None: unbounded)."""

    domain: dict[str, Any]
    feature_ranges: dict[str, list[float | None]]


def _training_summary(builder: FeatureBuilder, training: pd.DataFrame | TrainingAggregates,
                      columns: list[dict[str, Any]]
                      ) -> tuple[dict[str, Any], dict[str, Any], pd.DataFrame | None]:
    """Domain, feature ranges and (from rows) the training matrix."""
    if isinstance(training, TrainingAggregates):
        return training.domain, dict(training.feature_ranges), None
    X = builder.transform(training)
    return training_domain(training, columns), feature_ranges(X), X


def _write_radiomics(path: Path, manifest: dict[str, Any], radiomics: dict[str, Any]) -> None:
    """Write how training computed radiomics to ``path`` and name that file in the manifest."""
    manifest["radiomics"] = {"file": path.name, **radiomics}
    _dump(path, radiomics, indent=2)


def _in_sample_risk_groups(folder: Path, manifest: dict[str, Any], models: dict[str, Any],
                           X: pd.DataFrame | None) -> dict[str, Any]:
    """Risk tertiles of the training matrix ``X`` scored by the models just written to
    ``folder`` (OS, else PFS): for callers without out-of-fold scores."""
    if X is None:
        raise RegistryError("a bundle written from training aggregates needs its risk groups")
    end = next((e for e in ("os", "pfs") if models[e] is not None), "os")
    risks = Bundle(folder, manifest=manifest).training_risk(X)
    return risk_tertiles(risks if risks is not None else np.array([]), endpoint=end,
                         source="in-sample risk scores of the training patients")


def _dump(path: Path, value: Any, indent: int | None = None) -> None:
    path.write_text(json.dumps(value, indent=indent, allow_nan=False))


# ------------------------------------------------------------------------------ reading
class Bundle:
    """A registry bundle folder, read through its manifest.

    Parameters
    ----------
    folder
        The bundle folder (``artifacts/bundle`` of a logged registry model).
    manifest
        The manifest, when the caller has it (the writer); read from the folder otherwise.

    Raises
    ------
    RegistryError
        Not a bundle, or one of another layout version (retrain the model).
    """

    def __init__(self, folder: str | Path, *, manifest: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        if manifest is None:
            path = self.folder / MANIFEST
            if not path.is_file():
                raise RegistryError(f"{self.folder} is not a registry bundle (no {MANIFEST})",
                                    file=self.folder)
            manifest = json.loads(path.read_text())
        if manifest.get("format") != MODEL_FORMAT:
            raise RegistryError(
                f"{self.folder}: registry bundle format {manifest.get('format')!r}; this "
                f"icipredict reads format {MODEL_FORMAT} (retrain the model to rewrite it)",
                file=self.folder)
        self.manifest = manifest

    @classmethod
    def of_model(cls, model_dir: str | Path) -> Bundle:
        """The bundle of a logged MLflow model folder (its ``bundle`` artifact, as named in
        the ``MLmodel`` file)."""
        from mlflow.models import Model

        model_dir = Path(model_dir)
        flavor = Model.load(str(model_dir)).flavors.get("python_function", {})
        artifact = (flavor.get("artifacts") or {}).get("bundle")
        if not artifact:
            raise RegistryError(f"{model_dir} is not an icipredict registry model (no bundle "
                                "artifact in its MLmodel)", file=model_dir)
        return cls(model_dir / artifact["path"])

    def _json(self, role: str) -> dict[str, Any]:
        name = (self.manifest.get("files") or {}).get(role)
        return json.loads((self.folder / name).read_text()) if name else {}

    @cached_property
    def domain(self) -> dict[str, Any]:
        """Aggregates of the training patients (:func:`training_domain`)."""
        return self._json("domain")

    @cached_property
    def risk_groups(self) -> dict[str, Any]:
        """Training risk tertiles (:func:`risk_tertiles`)."""
        return self._json("risk_groups")

    @cached_property
    def radiomics(self) -> dict[str, Any]:
        """How training computed radiomics (:func:`radiomics_record`); ``{}`` without imaging."""
        return self._json("radiomics")

    @cached_property
    def builder(self) -> FeatureBuilder:
        """The fitted feature builder."""
        return FeatureBuilder.from_json((self.folder / self.manifest["files"]["builder"])
                                        .read_text())

    @property
    def input_columns(self) -> list[dict[str, Any]]:
        """The documented input columns (:func:`~icipredict.registry.schema.input_columns`)."""
        return list(self.manifest.get("input_columns") or [])

    @property
    def has_models(self) -> bool:
        """Whether the bundle holds models (a metadata-only bundle describes another pyfunc)."""
        return any(self.manifest.get(part) for part in PARTS)

    def load(self, part: str) -> Any:
        """The loaded model of ``part`` (``response``, ``os``, ``pfs``), or None."""
        from icipredict.registry.members import recalibrated

        entry = self.manifest.get(part)
        if not entry:
            return None
        model = codecs.load_model(self.folder / entry["path"], entry)
        # A local recalibration (``icipredict recalibrate``) sits on top of the trained model.
        return recalibrated(part, model, (self.manifest.get("recalibration") or {}).get(part))

    @property
    def response_intervals(self) -> dict[str, Any] | None:
        """The Venn table behind the response intervals
        (:func:`~icipredict.evaluation.uncertainty.response_interval_table`), or None (bundles
        written with bootstrap refits before it existed: their refits are not read)."""
        return self.manifest.get("response_intervals")

    @property
    def survival_intervals(self) -> dict[str, dict[str, Any]]:
        """End point -> the Kaplan-Meier table behind its survival intervals
        (:func:`~icipredict.evaluation.survival_uncertainty.survival_interval_table`); empty for
        bundles written before it existed (their survival intervals are null)."""
        return dict(self.manifest.get("survival_intervals") or {})

    @property
    def follow_up(self) -> dict[str, float]:
        """End point -> the training follow-up its model speaks to, in months
        (:func:`icipredict.modeling.survival.follow_up_limit`); survival past it is null.
        Bundles written before it was recorded have none (no limit)."""
        return {part: float(entry["follow_up_months"]) for part in ("os", "pfs")
                if (entry := self.manifest.get(part)) and "follow_up_months" in entry}

    def training_risk(self, X: pd.DataFrame) -> np.ndarray | None:
        """Risk score of the training matrix ``X`` (OS model, else PFS; None without)."""
        from icipredict.registry.members import Rows

        rows = Rows(X.to_numpy(dtype=float), list(X.columns), X.index)
        for part in ("os", "pfs"):
            model = self.load(part)
            if model is not None:
                return model.risk(rows)
        return None
