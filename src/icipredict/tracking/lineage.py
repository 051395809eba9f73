"""Dataset lineage for MLflow runs: where a cohort came from and what it looked like, never its rows.

:func:`cohort_dataset` turns a cohort (or its one-row-per-patient frame) into an ``mlflow.data``
dataset that carries only metadata: the source (file, column map or store query), a digest of
the content (order-independent hash, so the same data give the same digest), the schema (column
names and types) and a profile (patients per centre, outcome counts). MLflow stores that
metadata, never the data, so no patient-level row reaches the tracking server through lineage.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow.data.dataset_source import DatasetSource
from mlflow.data.meta_dataset import MetaDataset
from mlflow.data.sources import LocalArtifactDatasetSource  # type: ignore[attr-defined]  # made by type() at import
from mlflow.types import ColSpec, DataType, Schema

from icipredict.cohort.schema import SOURCE_ROW, Cohort

logger = logging.getLogger(__name__)


class CohortDataset(MetaDataset):
    """An ``mlflow.data`` dataset holding a cohort's metadata and profile, not its rows."""

    def __init__(self, source: DatasetSource, name: str, digest: str, schema: Schema,
                 profile: dict[str, Any]) -> None:
        self._profile = profile
        super().__init__(source=source, name=name, digest=digest, schema=schema)

    @property
    def profile(self) -> dict[str, Any]:
        """Counts per centre and per outcome (aggregates only)."""
        return self._profile

    def to_dict(self) -> dict[str, str]:
        """MLflow's config dict with the profile as JSON."""
        config = super().to_dict()
        config["profile"] = json.dumps(self._profile, sort_keys=True)
        return config


def _frame(cohort: Cohort | pd.DataFrame) -> pd.DataFrame:
    frame = cohort.frame() if isinstance(cohort, Cohort) else cohort
    return frame.drop(columns=[SOURCE_ROW], errors="ignore")


def cohort_digest(frame: pd.DataFrame) -> str:
    """Order-independent SHA-256 digest (first 16 hex) of a frame's columns and content."""
    h = hashlib.sha256(json.dumps(sorted(map(str, frame.columns))).encode())
    ordered = frame.reindex(columns=sorted(frame.columns, key=str))
    rows = np.sort(pd.util.hash_pandas_object(ordered.astype(str), index=False).to_numpy())
    h.update(rows.tobytes())
    return h.hexdigest()[:16]


def _dtype(series: pd.Series) -> DataType:
    if pd.api.types.is_bool_dtype(series):
        return DataType.boolean
    if pd.api.types.is_integer_dtype(series):
        return DataType.long
    if pd.api.types.is_float_dtype(series):
        return DataType.double
    if pd.api.types.is_datetime64_any_dtype(series):
        return DataType.datetime
    return DataType.string


def cohort_schema(frame: pd.DataFrame) -> Schema:
    """MLflow schema (names and types) of a frame; every column may be missing."""
    return Schema([ColSpec(_dtype(frame[c]), str(c), required=False) for c in frame.columns])


def _counts(series: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts(dropna=False).sort_index().items()}


def cohort_profile(frame: pd.DataFrame) -> dict[str, Any]:
    """Aggregate counts: patients overall and per centre, responders and events per outcome."""
    profile: dict[str, Any] = {"n_patients": int(len(frame)), "n_columns": int(frame.shape[1])}
    if "centre" in frame:
        profile["patients_per_centre"] = _counts(frame["centre"].astype("string").fillna("NA"))
    if "responder" in frame:
        r = pd.to_numeric(frame["responder"], errors="coerce")
        profile["responders"] = int((r == 1).sum())
        profile["response_known"] = int(r.notna().sum())
    for end in ("os", "pfs"):
        if f"{end}_event" in frame:
            e = pd.to_numeric(frame[f"{end}_event"], errors="coerce")
            profile[f"{end}_events"] = int((e == 1).sum())
            profile[f"{end}_known"] = int(e.notna().sum())
    return profile


def _source(source: str | Path | DatasetSource) -> DatasetSource:
    if isinstance(source, DatasetSource):
        return source
    text = str(source)
    if "://" in text:
        return LocalArtifactDatasetSource(text)
    return LocalArtifactDatasetSource(Path(text).expanduser().resolve().as_uri())


def cohort_dataset(
    cohort: Cohort | pd.DataFrame,
    *,
    source: str | Path | DatasetSource,
    name: str,
    query: dict[str, Any] | None = None,
) -> CohortDataset:
    """Build the lineage record of a cohort.

    Parameters
    ----------
    cohort
        A :class:`~icipredict.cohort.schema.Cohort` or its one-row-per-patient frame.
    source
        Where it came from: the column map / data file, or the DuckDB store file.
    name
        Dataset name shown in MLflow (e.g. ``"chowell2022-train"``).
    query
        For a store: the query that selected the cohort (e.g. ``{"centres": ["MSK"]}``); kept in
        the profile.
    """
    frame = _frame(cohort)
    profile = cohort_profile(frame)
    if query:
        profile["query"] = query
    return CohortDataset(
        source=_source(source), name=name, digest=cohort_digest(frame),
        schema=cohort_schema(frame), profile=profile,
    )


def log_cohort_lineage(
    cohort: Cohort | pd.DataFrame,
    *,
    source: str | Path | DatasetSource,
    name: str,
    context: str = "training",
    query: dict[str, Any] | None = None,
) -> CohortDataset:
    """Log a cohort's lineage to the active MLflow run (``context``: training / evaluation)."""
    import mlflow

    dataset = cohort_dataset(cohort, source=source, name=name, query=query)
    mlflow.log_input(dataset, context=context)
    logger.info("logged lineage of %s (%d patients, digest %s)", name,
                dataset.profile["n_patients"], dataset.digest)
    return dataset


def lineage_of_run(run_id: str) -> list[dict[str, Any]]:
    """The datasets a run logged: name, digest, source, context and parsed profile."""
    import mlflow

    run = mlflow.get_run(run_id)
    out = []
    for di in run.inputs.dataset_inputs if run.inputs else []:
        d = di.dataset
        try:
            profile = json.loads(d.profile) if d.profile else {}
        except json.JSONDecodeError:
            profile = {}
        try:
            source = json.loads(d.source).get("uri", d.source)
        except (json.JSONDecodeError, AttributeError):
            source = d.source
        context = next((t.value for t in di.tags if t.key == "mlflow.data.context"), None)
        out.append({"name": d.name, "digest": d.digest, "source": source,
                    "source_type": d.source_type, "context": context, "profile": profile})
    return out
