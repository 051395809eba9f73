"""The registry model: a thin ``mlflow.pyfunc`` model over a bundle (one row per patient in).

:class:`ICIPredictModel` reads a bundle (:class:`~icipredict.registry.bundle.Bundle`), encodes
a batch with the fitted feature builder and hands the whole batch to each loaded model once
(XGBoost, scikit-learn and the survival estimators predict; see
:mod:`icipredict.registry.members`). The response interval is a lookup in the bundle's Venn
table of held-out predictions (:mod:`icipredict.evaluation.uncertainty`), each survival
interval one in the bundle's Kaplan-Meier table of held-out risk-score bins
(:mod:`icipredict.evaluation.survival_uncertainty`): no further model is scored.
:func:`log_registry_model` logs a bundle as a models-from-code pyfunc (:data:`ENTRY_CODE`: the
wrapper itself is not pickled either). Inputs, params and outputs:
:mod:`icipredict.registry.schema` and ``docs/registry_model.md``.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.pyfunc import PythonModel

from icipredict.errors import ModelError
from icipredict.evaluation.survival_uncertainty import survival_interval
from icipredict.evaluation.uncertainty import response_interval
from icipredict.registry import schema
from icipredict.registry.bundle import MODEL_FORMAT, Bundle, synthetic_example
from icipredict.registry.members import Rows

logger = logging.getLogger(__name__)

ENTRY_CODE = """\
# Models-from-code entry of the icipredict registry model (nothing here is pickled).
import mlflow

from icipredict.registry.model import ICIPredictModel

