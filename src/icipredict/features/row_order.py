"""A patient frame's row order that does not depend on the pseudonymisation key.

The cohort store returns patients ordered by centre, then pseudonym. A pseudonym is a keyed hash
(:mod:`icipredict.cohort.pseudonym`) and every installation makes its own key, so the same
patients come in a different order on each machine (and in each fresh test or tour folder).
Whatever then draws by row *position* draws different patients: XGBoost's row subsample,
bootstrap resamples, shuffled k-fold splits. On the README tour this moved the held-out
calibration slope on meridian between 0.63 and 0.75 from one key to the next.

:func:`stable_patient_order` orders patients by centre, then by a hash of their own values
(identifiers left out), so those draws are a function of the data alone. The hash gives an
order unrelated to any feature (as the pseudonym order was), so a splitter without shuffling
does not see patients sorted by age or outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of a patient frame that hold pseudonyms (differ with the key, never hashed).
IDENTIFIER_COLUMNS = ("patient_id", "sample_id")


def stable_patient_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` by centre, then by a hash of each row's non-identifier values.

    Parameters
    ----------
    frame
        One row per patient (e.g. :func:`icipredict.features.builder.patient_frame`); the index
        (the pseudonymised patient ID) and :data:`IDENTIFIER_COLUMNS` are not hashed.

    Returns
    -------
    DataFrame
        The same rows and index labels, reordered. Patients whose values are all equal keep
        their relative order (they are interchangeable for any fit or resample).
    """
    values = frame.reset_index(drop=True)
    values = values.drop(columns=[c for c in IDENTIFIER_COLUMNS if c in values.columns])
    # pandas' hash uses a fixed key: the same values hash alike in every process and session.
    digest = pd.util.hash_pandas_object(values, index=False).to_numpy()
    keys = [digest]
    if "centre" in values.columns:
        codes, _ = pd.factorize(values["centre"].astype("string"), sort=True)
        keys.append(codes)
    order = np.lexsort(keys)  # last key first: centre, then digest; stable on ties
    return frame.iloc[order]


__all__ = ["IDENTIFIER_COLUMNS", "stable_patient_order"]
