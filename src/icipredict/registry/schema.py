"""The registry model's documented schema: input columns, params, output columns.

One row per patient in canonical columns and units (the cohort contracts) goes in; the board's
numbers come out (``docs/registry_model.md``). :func:`input_columns` derives the inputs from the
fitted feature builder, :func:`output_columns` names the outputs for a set of horizons,
:func:`check_input` and :func:`read_params` check what a caller sends, and :func:`json_safe`
keeps missing numbers JSON null (never NaN or Infinity).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from icipredict.errors import InputError
from icipredict.features import registry
from icipredict.features.builder import FeatureBuilder
from icipredict.features.genomic import gene_column

DEFAULT_HORIZONS = (6.0, 12.0, 24.0)
#: Columns every input must have (the others may be absent or missing).
ALWAYS_REQUIRED = ("cancer_type",)
MODALITIES = ("clinical", "genomic", "imaging")


def input_columns(builder: FeatureBuilder) -> list[dict[str, Any]]:
    """Canonical input columns the fitted builder reads: name, type, required, modality.

    Parameters
    ----------
    builder
        The fitted feature builder.

    Returns
    -------
    list of dict
        ``{"name", "type" ("string"/"double"), "required", "modality"}`` in a stable order.
    """
    spec = builder.spec_
    names = [registry.CANCER_TYPE.name]
    if "clinical" in spec.modalities:
        names += list(spec.clinical)
    if "genomic" in spec.modalities:
        names += list(spec.genomic) + [gene_column(g) for g in spec.genes]
    if "imaging" in spec.modalities:
        names += list(builder.imaging_columns_)
    out: dict[str, dict[str, Any]] = {}
    for name in names:
        entry = registry.get(name)
        # Vocabulary inputs (mapped or one-hot encoded) are strings; the rest numbers.
        kind = "string" if entry.kind in ("category", "onehot") else "double"
        for column in entry.inputs:
            out.setdefault(column, {"name": column, "type": kind,
                                    "required": column in ALWAYS_REQUIRED,
                                    "modality": entry.modality})
    return list(out.values())


def horizon_label(h: float) -> str:
    """``12.0 -> "12"``, ``6.5 -> "6.5"`` (used in ``os_survival_<h>m``)."""
    return f"{float(h):g}"


def output_columns(horizons=DEFAULT_HORIZONS) -> list[str]:
    """The documented output columns for these horizons (without ``contrib_*``)."""
    hs = [horizon_label(h) for h in horizons]
    return (["response_probability", "response_ci_low", "response_ci_high", "risk_score"]
            + [f"os_survival_{h}m" for h in hs] + [f"pfs_survival_{h}m" for h in hs]
            + ["median_os_months", "median_pfs_months"]
            + [f"{end}_survival_{h}m_ci_{side}" for end in ("os", "pfs") for h in hs
               for side in ("low", "high")]
            + ["missing_modalities", "cancer_type_seen"])


#: Output columns that are not numbers: text, and the 0/1-free flag (boolean).
TEXT_OUTPUTS = ("missing_modalities",)
FLAG_OUTPUTS = ("cancer_type_seen",)


def number_outputs(horizons=DEFAULT_HORIZONS) -> list[str]:
    """The numeric output columns, in :func:`output_columns` order."""
    return [c for c in output_columns(horizons) if c not in TEXT_OUTPUTS + FLAG_OUTPUTS]


def mlflow_signature(columns: list[dict[str, Any]], horizons=DEFAULT_HORIZONS):
    """MLflow signature: required/optional input columns, output columns and params.

    Numeric inputs are declared ``any`` (checked and converted by the model) so integer values
    such as ``age=61`` are accepted; MLflow refuses int64 for a ``double`` column.
    """
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema
    from mlflow.types.schema import AnyType

    inputs = Schema([
        ColSpec("string" if c["type"] == "string" else AnyType(), c["name"],
                required=c["required"]) for c in columns
    ])
    outputs = Schema([ColSpec(kind, c) for kind, names in (
        ("double", number_outputs(horizons)), ("string", TEXT_OUTPUTS), ("boolean", FLAG_OUTPUTS))
        for c in names])
    params = ParamSchema([
        ParamSpec("horizons", "double", [float(h) for h in horizons], shape=(-1,)),
        ParamSpec("explain", "boolean", False),
        ParamSpec("intervals", "boolean", True),
    ])
    return ModelSignature(inputs=inputs, outputs=outputs, params=params)


def read_params(params: dict[str, Any] | None) -> tuple[list[float], bool, bool]:
    """``(horizons, intervals, explain)`` from the predict params, with their defaults.

    Raises
    ------
    InputError
        A horizon that is not a positive number of months.
    """
    params = params or {}
    horizons = params.get("horizons")
    horizons = list(DEFAULT_HORIZONS) if horizons is None else \
        [float(h) for h in np.atleast_1d(horizons)]
    if any(not np.isfinite(h) or h <= 0 for h in horizons):
        raise InputError(f"horizons must be positive months, got {horizons}")
    return horizons, bool(params.get("intervals", True)), bool(params.get("explain"))


def check_input(model_input: Any, columns: list[dict[str, Any]]) -> pd.DataFrame:
    """The caller's rows as the builder reads them: required columns present, numbers numeric.

    Parameters
    ----------
    model_input
        DataFrame (one row per patient) or one patient as a dict.
    columns
        :func:`input_columns` of the model.

    Returns
    -------
    DataFrame
        A shallow copy: converted columns are replaced, never written into the caller's frame.

    Raises
    ------
    InputError
        Not a table, a required column missing, or a value that is not a number (naming the
        row and column).
    """
    if isinstance(model_input, dict):
        model_input = pd.DataFrame([model_input])
    if not isinstance(model_input, pd.DataFrame):
        raise InputError("the registry model takes a DataFrame with one row per patient "
                          f"(canonical columns), got {type(model_input).__name__}")
    required = [c["name"] for c in columns if c["required"]]
    missing = [c for c in required if c not in model_input.columns]
    if missing:
        raise InputError(f"required input column(s) missing: {missing} (see "
                          "docs/registry_model.md for the input schema)", column=missing[0])
    frame = model_input.copy(deep=False)
    if "patient_id" in frame.columns:
        frame = frame.drop(columns=["patient_id"])
    for c in columns:
        name = c["name"]
        if name not in frame.columns:
            continue
        if c["type"] == "double":
            if frame[name].dtype == np.float64:
                continue  # already numbers (the common, large-batch case)
            values = pd.to_numeric(frame[name], errors="coerce")
            bad = values.isna() & frame[name].notna()
            if bad.any():
                first = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"expected a number in {name}, got "
                                  f"{frame[name].iloc[first]!r}", row=first + 1, column=name)
            frame[name] = values.astype(float)
        elif frame[name].dtype != object:
            # pandas string/categorical columns: plain objects for the builder. Object
            # columns pass as they are (the builder's factorize treats None/NaN/NA alike).
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def missing_modalities(frame: pd.DataFrame, columns: list[dict[str, Any]]) -> np.ndarray:
    """Per row: comma-joined modalities with no input value at all (``""`` when complete)."""
    n = len(frame)
    code = np.zeros(n, dtype=np.intp)  # bit k set: modality k has no value
    for k, modality in enumerate(MODALITIES):
        names = [c["name"] for c in columns
                 if c["modality"] == modality and c["name"] != "cancer_type"]
        if not names:
            continue
        absent = np.ones(n, dtype=bool)
        for name in names:
            if name not in frame.columns:
                continue
            col = frame[name]
            absent &= (np.isnan(col.to_numpy()) if col.dtype == np.float64
                       else col.isna().to_numpy())
            if not absent.any():
                break
        code |= absent.astype(np.intp) << k
    labels = np.array([",".join(m for k, m in enumerate(MODALITIES) if bits >> k & 1)
                       for bits in range(2 ** len(MODALITIES))], dtype=object)
    return labels[code]


def cancer_type_seen(frame: pd.DataFrame, seen: Any) -> np.ndarray:
    """Per row: whether the cancer type (read as an OncoTree code) was among the training
    patients' types ``seen``. An unseen type is encoded as the rare-type column or as zeros,
    and the model's estimate for it is an extrapolation."""
    from icipredict.features.clinical import normalise_cancer_type

    codes = normalise_cancer_type(frame["cancer_type"] if "cancer_type" in frame.columns
                                  else pd.Series(None, index=frame.index, dtype=object))
    return codes.isin(list(seen)).to_numpy()


def json_safe(values: np.ndarray, *, always: bool = False) -> np.ndarray:
    """Floats, or objects with None for missing (JSON null, never NaN) when any is missing.

    ``always``: objects in any case (the medians, so their type does not depend on the batch).
    Infinite values count as missing (a median that is never reached).
    """
    values = np.asarray(values, dtype=float)
    missing = ~np.isfinite(values)
    if not missing.any() and not always:
        return values
    if missing.all():
        return np.full(len(values), None, dtype=object)
    out = values.astype(object)
    out[missing] = None
    return out
