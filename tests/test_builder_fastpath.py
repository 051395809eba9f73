"""The builder's numpy fast path equals ``FeatureBuilder.transform`` exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from icipredict.features.builder import FeatureBuilder

TYPES = ["NSCLC", "Melanoma", "MEL", "BLCA", "RCC", "bladder cancer", "HNSC", "GBM"]


def _frame(n: int, seed: int, *, types=TYPES, drop=()) -> pd.DataFrame:
    rng = np.random.default_rng(seed)

    def gappy(values, frac=0.2):
        values = np.asarray(values, dtype=object if np.asarray(values).dtype.kind in "OU"
                            else float)
        values[rng.random(n) < frac] = None if values.dtype == object else np.nan
        return values

    df = pd.DataFrame({
        "patient_id": [f"p{i}" for i in range(n)],
        "cancer_type": gappy(rng.choice(types, n), 0.05),
        "age": gappy(rng.uniform(20, 95, n)),
        "bmi": rng.uniform(16, 40, n),
        "ecog": gappy(rng.integers(0, 3, n).astype(float)),
        "nlr": gappy(rng.uniform(0.5, 40, n), 0.5),
        "neutrophils": gappy(rng.uniform(1, 10, n)),
        "lymphocytes": gappy(rng.choice([0.0, 0.5, 1.5, 3.0], n)),
        "albumin": gappy(rng.uniform(2, 5, n)),
        "sex": gappy(rng.choice(["male", "female", "other"], n), 0.1),
        "stage_iv": gappy(rng.integers(0, 2, n).astype(float)),
        "prior_systemic_therapy": rng.integers(0, 2, n),  # int dtype
        "drug_class": gappy(rng.choice(["PD1/PDL1", "CTLA4", "combination", "LAG3"], n), 0.1),
        "tmb": gappy(rng.lognormal(1.5, 1.2, n)),
        "msi_status": gappy(rng.choice(["MSI-H", "MSS", "indeterminate"], n), 0.3),
        "fcna": gappy(rng.uniform(0, 1, n), 0.6),
        "mut_STK11": gappy(rng.integers(0, 2, n).astype(float), 0.4),
        "radiomics_a": gappy(rng.normal(size=n), 0.5),
        "radiomics_b": gappy(rng.normal(size=n), 0.5),
    })
    return df.drop(columns=list(drop))


SPECS = [
    {"name": "full", "modalities": ["clinical", "genomic", "imaging"],
     "clinical": ["age", "sex", "ecog", "nlr", "albumin", "prior_systemic_therapy",
                  "drug_class", "drug_combination", "stage_iv", "bmi", "ldh"],
     "genomic": ["tmb", "msi_high", "fcna", "hed"], "genes": ["STK11", "KEAP1"],
     "cancer_type": "onehot", "rare_type_min_count": 15, "caps": {"tmb": 50, "nlr": 25,
                                                                    "age": 85},
     "imputation": "median", "scaling": "standard", "missing_indicators": True},
    {"name": "raw", "modalities": ["clinical", "genomic"], "clinical": ["age", "nlr", "sex"],
     "genomic": ["tmb", "msi_high"], "cancer_type": "chowell_group", "caps": {"tmb": 30}},
    {"name": "nocancer", "modalities": ["clinical"], "clinical": ["drug_class", "albumin"],
     "cancer_type": "none", "scaling": "standard", "missing_indicators": True},
    {"name": "onehot_no_other", "modalities": ["clinical", "imaging"], "clinical": ["age"],
     "cancer_type": "onehot", "rare_type_min_count": 1, "imputation": "median",
     "missing_indicators": True},
]


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_transform_array_equals_transform(spec):
    builder = FeatureBuilder(spec).fit(_frame(400, 0))
    cases = [
        _frame(300, 1),  # same vocabulary, new values
        _frame(200, 2, types=["NSCLC", "PAAD", "made-up type", "GBM"]),  # unseen cancer types
        _frame(50, 3, drop=("nlr", "sex", "msi_status", "radiomics_b", "tmb")),  # absent cols
        _frame(1, 4),  # one patient
        _frame(0, 5),  # nobody
    ]
    odd = _frame(40, 6)
    odd["age"] = odd["age"].astype(object)
    odd.loc[3, "age"] = "not a number"  # coerced to missing, as transform does
    odd["tmb"] = odd["tmb"] * 10  # beyond the caps
    odd["cancer_type"] = None  # no cancer type at all
    cases.append(odd)
    for frame in cases:
        expected = builder.transform(frame).to_numpy()
        got = builder.transform_array(frame)
        assert got.shape == expected.shape
        np.testing.assert_array_equal(got, expected)


def test_transform_array_after_json_round_trip():
    builder = FeatureBuilder(SPECS[0]).fit(_frame(400, 0))
    again = FeatureBuilder.from_json(builder.to_json())
    frame = _frame(100, 9)
    np.testing.assert_array_equal(again.transform_array(frame),
                                  builder.transform(frame).to_numpy())


def test_cached_encodings_repeat_exactly_and_follow_a_refit():
    builder = FeatureBuilder(SPECS[0]).fit(_frame(400, 0))
    one = _frame(1, 4)
    first = builder.transform_array(one)
    np.testing.assert_array_equal(builder.transform_array(one), first)  # served from the cache
    # A refit on other cancer types and drug classes changes the one-hot columns: no stale reuse.
    other = _frame(400, 7, types=["NSCLC", "GBM"])
    other["drug_class"] = "CTLA4"
    builder.fit(other)
    again = builder.transform_array(one)
    assert again.shape[1] != first.shape[1]
    np.testing.assert_array_equal(again, builder.transform(one).to_numpy())
