"""A patient frame's row order that does not depend on the pseudonymisation key.

The cohort store returns patients ordered by centre, then pseudonym. A pseudonym is a keyed hash
(:mod:`icipredict.cohort.pseudonym`) and every installation makes its own key, so the same
patients come in a different order on each machine (and in each fresh test or tour folder).
Whatever then draws by row *position* draws different patients: XGBoost's row subsample,
bootstrap resamples, shuffled k-fold splits. On the README tour this moved the held-out
calibration slope on meridian between 0.63 and 0.75 from one key to the next.

:func:`stable_patient_order` orders patients by centre, then by a hash of their own values
(identifiers left out), so those draws are a function of the data alone. The hash leaves out the
columns that depend on the experiment's feature choices (radiomics settings, gene flags), so two
experiments on the same cohort see the same order, folds and resamples, and their results stay
comparable patient for patient. The hash gives an order unrelated to any feature (as the pseudonym
order was), so a splitter without shuffling does not see patients sorted by age or outcome.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Columns of a patient frame that hold pseudonyms (differ with the key, never hashed).
IDENTIFIER_COLUMNS = ("patient_id", "sample_id")
#: Prefixes of columns whose values depend on the experiment (radiomics settings, gene list):
#: only a tie-break, so experiments on one cohort order it alike.
EXPERIMENT_PREFIXES = ("radiomics_", "mut_")


def stable_patient_order(frame: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``frame`` by centre, then by a hash of each patient's own values.

    Parameters
    ----------
    frame
        One row per patient (e.g. :func:`icipredict.features.builder.patient_frame`); the index
        (the pseudonymised patient ID) and :data:`IDENTIFIER_COLUMNS` are not hashed, columns
        named with :data:`EXPERIMENT_PREFIXES` only break ties.

    Returns
    -------
    DataFrame
        The same rows and index labels, reordered. Patients whose values are all equal keep
        their relative order (they are interchangeable for any fit or resample).
    """
    values = frame.reset_index(drop=True)
    values = values.drop(columns=[c for c in IDENTIFIER_COLUMNS if c in values.columns])
    own = values[[c for c in values.columns if not str(c).startswith(EXPERIMENT_PREFIXES)]]
    # pandas' hash uses a fixed key: the same values hash alike in every process and session.
    keys = [_digest(values), _digest(own)]
    if "centre" in values.columns:
        codes, _ = pd.factorize(values["centre"].astype("string"), sort=True)
        keys.append(codes)
    # np.lexsort sorts by the last key first: centre, the patient's own values, then all values.
    order = np.lexsort(keys)
    return frame.iloc[order]


def representative_samples_first(samples: pd.DataFrame) -> pd.DataFrame:
    """A patient's samples with the one that represents the patient first.

    The builder reads the genomics of each patient's first sample; the store lists them in
    pseudonym order, which changes with the key. First comes the sample with the largest
    sequenced territory (``panel_size_mb``: TMB and gene flags rest on more genome), then the
    highest ``tumour_purity``, then a hash of the sample's own values (IDs left out), so the
    choice depends on the data alone.

    Parameters
    ----------
    samples
        The cohort's ``samples`` table (``patient_id``, ``sample_id`` and sample columns).

    Returns
    -------
    DataFrame
        The same rows, reordered.
    """
    if samples.empty:
        return samples
    values = samples.reset_index(drop=True)
    keys = [_digest(values.drop(columns=[c for c in IDENTIFIER_COLUMNS if c in values.columns]))]
    for column in ("tumour_purity", "panel_size_mb"):  # np.lexsort: the last key sorts first
        if column in values.columns:
            # descending, missing last: negate, then NaN -> +inf
            keys.append(np.nan_to_num(-pd.to_numeric(values[column], errors="coerce")
                                      .to_numpy(dtype=float), nan=np.inf))
    keys.append(pd.factorize(values["patient_id"].astype("string"), sort=True)[0])
    return samples.iloc[np.lexsort(keys)]


def _digest(values: pd.DataFrame) -> np.ndarray:
    """One 64-bit hash per row of ``values`` (zeros when it has no column)."""
    if not len(values.columns):
        return np.zeros(len(values), dtype=np.uint64)
    return pd.util.hash_pandas_object(values, index=False).to_numpy()


__all__ = ["EXPERIMENT_PREFIXES", "IDENTIFIER_COLUMNS", "representative_samples_first",
           "stable_patient_order"]