mlflow.models.set_model(ICIPredictModel())
"""


# PythonModel imported by name: mypy reads mlflow's lazy `mlflow.pyfunc` attribute (a LazyLoader)
# for the submodule, so `mlflow.pyfunc.PythonModel` is no class to it.
class ICIPredictModel(PythonModel):
    """The registry model (``mlflow.pyfunc``): one row per patient in, board numbers out."""

    def load_context(self, context) -> None:  # noqa: ANN001 - mlflow's PythonModelContext
        """Read the bundle (``context.artifacts["bundle"]``)."""
        self.load_bundle(Path(context.artifacts["bundle"]))

    def load_bundle(self, folder: str | Path | Bundle) -> ICIPredictModel:
        """Load a bundle written by :func:`~icipredict.registry.bundle.write_bundle` (also
        usable without MLflow)."""
        self.bundle = folder if isinstance(folder, Bundle) else Bundle(folder)
        self.manifest = self.bundle.manifest
        self.builder = self.bundle.builder
        self.columns = self.bundle.input_columns
        self.intervals = self.bundle.response_intervals
        self.survival_intervals = self.bundle.survival_intervals
        self.response = self.bundle.load("response")
        self.surv = {end: m for end in ("os", "pfs") if (m := self.bundle.load(end)) is not None}
        self.follow_up = self.bundle.follow_up
        self._warned: set[tuple[str, float]] = set()  # past-follow-up horizons logged once
        self.names = list(self.builder.feature_names_out_)
        # Training patients' cancer types (the domain); else the builder's own levels.
        categories = (self.bundle.domain.get("categories") or {}).get("cancer_type")
        self.cancer_types = set(categories or self.builder.cancer_levels_) or None
        ranges = self.manifest.get("feature_ranges") or {}
        bounds = [ranges.get(n) or (None, None) for n in self.names]  # None: unbounded
        self.lower = np.array([-np.inf if lo is None else lo for lo, _ in bounds], dtype=float)
        self.upper = np.array([np.inf if hi is None else hi for _, hi in bounds], dtype=float)
        return self

    def rows(self, frame: pd.DataFrame) -> Rows:
        """The builder's encoding of checked input rows, held inside the training ranges.

        Trees answer beyond the range as at its edge anyway; linear and Cox models would
        extrapolate without bound (one absurd radiomics value gave S(t) = 0 everywhere). The
        board warns about such values separately; missing values stay missing.
        """
        Z = self.builder.transform(frame).to_numpy(dtype=float)
        if np.isfinite(self.lower).any() or np.isfinite(self.upper).any():
            Z = np.clip(Z, self.lower, self.upper)  # NaN stays NaN
        return Rows(Z, self.names, frame.index)

    def missing_modalities(self, frame: pd.DataFrame) -> np.ndarray:
        """Per row: comma-joined modalities with no input value at all ("" when complete)."""
        return schema.missing_modalities(frame, self.columns)

    # -- predict -------------------------------------------------------------------------
    def predict(self, context, model_input: pd.DataFrame,  # noqa: ANN001 - PythonModelContext
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        """Score patients.

        Parameters
        ----------
        context
            MLflow context (unused after :meth:`load_context`).
        model_input
            DataFrame, one row per patient, columns of the input schema.
        params
            ``horizons`` (months, default 6/12/24), ``explain`` (add ``contrib_<feature>``) and
            ``intervals`` (default True; False returns null interval columns).

        Returns
        -------
        DataFrame
            The documented output columns, same index as ``model_input``.
        """
        horizons, intervals, explain = schema.read_params(params)
        if explain and self.response is None:
            raise ModelError("explain=True needs a response model; this model has none")
        frame = schema.check_input(model_input, self.columns)
        rows = self.rows(frame)
        hs = np.asarray(horizons, dtype=float)
        names = schema.number_outputs(horizons)
        numbers = np.empty((len(rows), len(names)), order="F")
        for k, values in enumerate(self._numbers(rows, hs, intervals)):
            numbers[:, k] = values
        result = pd.DataFrame(numbers, index=frame.index, columns=names, copy=False)
        for k, name in enumerate(names):
            # Medians are always objects (None where not reached: JSON null); intervals are
            # objects when any is null. Set as object Series: pandas would otherwise scan each
            # object array for dates.
            if name.startswith("median_") or (("_ci_" in name or "_survival_" in name)
                                              and np.isnan(numbers[:, k]).any()):
                result[name] = pd.Series(schema.json_safe(numbers[:, k], always=True),
                                         index=result.index, dtype=object, copy=False)
        result["missing_modalities"] = pd.Series(self.missing_modalities(frame),
                                                 index=result.index, dtype=object, copy=False)
        result["cancer_type_seen"] = (np.ones(len(frame), dtype=bool) if self.cancer_types is None
                                      else schema.cancer_type_seen(frame, self.cancer_types))
        if explain:
            contrib = self.response.contributions(rows)
            result = pd.concat([result, contrib.add_prefix("contrib_")], axis=1)
        if isinstance(model_input, pd.DataFrame):
            result.index = model_input.index
        return result

    def _numbers(self, rows: Rows, hs: np.ndarray, intervals: bool) -> list[np.ndarray]:
        """The numeric output columns in :func:`~icipredict.registry.schema.output_columns`
        order (each model predicts the whole batch once)."""
        n = len(rows)
        nan = np.full(n, np.nan)
        columns = list(self._response(rows, intervals))
        risks = {end: model.risk(rows) for end, model in self.surv.items()}
        columns.append(risks.get("os", risks.get("pfs", nan)))
        curves, medians = {}, []
        for end in ("os", "pfs"):
            model = self.surv.get(end)
            curves[end] = (model.survival(rows, hs, risks[end]) if model is not None
                           else np.full((n, len(hs)), np.nan))
            medians.append(model.median(rows, risks[end]) if model is not None else nan)
            if model is not None and end in self.follow_up:
                curves[end], medians[-1] = self._within_follow_up(end, hs, curves[end],
                                                                  medians[-1])
        for end in ("os", "pfs"):
            columns += [curves[end][:, j] for j in range(len(hs))]
        columns += medians
        for end in ("os", "pfs"):
            # The bin's Kaplan-Meier band of held-out patients scored alike (null without a
            # table, for a horizon it was not read at, and where the point itself is null).
            table = self.survival_intervals.get(end) if intervals and end in risks else None
            low, high = survival_interval(risks.get(end, nan), hs, table, point=curves[end])
            for j in range(len(hs)):
                columns += [low[:, j], high[:, j]]
        return columns

    def _within_follow_up(self, end: str, hs: np.ndarray, curve: np.ndarray,
                          median: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Survival past the training follow-up is null (a flat Cox tail or an extrapolated
        parametric curve, not data); so is a median past it ("not reached" within it)."""
        limit = self.follow_up[end]
        beyond = hs > limit
        if beyond.any() and not {(end, h) for h in hs[beyond]} <= self._warned:
            self._warned |= {(end, h) for h in hs[beyond]}
            logger.warning("%s survival at %s months is past the %s model's training follow-up "
                           "(%.1f months): returned null", end.upper(),
                           ", ".join(f"{h:g}" for h in hs[beyond]), end.upper(), limit)
            curve = np.where(beyond[None, :], np.nan, curve)
        return curve, np.where(median > limit, np.nan, median)

    def _response(self, rows: Rows, intervals: bool) -> tuple[np.ndarray, ...]:
        """``(probability, ci_low, ci_high)`` of the response model (NaN without one)."""
        nan = np.full(len(rows), np.nan)
        if self.response is None:
            return nan, nan, nan
        base = getattr(self.response, "base", None)
        if base is not None and hasattr(self.response, "transform"):
            # Locally recalibrated: the Venn table holds the trained model's held-out
            # probabilities, so look up with those and carry the bounds through the same
            # monotone map (the recalibration's own uncertainty is not in the interval).
            raw = base.proba(rows)
            if not intervals:
                return self.response.transform(raw), nan, nan
            low, high = response_interval(raw, self.intervals)
            return tuple(self.response.transform(v) for v in (raw, low, high))
        p = self.response.proba(rows)
        if not intervals:
            return p, nan, nan
        return (p, *response_interval(p, self.intervals))


