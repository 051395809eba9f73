"""The one place that knows the FeatureBuilder's internal state (re-point it when that changes).

Federated training cannot call :meth:`FeatureBuilder.fit` (no node sees all rows); the
coordinator learns the same statistics from aggregates and every node rebuilds an identical
builder from them. Both functions below touch the builder's private ``_raw`` step and its fitted
attributes; nothing else in :mod:`icipredict.federated` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from icipredict.features.builder import FeatureBuilder
from icipredict.features.spec import FeatureSpec


def builder_from_state(spec: FeatureSpec, state: dict[str, Any]) -> FeatureBuilder:
    """A fitted :class:`FeatureBuilder` from federated statistics.

    Parameters
    ----------
    spec
        The experiment's feature spec.
    state
        ``cancer_levels``, ``cancer_has_other``, ``drug_class_levels``, ``imaging_columns`` and,
        once known, ``medians``, ``means``, ``scales`` (column -> value; dropped columns absent).

    Returns
    -------
    FeatureBuilder
        Fitted: ``transform`` and ``to_json`` work as after ``fit``.
    """
    b = FeatureBuilder(spec)
    b.spec_ = spec
    b.cancer_levels_ = list(state.get("cancer_levels", []))
    b.cancer_has_other_ = bool(state.get("cancer_has_other", False))
    b.drug_class_levels_ = list(state.get("drug_class_levels", []))
    b.imaging_columns_ = list(state.get("imaging_columns", []))
    raw, modality = b._raw(pd.DataFrame(index=pd.Index([], name="patient_id")))
    columns = [c for c in raw.columns if c not in state.get("dropped", [])]
    b.modality_columns_ = modality
    b.medians_ = {c: float(v) for c, v in state.get("medians", {}).items() if c in columns}
    b.means_ = dict(state.get("means", {}))
    b.scales_ = dict(state.get("scales", {}))
    b.feature_names_out_ = columns + b._indicator_names()
    b.n_features_out_ = len(b.feature_names_out_)
    return b


def raw_columns(builder: FeatureBuilder, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The encoded columns before imputation and scaling (caps applied), as an array."""
    raw, _ = builder._raw(builder._check_frame(frame))
    return list(raw.columns), raw.to_numpy(dtype=float)
