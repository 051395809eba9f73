"""Clinical vocabularies the feature registry reads: cancer types as OncoTree codes.

What each clinical feature is (inputs, unit, encoding, label) is declared once in
:mod:`icipredict.features.registry`; the encoding itself is scikit-learn's
(:mod:`icipredict.features.builder`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from icipredict.cohort.harmonise import to_oncotree
from icipredict.cohort.schema import CohortError


def normalise_cancer_type(values: pd.Series) -> pd.Series:
    """Cancer types as OncoTree codes where known; unknown labels are kept as written."""
    def one(v: object) -> object:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        try:
            return to_oncotree(v)
        except CohortError:
            return str(v).strip()
    # Once per distinct label, not per patient (batch scoring sends millions of rows).
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.array([one(u) for u in uniques] + [None], dtype=object)
    return pd.Series(mapped[codes], index=values.index, name=values.name)