# ------------------------------------------------------------------------------ logging
def _version(*dists: str) -> str | None:
    for d in dists:
        try:
            return metadata.version(d)
        except metadata.PackageNotFoundError:
            continue
    return None


def pip_requirements() -> list[str]:
    """Pinned requirements of the scoring environment (the versions installed here)."""
    wanted = [("mlflow", ("mlflow", "mlflow-skinny")), ("numpy", ("numpy",)),
              ("pandas", ("pandas",)), ("scipy", ("scipy",)),
              ("scikit-learn", ("scikit-learn",)), ("xgboost", ("xgboost", "xgboost-cpu")),
              ("lifelines", ("lifelines",)), ("scikit-survival", ("scikit-survival",)),
              ("skops", ("skops",)), ("pydantic", ("pydantic",)),
              ("pyyaml", ("PyYAML", "pyyaml"))]
    out = []
    for name, dists in wanted:
        v = _version(*dists)
        if v is not None:
            out.append(f"{name}=={v}")
    return out


def log_registry_model(bundle: str | Path, *, name: str = "model") -> Any:
    """Log a bundle folder as the pyfunc registry model of the active run.

    Models-from-code (:data:`ENTRY_CODE`) plus ``code_paths`` with the icipredict package, so
    the saved model is self-contained and nothing is pickled.

    Returns
    -------
    mlflow.models.model.ModelInfo
    """
    import mlflow

    read = Bundle(bundle)
    columns = read.input_columns
    example = synthetic_example(columns, read.domain)
    with tempfile.TemporaryDirectory() as tmp:
        entry = Path(tmp) / "icipredict_registry_model.py"
        entry.write_text(ENTRY_CODE)
        pkg = Path(tmp) / "icipredict"
        shutil.copytree(Path(__file__).resolve().parents[1], pkg,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        info = mlflow.pyfunc.log_model(
            name=name, python_model=str(entry), artifacts={"bundle": str(read.folder)},
            code_paths=[str(pkg)], signature=schema.mlflow_signature(columns),
            input_example=(example, {"horizons": list(schema.DEFAULT_HORIZONS)}),
            pip_requirements=pip_requirements(),
            metadata={"icipredict_model_format": MODEL_FORMAT,
                      "what_is_pickled": read.manifest["what_is_pickled"],
                      "feature_spec": read.builder.spec_.name},
        )
    return info
