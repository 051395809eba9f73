"""The federation's builder state, mapped onto the FeatureBuilder's public API.

Federated training cannot call :meth:`FeatureBuilder.fit` (no node sees all rows); the
coordinator learns the same statistics from aggregates (over
:meth:`FeatureBuilder.encoded_values`) and every node rebuilds an identical builder from them
with :meth:`FeatureBuilder.from_statistics`.
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
        Fitted: ``transform`` and ``to_json`` work as after ``fit`` (columns without a median
        are dropped, as ``fit`` drops columns without training values).
    """
    return FeatureBuilder.from_statistics(
        spec, cancer_levels=state.get("cancer_levels", []),
        cancer_has_other=state.get("cancer_has_other", False),
        drug_class_levels=state.get("drug_class_levels", []),
        imaging_columns=state.get("imaging_columns", []), medians=state.get("medians"),
        means=state.get("means"), scales=state.get("scales"), dropped=state.get("dropped", []))


def raw_columns(builder: FeatureBuilder, frame: pd.DataFrame) -> tuple[list[str], np.ndarray]:
    """The encoded columns before imputation and scaling (caps applied), as an array."""
    encoded = builder.encoded_values(frame)
    return list(encoded.columns), encoded.to_numpy(dtype=float)
