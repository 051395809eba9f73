"""The builder is one scikit-learn pipeline; its JSON state rebuilds it exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder, StandardScaler

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


def _cases() -> list[pd.DataFrame]:
    cases = [
        _frame(300, 1),  # same vocabulary, new values
        _frame(200, 2, types=["NSCLC", "PAAD", "made-up type", "GBM"]),  # unseen cancer types
        _frame(50, 3, drop=("nlr", "sex", "msi_status", "radiomics_b", "tmb")),  # absent cols
        _frame(1, 4),  # one patient
        _frame(0, 5),  # nobody
    ]
    odd = _frame(40, 6)
    odd["age"] = odd["age"].astype(object)
    odd.loc[3, "age"] = "not a number"  # coerced to missing
    odd["tmb"] = odd["tmb"] * 10  # beyond the caps
    odd["cancer_type"] = None  # no cancer type at all
    cases.append(odd)
    return cases


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_json_state_rebuilds_the_same_pipeline(spec):
    builder = FeatureBuilder(spec).fit(_frame(400, 0))
    again = FeatureBuilder.from_json(builder.to_json())
    assert again.to_json() == builder.to_json()
    for frame in _cases():
        expected = builder.transform(frame)
        got = again.transform(frame)
        assert list(got.columns) == builder.feature_names_out_
        assert len(got) == len(frame)
        pd.testing.assert_frame_equal(got, expected)


def test_the_pipeline_is_sklearns():
    builder = FeatureBuilder(SPECS[0]).fit(_frame(400, 0))
    values = builder.pipeline_.named_steps["prepare"].transformer_list[0][1]
    encode = values.named_steps["encode"]
    assert isinstance(encode, ColumnTransformer)
    cancer = encode.named_transformers_["cancer_type"].encoder_
    assert isinstance(cancer, OneHotEncoder) and cancer.min_frequency == 15
    assert isinstance(values.named_steps["impute"], SimpleImputer)
    assert isinstance(values.named_steps["scale"], StandardScaler)
    out = builder.transform(_frame(5, 1))
    assert isinstance(out, pd.DataFrame) and out.dtypes.eq(float).all()


def test_categories_rare_unseen_and_missing():
    train = pd.DataFrame({"cancer_type": ["NSCLC"] * 3 + ["MEL"] * 3 + ["RCC"],
                          "drug_class": ["PD-1/PD-L1"] * 4 + ["CTLA-4"] * 3, "age": range(7)})
    spec = {"name": "t", "modalities": ["clinical"], "clinical": ["age", "drug_class"],
            "cancer_type": "onehot", "rare_type_min_count": 2}
    builder = FeatureBuilder(spec).fit(train)
    assert builder.feature_names_out_ == ["age", "drug_class_CTLA_4", "drug_class_PD_1_PD_L1",
                                          "cancer_type_MEL", "cancer_type_NSCLC",
                                          "cancer_type_other"]
    new = pd.DataFrame({"cancer_type": ["RCC", "GBM", None, "Melanoma"],
                        "drug_class": ["LAG-3", None, "CTLA-4", "PD-1/PD-L1"], "age": 1.0})
    out = builder.transform(new).drop(columns="age").to_numpy()
    nan = np.nan
    np.testing.assert_array_equal(out, [
        [0, 0, 0, 0, 1],  # rare in training -> other; unseen drug class -> zeros
        [nan, nan, 0, 0, 1],  # unseen type -> other; missing drug class stays missing
        [1, 0, nan, nan, nan],  # missing cancer type stays missing
        [0, 1, 1, 0, 0]])  # a name is read as its OncoTree code


@pytest.mark.parametrize("spec", SPECS, ids=[s["name"] for s in SPECS])
def test_one_patient_alone_equals_its_row_of_the_batch(spec):
    """600 made-up patients with rare, unseen and missing categories (and absent columns): the
    batch, each patient encoded alone (the board's path, which remembers encoded levels), and
    the builder rebuilt from JSON agree bit for bit; the indicators follow their definition."""
    builder = FeatureBuilder(spec).fit(_frame(600, 0))
    again = FeatureBuilder.from_json(builder.to_json())
    new = pd.concat([_frame(600, 7, types=["NSCLC", "PAAD", "made-up type", "GBM", "MEL"]),
                     _frame(60, 8, drop=("sex", "drug_class", "tmb"))], ignore_index=True)
    new["patient_id"] = [f"n{i}" for i in range(len(new))]
    batch = builder.transform(new)
    pd.testing.assert_frame_equal(again.transform(new), batch)
    order = np.random.default_rng(0).permutation(len(new))[:200]
    alone = pd.concat([again.transform(new.iloc[[i]]) for i in order])
    pd.testing.assert_frame_equal(alone, batch.iloc[order])
    raw = builder.raw_values(new)
    for modality, columns in builder.modality_columns_.items():
        name = f"missing_{modality}"
        if name in batch:
            inputs = list(dict.fromkeys(
                raw.columns[raw.columns.isin([c for c in columns])].tolist()
                + [c for c in raw.columns if any(k.startswith(f"{c}_") for k in columns)]))
            expected = raw[inputs].isna().all(axis=1).to_numpy(dtype=float)
            np.testing.assert_array_equal(batch[name].to_numpy(), expected)
