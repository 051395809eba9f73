"""The published pan-cancer LORIS (LLR6) score with its *published* coefficients (no refit).

Source: Chang et al. 2024, Nature Cancer, "LORIS robustly predicts patient outcomes with immune
checkpoint blockade therapy using common clinical, pathologic, and genomic features"; the
authors' repository https://github.com/rootchang/LORIS (commit 37d2865), file
``03.Results/6features/PanCancer/PanCancer_LLR6_10k_ParamCalculate.txt``: the standardisation
means and scales, the coefficients on the standardised features and the intercept of the
pan-cancer LLR6 model (averaged over 10,000 train/test resamples of the 2015-2017 training
patients). The repository's README gives the same model on the raw scale, rounded::

    S = 0.0371 min(TMB, 50) - 0.8775 PSTH + 0.5382 Albumin - 0.033 min(NLR, 25)
        + 0.0049 min(Age, 85) + CTCT - 2.0886,      LORIS = 1 / (1 + exp(-S))

(PSTH: systemic therapy before ICI; CTCT: a per-cancer-type term, zero for a cancer type outside
its 16). On the LORIS year-split files it gives AUC 0.741 (train) and 0.754 (test), the
published numbers. These probabilities were fitted with balanced class weights: they rank, but
they are not calibrated response rates (the intercept assumes 50% responders).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit

from icipredict.cohort.schema import CohortError
from icipredict.modeling.baselines import LORIS_CANCER_TYPES, LORIS_CAPS

#: Where the numbers below come from (shown in reports).
SOURCE = ("Chang et al. 2024 Nat Cancer (LORIS); github.com/rootchang/LORIS "
          "03.Results/6features/PanCancer/PanCancer_LLR6_10k_ParamCalculate.txt")

#: Numeric inputs, in the file's order (then the 16 cancer types of LORIS_CANCER_TYPES).
NUMERIC = ("tmb", "prior_systemic_therapy", "albumin", "nlr", "age")

# The file's LLR_mean, LLR_scale and LLR_coef rows (5 numeric + 16 cancer types) and intercept.
_MEAN = (9.716777081712063, 0.6628210116731518, 3.8107702853437098, 5.82983117769131,
         61.77915035853618, 0.06745136186770426, 0.012443579766536966, 0.02903527885862516,
         0.02795875486381324, 0.024916083009079118, 0.04457431906614786, 0.049724643320363165,
         0.03736005188067444, 0.15770298313878078, 0.020714267185473405, 0.34339195849546034,
         0.023869130998702984, 0.015531258106355384, 0.07579260700389104, 0.03426614785992218,
         0.03526757457846952)
_SCALE = (11.328696372559728, 0.47267618323799726, 0.45699569812950086, 4.847958197359801,
          12.994999869678423, 0.25066793709819596, 0.11054748845578428, 0.1677110056039683,
          0.16464890797616266, 0.15565787392121944, 0.2062091309105248, 0.21722406623668503,
          0.1894718083462632, 0.36437137892826155, 0.14219449861425992, 0.4747722428170672,
          0.15242296273353362, 0.12338008189643467, 0.26454400847695786, 0.18172867441932644,
          0.1842765251016699)
_COEF = (0.4198017295808917, -0.41478186417656887, 0.2459757431269802, -0.15996409186850563,
         0.06322956649386186, -0.08329195789821912, -0.036736738509569676,
         -0.01710908786788912, -0.0012984159329937448, 0.08560524817323387,
         0.04754705432804886, 0.01472418917464316, -0.02252969107302767,
         -0.0031179317348479486, 0.017846954071079307, 0.00039883935343466604,
         -0.007931195899710423, -0.1378043023555157, 0.14420482282484126,
         0.009850666572118883, -0.0006014179522931981)
_INTERCEPT = -0.13163023239124944

#: Raw-scale coefficients (per unit of each input; cancer types per indicator) and intercept.
RAW_COEF: dict[str, float] = {
    name: c / s for name, c, s in zip(
        [*NUMERIC, *(f"cancer_type_{t}" for t in LORIS_CANCER_TYPES)], _COEF, _SCALE, strict=True)
}
RAW_INTERCEPT: float = _INTERCEPT - float(np.sum(np.array(_COEF) * np.array(_MEAN)
                                                 / np.array(_SCALE)))


def published_llr6_logit(frame: pd.DataFrame) -> np.ndarray:
    """The LORIS log-odds ``S`` of each patient, with the published coefficients.

    Parameters
    ----------
    frame
        One row per patient with canonical columns ``tmb`` (mut/Mb), ``prior_systemic_therapy``
        (0/1), ``albumin`` (g/dL), ``nlr``, ``age`` (years) and ``cancer_type`` (OncoTree code;
        a type outside LORIS's 16 gets no cancer-type term, as in the published formula).

    Returns
    -------
    numpy.ndarray
        ``S`` per patient; NaN where one of the five numeric inputs is missing (LORIS has no
        rule for missing values).
    """
    missing = [c for c in (*NUMERIC, "cancer_type") if c not in frame.columns]
    if missing:
        raise CohortError(f"the published LORIS score needs column(s) {missing}")
    s = np.full(len(frame), RAW_INTERCEPT)
    for name in NUMERIC:
        x = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float)
        if name in LORIS_CAPS:
            x = np.minimum(x, LORIS_CAPS[name])
        s = s + RAW_COEF[name] * x
    codes = frame["cancer_type"].astype("string").to_numpy(dtype=object, na_value=None)
    ct = np.array([RAW_COEF.get(f"cancer_type_{c}", 0.0) if c is not None else np.nan
                   for c in codes])
    return s + ct


def published_llr6_probability(frame: pd.DataFrame) -> np.ndarray:
    """``1 / (1 + exp(-S))`` of :func:`published_llr6_logit` (the published LORIS)."""
    return expit(published_llr6_logit(frame))


def in_loris_cancer_types(frame: pd.DataFrame) -> np.ndarray:
    """Whether each patient's cancer type is one of LORIS's 16 (others get no type term)."""
    return frame["cancer_type"].astype(str).isin(LORIS_CANCER_TYPES).to_numpy()


__all__ = ["NUMERIC", "RAW_COEF", "RAW_INTERCEPT", "SOURCE", "in_loris_cancer_types",
           "published_llr6_logit", "published_llr6_probability"]
