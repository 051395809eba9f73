"""The one place that knows the FeatureBuilder's internal state (re-point it when that changes).

Federated training cannot call :meth:`FeatureBuilder.fit` (no node sees all rows); the
coordinator learns the same statistics from aggregates and every node rebuilds an identical
builder from them. The functions below touch the builder's private steps (``_derive``,
``_encode``, ``_layout``, ``_rebuild``) and its fitted attributes; nothing else in
:mod:`icipredict.federated` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from icipredict.features.builder import FeatureBuilder
from icipredict.features.spec import FeatureSpec


def _encoding(builder: FeatureBuilder) -> tuple[Any, Any, list[tuple[str, str]]]:
    """The builder's derive and encode steps fitted to its levels (every column kept), and the
    ``(modality, column)`` order of the encoded columns."""
    derive = builder._derive()
    layout = derive.fit_transform(builder._layout(derive))
    builder.empty_columns_ = []
    encode, order = builder._encode(2 if builder.cancer_has_other_ else None)
    encode.fit(layout)
    return derive, encode, builder._model_order(encode, order)


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
        Fitted: ``transform`` and ``to_json`` work as after ``fit`` (columns without a median
        are dropped, as ``fit`` drops columns without training values).
    """
    b = FeatureBuilder(spec)
    b.spec_ = spec
    b.cancer_levels_ = list(state.get("cancer_levels", []))
    b.cancer_has_other_ = bool(state.get("cancer_has_other", False))
    b.drug_class_levels_ = list(state.get("drug_class_levels", []))
    b.imaging_columns_ = list(state.get("imaging_columns", []))
    _, _, columns = _encoding(b)
    dropped = set(state.get("dropped", []))
    kept = [c for _, c in columns if c not in dropped]
    b.modality_columns_ = b._modality_columns(columns)
    b.medians_ = {c: float(v) for c, v in state.get("medians", {}).items() if c in kept}
    b.means_ = {c: v for c, v in state.get("means", {}).items() if c in kept}
    b.scales_ = {c: v for c, v in state.get("scales", {}).items() if c in kept}
    b._rebuild()
    return b


def raw_columns(builder: FeatureBuilder, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The encoded columns before imputation and scaling (caps applied), as an array."""
    derive, encode, columns = _encoding(builder)
    encoded = encode.transform(derive.transform(builder._check_frame(frame)))
    position = {str(c): i for i, c in enumerate(encode.get_feature_names_out())}
    names = [c for _, c in columns]
    return names, np.asarray(encoded, dtype=float)[:, [position[c] for c in names]]
